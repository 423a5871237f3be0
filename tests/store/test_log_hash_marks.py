"""The kept sha256 states of the log: always the hash of the file's bytes, and a rewrite near
the end reads only the bytes near it (a sync of older events rewrites the tail per batch)."""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING

import pytest

from provara_desktop.store.log_hash_marks import LogHashMarks

if TYPE_CHECKING:
    from pathlib import Path


def _write_at(path: Path, offset: int, tail: bytes) -> None:
    with path.open("r+b") as f:
        f.truncate(offset)
        f.seek(offset)
        f.write(tail)


def test_random_appends_and_rewrites_always_hash_the_file(tmp_path: Path) -> None:
    rng = random.Random(7)
    path = tmp_path / "log"
    path.write_bytes(b"")
    marks = LogHashMarks(step=1000)
    size = 0
    for i in range(600):
        # Mostly appends and merges near the end, as a vault sees; early on, also far back.
        roll = rng.random()
        if roll < 0.6:
            offset = size
        elif roll < 0.95 or i > 150:
            offset = rng.randrange(max(0, size - 1500), size + 1)
        else:
            offset = rng.randrange(0, size + 1)
        tail = rng.randbytes(rng.randrange(0, 700))
        h = marks.prefix(path, offset)
        assert h.hexdigest() == hashlib.sha256(path.read_bytes()[:offset]).hexdigest()
        h.update(tail)
        _write_at(path, offset, tail)
        size = offset + len(tail)
        marks.after_write(offset, size, h, (size, i, 0))
        assert h.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    # States were kept along the log, not only at its end: about one per 1,000 bytes.
    assert size > 20_000
    assert len(marks) >= size // 2000


def test_a_rewrite_near_the_end_does_not_read_the_start(tmp_path: Path) -> None:
    path = tmp_path / "log"
    data = bytes(range(256)) * 400  # 102,400 bytes
    path.write_bytes(data)
    marks = LogHashMarks(step=4096)
    marks.prefix(path, len(data))  # the first write of a process: one full read
    # Change the first bytes behind the marks' back: a prefix computed from a kept state
    # near the end still gives the old start's hash, so the start was not read again.
    _write_at(path, 0, b"X" * 10 + data[10:])
    near_end = len(data) - 100
    assert marks.prefix(path, near_end).hexdigest() == \
        hashlib.sha256(data[:near_end]).hexdigest()
    assert not marks.usable((1, 2, 3))  # a file with another stamp: the marks are dropped
    assert marks.prefix(path, near_end).hexdigest() == \
        hashlib.sha256(path.read_bytes()[:near_end]).hexdigest()


def test_a_second_vault_object_of_the_log_does_not_hash_it_again(tmp_path: Path) -> None:
    """serve and the app open a Vault per sync session: the session's first write must not
    pay a whole-log hash; a write by another program in between still gets one, and the
    manifest stays right throughout."""
    import subprocess
    import sys

    from provara_desktop.core.errors import TamperedVaultError
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.evidence import observe
    from provara_desktop.store.vault import Vault
    from provara_desktop.store.verify_vault import verify_vault

    key = SigningKey.generate()
    root, home = tmp_path / "v", tmp_path / "home"
    with Vault.init(root, key=key, actor="ana", home=home) as v:
        for i in range(300):
            observe(v, key, "ana", subject=f"s{i}", predicate="p", value="x" * 200)
    marks = LogHashMarks.for_log(root / "events" / "events.ndjson")
    size = (root / "events" / "events.ndjson").stat().st_size
    before = marks.bytes_read
    with Vault.open(root, home=home) as v:
        observe(v, key, "ana", subject="again", predicate="p", value=1)
    assert marks.bytes_read - before < size // 10
    # Another process appends: the stamp differs, so the next write here hashes it all.
    code = ("import sys; from pathlib import Path; from provara_desktop.core.keys import "
            "SigningKey; from provara_desktop.store.evidence import observe; "
            "from provara_desktop.store.vault import Vault; k = SigningKey.generate(); "
            "v = Vault.open(Path(sys.argv[1]), home=Path(sys.argv[2])); "
            "observe(v, k, 'bo', subject='other', predicate='p', value=2); v.close()")
    subprocess.run([sys.executable, "-c", code, str(root), str(home)], check=True,
                   timeout=120)
    before = marks.bytes_read
    with Vault.open(root, home=home) as v:
        observe(v, key, "ana", subject="after", predicate="p", value=3)
    assert marks.bytes_read - before >= size
    # An edit behind everyone's back (same length, the manifest not re-sealed): the marks
    # do not cover it, the whole log is hashed, and the write is refused.
    log = root / "events" / "events.ndjson"
    data = log.read_bytes()
    log.write_bytes(data.replace(b"again", b"AGAIN"))
    before = marks.bytes_read
    with Vault.open(root, home=home) as v, pytest.raises(TamperedVaultError):
        observe(v, key, "ana", subject="refused", predicate="p", value=4)
    assert marks.bytes_read - before >= size
    log.write_bytes(data)
    with Vault.open(root, home=home) as v:
        report = verify_vault(v)
    assert report.ok, report


def test_batches_that_sort_before_our_newest_lines_read_nothing_back(tmp_path: Path) -> None:
    """A new replica's own events are its newest: each batch it receives is written just
    before them. The write starts at one of the last lines of the previous write, whose
    state was kept, so nothing is read back from the file (with only the STEP marks, half
    a step on average per batch). A write that never committed leaves no state behind.
    (The first batch after the process's first read goes back to the nearest STEP mark.)"""
    path = tmp_path / "log"
    lines = [b'{"own":%d}\n' % i for i in range(3)]
    path.write_bytes(b"".join(lines))
    marks = LogHashMarks(step=1 << 20)
    size = path.stat().st_size
    h = marks.prefix(path, size)  # the first write of a process: one full read
    marks.after_write(size, size, h, (size, 0, 0))
    read_once = -1
    rng = random.Random(3)
    for batch in range(40):
        moved = rng.randrange(1, 4)  # the newest lines the batch sorts before
        offset = size - sum(map(len, lines[-moved:]))
        new = [b'{"batch":%d,"n":%d,"pad":"%s"}\n' % (batch, n, b"x" * rng.randrange(50))
               for n in range(rng.randrange(1, 30))]
        tail = b"".join(new + lines[-moved:])
        h = marks.prefix(path, offset)
        assert h.hexdigest() == hashlib.sha256(path.read_bytes()[:offset]).hexdigest()
        h = marks.hash_tail(h, offset, tail)
        if batch % 7 == 3:  # refused before its commit: the file keeps its old bytes
            continue
        _write_at(path, offset, tail)
        lines = lines[:-moved] + new + lines[-moved:]
        size = offset + len(tail)
        marks.after_write(offset, size, h, (size, batch, 1))
        assert h.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
        if read_once < 0:
            read_once = marks.bytes_read
    assert marks.bytes_read == read_once
    # Written far back (a tail kept no state for): read from the nearest state, and right.
    h = marks.prefix(path, 5)
    assert h.hexdigest() == hashlib.sha256(path.read_bytes()[:5]).hexdigest()
