"""Actor labels belong to keys (issue 10, item 4): an untrusted key that signs under a
genuine person's label is refused up front, naming both keys, and the genuine person's
bundles still import afterwards. Before, one `import --accept-untrusted` of the squatter's
bundle bound `alice-<prefix>` to the squatter's key, and every genuine bundle from Alice was
refused from then on."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.event import build_event
from provara_desktop.core.key_life import KEY_AUTHORITY
from provara_desktop.core.keyring import KeyRing
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.labels import label_problems, promoted_successors
from provara_desktop.intake.trust_view import Trust
from provara_desktop.store.vault import Vault
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


def _entry(key: SigningKey) -> dict[str, Any]:
    return {"key_id": key.key_id, "algorithm": "Ed25519", "public_key_b64": key.public.b64,
            "roles": ["attestation"], "scopes": ["all"], "status": "active"}


def _squatter_bundle(cli: Cli, squatter: Person, label: str, tmp_path: Path) -> Path:
    """The squatter's own bundle, signed by the squatter, with one event that claims
    ``label`` and starts a new chain under it (no prerequisite needed)."""
    out = tmp_path / "squat-base.provara-bundle"
    cli.json(squatter, "export", str(squatter.vault), str(out))
    key = squatter.key()
    ev = build_event(event_type="OBSERVATION", actor=label, key=key, prev_event_hash=None,
                     payload={"subject": "door", "predicate": "state", "value": "forged"})
    members = read_members(out)
    members["events.ndjson"] = canonical_bytes(ev) + b"\n"
    members["keys.json"] = canonical_bytes({"keys": [_entry(key)]}) + b"\n"
    return write_bundle(tmp_path / "squat.provara-bundle", members, signer=key)


def test_a_squatter_is_refused_and_the_genuine_person_still_imports(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    trust(cli, bob, alice)  # Bob compared Alice's fingerprint; Carol is a stranger to him
    bad = _squatter_bundle(cli, carol, alice.actor, tmp_path)
    before = tree_digest(bob.vault)
    trust_before = (bob.home / "trust.json").read_bytes()
    code, _, err = cli(bob, "import", str(bob.vault), str(bad), "--accept-untrusted")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "squatting attempt" in last
    assert alice.actor in last
    for who in (alice, carol):  # both keys named, with their fingerprints
        assert who.key_id in last
        assert who.fingerprint in last
    assert tree_digest(bob.vault) == before
    assert (bob.home / "trust.json").read_bytes() == trust_before  # nothing trusted

    # `bundle verify` says the same without a vault.
    code, out, _ = cli(bob, "bundle", "verify", str(bad), "--json")
    assert code == 1
    assert [p["code"] for p in json.loads(out)["problems"]] == ["LABEL_SQUATTED"]

    # Alice's genuine bundles import, the first and a later one.
    first = tmp_path / "alice1.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(first))
    assert cli.json(bob, "import", str(bob.vault), str(first))["imported"] == 2
    cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate", "state",
             "--value", '"open"')
    second = tmp_path / "alice2.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(second))
    assert cli.json(bob, "import", str(bob.vault), str(second))["imported"] == 1
    assert set(event_ids(alice.vault)) <= set(event_ids(bob.vault))
    assert cli.json(bob, "verify", str(bob.vault))["ok"]


def test_a_label_without_our_suffix_stays_with_the_trusted_key_that_holds_it(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    """Reference labels ("field-agent") carry no key id: the first key that signs for one in
    the vault holds it, and one the user trusts is never taken over, even by another key
    the user trusts."""
    with Vault.open(alice.vault, home=alice.home) as v:
        key = alice.key()
        v.append([v.new_event(key=key, actor="field-agent", event_type="OBSERVATION",
                              payload={"subject": "gate", "predicate": "state",
                                       "value": "open"})], signer=key)
    out = tmp_path / "a.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(out))
    trust(cli, bob, alice)
    trust(cli, bob, carol)
    assert cli.json(bob, "import", str(bob.vault), str(out))["imported"] == 3

    bad = _squatter_bundle(cli, carol, "field-agent", tmp_path)
    before = tree_digest(bob.vault)
    code, _, err = cli(bob, "import", str(bob.vault), str(bad))
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert "'field-agent', which belongs to key " + alice.key_id in last
    assert "which you trust, so no other key may take it" in last
    for who in (alice, carol):
        assert who.key_id in last
        assert who.fingerprint in last
    assert tree_digest(bob.vault) == before


def _ev(actor: str, key: SigningKey, event_type: str = "OBSERVATION",
        payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"event_id": f"evt_{key.key_id}_{event_type}", "actor": actor,
            "actor_key_id": key.key_id, "type": event_type, "payload": payload or {}}


def _rotation(label: str, old: SigningKey, new: SigningKey, recovery: SigningKey,
              promoter: SigningKey | None = None) -> list[dict[str, Any]]:
    """old declares ``recovery`` its recovery key, which revokes it and promotes ``new``
    (the promotion signed by ``promoter``, the recovery key unless said otherwise)."""
    rlabel = f"dana-recovery-{recovery.key_id[4:12]}"
    promoter = promoter or recovery
    return [
        _ev(label, old, KEY_AUTHORITY, {
            "key_id": old.key_id, "recovery_key_id": recovery.key_id,
            "recovery_public_key_b64": recovery.public.b64}),
        _ev(rlabel, recovery, "KEY_REVOCATION", {"revoked_key_id": old.key_id}),
        _ev(rlabel if promoter is recovery else label, promoter, "KEY_PROMOTION", {
            "replaces_key_id": old.key_id, "new_key_id": new.key_id,
            "new_public_key_b64": new.public.b64})]


def test_a_key_promoted_by_a_rotation_inherits_the_label() -> None:
    """A label is bound to a key or the successors a promotion that counts made
    (core/key_life.py: by the identity's recovery key, after it revoked the old key)."""
    old, new, third, recovery = (SigningKey(bytes([i]) * 32) for i in (1, 2, 3, 7))
    label = f"dana-{old.key_id[4:12]}"
    ring = KeyRing.from_keys_json({"keys": [_entry(k) for k in (old, new, third, recovery)]})
    rotation = _rotation(label, old, new, recovery)
    assert label_problems([*rotation, _ev(label, new)], keyring=ring, trust=Trust()) == []
    assert promoted_successors(old.key_id, {old.key_id: {new.key_id},
                                            new.key_id: {third.key_id}}) == {
        old.key_id, new.key_id, third.key_id}
    (problem,) = label_problems([*rotation, _ev(label, third)], keyring=ring, trust=Trust())
    assert problem.code == "LABEL_SQUATTED"
    assert old.key_id in problem.message
    assert third.key_id in problem.message


def test_a_squatter_cannot_promote_itself_into_a_label() -> None:
    """A promotion counts only when the identity's recovery key signed it after revoking
    the old key: never the new key itself, nor the old key, nor a key the user trusts for
    its evidence (trust is not authority over someone else's identity)."""
    alice, squatter, stranger, recovery = (SigningKey(bytes([i]) * 32) for i in (4, 5, 6, 8))
    label = f"alice-{alice.key_id[4:12]}"
    ring = KeyRing.from_keys_json({"keys": [_entry(k) for k in
                                            (alice, squatter, stranger, recovery)]})
    for signer, view in ((squatter, Trust()), (alice, Trust()),
                         (stranger, Trust({stranger.key_id: "HQ"}))):
        forged = _rotation(label, alice, squatter, recovery, promoter=signer)
        codes = [p.code for p in label_problems([*forged, _ev(label, squatter)],
                                                keyring=ring, trust=view)]
        assert "LABEL_SQUATTED" in codes, signer


def _squat_the_old_way(bob: Person, carol: Person, label: str) -> list[str]:
    """Carol's events under ``label`` written into Bob's vault with the store API, as an
    import did before labels were checked (the intake is bypassed): two, chained."""
    key = carol.key()
    with Vault.open(bob.vault, home=bob.home) as v:
        first = build_event(event_type="OBSERVATION", actor=label, key=key,
                            prev_event_hash=None,
                            payload={"subject": "door", "predicate": "state",
                                     "value": "forged"})
        second = build_event(event_type="OBSERVATION", actor=label, key=key,
                             prev_event_hash=first["event_id"],
                             payload={"subject": "safe", "predicate": "state",
                                      "value": "empty"})
        v.append([first, second], signer=key)
    return [first["event_id"], second["event_id"]]


def _lines_of(vault: Path, ids: list[str]) -> list[int]:
    lines = (vault / "events" / "events.ndjson").read_bytes().splitlines()
    by_id = {json.loads(raw)["event_id"]: n for n, raw in enumerate(lines, start=1)}
    return [by_id[eid] for eid in ids]


def test_a_vault_squatted_before_labels_were_checked_lets_the_genuine_key_in(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    """Events a squatter got into a vault before labels were checked stay (evidence is never
    deleted) but hold the label for nothing: the genuine person's bundles import, and
    `verify` flags the squatter's events, line by line, naming both keys. Before, every
    genuine bundle was refused (ACTOR_KEY_CONFLICT: the label "belonged" to the squatter)."""
    squatted = _squat_the_old_way(bob, carol, alice.actor)
    trust(cli, bob, alice)
    first = tmp_path / "alice1.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(first))
    assert cli.json(bob, "import", str(bob.vault), str(first))["imported"] == 2
    cli.json(alice, "observe", str(alice.vault), "--subject", "door", "--predicate", "state",
             "--value", '"open"')
    second = tmp_path / "alice2.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(second))
    done = cli.json(bob, "import", str(bob.vault), str(second))
    assert done["imported"] == 1
    assert done["forks"] == []  # the squatter's chain is not Alice's: no equivocation
    assert set(event_ids(alice.vault)) <= set(event_ids(bob.vault))

    code, out, _ = cli(bob, "verify", str(bob.vault), "--json")
    assert code == 1
    doc = json.loads(out)
    errors = [p for p in doc["problems"] if p["severity"] == "error"]
    assert [p["code"] for p in errors] == ["LABEL_SQUATTED", "LABEL_SQUATTED"]
    assert [p["event_id"] for p in errors] == squatted
    assert [p["line"] for p in errors] == _lines_of(bob.vault, squatted)
    for p in errors:
        assert carol.key_id in p["message"]
        assert alice.key_id in p["message"]
        assert alice.actor in p["message"]
    assert doc["forks"] == []


def test_a_vault_squatted_before_labels_were_checked_still_refuses_the_squatter(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    """The squatter's events in the vault give its key nothing: its next bundle under the
    label is refused up front, as in a clean vault, and the vault is unchanged."""
    _squat_the_old_way(bob, carol, alice.actor)
    bad = _squatter_bundle(cli, carol, alice.actor, tmp_path)
    before = tree_digest(bob.vault)
    code, _, err = cli(bob, "import", str(bob.vault), str(bad), "--accept-untrusted")
    assert code == 1
    assert "squatting attempt" in err.strip().splitlines()[-1]
    assert tree_digest(bob.vault) == before


def test_a_reference_label_in_a_vault_stays_with_its_first_signer(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    """A label without our suffix keeps the reference's first binding, in verification too:
    the second key's events are ACTOR_KEY_MISMATCH (not LABEL_SQUATTED)."""
    for who in (carol, alice):
        key = who.key()
        with Vault.open(bob.vault, home=bob.home) as v:
            v.append([v.new_event(key=key, actor="field-agent", event_type="OBSERVATION",
                                  payload={"subject": "gate", "predicate": "state",
                                           "value": who.name})], signer=key)
    code, out, _ = cli(bob, "verify", str(bob.vault), "--json")
    assert code == 1
    (problem,) = [p for p in json.loads(out)["problems"] if p["severity"] == "error"]
    assert problem["code"] == "ACTOR_KEY_MISMATCH"
    assert carol.key_id in problem["message"]  # the first signer holds it
    assert alice.key_id in problem["message"]


class _Row:
    def __init__(self, pos: int, key_id: str) -> None:
        self.pos, self.actor_key_id = pos, key_id


class _Index:
    """The two questions label_holder asks of the index, over rows whose key ids are made
    up: a key matching a label's 8 hex digits by chance (a ground key) takes ~2^32 tries to
    make for real."""

    def __init__(self, keys: list[str]) -> None:
        self.rows = [_Row(i, k) for i, k in enumerate(keys)]

    def query(self, *, actor: str, after_pos: int = -1, limit: int) -> list[_Row]:
        return [r for r in self.rows if r.pos > after_pos][:limit]

    def key_ids(self) -> list[tuple[str, int]]:
        return sorted({(r.actor_key_id, 0) for r in self.rows})


def _holder(keys: list[str], label: str, promotions: dict[str, set[str]]) -> str | None:
    from provara_desktop.intake.labels import label_holder

    return label_holder(_Index(keys), label, promotions)  # type: ignore[arg-type]


def test_the_holder_of_a_squatted_label_is_its_first_matching_signer() -> None:
    label = "alice-44126727"
    squatter, genuine, ground = ("bp1_0123456789abcdef", "bp1_44126727aaaaaaaa",
                                 "bp1_44126727bbbbbbbb")
    many = [squatter] * 25_000  # past the first page of the actor's events
    assert _holder(many + [genuine, ground], label, {}) == genuine  # not the ground key
    assert _holder(many, label, {}) is None  # nobody holds it: the genuine key may sign
    assert _holder([genuine, squatter], label, {}) == genuine
    # A reference label keeps its first signer, whoever that is.
    assert _holder([squatter, genuine], "field-agent", {}) == squatter
    # A key promoted (by a promotion that counts) from a matching one holds it too.
    successor = "bp1_ffffffff00000000"
    assert _holder([squatter, successor], label, {genuine: {successor}}) == successor
