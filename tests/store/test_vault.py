"""The Vault API: total order under clock skew, an index that follows changes made by other
tools, content-addressed attachments and their verification, a manifest.sig that is always
current. Real keys, real files, the real SQLite index; the reference CLI where it is the
other tool."""

from __future__ import annotations

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from provara_desktop.cli import main
from provara_desktop.core.errors import StoreError, TamperedVaultError, UsageError
from provara_desktop.core.event import Event, build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.core.order import total_order
from provara_desktop.store import layout
from provara_desktop.store.evidence import attest, observe, retract, stage_attachment
from provara_desktop.store.manifest import check_manifest_sig, entry_for, merkle_root, walk_files
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault
from tests.conftest import require_reference_cli

ALICE, BOB = SigningKey(b"\x0a" * 32), SigningKey(b"\x0b" * 32)
A_ACTOR, B_ACTOR = "alice-" + ALICE.key_id[4:12], "bob-" + BOB.key_id[4:12]


def reference_verify(vault: Path) -> None:
    """`provara verify` (the reference, 1.0.3) must pass (not installed: see missing())."""
    exe = require_reference_cli()
    done = subprocess.run([str(exe), "verify", str(vault)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def reference_append(vault: Path, key: SigningKey, actor: str, data: dict[str, Any],
                     keyfile: Path) -> None:
    exe = require_reference_cli()
    keyfile.write_text(json.dumps({"keys": [{
        "key_id": key.key_id, "algorithm": "Ed25519",
        "private_key_b64": base64.b64encode(key.seed).decode()}]}))
    done = subprocess.run([str(exe), "append", str(vault), "--type", "OBSERVATION", "--data",
                           json.dumps(data), "--keyfile", str(keyfile), "--actor", actor],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def file_events(v: Path) -> list[Event]:
    return [json.loads(x) for x in (v / layout.EVENTS).read_bytes().splitlines()]


def assert_clean(vault: Vault) -> None:
    report = verify_vault(vault)
    assert report.ok, [p.to_json() for p in report.all_problems]
    assert [p.code for p in report.all_problems] == []


def assert_sig_current(root: Path, signer: SigningKey) -> None:
    sig_doc = json.loads((root / layout.MANIFEST_SIG).read_bytes())
    recorded = (root / layout.MERKLE_ROOT).read_text().strip()
    assert sig_doc["merkle_root"] == recorded
    assert sig_doc["key_id"] == signer.key_id
    assert check_manifest_sig(sig_doc, signer.public) is None
    on_disk = [entry_for(root, rel) for rel in sorted(walk_files(root))]
    assert merkle_root(on_disk) == recorded
    manifest = json.loads((root / layout.MANIFEST).read_bytes())
    assert manifest["files"] == on_disk
    assert manifest["file_count"] == len(on_disk)


@pytest.fixture
def vault(tmp_path: Path, home: Path) -> Any:
    with Vault.init(tmp_path / "vault", key=ALICE, actor=A_ACTOR, home=home) as v:
        yield v


def later(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# -- total order under clock skew -------------------------------------------------------------

def test_future_timestamp_of_another_actor_rewrites_the_tail_in_total_order(
        vault: Vault, home: Path) -> None:
    observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open")
    # Bob's clock runs a day ahead.
    skewed = build_event(event_type="OBSERVATION", actor=B_ACTOR, prev_event_hash=None,
                         key=BOB, payload={"subject": "door", "predicate": "status",
                                           "value": "closed"},
                         timestamp_utc=later(86400), namespace="local", ts_logical=1)
    res = vault.append([skewed], signer=BOB)
    assert res.reordered_from is None  # it sorts last anyway
    bob_first_seen = vault.index.get(skewed["event_id"]).first_seen_utc  # type: ignore[union-attr]

    res = observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="ajar")
    assert res.reordered_from == 3  # Bob's event was at position 3; Alice's goes before it
    assert any("rewritten in total order" in n for n in res.notes)
    evs = file_events(vault.root)
    assert [e["event_id"] for e in evs][-2:] == [res.events[0]["event_id"], skewed["event_id"]]
    # Bob, his clock fixed, continues his own chain: it must stay after its predecessor.
    follow = build_event(event_type="OBSERVATION", actor=B_ACTOR,
                         prev_event_hash=skewed["event_id"], key=BOB,
                         payload={"subject": "door", "predicate": "status", "value": "x"},
                         namespace="local", ts_logical=2)
    vault.append([follow], signer=BOB)
    observe(vault, ALICE, A_ACTOR, subject="window", predicate="status", value="shut")

    evs = file_events(vault.root)
    assert total_order(evs) == list(range(len(evs)))  # the file IS the total order
    assert [e["event_id"] for e in evs][-2:] == [skewed["event_id"], follow["event_id"]]
    rows = vault.index.query()
    assert [r.event_id for r in rows] == [e["event_id"] for e in evs]
    assert [r.pos for r in rows] == list(range(len(evs)))
    moved = vault.index.get(skewed["event_id"])
    assert moved is not None
    assert moved.first_seen_utc == bob_first_seen  # rewriting does not make it "new"
    assert_clean(vault)
    assert_sig_current(vault.root, ALICE)
    reference_verify(vault.root)
    # A fresh process (new Vault, same index) sees the same order.
    with Vault.open(vault.root, home=home) as again:
        assert [r.event_id for r in again.index.query()] == [e["event_id"] for e in evs]
    code = main(["--home", str(home), "log", str(vault.root), "--json"])
    assert code == 0


# -- the index follows the log ----------------------------------------------------------------

def test_index_follows_appends_made_by_the_reference_cli(
        vault: Vault, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open")
    reference_append(vault.root, ALICE, A_ACTOR, {"subject": "cup", "predicate": "where",
                                                  "value": "desk"}, tmp_path / "k.json")
    ref_event = file_events(vault.root)[-1]
    assert main(["--home", str(home), "log", str(vault.root), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["events"]
    assert [e["event_id"] for e in shown] == [e["event_id"] for e in file_events(vault.root)]
    assert shown[-1]["subject"] == "cup"
    # The Vault object that was open all along (the GUI) does not fork its own chain: its
    # next event follows the reference's event.
    res = observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="shut")
    assert res.events[0]["prev_event_hash"] == ref_event["event_id"]
    report = verify_vault(vault)
    assert report.ok
    assert report.log.forks == []
    assert report.log.legacy_ids == [ref_event["event_id"]]  # `provara append` ids (rule B)
    reference_verify(vault.root)


def test_index_is_rebuilt_when_the_log_is_rewritten_shorter(vault: Vault, home: Path) -> None:
    written = [observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value=v)
               for v in ("open", "shut", "open")]
    log = vault.root / layout.EVENTS
    log.write_bytes(b"".join(log.read_bytes().splitlines(keepends=True)[:3]))
    with Vault.open(vault.root, home=home) as again:
        assert again.index.count() == 3
        assert [r.event_id for r in again.index.query()] == [
            e["event_id"] for e in file_events(vault.root)]
        # The log was cut behind the manifest's back: a write would seal the cut in, so it
        # is refused and nothing changes (it used to go through with a note).
        before = log.read_bytes(), (vault.root / layout.MANIFEST).read_bytes()
        with pytest.raises(TamperedVaultError, match="does not match manifest.json"):
            observe(again, ALICE, A_ACTOR, subject="door", predicate="status", value="gone")
        assert (log.read_bytes(), (vault.root / layout.MANIFEST).read_bytes()) == before
        # And this profile saw the events that were cut: it names the newest it saw.
        assert again.loss is not None
        assert again.loss.fewer_events == 2
        assert [e.event_id for e in again.loss.missing] == [
            written[-1].events[0]["event_id"]]


def test_two_writers_with_separate_indexes_never_fork_a_chain(
        vault: Vault, tmp_path: Path) -> None:
    """The GUI (one profile) and a CLI run with another --home share the vault but not the
    index. Whatever interleaving, the same identity's events form one chain."""
    other = Vault.open(vault.root, home=tmp_path / "other-home")
    try:
        observe(other, ALICE, A_ACTOR, subject="a", predicate="b", value=1)
        observe(vault, ALICE, A_ACTOR, subject="a", predicate="b", value=2)  # stale view
        # An event built, then overtaken by the other writer before it is appended:
        pending = vault.new_event(key=ALICE, actor=A_ACTOR, event_type="OBSERVATION",
                                  payload={"subject": "a", "predicate": "b", "value": 3})
        observe(other, ALICE, A_ACTOR, subject="a", predicate="b", value=4)
        before = (vault.root / layout.EVENTS).read_bytes()
        with pytest.raises(StoreError, match="try again"):
            vault.append([pending], signer=ALICE)
        assert (vault.root / layout.EVENTS).read_bytes() == before
        assert not (vault.root / layout.TXN_DIR).exists()
        report = verify_vault(vault)
        assert report.log.forks == []
        assert report.ok
    finally:
        other.close()


# -- attachments -------------------------------------------------------------------------------

def test_attachments_are_content_addressed_and_verified(vault: Vault, tmp_path: Path) -> None:
    photo = tmp_path / "scene.png"
    photo.write_bytes(b"\x89PNG evidence bytes" * 50)
    res = observe(vault, ALICE, A_ACTOR, subject="scene", predicate="photo", value="front",
                  attachments=[photo])
    ref = res.events[0]["payload"]["attachments"][0]
    stored = vault.root / layout.CAS_DIR / ref["sha256"]
    assert stored.read_bytes() == photo.read_bytes()
    assert ref["size"] == photo.stat().st_size
    assert ref["media_type"] == "image/png"
    assert_clean(vault)
    assert_sig_current(vault.root, ALICE)
    reference_verify(vault.root)
    # The same file again is stored once.
    observe(vault, ALICE, A_ACTOR, subject="scene", predicate="photo2", value="again",
            attachments=[photo])
    assert [p.name for p in (vault.root / layout.CAS_DIR).iterdir()] == [ref["sha256"]]
    assert_clean(vault)

    stored.write_bytes(b"\x89PNG doctored bytes" * 50)  # same size, other content
    report = verify_vault(vault)
    assert not report.ok
    by_code = {p.code: p for p in report.all_problems}
    assert by_code["ATTACHMENT_CORRUPT"].event_id == res.events[0]["event_id"]
    assert by_code["ATTACHMENT_CORRUPT"].path == f"{layout.CAS_DIR}/{ref['sha256']}"
    assert by_code["FILE_CHANGED"].path == f"{layout.CAS_DIR}/{ref['sha256']}"

    stored.unlink()
    codes = {p.code for p in verify_vault(vault).all_problems}
    assert {"ATTACHMENT_MISSING", "MISSING_FILE"} <= codes


# -- manifest.sig ------------------------------------------------------------------------------

def test_manifest_sig_is_current_after_every_operation(vault: Vault, tmp_path: Path) -> None:
    assert_sig_current(vault.root, ALICE)
    a = observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open",
                confidence=0.9)
    assert_sig_current(vault.root, ALICE)
    observe(vault, BOB, B_ACTOR, subject="door", predicate="status", value="closed",
            confidence=0.9)
    assert_sig_current(vault.root, BOB)  # re-signed by whoever made the change
    keys = json.loads((vault.root / layout.KEYS).read_bytes())["keys"]
    assert [k["key_id"] for k in keys] == [ALICE.key_id, BOB.key_id]
    assert vault.reduce().export_state()["contested"]
    attest(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open",
           targets=[a.events[0]["event_id"]])
    assert_sig_current(vault.root, ALICE)
    retract(vault, ALICE, A_ACTOR, subject="door", predicate="status", reason="test")
    assert_sig_current(vault.root, ALICE)
    f = tmp_path / "note.txt"
    f.write_text("evidence")
    observe(vault, BOB, B_ACTOR, subject="n", predicate="p", value=1, attachments=[f])
    assert_sig_current(vault.root, BOB)
    assert_clean(vault)
    reference_verify(vault.root)


def test_init_refuses_a_non_empty_directory_and_leaves_it_alone(tmp_path: Path,
                                                                home: Path) -> None:
    target = tmp_path / "notes"
    target.mkdir()
    (target / "todo.txt").write_text("mine")
    with pytest.raises(UsageError, match="already exists"):
        Vault.init(target, key=ALICE, actor=A_ACTOR, home=home)
    assert [p.name for p in target.iterdir()] == ["todo.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["notes"]


def test_attachment_changed_after_hashing_is_refused(vault: Vault, tmp_path: Path) -> None:
    """A file still being written: hashed for the event, then different when copied in."""
    growing = tmp_path / "capture.pcap"
    growing.write_bytes(b"packets 1-100")
    staged = stage_attachment(growing)
    event = vault.new_event(key=ALICE, actor=A_ACTOR, event_type="OBSERVATION",
                            payload={"subject": "net", "predicate": "capture", "value": 1,
                                     "attachments": [staged.reference()]})
    growing.write_bytes(b"packets 1-100, 101-200")
    before = {p: p.read_bytes() for p in vault.root.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="changed while it was being attached"):
        vault.append([event], signer=ALICE, attachments=[staged])
    assert {p: p.read_bytes() for p in vault.root.rglob("*") if p.is_file()} == before
    assert_clean(vault)


@pytest.mark.skipif(not Path("/proc/uptime").is_file(), reason="needs Linux /proc")
def test_attachment_whose_stat_size_lies_is_recorded_as_read(vault: Vault) -> None:
    """/proc files report size 0 but have content: the event must record what was stored."""
    refused = ""
    try:
        res = observe(vault, ALICE, A_ACTOR, subject="host", predicate="uptime", value=1,
                      attachments=[Path("/proc/uptime")])
    except StoreError as exc:  # its content moved on between hashing and copying
        refused = str(exc)
    assert_clean(vault)
    if refused:
        assert "changed while it was being attached" in refused
        return
    ref = res.events[0]["payload"]["attachments"][0]
    assert ref["size"] == (vault.root / layout.CAS_DIR / ref["sha256"]).stat().st_size > 0
    assert_clean(vault)


def test_files_another_tool_adds_and_manifests_are_kept(vault: Vault) -> None:
    """The app keeps a Vault open across operations. Between two of them the reference's
    `query` adds .index/events.db inside the vault and `provara manifest` lists it; our next
    manifest must still list it (it dropped it: PHANTOM_FILE, and `provara verify` failed)."""
    exe = require_reference_cli()
    observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open")
    for argv in (["query", str(vault.root), "--actor", A_ACTOR], ["manifest", str(vault.root)]):
        subprocess.run([str(exe), *argv], capture_output=True, timeout=120, check=True)
    assert (vault.root / ".index/events.db").is_file()
    reference_verify(vault.root)
    observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="shut")
    listed = [f["path"] for f in json.loads((vault.root / layout.MANIFEST).read_bytes())["files"]]
    assert ".index/events.db" in listed
    assert_clean(vault)
    assert_sig_current(vault.root, ALICE)
    reference_verify(vault.root)


def test_prepared_vault_appends_the_same_bytes_and_still_notices_outside_edits(
        vault: Vault, tmp_path: Path) -> None:
    """prepare_writes() takes the whole-log hashing off the first append in the app; the
    manifest it leads to must be exactly right, and a log edited outside any Provara tool
    before the append must still be reported, not silently covered by the new manifest."""
    vault.prepare_writes()
    observe(vault, ALICE, A_ACTOR, subject="door", predicate="status", value="open")
    assert_clean(vault)
    assert_sig_current(vault.root, ALICE)
    reference_verify(vault.root)

    other = Vault.open(vault.root, home=vault.home)
    other.prepare_writes()
    assert not other.notes
    # Someone appends a blank line by hand: the manifest no longer matches the log.
    with vault.events_path.open("ab") as f:
        f.write(b"\n")
    other.prepare_writes()
    with pytest.raises(TamperedVaultError, match="does not match manifest.json"):
        observe(other, ALICE, A_ACTOR, subject="door", predicate="status", value="shut")
    other.close()
