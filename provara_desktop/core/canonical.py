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
from typing import Any

# Limits for untrusted input. A real event is a few hundred bytes; these leave plenty of room
# for evidence payloads while keeping a hostile line from exhausting memory or the stack.
MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 64

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


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _StrictDecodeError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_constant=_reject_constant
)


def _depth_exceeds(text: str, limit: int) -> bool:
    """True when brackets nest deeper than ``limit`` (strings are skipped).

    Checked before parsing so a hostile line cannot drive the recursive decoder into a
    RecursionError or spend time building a huge tree.
    """
    depth = 0
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


def strict_loads(
    data: bytes | str, *, where: str = "input", max_bytes: int = MAX_LINE_BYTES
) -> Any:
    """Parse JSON the way a careful reader must: UTF-8 only, no NaN/Infinity, no duplicate
    keys, bounded size and depth. Errors are :class:`InputError` naming ``where``.
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
    else:
        text = data
    # Cheap pre-check: only texts with many brackets can be too deep.
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth_exceeds(text, MAX_DEPTH):
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", where=where)
    try:
        return _DECODER.decode(text)
    except _StrictDecodeError as exc:
        raise InputError(str(exc), where=where) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc.msg} at column {exc.colno}", where=where) from None
    except RecursionError:
        raise InputError("nested too deeply", where=where) from None


def contains_non_finite(obj: Any) -> bool:
    """True if a NaN or infinite float hides anywhere in ``obj`` (built in code, not parsed)."""
    if isinstance(obj, float):
        return not math.isfinite(obj)
    if isinstance(obj, dict):
        return any(contains_non_finite(v) for v in obj.values())
    if isinstance(obj, list):
        return any(contains_non_finite(v) for v in obj)
    return False
