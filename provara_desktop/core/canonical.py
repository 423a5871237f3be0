"""Canonical JSON bytes exactly as the reference implementation produces them, and a strict
parser for everything we read.

The reference is not RFC 8785: it is Python's ``json.dumps`` with sorted keys, compact
separators, raw UTF-8 and no NaN (PROTOCOL.md B §2). Event ids, signatures and the state hash
are all computed over these bytes, so we use the very same call.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from itertools import accumulate
from typing import Any

# Limits for untrusted input. A real event is a few hundred bytes; these leave plenty of room
# for evidence payloads while keeping a hostile line from exhausting memory or the stack.
MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 64
# Python refuses to turn longer integers into text (sys.get_int_max_str_digits); fixed
# here so the rule is the same whatever the interpreter's setting.
MAX_INT_DIGITS = 4300

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
# The same encoder's C core, called directly: it is what ``_ENCODER.encode`` ends up calling
# for containers, minus two Python frames and the circular-reference bookkeeping (our values
# are parsed JSON or built by us, never cyclic). Verification encodes every event, so those
# frames are a measurable share of its time. Tests pin the output to ``_ENCODER.encode``.
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_str: Any = json.encoder.encode_basestring  # the C version when available


def _no_default(obj: Any) -> Any:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_C_ENCODE: Any = (
    _c_make_encoder(None, _no_default, _encode_str, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)


def canonical_dumps(obj: Any) -> str:
    """The canonical text of ``obj`` (a str; see :func:`canonical_bytes`)."""
    if type(obj) is str:
        # What JSONEncoder.encode does for a str with ensure_ascii=False, minus its frames:
        # the reducer groups contested evidence by the canonical text of each value.
        return _encode_str(obj)  # type: ignore[no-any-return]
    if _C_ENCODE is None or isinstance(obj, str):
        return _ENCODER.encode(obj)
    return "".join(_C_ENCODE(obj, 0))


def canonical_bytes(obj: Any) -> bytes:
    """The canonical UTF-8 bytes of ``obj``. Raises ValueError on NaN/Infinity."""
    return canonical_dumps(obj).encode("utf-8")


def canonical_hash(obj: Any) -> str:
    """Lowercase hex SHA-256 of the canonical bytes."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


class _StrictDecodeError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _StrictDecodeError(f"{name} is not allowed (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    """A JSON number as a float, refusing the ones a float cannot hold: ``1e999`` would
    become infinity, which no canonical line can carry (the encoder refuses it)."""
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
        raise _StrictDecodeError(f"number {shown} is out of range (JSON numbers here must "
                                 "fit a 64-bit float)")
    return value


def _bounded_int(text: str) -> int:
    """A JSON integer, refusing one too long to convert back to text (Python's own limit,
    fixed here so that the rule does not depend on the interpreter's settings)."""
    digits = len(text) - (text[0] == "-")
    if digits > MAX_INT_DIGITS:
        raise _StrictDecodeError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} "
                                 "are allowed)")
    return int(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictDecodeError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_reject_constant,
                            parse_float=_finite_float, parse_int=_bounded_int)

# What the depth check looks at: strings removed (a bracket inside one is text), then only
# the brackets, each opening one a step down (+1) and each closing one a step up (-1).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET_STEP = tuple(1 if b in b"[{" else -1 for b in range(256))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")
# A \uD800-\uDFFF escape: a surrogate, which must come in a high-low pair.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def nested_deeper_than(data: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when brackets nest deeper than ``limit`` (brackets in strings do not count).

    Checked before any parser sees the text, so that no line can drive a recursive decoder
    into a RecursionError or build a huge tree. Only texts holding more than ``limit``
    brackets need more than two counts, and then only C-level passes: strings cut out, the
    brackets kept, their running depth summed by accumulate()."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(map(_BRACKET_STEP.__getitem__, brackets)), default=0) > limit


def lone_surrogate(obj: Any) -> bool:
    """True when a string of ``obj`` holds half of a surrogate pair, which UTF-8 cannot
    encode: the canonical bytes of such a value do not exist."""
    try:
        _ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except ValueError:
        return False
    return False


def strict_loads(
    data: bytes | str, *, where: str = "input", max_bytes: int = MAX_LINE_BYTES
) -> Any:
    """Parse JSON the way a careful reader must: UTF-8 only, no NaN/Infinity, no number a
    float or a printable integer cannot hold, no lone surrogate, no duplicate keys, bounded
    size and depth. Errors are :class:`InputError` naming ``where``; nothing else escapes.
    """
    from provara_desktop.core.errors import InputError

    size = len(data)
    if size > max_bytes:
        raise InputError(f"too large ({size} bytes, limit {max_bytes})", where=where)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"not valid UTF-8 at byte {exc.start}", where=where) from None
        raw = data
    else:
        text = data
        raw = data.encode("utf-8", "surrogatepass")
    if nested_deeper_than(raw):
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", where=where)
    try:
        doc = _DECODER.decode(text)
    except _StrictDecodeError as exc:
        raise InputError(str(exc), where=where) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at column {exc.colno}", where=where) from None
    except RecursionError:
        raise InputError("nested too deeply", where=where) from None
    except ValueError as exc:  # whatever else the decoder refuses: still the input's fault
        raise InputError(f"malformed JSON ({exc})", where=where) from None
    if _SURROGATE_ESCAPE.search(text) is not None and lone_surrogate(doc):
        raise InputError("a string holds a lone surrogate (\\ud800-\\udfff without its "
                         "pair): not valid Unicode", where=where)
    return doc


def contains_non_finite(obj: Any) -> bool:
    """True if a NaN or infinite float hides anywhere in ``obj`` (built in code, not parsed)."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(contains_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(contains_non_finite(v) for v in obj)
    return False
