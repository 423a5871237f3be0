"""Damaged and hostile bundles: each is refused with one clear line on stderr naming what is
wrong, and the receiving vault (every file, hashed) is exactly as it was before.

Where an attack needs a valid signature to reach a deeper check, the bundle is re-signed with
the key of the trusted sender (as if that key were stolen) so that only the one flaw remains.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import warnings
import zipfile
from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from tests.bundle.conftest import (
    Cli,
    Person,
    event_ids,
    read_members,
    tree_digest,
    trust,
    write_bundle,
)

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def sent(cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> Path:
    """Alice's bundle (with an attachment), and Bob who trusts Alice."""
    att = tmp_path / "scan.txt"
    att.write_bytes(b"evidence scan\n" * 50)
    cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate", "state",
             "--value", '"open"', "--attach", str(att))
    out = tmp_path / "a.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(out))
    trust(cli, bob, alice)
    return out


def refused(cli: Cli, bob: Person, bundle: Path, *words: str, code: int = 1,
            extra: tuple[str, ...] = ()) -> str:
    before = tree_digest(bob.vault)
    got, _, err = cli(bob, "import", str(bob.vault), str(bundle), *extra)
    assert got == code, err
    last = err.strip().splitlines()[-1]
    for w in words:
        assert w in last, last
    assert tree_digest(bob.vault) == before
    return last


def test_truncated(cli: Cli, bob: Person, sent: Path, tmp_path: Path) -> None:
    data = sent.read_bytes()
    for cut in (0, 3, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        bad = tmp_path / f"cut{cut}.provara-bundle"
        bad.write_bytes(data[:cut])
        msg = refused(cli, bob, bad)
        assert str(bad) in msg or "empty file" in msg


def test_bit_flips_in_every_region_are_refused_or_harmless(
        cli: Cli, alice: Person, bob: Person, sent: Path, tmp_path: Path) -> None:
    """A flipped bit anywhere is either refused with the vault unchanged, or (in zip
    bookkeeping no signature covers, e.g. a timestamp) imports exactly the signed events."""
    data = sent.read_bytes()
    want = event_ids(alice.vault)
    offsets = sorted(set(range(0, len(data), max(1, len(data) // 60))) | {
        len(data) - 1, len(data) - 22, len(data) - 10})
    refused_count = 0
    for off in offsets:
        bad = tmp_path / f"flip{off}.provara-bundle"
        flipped = bytearray(data)
        flipped[off] ^= 0x10
        bad.write_bytes(bytes(flipped))
        copy = tmp_path / f"bob-copy-{off}"
        shutil.copytree(bob.vault, copy)
        before = tree_digest(copy)
        code, _, err = cli(bob, "import", str(copy), str(bad))
        if code != 0:
            refused_count += 1
            assert code in (1, 2)
            assert err.strip().splitlines()[-1].startswith("error:")
            assert tree_digest(copy) == before
        else:
            assert set(want) <= set(event_ids(copy))
            assert cli.json(bob, "verify", str(copy))["ok"]
        shutil.rmtree(copy)
    assert refused_count >= len(offsets) * 3 // 4


def test_manifest_changed_after_signing(cli: Cli, bob: Person, sent: Path,
                                        tmp_path: Path) -> None:
    members = read_members(sent)
    manifest = json.loads(members["bundle.json"])
    manifest["created_at_utc"] = "2020-01-01T00:00:00+00:00"
    members["bundle.json"] = canonical_bytes(manifest)
    bad = write_bundle(tmp_path / "m.provara-bundle", members)
    refused(cli, bob, bad, "signature", "does not verify")


def test_valid_signature_by_an_untrusted_key(cli: Cli, bob: Person, carol: Person,
                                             sent: Path, tmp_path: Path) -> None:
    bad = write_bundle(tmp_path / "c.provara-bundle", read_members(sent), signer=carol.key())
    refused(cli, bob, bad, "untrusted key", carol.key_id, carol.fingerprint)


def test_member_whose_hash_does_not_match(cli: Cli, bob: Person, sent: Path,
                                          tmp_path: Path) -> None:
    members = read_members(sent)
    members["events.ndjson"] = members["events.ndjson"].replace(b'"open"', b'"shut"')
    bad = write_bundle(tmp_path / "h.provara-bundle", members)
    refused(cli, bob, bad, "events.ndjson", "sha256")


def test_event_altered_and_bundle_re_signed(cli: Cli, alice: Person, bob: Person,
                                            sent: Path, tmp_path: Path) -> None:
    members = read_members(sent)
    members["events.ndjson"] = members["events.ndjson"].replace(b'"open"', b'"shut"')
    bad = write_bundle(tmp_path / "e.provara-bundle", members, signer=alice.key())
    refused(cli, bob, bad, "not the hash of its content")


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "artifacts/cas/../../x",
                                  "C:/windows/x", "artifacts\\cas\\x", "notes.txt"])
def test_member_names_outside_the_format(cli: Cli, alice: Person, bob: Person, sent: Path,
                                         tmp_path: Path, name: str) -> None:
    members = {**read_members(sent), name: b"payload"}
    bad = write_bundle(tmp_path / "p.provara-bundle", members, signer=alice.key())
    msg = refused(cli, bob, bad, repr(name))
    assert any(w in msg for w in ("absolute", "traversal", "backslash", "not part of"))
    assert not (tmp_path / "evil.txt").exists()


def test_symlink_member(cli: Cli, alice: Person, bob: Person, sent: Path,
                        tmp_path: Path) -> None:
    members = read_members(sent)
    target = b"/etc/passwd"
    sha = hashlib.sha256(target).hexdigest()
    bad = tmp_path / "s.provara-bundle"
    write_bundle(bad, {**members, f"artifacts/cas/{sha}": target}, signer=alice.key())
    # Rewrite that one entry with symlink mode bits.
    tmp = tmp_path / "s2.provara-bundle"
    with zipfile.ZipFile(bad) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            if info.filename.endswith(sha):
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            dst.writestr(info, src.read(info))
    refused(cli, bob, tmp, "symbolic link")


def test_decompression_bomb(cli: Cli, alice: Person, bob: Person, sent: Path,
                            tmp_path: Path) -> None:
    zeros = bytes(24 << 20)
    sha = hashlib.sha256(zeros).hexdigest()
    bad = write_bundle(tmp_path / "bomb.provara-bundle",
                       {**read_members(sent), f"artifacts/cas/{sha}": zeros},
                       signer=alice.key())
    assert bad.stat().st_size < 1 << 20
    refused(cli, bob, bad, "decompression bomb")


def test_deeply_nested_and_huge_json(cli: Cli, alice: Person, bob: Person, sent: Path,
                                     tmp_path: Path) -> None:
    members = read_members(sent)
    deep = b'{"keys":' + b"[" * 5000 + b"]" * 5000 + b"}"
    bad = write_bundle(tmp_path / "deep.provara-bundle", {**members, "keys.json": deep},
                       signer=alice.key())
    refused(cli, bob, bad, "keys.json", "nested deeper")
    manifest_deep = b"[" * 100_000 + b"]" * 100_000
    bad = write_bundle(tmp_path / "deepm.provara-bundle",
                       {**members, "bundle.json": manifest_deep})
    refused(cli, bob, bad, "bundle.json", "nested deeper")
    # Random padding: it does not compress, so it is a huge line, not a bomb.
    pad = base64.b64encode(os.urandom(3 << 19))
    huge_line = b'{"event_id":"evt_x","pad":"' + pad + b'"}\n'
    bad = write_bundle(tmp_path / "huge.provara-bundle",
                       {**members, "events.ndjson": members["events.ndjson"] + huge_line},
                       signer=alice.key())
    refused(cli, bob, bad, "too large")


def test_duplicate_members(cli: Cli, bob: Person, sent: Path, tmp_path: Path) -> None:
    members = read_members(sent)
    bad = tmp_path / "dup.provara-bundle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(bad, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            zf.writestr("events.ndjson", b"")
    refused(cli, bob, bad, "appears twice")


def test_member_added_after_signing(cli: Cli, bob: Person, sent: Path, tmp_path: Path) -> None:
    members = read_members(sent)
    sha = hashlib.sha256(b"planted").hexdigest()
    bad = write_bundle(tmp_path / "add.provara-bundle",
                       {**members, f"artifacts/cas/{sha}": b"planted"})
    refused(cli, bob, bad, "not listed")


def test_newer_format_version(cli: Cli, alice: Person, bob: Person, sent: Path,
                              tmp_path: Path) -> None:
    bad = write_bundle(tmp_path / "v9.provara-bundle", read_members(sent),
                       signer=alice.key(), manifest_patch={"format_version": 9})
    refused(cli, bob, bad, "newer version")


def test_not_a_bundle(cli: Cli, bob: Person, tmp_path: Path) -> None:
    for name, data in (("empty", b""), ("text", b"hello"), ("zipish", b"PK\x03\x04junk")):
        bad = tmp_path / f"{name}.provara-bundle"
        bad.write_bytes(data)
        refused(cli, bob, bad)
    refused(cli, bob, tmp_path / "absent.provara-bundle", "no such", code=2)


def _hostile_event_bundle(alice: Person, sent: Path, tmp_path: Path, event: dict,
                          keys: list[dict], name: str) -> Path:
    members = read_members(sent)
    members["events.ndjson"] = canonical_bytes(event) + b"\n"
    members["keys.json"] = canonical_bytes({"keys": keys}) + b"\n"
    for n in [n for n in members if n.startswith("artifacts/")]:
        del members[n]
    return write_bundle(tmp_path / name, members, signer=alice.key(),
                        manifest_patch={"prerequisites": [event["prev_event_hash"]]})


def test_events_that_conflict_with_the_vaults_chains(
        cli: Cli, alice: Person, bob: Person, carol: Person, sent: Path,
        tmp_path: Path) -> None:
    cli.json(bob, "import", str(bob.vault), str(sent))
    trust(cli, bob, carol)
    alice_head = event_ids(alice.vault)[-1]
    ck = carol.key()
    key_entry = {"key_id": ck.key_id, "algorithm": "Ed25519", "public_key_b64": ck.public.b64,
                 "roles": ["attestation"], "scopes": ["all"], "status": "active"}
    # Carol's key signs an event under Alice's actor label, continuing Alice's chain.
    hijack = build_event(event_type="OBSERVATION", actor=alice.actor, key=ck,
                         payload={"subject": "door", "predicate": "state", "value": "shut"},
                         prev_event_hash=alice_head)
    bad = _hostile_event_bundle(alice, sent, tmp_path, hijack, [key_entry], "hj.provara-bundle")
    refused(cli, bob, bad, "squatting attempt", alice.key_id, carol.key_id)
    # Carol's own event chained onto Alice's chain (a cross-actor prev).
    cross = build_event(event_type="OBSERVATION", actor=carol.actor, key=ck,
                        payload={"subject": "door", "predicate": "state", "value": "shut"},
                        prev_event_hash=alice_head)
    bad = _hostile_event_bundle(alice, sent, tmp_path, cross, [key_entry], "x.provara-bundle")
    refused(cli, bob, bad, "another actor")


def test_event_whose_signature_does_not_verify(cli: Cli, alice: Person, bob: Person,
                                               sent: Path, tmp_path: Path) -> None:
    members = read_members(sent)
    lines = members["events.ndjson"].splitlines()
    ev = json.loads(lines[-1])
    sig = bytearray(ev["sig"].encode())
    sig[5] = ord("A") if sig[5] != ord("A") else ord("B")
    ev["sig"] = sig.decode()
    members["events.ndjson"] = b"\n".join([*lines[:-1], canonical_bytes(ev)]) + b"\n"
    bad = write_bundle(tmp_path / "sig.provara-bundle", members, signer=alice.key())
    refused(cli, bob, bad, "does not match its signature")


def test_garbage_lines_in_a_signed_bundle(cli: Cli, alice: Person, bob: Person, sent: Path,
                                          tmp_path: Path) -> None:
    members = read_members(sent)
    for junk in (b"not json", b"[1,2]", b'{"event_id":{"a":1},"prev_event_hash":[1]}',
                 b'{"event_id":"evt_1","actor":"x","type":"T","confidence":NaN}'):
        members["events.ndjson"] = read_members(sent)["events.ndjson"] + junk + b"\n"
        bad = write_bundle(tmp_path / "junk.provara-bundle", members, signer=alice.key())
        refused(cli, bob, bad, "events.ndjson")
        bad.unlink()


def test_damaged_attachment_is_found_by_verify_and_refused(
        cli: Cli, bob: Person, sent: Path, tmp_path: Path) -> None:
    members = read_members(sent)
    name = next(n for n in members if n.startswith("artifacts/cas/"))
    data = bytearray(members[name])
    data[3] ^= 0xFF
    bad = write_bundle(tmp_path / "att.provara-bundle", {**members, name: bytes(data)})
    code, out, _ = cli(bob, "bundle", "verify", str(bad), "--json")
    doc = json.loads(out)
    assert code == 1
    assert [p["code"] for p in doc["problems"]] == ["MEMBER_DAMAGED"]
    refused(cli, bob, bad, name, "sha256")


def test_cancel_and_failure_during_commit_leave_the_vault_unchanged(
        cli: Cli, alice: Person, bob: Person, sent: Path) -> None:
    from provara_desktop.bundle.intake_batch import check_bundle as check
    from provara_desktop.bundle.load import load
    from provara_desktop.core.errors import UserCancelled
    from provara_desktop.intake import commit as intake_commit
    from provara_desktop.intake import plan as intake_plan
    from provara_desktop.intake.trust_view import trust_for
    from provara_desktop.store.vault import Vault

    before = tree_digest(bob.vault)
    calls = {"n": 0}

    def cancel_late() -> bool:  # cancel once attachments are being staged
        calls["n"] += 1
        return calls["n"] > 1

    key = bob.key()
    with Vault.open(bob.vault, home=bob.home) as vault, load(sent) as bundle:
        c = check(bundle, trust_for(bob.home), vault=vault)
        p = intake_plan.plan(vault, c, accept_untrusted=False)
        with pytest.raises(UserCancelled):
            intake_commit.commit(vault, p, signer=key, cancelled=cancel_late)
        assert tree_digest(bob.vault) == before

        def broken(dest: Path) -> None:
            dest.write_bytes(b"half")
            raise OSError(28, "No space left on device")

        with pytest.raises(OSError):
            intake_commit.commit_events(vault, p.new_events, signer=key,
                                        attachments={p.attachments[0]: broken})
        assert tree_digest(bob.vault) == before
        # And the same Vault object still imports cleanly afterwards.
        intake_commit.commit(vault, p, signer=key)
    assert cli.json(bob, "verify", str(bob.vault))["ok"]
    assert set(event_ids(alice.vault)) <= set(event_ids(bob.vault))


def test_legacy_id_naming_another_event_in_the_vault(
        cli: Cli, alice: Person, bob: Person, carol: Person, sent: Path,
        tmp_path: Path) -> None:
    """Rule-B ids leave actor_key_id out, so two different events can share one: the
    bundle's must not be taken for the vault's."""
    from provara_desktop.core.event import event_id_rule_b, signing_bytes
    from provara_desktop.core.keys import b64encode
    from provara_desktop.store.vault import Vault

    cli.json(bob, "import", str(bob.vault), str(sent))
    trust(cli, bob, carol)
    head = event_ids(alice.vault)[-1]

    def legacy(key: object) -> dict:
        ev = {"type": "OBSERVATION", "actor": alice.actor, "prev_event_hash": head,
              "payload": {"subject": "door", "predicate": "state", "value": "x"},
              "timestamp_utc": "2030-01-01T00:00:00+00:00"}
        ev["event_id"] = event_id_rule_b({**ev, "actor_key_id": "-"})
        ev["actor_key_id"] = key.key_id  # type: ignore[attr-defined]
        ev["sig"] = b64encode(key.sign(signing_bytes(ev)))  # type: ignore[attr-defined]
        return ev

    ak, ck = alice.key(), carol.key()
    with Vault.open(bob.vault, home=bob.home) as vault:
        vault.append([legacy(ak)], signer=bob.key())
    theirs = legacy(ck)
    key_entry = {"key_id": ck.key_id, "algorithm": "Ed25519", "public_key_b64": ck.public.b64,
                 "roles": ["attestation"], "scopes": ["all"], "status": "active"}
    bad = _hostile_event_bundle(alice, sent, tmp_path, theirs, [key_entry], "l.provara-bundle")
    refused(cli, bob, bad, "already in the vault with different content")


def test_overlapping_members(cli: Cli, bob: Person, sent: Path, tmp_path: Path) -> None:
    """Two central-directory entries pointing at the same bytes (how the smallest zip bombs
    are built) are refused before anything is read."""
    data = bytearray(sent.read_bytes())
    first = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", first + 4)
    data[second + 42:second + 46] = data[first + 42:first + 46]  # same local header offset
    bad = tmp_path / "overlap.provara-bundle"
    bad.write_bytes(bytes(data))
    refused(cli, bob, bad, "overlap")
