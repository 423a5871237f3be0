"""A federation of three agencies over one case vault, on real profiles and real TLS on
loopback (serve's HeadlessPeer on one side, sync_client on the other), and by bundles:
the contract signed by every member and applied; one member's replica holds only what the
contract lets it see (and says so in `state --json`); out-of-contract events refused in
each direction, by sync and by bundle, with the receiver's vault byte for byte unchanged;
a member's key leaks, its recovery key rotates it, and the revocation ceremony runs to
completion (every other member acknowledges, the acknowledgements travel back); events by
the revoked key after its boundary are refused everywhere."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.cli import main
from provara_desktop.net import sync_client
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import write_recovery_file
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault
from tests.bundle.conftest import tree_digest
from tests.net.sync_helpers import FAST as SESSION

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.net.sync_session import SyncResult

PASS = "correct horse battery staple"
ARGON = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
         "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
UID = "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
BOUND = 30.0


class Profile:
    def __init__(self, base: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.name, self.capsys = name, capsys
        self.home, self.rec = base / f"{name}-home", base / f"{name}-recovery.json"
        ident = IdentityStore(self.home, **ARGON).create_with_recovery(
            name, PASS, lambda i, r: write_recovery_file(self.rec, i, r) and None)
        self.key_id, self.public_b64, self.actor = ident.key_id, ident.public_key_b64, \
            ident.actor

    @property
    def key(self) -> Any:
        return IdentityStore(self.home).unlock(PASS)

    def run(self, *argv: str) -> tuple[int, Any, str]:
        code = main(["--home", str(self.home), *argv, "--json"])
        out, err = self.capsys.readouterr()
        try:
            doc = json.loads(out) if out.strip() else None
        except json.JSONDecodeError:
            doc = None
        return code, doc, err

    def ok(self, *argv: str) -> Any:
        code, doc, err = self.run(*argv)
        assert code == 0, err
        return doc

    def trust(self, *others: Profile) -> None:
        for o in others:
            TrustStore(self.home).add(o.key_id, o.public_b64, o.name)


def sync(client: Profile, client_vault: Path, server: Profile, server_vault: Path, *,
         key: Any = None) -> SyncResult:
    async def go() -> SyncResult:
        peer = HeadlessPeer(server_vault, server.home, server.key, ServeOptions(
            host="127.0.0.1", port=0, discovery=False, session=SESSION))
        host, port = await peer.start()
        try:
            result, _ = await asyncio.wait_for(sync_client.sync_with(
                f"{host}:{port}", vault_root=client_vault, home=client.home,
                key=key or client.key,
                config=SESSION), BOUND)
            return result
        finally:
            await peer.stop()

    return asyncio.run(go())


def actors_in(vault: Path) -> set[str]:
    """The authors of the evidence a replica holds (its structural events aside: keys'
    declarations flow everywhere, so every replica can check every key)."""
    from provara_desktop.core.federation_contract import is_structural

    events = [json.loads(line) for line in
              (vault / "events" / "events.ndjson").read_text().splitlines()]
    return {e["actor"] for e in events if not is_structural(e["type"])}


@pytest.fixture
def agencies(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    p = {n: Profile(tmp_path, n, capsys) for n in ("alice", "anna", "bob", "bert", "carol")}
    vaults = {m: tmp_path / f"{m}-replica" for m in ("a", "b", "c")}
    p["alice"].ok("init", str(vaults["a"]), "--uid", UID)
    p["bob"].ok("init", str(vaults["b"]), "--uid", UID)
    p["carol"].ok("init", str(vaults["c"]), "--uid", UID)
    for who, replica, what in (("alice", "a", "a shared lead"), ("anna", "a", "an informant"),
                               ("bob", "b", "a shared lead"), ("bert", "b", "internal"),
                               ("carol", "c", "a shared lead")):
        p[who].ok("observe", str(vaults[replica]), "--subject", f"{who}-note", "--predicate",
                  "says", "--value", json.dumps(what))
    everyone = list(p.values())
    for me in everyone:
        me.trust(*[o for o in everyone if o is not me])
    # Agency A shares only Alice's work with B (Anna's informant stays in A), all of it with
    # C; B shares Bob's, not Bert's; C shares its own (and passes on nobody else's: "*"
    # would let it forward Anna's to B). Each agency's federation key is its first
    # investigator's.
    contract = {
        "format": "provara-federation-contract", "format_version": 1,
        "contract_id": "case-117", "revision": 1, "vault_uid": UID,
        "title": "Joint investigation 117",
        "members": [
            {"member": "agency-a", "key_id": p["alice"].key_id,
             "public_key_b64": p["alice"].public_b64, "keys": [p["anna"].key_id]},
            {"member": "agency-b", "key_id": p["bob"].key_id,
             "public_key_b64": p["bob"].public_b64, "keys": [p["bert"].key_id]},
            {"member": "agency-c", "key_id": p["carol"].key_id,
             "public_key_b64": p["carol"].public_b64, "keys": []}],
        "flows": [
            {"from": "agency-a", "to": "agency-b", "actors": [p["alice"].key_id],
             "namespaces": ["canonical", "local"]},
            {"from": "agency-a", "to": "agency-c", "actors": ["member:agency-a"],
             "namespaces": ["canonical", "local"]},
            {"from": "agency-b", "to": "agency-a", "actors": [p["bob"].key_id],
             "namespaces": ["canonical", "local"]},
            {"from": "agency-b", "to": "agency-c", "actors": [p["bob"].key_id],
             "namespaces": ["canonical", "local"]},
            {"from": "agency-c", "to": "agency-a", "actors": ["member:agency-c"],
             "namespaces": ["canonical", "local", "contested", "archived"]},
            {"from": "agency-c", "to": "agency-b", "actors": ["member:agency-c"],
             "namespaces": ["canonical", "local", "contested", "archived"]}],
    }
    path = tmp_path / "case-117.contract.json"
    path.write_text(json.dumps(contract, indent=2))
    before = {m: tree_digest(v) for m, v in vaults.items()}  # copies made before the contract
    backups = {}
    for m, v in vaults.items():
        backups[m] = tmp_path / f"{m}-before-contract"
        shutil.copytree(v, backups[m])
    assert before
    return {"p": p, "vaults": vaults, "contract": path, "backups": backups,
            "tmp": tmp_path}


def _sign_and_apply(f: dict[str, Any]) -> None:
    p, v, contract = f["p"], f["vaults"], str(f["contract"])
    code, doc, _ = p["alice"].run("federation", "verify", contract)
    assert code == 1  # nobody signed yet: not in force
    for who in ("alice", "bob"):
        p[who].ok("federation", "sign", contract)
    code, _, err = p["alice"].run("federation", "apply", str(v["a"]), contract)
    assert code == 2  # carol has not signed: not in force, nothing written
    assert "not in force" in err
    p["carol"].ok("federation", "sign", contract)
    assert p["alice"].ok("federation", "verify", contract)["in_force"] is True
    p["alice"].ok("federation", "apply", str(v["a"]), contract)
    p["bob"].ok("federation", "apply", str(v["b"]), contract)
    p["carol"].ok("federation", "apply", str(v["c"]), contract)


def test_a_federation_from_contract_to_completed_revocation(agencies: dict[str, Any]) -> None:
    share(agencies)
    leak_and_revoke(agencies)


def share(f: dict[str, Any]) -> None:
    """The contract signed and applied; the replicas sync and exchange bundles under it."""
    p, v = f["p"], f["vaults"]
    _sign_and_apply(f)
    # B meets A, then C meets both.
    assert sync(p["bob"], v["b"], p["alice"], v["a"]).ok
    assert sync(p["carol"], v["c"], p["alice"], v["a"]).ok
    assert sync(p["carol"], v["c"], p["bob"], v["b"]).ok
    assert sync(p["bob"], v["b"], p["carol"], v["c"]).ok
    # B's replica holds only what the contract lets it see: no Anna, from A or through C.
    assert p["anna"].actor not in actors_in(v["b"])
    assert p["alice"].actor in actors_in(v["b"])
    assert p["anna"].actor in actors_in(v["c"])
    assert p["bert"].actor not in actors_in(v["a"]) | actors_in(v["c"])
    # Cross-organisation attestations link the domains: in B's replica, A and C each
    # attested Bob's key as agency-b's, with its fingerprint (nobody's trust changed).
    status = p["bob"].ok("federation", "status", str(v["b"]), "--no-acknowledge")
    about_bob = {a["attested_by"] for a in status["member_attestations"]
                 if a["key_id"] == p["bob"].key_id}
    assert about_bob == {p["alice"].key_id, p["carol"].key_id}
    state = p["bob"].ok("state", str(v["b"]))
    assert state["canonical"][f"key:{p['alice'].key_id}:federation_member"]["value"][
        "member"] == "agency-a"
    assert state["federation"]["partial"] is True
    assert state["federation"]["member"] == "agency-b"
    assert any(p["anna"].key_id in s for s in state["federation"]["leaves_out"]["agency-a"])
    assert p["bob"].ok("verify", str(v["b"]))["federation"]["partial"] is True

    # Out of contract, refused in each direction. A copy of B's replica from before the
    # contract (Bert's events in it, no contract to hold them back) syncing into A:
    before = tree_digest(v["a"])
    rogue = sync(p["bob"], f["backups"]["b"], p["alice"], v["a"])
    assert rogue.error_code == "OUT_OF_CONTRACT"
    assert p["bert"].actor not in actors_in(v["a"])
    assert tree_digest(v["a"]) == before
    # ... and A's old copy, Anna's informant in it, as a bundle into B:
    bundle = f["tmp"] / "a-old.provara-bundle"
    p["alice"].ok("export", str(f["backups"]["a"]), str(bundle))
    before = tree_digest(v["b"])
    code, _, err = p["bob"].run("import", str(v["b"]), str(bundle))
    assert code == 1
    assert "may not flow from agency-a to agency-b" in err
    assert tree_digest(v["b"]) == before
    # An export under the contract is for one member and holds only what may flow to it.
    code, _, err = p["alice"].run("export", str(v["a"]), str(f["tmp"] / "x.provara-bundle"))
    assert code == 2
    assert "--for" in err
    for_b = f["tmp"] / "a-for-b.provara-bundle"
    p["alice"].ok("export", str(v["a"]), str(for_b), "--for", "agency-b")
    p["bob"].ok("import", str(v["b"]), str(for_b))
    assert p["anna"].actor not in actors_in(v["b"])



def leak_and_revoke(f: dict[str, Any]) -> None:
    """Carol's key leaks; the revocation ceremony, and the thief refused everywhere."""
    p, v = f["p"], f["vaults"]
    # Carol's key leaks. The thief keeps a copy of C's replica and the old key.
    with Vault.open(v["c"], home=p["carol"].home) as vault:
        boundary = vault.chain_head(p["carol"].actor)
        assert boundary is not None
    old_key = p["carol"].key
    thief_copy, thief_home = f["tmp"] / "thief-copy", f["tmp"] / "thief-home"
    shutil.copytree(v["c"], thief_copy)
    shutil.copytree(p["carol"].home, thief_home)
    # Her recovery key rotates it (a compromise), in C's replica.
    p["carol"].ok("identity", "rotate", str(v["c"]), "--recovery-file", str(p["carol"].rec),
                  "--reason", "compromise", "--boundary", boundary.event_id)
    # Alice and Bob check Carol's new fingerprint with her and trust the new key (a trust
    # decision, as always after a rotation: docs/KEYS.md).
    new = IdentityStore(p["carol"].home).load()
    for who in ("alice", "bob"):
        TrustStore(p[who].home).add(new.key_id, new.public_key_b64, "carol (new key)")
    # The revocation travels to A and B; each acknowledges it, signed.
    got = sync(p["alice"], v["a"], p["carol"], v["c"])
    assert got.ok, got.error
    assert sync(p["bob"], v["b"], p["carol"], v["c"]).ok
    status = p["carol"].ok("federation", "status", str(v["c"]), "--no-acknowledge")
    [rev] = status["revocations"]
    assert rev["revoked_key_id"] == old_key.key_id
    assert rev["member"] == "agency-c"
    assert rev["complete"] is False  # the acknowledgements have not travelled back yet
    # They travel back at the next sessions: the ceremony is complete.
    assert sync(p["carol"], v["c"], p["alice"], v["a"]).ok
    assert sync(p["carol"], v["c"], p["bob"], v["b"]).ok
    status = p["carol"].ok("federation", "status", str(v["c"]), "--no-acknowledge")
    [rev] = status["revocations"]
    assert sorted(a["member"] for a in rev["acknowledged"]) == ["agency-a", "agency-b"]
    assert rev["waiting_for"] == []
    assert rev["complete"] is True
    # The thief records with the old key in the copy, after the boundary, and offers it:
    # A refuses the session, B the bundle; neither vault changes.
    with Vault.open(thief_copy, home=thief_home) as vault:
        forged = vault.new_event(key=old_key, actor=p["carol"].actor,
                                 event_type="OBSERVATION", namespace="local",
                                 payload={"subject": "carol-note", "predicate": "says",
                                          "value": "a forged lead"})
        vault.append([forged], signer=old_key)
    before = tree_digest(v["a"])
    thief = Profile.__new__(Profile)
    thief.__dict__.update(p["carol"].__dict__, home=thief_home)
    got = sync(thief, thief_copy, p["alice"], v["a"], key=old_key)
    assert not got.ok
    assert got.error_code in ("REVOKED_PEER", "UNTRUSTED_PEER"), got.error
    assert tree_digest(v["a"]) == before
    stolen = f["tmp"] / "thief.provara-bundle"
    code, _, err = thief.run("export", str(thief_copy), str(stolen), "--for", "agency-b")
    assert code == 0, err
    before = tree_digest(v["b"])
    code, doc, err = p["bob"].run("import", str(v["b"]), str(stolen))
    assert code == 0, err
    assert doc["refused_revoked"] == 1  # the forged event, never written
    assert tree_digest(v["b"]) == before
    for replica, who in ((v["a"], "alice"), (v["b"], "bob"), (v["c"], "carol")):
        assert p[who].ok("verify", str(replica))["ok"] is True


def test_applying_a_contract_is_refused_plainly_and_changes_nothing(
        agencies: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    f = agencies
    p, v, contract = f["p"], f["vaults"], str(f["contract"])
    _sign_and_apply(f)
    before = tree_digest(v["a"])
    again = p["alice"].ok("federation", "apply", str(v["a"]), contract)
    assert tree_digest(v["a"]) == before  # the same contract again: nothing written
    assert again["revision"] == 1
    mallory = Profile(f["tmp"], "mallory", capsys)
    code, _, err = mallory.run("federation", "apply", str(v["a"]), contract)
    assert code == 2
    assert "no member's" in err
    elsewhere = f["tmp"] / "other-vault"
    p["alice"].ok("init", str(elsewhere))
    code, _, err = p["alice"].run("federation", "apply", str(elsewhere), contract)
    assert code == 2
    assert "not this one" in err
    # Revision 2 (signed by all) replaces revision 1; revision 1 cannot come back.
    doc = json.loads(f["contract"].read_text())
    old = f["tmp"] / "revision-1.json"
    old.write_text(f["contract"].read_text())
    doc["revision"], doc["signatures"] = 2, {}
    f["contract"].write_text(json.dumps(doc))
    for who in ("alice", "bob", "carol"):
        p[who].ok("federation", "sign", contract)
    assert p["alice"].ok("federation", "apply", str(v["a"]), contract)["revision"] == 2
    before = tree_digest(v["a"])
    code, _, err = p["alice"].run("federation", "apply", str(v["a"]), str(old))
    assert code == 2
    assert "only a later revision" in err
    assert tree_digest(v["a"]) == before
    assert p["alice"].ok("federation", "status", str(v["a"]))["contract"]["revision"] == 2
    code, _, err = p["alice"].run("export", str(v["a"]), str(f["tmp"] / "x.provara-bundle"),
                                  "--for", "agency-z")
    assert code == 2
    assert "no such member" in err


def test_a_revocation_that_comes_by_bundle_is_acknowledged_on_import(
        agencies: dict[str, Any]) -> None:
    f = agencies
    p, v = f["p"], f["vaults"]
    share(f)
    p["carol"].ok("identity", "rotate", str(v["c"]), "--recovery-file", str(p["carol"].rec),
                  "--reason", "compromise")
    new = IdentityStore(p["carol"].home).load()
    TrustStore(p["alice"].home).add(new.key_id, new.public_key_b64, "carol (new key)")
    carried = f["tmp"] / "c-for-a.provara-bundle"
    p["carol"].ok("export", str(v["c"]), str(carried), "--for", "agency-a")
    done = p["alice"].ok("import", str(v["a"]), str(carried))
    [rev] = p["alice"].ok("federation", "status", str(v["a"]),
                          "--no-acknowledge")["revocations"]
    assert done["acknowledged_revocations"] == [rev["revocation_event_id"]]
    assert [a["member"] for a in rev["acknowledged"]] == ["agency-a"]
    assert rev["waiting_for"] == ["agency-b"]
