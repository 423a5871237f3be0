"""Fuzzing the two readers every foreign byte goes through: the line parser (core/logline.py)
and the bundle reader (bundle/reader.py, bundle/load.py). Each input is either refused with a
typed error (an InputError-family error with a message) or read exactly; no other exception
ever escapes. Bounded for CI: a fixed number of examples, no deadline, and derandomized when
CI is set (the same examples on every run there).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provara_desktop.bundle.load import load
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.errors import InputError, ProvaraDesktopError
from provara_desktop.core.logline import load_event, parse_line

if TYPE_CHECKING:
    from tests.hostile.conftest import World

FUZZ = settings(max_examples=300, deadline=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

# JSON-ish text: the tokens where parsers disagree, glued together at random.
TOKENS = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"d800", b"dc00", b"1e999",
          b"-1e400", b"9" * 30, b"9" * 4400, b"NaN", b"Infinity", b"null", b"true", b"0.1",
          b'"a"', b'"event_id"', b"\xff", b"\xc3", b"\x00", b" ", b"\n"]
jsonish = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=8), max_size=60).map(b"".join)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30)


def _check_line(raw: bytes) -> None:
    parsed = parse_line(raw, where="x.ndjson line 7")
    if parsed.event is None:
        assert parsed.error is not None
        assert parsed.error.startswith("x.ndjson line 7: "), parsed.error
        assert "\n" not in parsed.error
    else:
        encoded = canonical_bytes(parsed.event)  # every event read has canonical bytes
        assert parsed.canonical == (encoded == raw)
    try:
        event = load_event(raw, where="x.ndjson line 7")
    except InputError as exc:
        message = str(exc)
    else:
        canonical_bytes(event)
        message = "x.ndjson line 7: read"
    assert message.startswith("x.ndjson line 7: ")
    if parsed.canonical:  # a canonical line reads as the same event on both paths
        assert message.endswith(": read")
        assert event == parsed.event


@FUZZ
@given(jsonish)
def test_line_parser_on_jsonish_bytes(raw: bytes) -> None:
    _check_line(raw)


@FUZZ
@given(st.dictionaries(st.text(), values, max_size=6))
def test_line_parser_reads_canonical_lines_exactly(doc: dict[str, object]) -> None:
    raw = canonical_bytes(doc)
    parsed = parse_line(raw, where="line 1")
    if len(raw) <= 1 << 20:
        assert parsed.canonical
        assert parsed.event == json.loads(raw)
        assert load_event(raw, where="line 1") == parsed.event


@FUZZ
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                max_size=6))
def test_bundle_reader_on_damaged_bytes(world: World, tmp_path_factory: object,
                                        flips: list[tuple[int, int]]) -> None:
    data = bytearray(world.bundle.read_bytes())
    for pos, byte in flips:
        data[pos % len(data)] = byte
    path = world.bundle.with_name("fuzzed.provara-bundle")
    path.write_bytes(bytes(data))
    message = "read"
    try:
        with load(path) as bundle:
            for _lineno, raw in bundle.numbered_lines():
                _check_line(raw)
            bundle.carried_attachments()
    except ProvaraDesktopError as exc:  # refused: with a message of one line
        message = str(exc)
    assert message
    assert "\n" not in message


@FUZZ
@given(st.lists(st.sampled_from([b"a", b"\n", b"{}", b"x" * 40, b"\n\n"]), max_size=40),
       st.lists(st.integers(1, 50), min_size=1, max_size=10))
def test_streamed_lines_are_the_lines(parts: list[bytes], cuts: list[int]) -> None:
    """Lines split as chunks arrive, whatever the chunk boundaries, are the file's lines."""
    from provara_desktop.core.logline import split_lines

    data = b"".join(parts)
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        chunks.append(data[pos:pos + step])
        pos, i = pos + step, i + 1
    expected = data.split(b"\n")
    if expected[-1] == b"":
        expected.pop()
    assert list(split_lines(chunks, where="f")) == expected
