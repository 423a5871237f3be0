"""The hierarchy (Org > Team > Individual) through the command line, on real vaults and
profiles: roll-ups by full merge and by summary, the tree `hierarchy` draws, growth that is
fine and a rewritten child that is caught (the alert recorded, the parent otherwise
untouched), and a compromised mid-level key whose damage stays in its subtree."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import nacl.pwhash
import pytest

from provara_desktop.cli import main
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.recovery_file import write_recovery_file
from provara_desktop.store.vault import Vault
from tests.bundle.conftest import tree_digest

if TYPE_CHECKING:
    from pathlib import Path

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


class Person:
    """One investigator: a profile (with a recovery file) and the vault they keep."""

    def __init__(self, base: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.home, self.rec = base / f"{name}-home", base / f"{name}-recovery.json"
        self.vault, self.capsys = base / f"{name}-vault", capsys
        ident = IdentityStore(self.home, **FAST).create_with_recovery(
            name, PASS, lambda i, r: write_recovery_file(self.rec, i, r) and None)
        self.key_id, self.actor = ident.key_id, ident.actor
        self.ok("init", str(self.vault))

    def run(self, *argv: str) -> tuple[int, Any, str]:
        code = main(["--home", str(self.home), *argv, "--json"])
        out, err = self.capsys.readouterr()
        return code, (json.loads(out) if out.strip() else None), err

    def ok(self, *argv: str) -> Any:
        code, doc, err = self.run(*argv)
        assert code == 0, err
        return doc

    def observe(self, subject: str, value: str) -> str:
        return str(self.ok("observe", str(self.vault), "--subject", subject, "--predicate",
                           "seen", "--value", json.dumps(value))["event_id"])

    def state(self, vault: Path | None = None) -> Any:
        return self.ok("state", str(vault or self.vault))

    def roll_up(self, child: Person, *extra: str) -> Any:
        return self.ok("rollup", str(self.vault), str(child.vault), "--accept-untrusted",
                       *extra)


@pytest.fixture
def tree(tmp_path: Path, capsys: pytest.CaptureFixture[str],
         monkeypatch: pytest.MonkeyPatch) -> dict[str, Person]:
    """Org > (Team1 > Ian, Ivy), (Team2 > Ida): teams merge their people in full; the org
    merges Team1 in full and takes Team2 as a summary."""
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    people = {n: Person(tmp_path, n, capsys) for n in
              ("Olga", "Tom", "Tia", "Ian", "Ivy", "Ida")}
    for name in ("Ian", "Ivy", "Ida"):
        people[name].observe(f"{name.lower()}-site", "footprints")
    people["Tom"].observe("team1", "briefing")
    people["Tia"].observe("team2", "briefing")
    people["Tom"].roll_up(people["Ian"])
    people["Tom"].roll_up(people["Ivy"])
    people["Tia"].roll_up(people["Ida"])
    people["Olga"].roll_up(people["Tom"])
    people["Olga"].roll_up(people["Tia"], "--summary")
    return people


def uid(p: Person) -> str:
    return str(json.loads((p.vault / "identity" / "genesis.json").read_text())["uid"])


def children(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["vault_uid"]: c for c in node["children"]}


def test_the_tree_shows_every_child_with_the_state_it_was_attested_at(
        tree: dict[str, Person]) -> None:
    olga, tom, tia = tree["Olga"], tree["Tom"], tree["Tia"]
    uids = {n: uid(p) for n, p in tree.items()}
    doc = olga.ok("hierarchy", str(olga.vault))
    top = children(doc["tree"])
    assert set(top) == {uids["Tom"], uids["Tia"]}
    # Each attested state is what the child's own `state` said when it was rolled up.
    team1 = top[uids["Tom"]]
    assert team1["attested"]["state_hash"] == tom.state()["state_hash"]
    assert team1["attested"]["event_count"] == tom.state()["event_count"]
    assert team1["attested"]["mode"] == "full"
    assert not team1["nested"]
    assert set(children(team1)) == {uids["Ian"], uids["Ivy"]}  # merged with Team1's events
    assert children(team1)[uids["Ian"]]["attested"]["state_hash"] == \
        tree["Ian"].state()["state_hash"]
    team2 = top[uids["Tia"]]
    assert team2["attested"]["mode"] == "summary"
    assert team2["attested"]["state_hash"] == tia.state()["state_hash"]
    # A summary takes none of the child's events, yet its own roll-up of Ida shows.
    ida = children(team2)[uids["Ida"]]
    assert ida["nested"]
    assert ida["attested"]["state_hash"] == tree["Ida"].state()["state_hash"]
    assert tia.observe("x", "y")  # Team2 keeps its events to itself
    assert olga.state()["local"].get("team2:seen") is None
    assert olga.state()["local"]["team1:seen"]["value"] == "briefing"
    # The roll-up is an attestation the reducer makes canonical, as the reference would.
    assert f"vault:{uids['Tom']}:rollup" in olga.state()["canonical"]
    assert olga.ok("verify", str(olga.vault))["ok"]


def test_growth_is_fine_a_rewritten_child_is_caught_and_recorded(
        tree: dict[str, Person], tmp_path: Path) -> None:
    tom, ian = tree["Tom"], tree["Ian"]
    ian.observe("ian-site", "a second visit")
    grown = tom.ok("rollup", "check", str(tom.vault), str(ian.vault))
    assert grown["status"] == "grown"
    assert grown["grown_by"] == 1
    assert grown["ok"]
    # Ian's vault as it was, kept aside; then more evidence, attested.
    kept = tmp_path / "ian-copy"
    shutil.copytree(ian.vault, kept)
    ian.observe("ian-site", "a third visit")
    again = tom.roll_up(ian)
    assert again["status"] == "attested"
    assert again["since_previous"]["status"] == "grown"
    # The older copy put back: what was attested is gone.
    shutil.rmtree(ian.vault)
    shutil.copytree(kept, ian.vault)
    code, doc, err = tom.run("rollup", "check", str(tom.vault), str(ian.vault))
    assert code == 1, err
    assert doc["status"] == "drift"
    assert not doc["ok"]
    assert {d["code"] for d in doc["drift"]} == {"SHRUNK", "REWRITTEN"}
    assert doc["attested"]["attestation_event_id"] == again["attestation_event_id"]
    alert = doc["alert_event_id"]
    assert alert
    assert tom.ok("hierarchy", str(tom.vault))["alerts"][0]["event_id"] == alert
    # Rolling the rewritten child up again is refused, and changes nothing now that the
    # drift is on record (the same finding is not recorded twice).
    before = tree_digest(tom.vault)
    code, doc, err = tom.run("rollup", str(tom.vault), str(ian.vault), "--accept-untrusted")
    assert code == 1
    assert "no longer holds what" in err
    assert doc["alert_event_id"] == alert
    assert tree_digest(tom.vault) == before
    assert tom.ok("verify", str(tom.vault))["ok"]


def test_a_child_that_does_not_verify_is_not_attested_and_the_parent_is_unchanged(
        tree: dict[str, Person]) -> None:
    tom, ian = tree["Tom"], tree["Ian"]
    events = ian.vault / "events" / "events.ndjson"
    lines = events.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b"footprints", b"fingerprints")
    events.write_bytes(b"".join(lines))
    before = tree_digest(tom.vault)
    code, doc, err = tom.run("rollup", str(tom.vault), str(ian.vault), "--summary")
    assert code == 1
    assert "does not verify" in err
    assert doc["ok"] is False
    assert tree_digest(tom.vault) == before


def test_bad_arguments_are_refused_plainly(tree: dict[str, Person]) -> None:
    olga = tree["Olga"]
    code, _, err = olga.run("rollup", str(olga.vault), str(olga.vault))
    assert code == 2
    assert "the parent itself" in err
    code, _, err = olga.run("rollup", "check", str(olga.vault), str(tree["Ida"].vault))
    assert code == 2
    assert "holds no roll-up of vault" in err


def test_a_compromised_team_key_is_confined_to_its_subtree(
        tree: dict[str, Person]) -> None:
    olga, tom, tia = tree["Olga"], tree["Tom"], tree["Tia"]
    uids = {n: uid(p) for n, p in tree.items()}
    with Vault.open(tom.vault, home=tom.home) as v:
        boundary = v.chain_head(tom.actor)
        assert boundary is not None
    # Tom's key leaks. The thief, holding it, writes a roll-up claiming Ivy's vault is in
    # another state, and signs it into Team1's log as Tom.
    thief = IdentityStore(tom.home).unlock(PASS)
    assert isinstance(thief, SigningKey)
    with Vault.open(tom.vault, home=tom.home) as v:
        head = v.chain_head(tom.actor)
        forged_payload = {"subject": f"vault:{uids['Ivy']}", "predicate": "rollup",
                          "actor_key_id": thief.key_id, "value": {
                              "kind": "provara-rollup", "version": 1, "mode": "summary",
                              "parent_vault_uid": v.uid, "vault_uid": uids["Ivy"],
                              "state_hash": "0" * 64, "event_count": 1, "merkle_root": "0" * 64,
                              "heads": {}, "keys": [], "children": []}}
        forged = build_event(event_type="ATTESTATION", actor=tom.actor, key=thief,
                             prev_event_hash=head.event_id if head else None,
                             payload=forged_payload, namespace="canonical")
        v.append([forged], signer=thief)
    # The org rolls Team1 up before anyone notices: the lie is in its view of the tree.
    olga.roll_up(tom)
    ivy_seen = children(children(olga.ok("hierarchy", str(olga.vault))["tree"])[uids["Tom"]])
    assert ivy_seen[uids["Ivy"]]["attested"]["state_hash"] == "0" * 64
    # The org revokes Tom's key in its own vault, vouching for Tom's events up to the last
    # genuine one (the org keeps each team's recovery file).
    olga.ok("keys", "revoke", str(olga.vault), tom.key_id, "--recovery-file", str(tom.rec),
            "--boundary", boundary.event_id)
    doc = olga.ok("hierarchy", str(olga.vault))
    reach = {k["key_id"]: k for k in doc["keys"]}
    # The view says what the leaked key reaches: Team1 and the people under it, no more.
    assert reach[tom.key_id]["status"] == "revoked"
    assert reach[tom.key_id]["reaches"] == sorted([uids["Tom"], uids["Ian"], uids["Ivy"]])
    assert reach[tom.key_id]["revocation"]["trust_boundary_event_id"] == boundary.event_id
    void = [a for a in reach[tom.key_id]["attested"] if a["void"]]
    assert [a["attestation_event_id"] for a in void] == [forged["event_id"]]
    # The forged roll-up counts for nothing: Ivy shows at the state Team1 really attested.
    ivy = children(children(doc["tree"])[uids["Tom"]])[uids["Ivy"]]
    assert ivy["attested"]["state_hash"] == tree["Ivy"].state()["state_hash"]
    assert ivy["attestations"] == 2
    assert not ivy["void"]
    # Team2's key signed nothing here (a summary): known, never revoked.
    assert reach[tia.key_id]["status"] == "not in this vault"
    assert uids["Ida"] in reach[tia.key_id]["reaches"]
    # Team1's next roll-up is refused (it holds what the revoked key signed after the
    # boundary), and leaves the org's vault as it was.
    before = tree_digest(olga.vault)
    code, _, err = olga.run("rollup", str(olga.vault), str(tom.vault), "--accept-untrusted")
    assert code == 1
    assert "void" in err
    assert "no other vault of the tree is touched" in err
    assert tree_digest(olga.vault) == before
    # The rest of the tree is untouched: Team2 checks out, and rolls up as before.
    assert olga.ok("rollup", "check", str(olga.vault), str(tia.vault))["status"] == "same"
    tia.observe("team2", "a lead")
    assert olga.ok("rollup", str(olga.vault), str(tia.vault), "--summary")["status"] == \
        "attested"
    team1 = children(olga.ok("hierarchy", str(olga.vault))["tree"])[uids["Tom"]]
    assert not team1["void"]  # the org's own attestation of Team1 (before the leak) stands
    # The forgery the org took in before the revocation stays (events are permanent), and
    # verification names it, and only it.
    code, doc, _ = olga.run("verify", str(olga.vault))
    errors = [p for p in doc["problems"] if p["severity"] == "error"]
    assert code == 1
    assert [p["code"] for p in errors] == ["REVOKED_KEY"]
    assert forged["event_id"] in errors[0]["message"]
    assert tia.ok("verify", str(tia.vault))["ok"]
