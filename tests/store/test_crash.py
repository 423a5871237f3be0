"""Crash safety: a writer killed with SIGKILL at any instant leaves either the old vault or the
new one, never a torn log; and the states such a crash can leave behind, built by hand, are
recovered on the next open."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.errors import StoreError
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.store import layout, txn
from provara_desktop.store.evidence import observe
from provara_desktop.store.manifest import check_manifest_sig, entry_for, merkle_root, walk_files
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.conftest import optional_reference_cli

if TYPE_CHECKING:
    from pathlib import Path

KEY = SigningKey(b"\x42" * 32)
ACTOR = "crash-tester-" + KEY.key_id[4:12]
posix_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork and SIGKILL")


def tree_digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def reference_verify(vault: Path) -> None:
    found = optional_reference_cli()
    if found is None:
        return  # an extra oracle here (outside CI); tests/interop requires it
    done = subprocess.run([found, "verify", str(vault)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def check_consistent(v: Vault) -> list[dict[str, Any]]:
    """Everything a user could notice about a healthy vault; returns the events."""
    raw = v.events_path.read_bytes()
    assert raw.endswith(b"\n"), "torn last line"
    events = [json.loads(line) for line in raw.split(b"\n")[:-1]]
    report = verify_vault(v)
    assert report.ok, [p.to_json() for p in report.all_problems]
    assert {p.code for p in report.all_problems} <= {"RECOVERED"}
    sig = json.loads((v.root / layout.MANIFEST_SIG).read_bytes())
    recorded = (v.root / layout.MERKLE_ROOT).read_text().strip()
    assert sig["merkle_root"] == recorded
    assert check_manifest_sig(sig, KEY.public) is None
    assert merkle_root([entry_for(v.root, r) for r in sorted(walk_files(v.root))]) == recorded
    assert not (v.root / layout.TXN_DIR).exists()
    assert v.index.count() == len(events)
    assert [r.event_id for r in v.index.query()] == [e["event_id"] for e in events]
    referenced = {a["sha256"] for e in events for a in e["payload"].get("attachments", [])}
    stored = {p.name for p in (v.root / layout.CAS_DIR).iterdir()}
    assert stored == referenced  # no lost attachment, no stray one
    return events


def _child(root: Path, home: Path, scratch: Path, ready: int, start: int) -> None:
    """Runs in the forked child: append until killed, reporting each completed append.
    The values count up across children, so a lost or repeated event shows."""
    vault = Vault.open(root, home=home)
    os.write(ready, b"r")
    i = start
    while True:
        atts = []
        if i % 3 == 0:  # every third append also stores a new attachment
            f = scratch / f"{os.getpid()}-{i}.bin"
            f.write_bytes(os.urandom(64 + i))
            atts = [f]
        observe(vault, KEY, ACTOR, subject="counter", predicate="value", value=i,
                attachments=atts)
        os.write(ready, b".")
        i += 1


@posix_only
def test_sigkill_at_random_points_leaves_old_or_new_vault(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "vault"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    Vault.init(root, key=KEY, actor=ACTOR, home=home).close()
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    count = 2
    for round_no in range(24):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            try:
                os.close(r)
                _child(root, home, scratch, w, count)
            except BaseException as exc:
                os.write(w, b"E" + repr(exc).encode()[:2000])
            finally:
                os._exit(0)
        os.close(w)
        assert os.read(r, 1) == b"r"
        time.sleep(rng.uniform(0.0, 0.2))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        reported = b""
        while chunk := os.read(r, 4096):
            reported += chunk
        os.close(r)
        assert b"E" not in reported, reported  # the writer itself never failed
        done = reported.count(b".")

        with Vault.open(root, home=home) as v:
            events = check_consistent(v)
        # Every append that returned is there; the one in flight is all there or not at all.
        context = f"seed {seed}, round {round_no}: {count} + {done} completed"
        assert len(events) in (count + done, count + done + 1), context
        values = [e["payload"]["value"] for e in events[2:]]
        assert values == list(range(2, len(events))), context  # none lost or repeated
        count = len(events)
        if round_no % 8 == 7:
            reference_verify(root)
    with Vault.open(root, home=home) as v:
        check_consistent(v)
    reference_verify(root)
    assert count > 2


def _vault_pair(tmp_path: Path, home: Path) -> tuple[Path, Path, bytes]:
    """(old vault, the same vault after one more append, the attachment's bytes). The new one
    is a copy that went through a real append; its bytes are what a journal would carry."""
    old = tmp_path / "old"
    with Vault.init(old, key=KEY, actor=ACTOR, home=home) as v:
        observe(v, KEY, ACTOR, subject="door", predicate="status", value="open")
    new = tmp_path / "new"
    shutil.copytree(old, new)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"the evidence photo")
    with Vault.open(new, home=tmp_path / "home-new") as v:
        observe(v, KEY, ACTOR, subject="door", predicate="status", value="smashed",
                attachments=[photo])
    return old, new, photo.read_bytes()


def _write_journal(old: Path, new: Path, attachment: bytes | None, *,
                   legacy_v1: bool = False) -> bytes:
    """Leave in ``old`` the committed journal of the operation that made ``new`` (as
    txn.commit writes it, or as the previous version did with ``legacy_v1``: the tail
    inline as base64), nothing of it applied yet. Returns the new log tail."""
    old_log = (old / layout.EVENTS).read_bytes()
    new_log = (new / layout.EVENTS).read_bytes()
    offset = 0  # the common prefix (all of old_log for a plain append)
    while offset < len(old_log) and old_log[offset] == new_log[offset]:
        offset += 1
    offset = old_log.rfind(b"\n", 0, offset) + 1
    tail = new_log[offset:]
    handle = old / layout.TXN_DIR
    (handle / "staged").mkdir(parents=True)
    staged = {}
    if attachment is not None:
        sha = hashlib.sha256(attachment).hexdigest()
        (handle / "staged" / sha).write_bytes(attachment)
        staged = {f"{layout.CAS_DIR}/{sha}": sha}
    files = {rel: base64.b64encode((new / rel).read_bytes()).decode()
             for rel in (layout.MANIFEST, layout.MERKLE_ROOT, layout.MANIFEST_SIG,
                         layout.KEYS)}
    doc = {"format": txn.JOURNAL_FORMAT, "events_offset": offset,
           "events_tail_file": txn.TAIL,
           "events_tail_sha256": hashlib.sha256(tail).hexdigest(),
           "events_old_tail_sha256": hashlib.sha256(old_log[offset:]).hexdigest(),
           "files": files, "staged": staged}
    if legacy_v1:
        doc["format"] = "provara-desktop-journal-v1"
        doc["events_tail_b64"] = base64.b64encode(tail).decode()
        del doc["events_tail_file"], doc["events_tail_sha256"]
    else:
        (handle / txn.TAIL).write_bytes(tail)
    (handle / txn.JOURNAL).write_text(json.dumps(doc))
    return tail


def test_uncommitted_transaction_is_discarded(tmp_path: Path, home: Path) -> None:
    """Killed before the commit point: a .provara-txn dir with a staged file but no journal."""
    old, _, attachment = _vault_pair(tmp_path, home)
    before = tree_digest(old)
    handle = old / layout.TXN_DIR
    (handle / "staged").mkdir(parents=True)
    (handle / "staged" / hashlib.sha256(attachment).hexdigest()).write_bytes(attachment)
    (handle / (txn.JOURNAL + ".tmp")).write_text('{"format": "provara-desk')  # half written
    with Vault.open(old, home=home) as v:
        assert len(v.notes) == 1
        assert "discarded" in v.notes[0]
        assert tree_digest(old) == before
        events = check_consistent(v)
        assert len(events) == 3
        report = verify_vault(v)
        assert [p.code for p in report.all_problems] == ["RECOVERED"]  # said, as a warning


def test_committed_journal_with_torn_log_is_completed(tmp_path: Path, home: Path) -> None:
    """Killed in the middle of writing events.ndjson after the commit point."""
    old, new, attachment = _vault_pair(tmp_path, home)
    with Vault.open(old, home=home):
        pass  # the index has seen the old vault
    tail = _write_journal(old, new, attachment)
    log = old / layout.EVENTS
    log.write_bytes(log.read_bytes() + tail[: len(tail) // 2])  # a torn last line
    with Vault.open(old, home=home) as v:
        assert any("torn last line" in n for n in v.notes), v.notes
        assert tree_digest(old) == tree_digest(new)  # exactly the new vault
        events = check_consistent(v)
        assert events[-1]["payload"]["value"] == "smashed"
        assert [r.event_id for r in v.index.query()][-1] == events[-1]["event_id"]
    reference_verify(old)


@pytest.mark.parametrize("legacy_v1", [False, True], ids=["journal", "journal-v1"])
@pytest.mark.parametrize("progress", ["nothing applied", "all applied, not cleaned up",
                                      "log and attachment applied, manifest not"])
def test_committed_journal_is_rolled_forward_from_any_point(
        tmp_path: Path, home: Path, progress: str, legacy_v1: bool) -> None:
    old, new, attachment = _vault_pair(tmp_path, home)
    tail = _write_journal(old, new, attachment, legacy_v1=legacy_v1)
    sha = hashlib.sha256(attachment).hexdigest()
    if progress != "nothing applied":
        (old / layout.EVENTS).write_bytes((old / layout.EVENTS).read_bytes() + tail)
        os.replace(old / layout.TXN_DIR / "staged" / sha, old / layout.CAS_DIR / sha)
    if progress == "all applied, not cleaned up":
        for rel in (layout.MANIFEST, layout.MERKLE_ROOT, layout.MANIFEST_SIG):
            shutil.copyfile(new / rel, old / rel)
    with Vault.open(old, home=home) as v:
        assert any("completed from its journal" in n for n in v.notes)
        assert tree_digest(old) == tree_digest(new)
        check_consistent(v)
        # And the vault takes the next append normally.
        observe(v, KEY, ACTOR, subject="door", predicate="status", value="fixed")
        check_consistent(v)
    reference_verify(old)


def test_damaged_tail_beside_a_committed_journal_leaves_the_vault_untouched(
        tmp_path: Path, home: Path) -> None:
    old, new, attachment = _vault_pair(tmp_path, home)
    _write_journal(old, new, attachment)
    tail_file = old / layout.TXN_DIR / txn.TAIL
    tail_file.write_bytes(tail_file.read_bytes()[:-5] + b"XXXX\n")
    before = tree_digest(old)
    with pytest.raises(StoreError, match="log tail is damaged"):
        Vault.open(old, home=home)
    assert tree_digest(old) == before


@pytest.mark.parametrize("journal", [b'{"format": "someone-elses-v9"}', b"[1, 2]",
                                     b'"provara"', b"\xff\xfe", b'{"format": "prov'])
def test_unreadable_journal_leaves_the_vault_untouched(tmp_path: Path, home: Path,
                                                       journal: bytes) -> None:
    old, _, _ = _vault_pair(tmp_path, home)
    (old / layout.TXN_DIR).mkdir()
    (old / layout.TXN_DIR / txn.JOURNAL).write_bytes(journal)
    before = tree_digest(old)
    with pytest.raises(StoreError, match="cannot read the journal"):
        Vault.open(old, home=home)
    assert tree_digest(old) == before


def test_a_log_changed_by_another_program_after_the_crash_is_not_overwritten(
        tmp_path: Path, home: Path) -> None:
    """Our append died after its commit point; before the vault was opened again, another
    program (here a plain append of a line, as `provara append` does) wrote to the log.
    Rolling forward would truncate that event away: we refuse and change nothing."""
    old, new, attachment = _vault_pair(tmp_path, home)
    _write_journal(old, new, attachment)
    foreign = (old / layout.EVENTS).read_bytes().splitlines(keepends=True)[-1]
    log = old / layout.EVENTS
    log.write_bytes(log.read_bytes() + foreign.replace(b'"open"', b'"other"'))
    before = tree_digest(old)
    with pytest.raises(StoreError, match="changed by another program"):
        Vault.open(old, home=home)
    assert tree_digest(old) == before


def test_interrupted_reorder_is_rolled_forward(tmp_path: Path, home: Path) -> None:
    """A rewrite of the log tail (a clock-skewed event made ours sort earlier) committed but
    not applied: the old tail is still on disk, and recovery writes the new order."""
    other = SigningKey(b"\x43" * 32)
    old = tmp_path / "old"
    with Vault.init(old, key=KEY, actor=ACTOR, home=home) as v:
        ahead = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        v.append([build_event(event_type="OBSERVATION", actor="skewed", prev_event_hash=None,
                              key=other, payload={"subject": "s", "predicate": "p",
                                                  "value": 1}, timestamp_utc=ahead)],
                 signer=other)
    new = tmp_path / "new"
    shutil.copytree(old, new)
    with Vault.open(new, home=tmp_path / "home-new") as v:
        res = observe(v, KEY, ACTOR, subject="door", predicate="status", value="open")
        assert res.reordered_from == 2
    _write_journal(old, new, None)
    with Vault.open(old, home=home) as v:
        assert any("completed from its journal" in n for n in v.notes)
        assert tree_digest(old) == tree_digest(new)
        events = check_consistent(v)
        assert events[-1]["actor"] == "skewed"
