"""Keys over time on real vaults, through the command line: the recovery file, routine and
compromise rotation, revocation, restore on a new machine, a new passphrase, a second
replica that gets the rotation by bundle; and every bad input refused with the vault
byte-for-byte unchanged (core/key_life.py holds the rules)."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.cli import main
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake import check as intake_check
from provara_desktop.intake import commit as intake_commit
from provara_desktop.intake import plan as intake_plan
from provara_desktop.intake.trust_view import Trust
from provara_desktop.net.peer_batch import PeerBatch
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import read_recovery_file, write_recovery_file
from provara_desktop.store.vault import Vault
from tests.bundle.conftest import tree_digest

if TYPE_CHECKING:
    from pathlib import Path

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 and out.strip() else None), err


def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, doc, err = cli(capsys, *argv)
    assert code == 0, err
    return doc


def make_identity(home: Path, name: str, rec: Path) -> dict[str, Any]:
    """As `identity create --recovery-out`, at libsodium's minimum Argon2 cost (recorded in
    the file, so every unlock is instant; test_create_writes_a_recovery_file runs the CLI)."""
    ident = IdentityStore(home, **FAST).create_with_recovery(
        name, PASS, lambda i, r: write_recovery_file(rec, i, r) and None)
    return {**ident.to_json(), "recovery_file": str(rec)}


@pytest.fixture
def alice(tmp_path: Path, capsys: pytest.CaptureFixture[str],
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Alice's profile, recovery file and vault with two observations."""
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    home, rec, vault = tmp_path / "alice", tmp_path / "alice-recovery.json", tmp_path / "v"
    ident = make_identity(home, "Alice", rec)
    ok(capsys, "--home", str(home), "init", str(vault))
    first = ok(capsys, "--home", str(home), "observe", str(vault), "--subject", "door",
               "--predicate", "state", "--value", '"open"')
    second = ok(capsys, "--home", str(home), "observe", str(vault), "--subject", "door",
                "--predicate", "lock", "--value", '"broken"')
    return {"home": home, "rec": rec, "vault": vault, "ident": ident,
            "first": first["event_id"], "second": second["event_id"]}


def keys(capsys: pytest.CaptureFixture[str], a: dict[str, Any]) -> dict[str, Any]:
    doc = ok(capsys, "--home", str(a["home"]), "keys", str(a["vault"]))
    return {k["key_id"]: k for k in doc["keys"]}


def verify(capsys: pytest.CaptureFixture[str], a: dict[str, Any], vault: Path | None = None
           ) -> dict[str, Any]:
    main(["--home", str(a["home"]), "verify", str(vault or a["vault"]), "--json"])
    out, _ = capsys.readouterr()
    return dict(json.loads(out))


def test_create_writes_a_recovery_file_that_names_the_identity(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    made = ok(capsys, "--home", str(tmp_path / "cli"), "identity", "create", "--name",
              "Carol", "--recovery-out", str(tmp_path / "carol.json"), "--sheet",
              str(tmp_path / "carol.txt"))
    assert made["recovery_file"] == str(tmp_path / "carol.json")
    sheet = (tmp_path / "carol.txt").read_text()
    assert made["recovery_fingerprint"] in sheet
    assert made["actor"] in sheet
    ident = alice["ident"]
    assert alice["rec"].stat().st_mode & 0o077 == 0  # private to the user
    key, facts = read_recovery_file(alice["rec"])
    assert key.key_id == ident["recovery_key_id"]
    assert facts["key_id"] == ident["key_id"]
    # The profile holds only the public half.
    assert "recovery_seed" not in (alice["home"] / "identity.json").read_text()
    assert ident["recovery_confirmed"] is False
    # The vault records the recovery key, declared by Alice's own key.
    k = keys(capsys, alice)
    assert k[ident["key_id"]]["recovery_key_id"] == key.key_id
    assert k[key.key_id]["role"] == "recovery"
    # A second create never overwrites a recovery file.
    code, _, err = cli(capsys, "--home", str(alice["home"].parent / "other"), "identity",
                       "create", "--name", "Eve", "--recovery-out", str(alice["rec"]))
    assert code != 0
    assert "already exists" in err
    assert not (alice["home"].parent / "other" / "identity.json").exists()


def test_routine_rotation_keeps_history_valid_and_the_new_key_signs(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    old = alice["ident"]["key_id"]
    done = ok(capsys, "--home", str(alice["home"]), "identity", "rotate",
              str(alice["vault"]), "--recovery-file", str(alice["rec"]))
    assert done["old_key_id"] == old
    assert done["key_id"] != old
    assert done["trust_boundary_event_id"] == alice["second"]  # its last event
    assert len(done["fingerprint"].split()) == 8
    after = ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]),
               "--subject", "door", "--predicate", "state", "--value", '"closed"')
    report = verify(capsys, alice)
    assert report["ok"], report["problems"]
    k = keys(capsys, alice)
    assert k[old]["status"] == "rotated"
    assert k[old]["replaced_by"] == done["key_id"]
    assert k[old]["trust_boundary_event_id"] == alice["second"]
    assert k[done["key_id"]]["status"] == "active"
    assert k[done["key_id"]]["actor"] == alice["ident"]["actor"]  # same person, same label
    shown = ok(capsys, "--home", str(alice["home"]), "identity", "show")
    assert shown["key_id"] == done["key_id"]
    assert shown["actor"] == alice["ident"]["actor"]
    assert after["event_id"]


def _thief_event(a: dict[str, Any], old_seed: bytes, prev: str) -> dict[str, Any]:
    """What someone holding the old key signs after the boundary."""
    thief = SigningKey(old_seed)
    return dict(build_event(event_type="OBSERVATION", actor=a["ident"]["actor"], key=thief,
                            prev_event_hash=prev, namespace="local",
                            payload={"subject": "door", "predicate": "state",
                                     "value": "forged", "confidence": 1.0}))


def _ingest(vault: Vault, events: list[dict[str, Any]], keys_doc: dict[str, Any],
            signer: SigningKey) -> intake_plan.ImportPlan[Any]:
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False).encode() for e in events]
    batch = PeerBatch("test peer", 1, lines, keys=list(keys_doc["keys"]),
                      prerequisites={str(e.get("prev_event_hash")) for e in events
                                     if e.get("prev_event_hash")} -
                      {str(e["event_id"]) for e in events})
    c = intake_check.check(batch, Trust(), vault=vault)
    try:
        p = intake_plan.plan(vault, c, accept_untrusted=True)
    except intake_plan.ImportRefused as exc:
        exc.check = c  # for the test to read every problem
        raise
    if p.new_events:
        intake_commit.commit(vault, p, signer=signer)
    return p


def _old_seed(a: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp: Path) -> bytes:
    ok(capsys, "--home", str(a["home"]), "identity", "export-reference", str(tmp / "k.json"))
    doc = json.loads((tmp / "k.json").read_text())
    import base64

    return base64.b64decode(doc["keys"][0]["private_key_b64"])


def test_compromise_rotation_flags_later_events_and_intake_refuses_new_ones(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    seed = _old_seed(alice, capsys, tmp_path)
    # The thief signed one event before Alice noticed; it reached her vault.
    early = _thief_event(alice, seed, alice["second"])
    with Vault.open(alice["vault"], home=alice["home"]) as v:
        assert _ingest(v, [early], v.keys_doc, SigningKey(seed)).imported == 1
    # Alice rotates for compromise, vouching only up to her first observation... then her
    # second: the thief's event is not on that history.
    done = ok(capsys, "--home", str(alice["home"]), "identity", "rotate",
              str(alice["vault"]), "--recovery-file", str(alice["rec"]), "--reason",
              "compromise", "--boundary", alice["second"])
    report = verify(capsys, alice)
    flagged = {p["event_id"] for p in report["problems"] if p["code"] == "REVOKED_KEY"}
    assert flagged == {early["event_id"]}  # history up to the boundary stays valid
    assert keys(capsys, alice)[done["old_key_id"]]["status"] == "revoked"
    # A later event by the stolen key is refused on intake; nothing is written.
    late = _thief_event(alice, seed, early["event_id"])
    before = tree_digest(alice["vault"])
    with Vault.open(alice["vault"], home=alice["home"]) as v:
        p = _ingest(v, [late], v.keys_doc, SigningKey.generate())
    assert p.imported == 0
    assert [e["event_id"] for e in p.refused] == [late["event_id"]]
    assert any("revoked" in n for n in p.notes)
    assert tree_digest(alice["vault"]) == before
    # And the stolen key cannot write through our own tools either.
    other = tmp_path / "thief-home"
    (tmp_path / "k2.json").write_text((tmp_path / "k.json").read_text())
    ok(capsys, "--home", str(other), "identity", "import-reference", str(tmp_path / "k.json"),
       "--name", "Alice")
    code, _, err = cli(capsys, "--home", str(other), "observe", str(alice["vault"]),
                       "--subject", "x", "--predicate", "y", "--value", "1")
    assert code != 0
    assert "revoked" in err
    assert tree_digest(alice["vault"]) == before


def test_a_second_replica_gets_the_rotation_by_bundle_and_agrees(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    replica = tmp_path / "replica"
    shutil.copytree(alice["vault"], replica)
    ok(capsys, "--home", str(alice["home"]), "identity", "rotate", str(alice["vault"]),
       "--recovery-file", str(alice["rec"]))
    ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]), "--subject",
       "door", "--predicate", "state", "--value", '"closed"')
    bundle = tmp_path / "b.provara"
    ok(capsys, "--home", str(alice["home"]), "export", str(alice["vault"]), str(bundle))
    bob = tmp_path / "bob"
    make_identity(bob, "Bob", tmp_path / "bob-rec.json")
    imported = ok(capsys, "--home", str(bob), "import", str(replica), str(bundle),
                  "--accept-untrusted")
    assert imported["imported"] == 3
    ours, theirs = verify(capsys, alice), verify(capsys, alice, replica)
    assert ours["ok"], ours["problems"]
    assert theirs["ok"], theirs["problems"]
    state = [ok(capsys, "--home", str(alice["home"]), "state", str(v))["state_hash"]
             for v in (alice["vault"], replica)]
    assert state[0] == state[1]
    k = {x["key_id"]: x for x in ok(capsys, "--home", str(bob), "keys", str(replica))["keys"]}
    assert k[alice["ident"]["key_id"]]["status"] == "rotated"


def test_restore_on_a_new_machine_from_the_recovery_file(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    new_home = tmp_path / "new-laptop"
    restored = ok(capsys, "--home", str(new_home), "identity", "restore", "--recovery-file",
                  str(alice["rec"]), "--vault", str(alice["vault"]))
    assert restored["actor"] == alice["ident"]["actor"]
    assert restored["key_id"] != alice["ident"]["key_id"]
    assert restored["reason"] == "compromise"
    ok(capsys, "--home", str(new_home), "observe", str(alice["vault"]), "--subject", "door",
       "--predicate", "state", "--value", '"sealed"')
    assert verify(capsys, alice)["ok"]
    # The lost laptop's key can no longer write.
    code, _, err = cli(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]),
                       "--subject", "x", "--predicate", "y", "--value", "1")
    assert code != 0
    assert "revoked" in err


def test_passphrase_change(alice: dict[str, Any], capsys: pytest.CaptureFixture[str],
                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    new = tmp_path / "new-pass"
    new.write_text("a new passphrase\n")
    ok(capsys, "--home", str(alice["home"]), "identity", "passphrase",
       "--new-passphrase-file", str(new))
    code, _, err = cli(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]),
                       "--subject", "x", "--predicate", "y", "--value", "1")
    assert code != 0
    assert "wrong passphrase" in err
    monkeypatch.setenv("PROVARA_PASSPHRASE", "a new passphrase")
    ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]), "--subject", "x",
       "--predicate", "y", "--value", "1")


# -- bad input: refused, nothing changed -------------------------------------------------------


def test_a_wrong_recovery_file_or_passphrase_or_boundary_is_refused_unchanged(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    other_rec = tmp_path / "eve-rec.json"
    make_identity(tmp_path / "eve", "Eve", other_rec)
    before = tree_digest(alice["vault"])
    identity_before = (alice["home"] / "identity.json").read_bytes()
    base = ["--home", str(alice["home"]), "identity", "rotate", str(alice["vault"])]
    code, _, err = cli(capsys, *base, "--recovery-file", str(other_rec))
    assert code != 0
    assert "wrong recovery file" in err
    code, _, err = cli(capsys, *base, "--recovery-file", str(alice["rec"]), "--boundary",
                       "evt_000000000000000000000000")
    assert code != 0
    assert "no such event" in err
    monkeypatch.setenv("PROVARA_PASSPHRASE", "not it")
    code, _, err = cli(capsys, *base, "--recovery-file", str(alice["rec"]))
    assert code != 0
    assert "wrong passphrase" in err
    assert tree_digest(alice["vault"]) == before
    assert (alice["home"] / "identity.json").read_bytes() == identity_before


def test_a_boundary_of_another_key_is_refused(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bob = tmp_path / "bob"
    make_identity(bob, "Bob", tmp_path / "bob-rec.json")
    bobs = ok(capsys, "--home", str(bob), "observe", str(alice["vault"]), "--subject", "s",
              "--predicate", "p", "--value", "1")
    before = tree_digest(alice["vault"])
    code, _, err = cli(capsys, "--home", str(alice["home"]), "identity", "rotate",
                       str(alice["vault"]), "--recovery-file", str(alice["rec"]),
                       "--boundary", bobs["event_id"])
    assert code != 0
    assert "not by" in err
    assert tree_digest(alice["vault"]) == before


def _forged_rotation(a: dict[str, Any], signer: SigningKey, revoked: str, *,
                     promote: SigningKey | None = None) -> list[dict[str, Any]]:
    label = f"x-{signer.key_id[4:12]}"
    rev = dict(build_event(event_type="KEY_REVOCATION", actor=label, key=signer,
                           prev_event_hash=None, namespace="canonical",
                           payload={"revoked_key_id": revoked, "reason": "compromise",
                                    "trust_boundary_event_id": a["second"]}))
    out = [rev]
    if promote is not None:
        out.append(dict(build_event(
            event_type="KEY_PROMOTION", actor=label, key=signer,
            prev_event_hash=rev["event_id"], namespace="canonical",
            payload={"new_key_id": promote.key_id, "new_public_key_b64": promote.public.b64,
                     "algorithm": "Ed25519", "replaces_key_id": revoked})))
    return out


def test_forged_key_events_in_a_batch_are_refused_unchanged(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    old = alice["ident"]["key_id"]
    stranger = SigningKey.generate()
    cases = {
        # a revocation by a key that is not Alice's recovery key
        "unknown signer": _forged_rotation(alice, stranger, old),
        # a promotion signed by the new key itself
        "self-promotion": _forged_rotation(alice, stranger, old, promote=stranger),
        # a revocation of a key the vault does not know
        "unknown key": _forged_rotation(alice, stranger, "bp1_0123456789abcdef"),
    }
    for name, events in cases.items():
        before = tree_digest(alice["vault"])
        with Vault.open(alice["vault"], home=alice["home"]) as v:
            entry = {"key_id": stranger.key_id, "algorithm": "Ed25519",
                     "public_key_b64": stranger.public.b64, "roles": ["root"],
                     "status": "active"}
            with pytest.raises(intake_plan.ImportRefused) as info:
                _ingest(v, events, {"keys": [entry]}, SigningKey.generate())
        assert info.value.check is not None
        assert "KEY_EVENT_INVALID" in {p.code for p in info.value.check.errors}, name
        assert tree_digest(alice["vault"]) == before, name


def test_a_revocation_by_an_already_revoked_key_is_refused(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The rotated-out key (someone kept a copy) tries to revoke the recovery key."""
    seed = _old_seed(alice, capsys, tmp_path)
    rec_key, _ = read_recovery_file(alice["rec"])
    ok(capsys, "--home", str(alice["home"]), "identity", "rotate", str(alice["vault"]),
       "--recovery-file", str(alice["rec"]))
    revoked = SigningKey(seed)
    event = dict(build_event(
        event_type="KEY_REVOCATION", actor=alice["ident"]["actor"], key=revoked,
        prev_event_hash=None, namespace="canonical",
        payload={"revoked_key_id": rec_key.key_id, "reason": "compromise",
                 "trust_boundary_event_id": None}))
    before = tree_digest(alice["vault"])
    with Vault.open(alice["vault"], home=alice["home"]) as v, \
            pytest.raises(intake_plan.ImportRefused) as info:
        _ingest(v, [event], v.keys_doc, SigningKey.generate())
    assert info.value.check is not None
    assert any("itself revoked" in p.message for p in info.value.check.errors)
    assert tree_digest(alice["vault"]) == before


# -- devices ----------------------------------------------------------------------------------


def _device(a: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp: Path, name: str
            ) -> tuple[Path, dict[str, Any]]:
    pw = tmp / f"{name}-pass"
    pw.write_text(f"{name} passphrase\n")
    out = tmp / f"{name}.device"
    added = ok(capsys, "--home", str(a["home"]), "identity", "add-device", str(a["vault"]),
               "--name", name, "--out", str(out), "--device-passphrase-file", str(pw))
    home = tmp / f"{name}-home"
    joined = ok(capsys, "--home", str(home), "--passphrase-file", str(pw), "identity",
                "join-device", str(out))
    assert joined["key_id"] == added["device"]["key_id"]
    assert joined["person_actor"] == a["ident"]["actor"]
    return home, joined


def test_devices_work_and_a_lost_one_is_revoked_alone(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    laptop, lj = _device(alice, capsys, tmp_path, "laptop")
    phone, pj = _device(alice, capsys, tmp_path, "phone")
    for home, name in ((laptop, "laptop"), (phone, "phone")):
        monkeypatch.setenv("PROVARA_PASSPHRASE", f"{name} passphrase")
        ok(capsys, "--home", str(home), "observe", str(alice["vault"]), "--subject", "door",
           "--predicate", f"seen from {name}", "--value", '"yes"')
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    report = verify(capsys, alice)
    assert report["ok"], report["problems"]
    assert report["forks"] == []  # each device has its own chain
    k = keys(capsys, alice)
    for j, name in ((lj, "laptop"), (pj, "phone")):
        assert k[j["key_id"]]["role"] == "device"
        assert k[j["key_id"]]["device_name"] == name
        assert k[j["key_id"]]["person"] == alice["ident"]["actor"]
        assert k[j["key_id"]]["recovery_key_id"] == alice["ident"]["recovery_key_id"]
    # The laptop is lost: revoked alone, with the recovery file.
    ok(capsys, "--home", str(alice["home"]), "keys", "revoke", str(alice["vault"]),
       lj["key_id"], "--recovery-file", str(alice["rec"]), "--reason", "device_lost")
    k = keys(capsys, alice)
    assert k[lj["key_id"]]["status"] == "revoked"
    assert k[pj["key_id"]]["status"] == "active"
    assert k[alice["ident"]["key_id"]]["status"] == "active"
    assert verify(capsys, alice)["ok"]  # its events up to the boundary stay valid
    before = tree_digest(alice["vault"])
    monkeypatch.setenv("PROVARA_PASSPHRASE", "laptop passphrase")
    code, _, err = cli(capsys, "--home", str(laptop), "observe", str(alice["vault"]),
                       "--subject", "x", "--predicate", "y", "--value", "1")
    assert code != 0
    assert "revoked" in err
    assert tree_digest(alice["vault"]) == before
    # The phone and the person go on.
    monkeypatch.setenv("PROVARA_PASSPHRASE", "phone passphrase")
    ok(capsys, "--home", str(phone), "observe", str(alice["vault"]), "--subject", "x",
       "--predicate", "y", "--value", "2")
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]), "--subject",
       "x", "--predicate", "y", "--value", "3")
    assert verify(capsys, alice)["ok"]


def test_a_damaged_device_file_or_wrong_passphrase_joins_nothing(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("device pass\n")
    out = tmp_path / "d.device"
    ok(capsys, "--home", str(alice["home"]), "identity", "add-device", str(alice["vault"]),
       "--name", "desk", "--out", str(out), "--device-passphrase-file", str(pw))
    wrong = tmp_path / "wrong"
    wrong.write_text("not it\n")
    home = tmp_path / "new"
    code, _, err = cli(capsys, "--home", str(home), "--passphrase-file", str(wrong),
                       "identity", "join-device", str(out))
    assert code != 0
    assert "wrong passphrase" in err
    assert not (home / "identity.json").exists()
    doc = json.loads(out.read_text())
    doc["certificate"]["payload"]["device_name"] = "swapped"
    out.write_text(json.dumps(doc))
    code, _, err = cli(capsys, "--home", str(home), "--passphrase-file", str(pw),
                       "identity", "join-device", str(out))
    assert code != 0
    assert "signature" in err
    assert not (home / "identity.json").exists()


def test_trust_in_a_person_reaches_their_devices_and_rotated_keys_visibly(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    replica, fresh = tmp_path / "bobs-copy", tmp_path / "carols-copy"
    shutil.copytree(alice["vault"], replica)
    shutil.copytree(alice["vault"], fresh)
    laptop, lj = _device(alice, capsys, tmp_path, "laptop")
    monkeypatch.setenv("PROVARA_PASSPHRASE", "laptop passphrase")
    ok(capsys, "--home", str(laptop), "observe", str(alice["vault"]), "--subject", "s",
       "--predicate", "from laptop", "--value", "1")
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    rotated = ok(capsys, "--home", str(alice["home"]), "identity", "rotate",
                 str(alice["vault"]), "--recovery-file", str(alice["rec"]))
    ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]), "--subject", "s",
       "--predicate", "after rotation", "--value", "2")
    # An unsigned delta file: each event's key decides (a signed bundle's signer is decided
    # from its manifest alone, before any event is read: Alice's new key signs it, and Bob
    # trusts that key once he checked its new fingerprint, as for any signer).
    bundle = tmp_path / "b.delta"
    ok(capsys, "--home", str(alice["home"]), "export", str(alice["vault"]), str(bundle),
       "--format", "provara-delta-v1")
    bob = tmp_path / "bob"
    make_identity(bob, "Bob", tmp_path / "bob-rec.json")
    # Bob trusts Alice's first key (he checked its fingerprint with her), nothing else.
    ok(capsys, "--home", str(bob), "trust", "add", alice["ident"]["key_id"], "--public-key",
       alice["ident"]["public_key_b64"], "--name", "Alice")
    done = ok(capsys, "--home", str(bob), "import", str(replica), str(bundle))
    assert done["held_back"] == 0, [(k["key_id"], k["actors"]) for k in done["held_back_keys"]]
    why = {k["key_id"]: k["vouched_by"] for k in done["new_keys"]}
    assert "device 'laptop'" in why[lj["key_id"]]
    assert alice["ident"]["key_id"] in why[lj["key_id"]]
    assert "successor by rotation" in why[rotated["key_id"]]
    # Now that Bob's vault knows the rotation, a bundle signed by Alice's new key is
    # trusted through the key he trusts, from its manifest on.
    ok(capsys, "--home", str(alice["home"]), "observe", str(alice["vault"]), "--subject", "s",
       "--predicate", "later", "--value", "3")
    signed = tmp_path / "signed.provara"
    ok(capsys, "--home", str(alice["home"]), "export", str(alice["vault"]), str(signed))
    later = ok(capsys, "--home", str(bob), "import", str(replica), str(signed))
    assert later["imported"] == 1
    assert "successor by rotation" in later["signer"]["vouched_by"]
    # Without that trust, the same bundle is held back: nothing is trusted on its own.
    other = tmp_path / "carol"
    make_identity(other, "Carol", tmp_path / "carol-rec.json")
    code, doc, err = cli(capsys, "--home", str(other), "import", str(fresh), str(bundle))
    assert code != 0 or doc["held_back"] > 0, (err, doc["new_keys"])


def test_an_identity_without_a_recovery_key_is_named_and_can_add_one(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bob = tmp_path / "bob-old"
    made = IdentityStore(bob, **FAST).create("Bob", PASS)  # as identities were made before
    ok(capsys, "--home", str(bob), "observe", str(alice["vault"]), "--subject", "s",
       "--predicate", "p", "--value", "1")
    doc = ok(capsys, "--home", str(alice["home"]), "keys", str(alice["vault"]))
    assert doc["without_recovery"] == [made.actor]  # Alice declared hers; Bob none
    rec = tmp_path / "bob-rec.json"
    ok(capsys, "--home", str(bob), "identity", "add-recovery", "--recovery-out", str(rec))
    ok(capsys, "--home", str(bob), "observe", str(alice["vault"]), "--subject", "s",
       "--predicate", "p", "--value", "2")  # declared with this event
    doc = ok(capsys, "--home", str(alice["home"]), "keys", str(alice["vault"]))
    assert doc["without_recovery"] == []
    assert {k["key_id"]: k for k in doc["keys"]}[made.key_id]["recovery_key_id"] == \
        read_recovery_file(rec)[0].key_id


def test_the_printed_sheet_typed_back_in_restores_and_a_typo_is_caught(
        alice: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from provara_desktop.store.recovery_file import printable_sheet

    recovery, _ = read_recovery_file(alice["rec"])
    sheet = printable_sheet(IdentityStore(alice["home"]).load(), recovery)
    lines = sheet.splitlines()
    at = lines.index("Recovery seed (base64):") + 1
    groups = lines[at].split()
    # Typed back by hand: the groups over two lines, spacing of the typist's own.
    retyped = [*lines[:at], " ".join(groups[:6]), "  ".join(groups[6:]), *lines[at + 1:]]
    typo = list(retyped)
    first = typo[at].split()
    first[0] = ("B" if first[0][0] != "B" else "C") + first[0][1:]
    typo[at] = " ".join(first)
    bad = tmp_path / "typo-sheet.txt"
    bad.write_text("\n".join(typo) + "\n")
    new_home = tmp_path / "new-laptop"
    before = tree_digest(alice["vault"])
    code, _, err = cli(capsys, "--home", str(new_home), "identity", "restore",
                       "--recovery-file", str(bad), "--vault", str(alice["vault"]))
    assert code != 0
    assert "mistyped" in err
    assert not (new_home / "identity.json").exists()
    assert tree_digest(alice["vault"]) == before
    good = tmp_path / "sheet.txt"
    good.write_text("\n".join(retyped) + "\n")
    restored = ok(capsys, "--home", str(new_home), "identity", "restore", "--recovery-file",
                  str(good), "--vault", str(alice["vault"]))
    assert restored["actor"] == alice["ident"]["actor"]
    assert verify(capsys, alice)["ok"]
