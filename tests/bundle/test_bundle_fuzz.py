"""Fuzzing the bundle reader: whatever the bytes, reading and checking a bundle either works
or raises one of our own errors (a clear message), never anything else (no IndexError,
KeyError, zlib.error, RecursionError or MemoryError escaping to a traceback)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provara_desktop.bundle.check import Trust, check
from provara_desktop.bundle.export import export_bundle
from provara_desktop.bundle.load import load
from provara_desktop.bundle.selection import Selection
from provara_desktop.core.errors import ProvaraDesktopError
from provara_desktop.core.keys import SigningKey
from provara_desktop.store.evidence import observe
from provara_desktop.store.vault import Vault

if TYPE_CHECKING:
    from pathlib import Path

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    base = tmp_path_factory.mktemp("fuzz")
    key = SigningKey.generate()
    att = base / "a.txt"
    att.write_bytes(b"attachment " * 30)
    with Vault.init(base / "v", key=key, actor="fuzzer", home=base / "home") as vault:
        observe(vault, key, "fuzzer", subject="s", predicate="p", value=1,
                attachments=[att])
        out = base / "good.provara-bundle"
        export_bundle(vault, out, key=key, actor="fuzzer", selection=Selection())
    return out.read_bytes(), base


def read_and_check(path: Path) -> None:
    try:
        with load(path) as bundle:
            check(bundle, Trust(), workers=1)
    except ProvaraDesktopError:
        pass


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)),
                      min_size=1, max_size=8))
def test_random_byte_changes(good: tuple[bytes, Path], flips: list[tuple[int, int]]) -> None:
    data, base = good
    buf = bytearray(data)
    for off, x in flips:
        buf[off % len(buf)] ^= x
    path = base / "fuzz.provara-bundle"
    path.write_bytes(bytes(buf))
    read_and_check(path)


@FUZZ
@given(cut=st.integers(min_value=0), junk=st.binary(max_size=64))
def test_truncation_and_junk(good: tuple[bytes, Path], cut: int, junk: bytes) -> None:
    data, base = good
    path = base / "cut.provara-bundle"
    path.write_bytes(data[: cut % (len(data) + 1)] + junk)
    read_and_check(path)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20)


@FUZZ
@given(header=st.dictionaries(st.sampled_from(["type", "keys", "event_count", "x"]),
                              _json_values, max_size=4),
       lines=st.lists(_json_values, max_size=5))
def test_delta_v1_reader(good: tuple[bytes, Path], header: dict, lines: list) -> None:
    _, base = good
    path = base / "fuzz.delta"
    header = {"type": "provara_delta_v1", **header}
    path.write_text("\n".join(json.dumps(x) for x in [header, *lines]) + "\n")
    read_and_check(path)
