"""Reading one line of events.ndjson: fast when it is canonical, precise when it is not.

Our own logs are canonical, so the common path is one C-speed ``json.loads`` plus one
``json.dumps`` whose bytes must equal the line. Only a line that differs is parsed again by
the strict parser, which names the exact problem (duplicate key, NaN, bad UTF-8...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from provara_desktop.core.canonical import MAX_LINE_BYTES, canonical_bytes, strict_loads
from provara_desktop.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable


@dataclass(frozen=True, slots=True)
class ParsedLine:
    event: dict[str, Any] | None
    canonical: bool  # the line's bytes are exactly the canonical bytes of the event
    error: str | None = None


def parse_line(raw: bytes, *, where: str) -> ParsedLine:
    """Parse one log line (without its newline). Never raises for bad content."""
    if len(raw) > MAX_LINE_BYTES:
        return ParsedLine(
            None, False, f"{where}: line too large ({len(raw)} bytes, limit {MAX_LINE_BYTES})"
        )
    try:
        event = json.loads(raw)
        if isinstance(event, dict) and canonical_bytes(event) == raw:
            return ParsedLine(event, True)
    except (ValueError, RecursionError, UnicodeDecodeError):
        pass
    try:
        event = strict_loads(raw, where=where)
    except InputError as exc:
        return ParsedLine(None, False, str(exc))
    if not isinstance(event, dict):
        return ParsedLine(None, False, f"{where}: an event must be a JSON object")
    return ParsedLine(event, False)


def parse_line_or_raise(raw: bytes, *, where: str) -> dict[str, Any]:
    parsed = parse_line(raw, where=where)
    if parsed.event is None:
        msg = parsed.error or "unreadable event"
        raise InputError(msg if msg.startswith(where) else f"{where}: {msg}")
    return parsed.event


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# NaN/Infinity tokens are the only thing json.loads accepts that JSON forbids and that would
# break the state hash later; this hook costs nothing on ordinary lines.
_LENIENT = json.JSONDecoder(parse_constant=_reject_constant)


# orjson parses about twice as fast as the standard library, and reading the log is most of
# what reduce costs. It differs from ``json.loads`` in what it refuses (NaN, lone surrogates,
# infinities: those lines take the standard path) and in one thing it accepts differently:
# an integer outside the 64-bit range silently becomes a float. So any line holding a run of
# 19 or more digits (which is where such an integer would have to be) goes the standard way
# too; translate() + a substring search is a C-speed test for that run.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else b for b in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def fast_load(raw: bytes) -> dict[str, Any] | None:
    """The event on ``raw`` exactly as ``json.loads`` would give it, or None when this
    quick path cannot vouch for that (the caller then uses :func:`load_event`)."""
    if len(raw) > MAX_LINE_BYTES or _LONG_DIGIT_RUN in raw.translate(_DIGITS_AS_ZERO):
        return None
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return event if type(event) is dict else None


def load_event(raw: bytes, *, where: str) -> dict[str, Any]:
    """Parse a line for reading (reduce, display): the C parser, falling back to the strict
    one only to explain a failure. Duplicate keys are not hunted for here (the reference
    reader lets the last one win, and so do we); ``verify`` reports them."""
    try:
        if len(raw) <= MAX_LINE_BYTES:
            event = _LENIENT.decode(raw.decode("utf-8"))
            if type(event) is dict:
                return event
    except (ValueError, RecursionError):
        pass
    return parse_line_or_raise(raw, where=where)


def join_lines(lines: Iterable[bytes]) -> bytes:
    """NDJSON bytes: every line followed by a newline, built in one allocation. (The
    obvious ``b"".join(line + b"\n" for line in lines)`` first holds a newline-ended copy
    of every line: twice the memory, 100 MB at the peak of a 100k-event import.)"""
    return b"\n".join([*lines, b""])
