"""Reading one line of events.ndjson (or of a bundle's events, or a peer's): the one place
where bytes become an event.

Every reader goes through here, so every reader refuses the same lines with the same words:
a line over :data:`MAX_LINE_BYTES`, brackets nested deeper than :data:`MAX_DEPTH`, bytes that
are not UTF-8, NaN or a number a float cannot hold (``1e999``), an integer too long to print
back, a lone surrogate (``"\\ud800"``), a duplicate key. Size and depth are checked before
any parser runs; the rest by the parsers themselves.

Our own logs are canonical, so the common path is one C-speed parse plus one encode whose
bytes must equal the line. Only a line that differs is parsed again by the strict parser
(core.canonical.strict_loads), which names the exact problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from provara_desktop.core.canonical import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    canonical_bytes,
    lone_surrogate,
    nested_deeper_than,
    strict_loads,
)
from provara_desktop.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


@dataclass(frozen=True, slots=True)
class ParsedLine:
    event: dict[str, Any] | None
    canonical: bool  # the line's bytes are exactly the canonical bytes of the event
    error: str | None = None


def line_too_large() -> str:
    """The one message for a line over the limit, whoever reads it (a stream reader stops
    at the limit, so the line's full size is not part of it)."""
    return f"line too large (over the limit of {MAX_LINE_BYTES} bytes per line)"


def line_problem(raw: bytes) -> str | None:
    """What makes ``raw`` unreadable before any parser looks at it (its size, its depth),
    or None. The same words for every command and every file."""
    if len(raw) > MAX_LINE_BYTES:
        return line_too_large()
    if nested_deeper_than(raw):
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def parse_line(raw: bytes, *, where: str) -> ParsedLine:
    """Parse one log line (without its newline). Never raises for bad content: a line that
    cannot be read comes back with ``error``, a one-line message starting with ``where``."""
    problem = line_problem(raw)
    if problem is not None:
        return ParsedLine(None, False, f"{where}: {problem}")
    try:
        event = json.loads(raw)
        if isinstance(event, dict) and canonical_bytes(event) == raw:
            return ParsedLine(event, True)
    except (ValueError, RecursionError):  # UnicodeError and surrogates are ValueErrors
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


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value != 0.0:  # inf or nan: the strict parser says which number
        raise ValueError("out of range")
    return value


# NaN/Infinity tokens and numbers that overflow a float (1e999) are what json.loads accepts
# that a canonical line can never hold; these hooks cost one call per float.
_LENIENT = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


# orjson parses about twice as fast as the standard library, and reading the log is most of
# what reduce costs. It refuses NaN, infinities and lone surrogates itself, but it differs
# from ``json.loads`` in one thing it accepts: an integer outside the 64-bit range silently
# becomes a float. So any line holding a run of 19 or more digits (which is where such an
# integer would have to be) goes the standard way; translate() + a substring search is a
# C-speed test for that run. It has no depth limit we can set (its own is 1024): a line with
# more brackets than MAX_DEPTH goes the standard way too, where the depth is checked.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= b <= 0x39 else b for b in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def fast_load(raw: bytes) -> dict[str, Any] | None:
    """The event on ``raw`` exactly as :func:`load_event` would give it, or None when this
    quick path cannot vouch for that (the caller then uses :func:`load_event`)."""
    if (len(raw) > MAX_LINE_BYTES or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH
            or _LONG_DIGIT_RUN in raw.translate(_DIGITS_AS_ZERO)):
        return None
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return event if type(event) is dict else None


def load_event(raw: bytes, *, where: str) -> dict[str, Any]:
    """Parse a line for reading (reduce, display): the C parser, falling back to the strict
    one only to explain a failure. Duplicate keys are not hunted for here (the reference
    reader lets the last one win, and so do we); ``verify`` reports them. Raises
    :class:`InputError` naming ``where`` for any line it cannot read."""
    # line_problem(raw) is None, written out: this runs for every line a reduce reads.
    if len(raw) <= MAX_LINE_BYTES and (raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH
                                       or not nested_deeper_than(raw)):
        try:
            event = _LENIENT.decode(raw.decode("utf-8"))
            # A \u escape may be half of a surrogate pair, which no canonical line holds.
            if type(event) is dict and (b"\\u" not in raw or not lone_surrogate(event)):
                return event
        except (ValueError, RecursionError):
            pass
    return parse_line_or_raise(raw, where=where)


def load_or_none(raw: bytes) -> dict[str, Any] | None:
    """The event on ``raw``, or None for any line :func:`load_event` would refuse (for a
    caller that has already reported every bad line and only collects the good ones)."""
    event = fast_load(raw)
    if event is not None:
        return event
    try:
        return load_event(raw, where="line")
    except InputError:
        return None


def split_lines(chunks: Iterable[bytes], *, where: str, first: int = 1) -> Iterator[bytes]:
    """The lines (without newlines) of a file given as chunks, split as they arrive: no
    more than one chunk and one line in memory. Stops with an InputError naming ``where``
    and the line at the first line over the limit, before it grows any further."""
    rest = b""
    lineno = first - 1
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = parts.pop()
        for raw in parts:
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise InputError(line_too_large(), where=f"{where} line {lineno}")
            yield raw
        if len(rest) > MAX_LINE_BYTES:
            raise InputError(line_too_large(), where=f"{where} line {lineno + 1}")
    if rest:
        yield rest


def join_lines(lines: Iterable[bytes]) -> bytes:
    """NDJSON bytes: every line followed by a newline, built in one allocation. (The
    obvious ``b"".join(line + b"\n" for line in lines)`` first holds a newline-ended copy
    of every line: twice the memory, 100 MB at the peak of a 100k-event import.)"""
    return b"\n".join([*lines, b""])
