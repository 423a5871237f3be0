"""Round trips through the real CLI: export from one vault, import into another (fresh or
diverged), and both end up with the same events and the same state_hash; deltas against a
frontier carry exactly what the receiver lacks; selections carry exactly their scope; a
second import changes nothing; trust decides what gets in."""

from __future__ import annotations

import json
import zipfile
from typing import TYPE_CHECKING

from tests.bundle.conftest import Cli, Person, event_ids, read_members, tree_digest, trust

if TYPE_CHECKING:
    from pathlib import Path


def observe(cli: Cli, who: Person, subject: str, value: str, *extra: str) -> str:
    doc = cli.json(who, "observe", str(who.vault), "--subject", subject, "--predicate",
                   "state", "--value", json.dumps(value), *extra)
    return str(doc["event_id"])


def export(cli: Cli, who: Person, out: Path, *extra: str) -> dict:
    return cli.json(who, "export", str(who.vault), str(out), *extra)


def state_hash(cli: Cli, who: Person) -> str:
    return str(cli.json(who, "state", str(who.vault))["state_hash"])


def verify_ok(cli: Cli, who: Person) -> None:
    doc = cli.json(who, "verify", str(who.vault))
    assert doc["ok"], doc["problems"]


def bundle_event_ids(bundle: Path) -> list[str]:
    with zipfile.ZipFile(bundle) as zf:
        return [json.loads(x)["event_id"] for x in zf.read("events.ndjson").splitlines()]


def test_full_exchange_both_ways_gives_identical_vaults(
        cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    att = tmp_path / "photo.jpg"
    att.write_bytes(b"\xff\xd8 not really a jpeg " * 100)
    observe(cli, alice, "door", "open", "--attach", str(att))
    observe(cli, bob, "door", "closed")
    trust(cli, alice, bob)
    trust(cli, bob, alice)
    a_out = tmp_path / "a.provara-bundle"
    doc = export(cli, alice, a_out)
    assert doc["event_count"] == 3
    assert doc["attachment_count"] == 1
    assert doc["scope"]["kind"] == "full"
    got = cli.json(bob, "import", str(bob.vault), str(a_out))
    assert got["imported"] == 3
    assert got["held_back"] == 0
    assert got["new_actors"] == [alice.actor]
    assert [k["key_id"] for k in got["new_keys"]] == [alice.key_id]
    b_out = tmp_path / "b.provara-bundle"
    export(cli, bob, b_out)
    got = cli.json(alice, "import", str(alice.vault), str(b_out))
    assert got["imported"] == 3
    assert got["already_present"] == 3
    # Same events, same bytes, same beliefs: the total order is deterministic.
    a_log = (alice.vault / "events/events.ndjson").read_bytes()
    assert a_log == (bob.vault / "events/events.ndjson").read_bytes()
    assert len(event_ids(alice.vault)) == 6
    assert state_hash(cli, alice) == state_hash(cli, bob)
    verify_ok(cli, alice)
    verify_ok(cli, bob)
    sha = json.loads(a_log.splitlines()[-1] if b"attachments" in a_log.splitlines()[-1]
                     else next(x for x in a_log.splitlines() if b"attachments" in x)
                     )["payload"]["attachments"][0]["sha256"]
    assert (bob.vault / "artifacts/cas" / sha).read_bytes() == att.read_bytes()
    # The door is now contested in both vaults (open vs closed, both at confidence 0.5).
    assert "door:state" in cli.json(bob, "state", str(bob.vault))["contested"]


def test_second_import_changes_nothing(cli: Cli, alice: Person, bob: Person,
                                       tmp_path: Path) -> None:
    observe(cli, alice, "box", "sealed")
    trust(cli, bob, alice)
    out = tmp_path / "a.provara-bundle"
    export(cli, alice, out)
    assert cli.json(bob, "import", str(bob.vault), str(out))["imported"] == 3
    before = tree_digest(bob.vault)
    again = cli.json(bob, "import", str(bob.vault), str(out))
    assert again["imported"] == 0
    assert again["already_present"] == 3
    assert tree_digest(bob.vault) == before


def test_dry_run_previews_and_changes_nothing(cli: Cli, alice: Person, bob: Person,
                                              tmp_path: Path) -> None:
    observe(cli, alice, "door", "open")
    observe(cli, bob, "door", "closed")
    trust(cli, bob, alice)
    out = tmp_path / "a.provara-bundle"
    export(cli, alice, out)
    before = tree_digest(bob.vault)
    prev = cli.json(bob, "import", str(bob.vault), str(out), "--dry-run")
    assert tree_digest(bob.vault) == before
    assert prev["dry_run"] is True
    assert prev["new_events"] == 3
    assert prev["imported"] == 0
    assert prev["beliefs"]["became_contested"] == ["door:state"]
    assert prev["beliefs"]["state_hash_before"] != prev["beliefs"]["state_hash_after"]
    # The preview's predicted state is exactly what the import produces.
    cli.json(bob, "import", str(bob.vault), str(out))
    assert state_hash(cli, bob) == prev["beliefs"]["state_hash_after"]


def test_delta_against_a_frontier_carries_only_what_the_receiver_lacks(
        cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    trust(cli, bob, alice)
    first = tmp_path / "first.provara-bundle"
    export(cli, alice, first)
    cli.json(bob, "import", str(bob.vault), str(first))
    frontier = tmp_path / "bob.frontier"
    fr = cli.json(bob, "frontier", str(bob.vault), str(frontier))
    assert fr["event_count"] == 4
    assert fr["actors"] == 2
    new = [observe(cli, alice, f"item{i}", "seen") for i in range(3)]
    delta = tmp_path / "delta.provara-bundle"
    doc = export(cli, alice, delta, "--since-frontier", str(frontier))
    assert doc["scope"]["kind"] == "delta"
    assert doc["event_count"] == 3
    assert bundle_event_ids(delta) == new
    manifest = json.loads(read_members(delta)["bundle.json"])
    assert manifest["receiver_frontier"]["heads"] == fr["heads"]
    assert len(manifest["prerequisites"]) == 1  # Alice's seed event, which Bob holds
    got = cli.json(bob, "import", str(bob.vault), str(delta))
    assert got["imported"] == 3
    assert set(new) <= set(event_ids(bob.vault))
    verify_ok(cli, bob)
    # The delta is proportional to what it carries, not to the vault.
    assert delta.stat().st_size < first.stat().st_size * 2


def test_delta_into_a_vault_missing_its_prerequisites_is_refused(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    frontier = tmp_path / "alice.frontier"
    cli.json(alice, "frontier", str(alice.vault), str(frontier))
    observe(cli, alice, "x", "1")
    delta = tmp_path / "d.provara-bundle"
    export(cli, alice, delta, "--since-frontier", str(frontier))
    trust(cli, carol, alice)
    before = tree_digest(carol.vault)
    code, _, err = cli(carol, "import", str(carol.vault), str(delta))
    assert code == 1
    assert "prerequisite" in err
    assert "frontier" in err
    assert tree_digest(carol.vault) == before
    code, out, _ = cli(carol, "bundle", "verify", str(delta), "--vault", str(carol.vault),
                       "--json")
    assert code == 1
    assert json.loads(out)["missing_prerequisites"]


def test_selection_by_actor_namespace_and_time_holds_exactly_its_scope(
        cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    trust(cli, alice, bob)
    b_full = tmp_path / "b.provara-bundle"
    observe(cli, bob, "bob-thing", "x")
    export(cli, bob, b_full)
    cli.json(alice, "import", str(alice.vault), str(b_full))
    a1 = observe(cli, alice, "a", "1")
    cli.json(alice, "attest", str(alice.vault), "--subject", "a", "--predicate", "state",
             "--value", '"1"')
    log = [json.loads(x) for x in (alice.vault / "events/events.ndjson").read_text().splitlines()]
    # by actor
    out = tmp_path / "actor.provara-bundle"
    doc = export(cli, alice, out, "--actor", bob.actor)
    assert doc["scope"]["kind"] == "selection"
    assert doc["scope"]["actors"] == [bob.actor]
    assert bundle_event_ids(out) == [e["event_id"] for e in log if e["actor"] == bob.actor]
    # by namespace (local: the observations; canonical: genesis events and the attestation)
    out = tmp_path / "ns.provara-bundle"
    export(cli, alice, out, "--namespace", "canonical")
    assert bundle_event_ids(out) == [e["event_id"] for e in log
                                     if e.get("namespace") == "canonical"]
    # by time: from a1 on, until the end
    since = next(e["timestamp_utc"] for e in log if e["event_id"] == a1)
    out = tmp_path / "time.provara-bundle"
    export(cli, alice, out, "--since", since)
    assert bundle_event_ids(out) == [e["event_id"] for e in log if e["timestamp_utc"] >= since]
    out = tmp_path / "until.provara-bundle"
    export(cli, alice, out, "--until", since, "--actor", alice.actor)
    assert bundle_event_ids(out) == [e["event_id"] for e in log
                                     if e["timestamp_utc"] < since and e["actor"] == alice.actor]
    code, _, err = cli(alice, "export", str(alice.vault), str(tmp_path / "bad.b"),
                       "--since", "yesterday")
    assert code == 2
    assert "--since" in err


def test_untrusted_signer_is_refused_unless_accepted(cli: Cli, alice: Person, bob: Person,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "a.provara-bundle"
    export(cli, alice, out)
    before = tree_digest(bob.vault)
    code, _, err = cli(bob, "import", str(bob.vault), str(out))
    assert code == 1
    assert "untrusted key" in err
    assert alice.key_id in err
    assert alice.fingerprint in err
    assert tree_digest(bob.vault) == before
    code, out_text, _ = cli(bob, "bundle", "verify", str(out), "--json")
    doc = json.loads(out_text)
    assert code == 1
    assert doc["signer"]["trusted"] is False
    assert doc["problems"] == []
    got = cli.json(bob, "import", str(bob.vault), str(out), "--accept-untrusted")
    assert got["imported"] == 2  # Alice's GENESIS and seed observation
    verify_ok(cli, bob)


def test_events_by_untrusted_keys_are_held_back_and_named(
        cli: Cli, alice: Person, bob: Person, carol: Person, tmp_path: Path) -> None:
    """Bob relays Carol's events; Alice trusts Bob but not Carol."""
    trust(cli, bob, carol)
    c_out = tmp_path / "c.provara-bundle"
    observe(cli, carol, "c", "1")
    export(cli, carol, c_out)
    cli.json(bob, "import", str(bob.vault), str(c_out))
    b_out = tmp_path / "b.provara-bundle"
    export(cli, bob, b_out)
    trust(cli, alice, bob)
    code, out, err = cli(alice, "import", str(alice.vault), str(b_out), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["imported"] == 2
    assert doc["held_back"] == 3
    assert [k["key_id"] for k in doc["held_back_keys"]] == [carol.key_id]
    assert doc["held_back_keys"][0]["actors"] == [carol.actor]
    assert carol.key_id in err
    assert carol.fingerprint in err
    assert carol.actor not in {json.loads(x)["actor"] for x in
                               (alice.vault / "events/events.ndjson").read_text().splitlines()}
    verify_ok(cli, alice)
    got = cli.json(alice, "import", str(alice.vault), str(b_out), "--accept-untrusted")
    assert got["imported"] == 3
    verify_ok(cli, alice)


def test_trust_store_commands(cli: Cli, alice: Person, bob: Person) -> None:
    assert cli.json(alice, "trust", "list") == {"keys": []}
    trust(cli, alice, bob)
    keys = cli.json(alice, "trust", "list")["keys"]
    assert [(k["key_id"], k["name"], k["fingerprint"]) for k in keys] == [
        (bob.key_id, "Bob", bob.fingerprint)]
    code, _, err = cli(alice, "trust", "add", bob.key_id, "--public-key", alice.public_key_b64)
    assert code == 1
    assert "does not belong" in err
    code, _, err = cli(alice, "trust", "add", bob.key_id, "--public-key", "not base64!")
    assert code == 1
    assert "base64" in err
    assert cli.json(alice, "trust", "remove", bob.key_id)["key_id"] == bob.key_id
    code, _, err = cli(alice, "trust", "remove", bob.key_id)
    assert code == 2
    assert "not in the trust store" in err
    (alice.home / "trust.json").write_text("{broken")
    code, _, err = cli(alice, "trust", "list")
    assert code == 1
    assert "trust.json" in err


def test_export_refuses_to_overwrite(cli: Cli, alice: Person, tmp_path: Path) -> None:
    out = tmp_path / "x.provara-bundle"
    out.write_bytes(b"keep me")
    code, _, err = cli(alice, "export", str(alice.vault), str(out))
    assert code == 2
    assert "already exists" in err
    assert out.read_bytes() == b"keep me"


def test_a_fork_is_previewed_imported_and_reported(cli: Cli, alice: Person,
                                                   tmp_path: Path) -> None:
    """Alice used a copy of her vault on a second machine: both copies extended her chain
    from the same event. Events are permanent: the import keeps both and says so."""
    import shutil

    copy = tmp_path / "laptop-vault"
    shutil.copytree(alice.vault, copy)
    mine = observe(cli, alice, "door", "open")
    theirs = cli.json(alice, "observe", str(copy), "--subject", "door", "--predicate",
                      "state", "--value", '"shut"')["event_id"]
    out = tmp_path / "laptop.provara-bundle"
    cli.json(alice, "export", str(copy), str(out))
    prev = cli.json(alice, "import", str(alice.vault), str(out), "--dry-run")
    assert len(prev["forks"]) == 1
    assert set(prev["forks"][0]["event_ids"]) == {mine, theirs}
    assert prev["new_events"] == 1
    got = cli.json(alice, "import", str(alice.vault), str(out))
    assert got["imported"] == 1
    code, raw, err = cli(alice, "verify", str(alice.vault), "--json")
    doc = json.loads(raw)
    assert code == 1
    assert "fork" in err
    assert [set(f["event_ids"]) for f in doc["forks"]] == [{mine, theirs}]


def test_refused_import_still_prints_its_json(cli: Cli, alice: Person, bob: Person,
                                              tmp_path: Path) -> None:
    out = tmp_path / "a.provara-bundle"
    export(cli, alice, out)
    code, raw, err = cli(bob, "import", str(bob.vault), str(out), "--json")
    assert code == 1
    assert "untrusted key" in err
    doc = json.loads(raw)
    assert doc["ok"] is False
    assert doc["imported"] == 0
    assert doc["signer"]["key_id"] == alice.key_id
    assert doc["signer"]["trusted"] is False


def test_import_preview_keeps_integers_beyond_64_bits(cli: Cli, alice: Person, bob: Person,
                                                     tmp_path: Path) -> None:
    """A faster JSON reader must not turn a huge integer of someone's evidence into a
    float (orjson does, silently): the preview shows, and the import writes, the value
    that was signed."""
    big = 123456789012345678901234567890
    cli.json(alice, "observe", str(alice.vault), "--subject", "ledger", "--predicate",
             "total", "--value", str(big))
    out = tmp_path / "a.provara-bundle"
    export(cli, alice, out)
    preview = cli.json(bob, "import", str(bob.vault), str(out), "--dry-run",
                       "--accept-untrusted")
    changed = {c["key"]: c["after"] for c in preview["beliefs"]["changed"]}
    assert changed["ledger:total"] == big
    assert type(changed["ledger:total"]) is int
    cli.json(bob, "import", str(bob.vault), str(out), "--accept-untrusted")
    assert cli.json(bob, "state", str(bob.vault))["local"]["ledger:total"]["value"] == big
    verify_ok(cli, bob)


def test_continuing_one_branch_of_a_known_fork_is_not_a_new_fork(cli: Cli, alice: Person,
                                                                tmp_path: Path) -> None:
    """Once a fork is in the vault, an event that extends either branch is an ordinary
    continuation, whichever branch the vault happens to list last."""
    import shutil

    laptop, desk = tmp_path / "laptop-vault", tmp_path / "desk-vault"
    shutil.copytree(alice.vault, laptop)
    mine = observe(cli, alice, "door", "open")
    shutil.copytree(alice.vault, desk)  # holds the branch "mine"
    theirs = cli.json(alice, "observe", str(laptop), "--subject", "door", "--predicate",
                      "state", "--value", '"shut"')["event_id"]
    out = tmp_path / "laptop.provara-bundle"
    cli.json(alice, "export", str(laptop), str(out))
    assert len(cli.json(alice, "import", str(alice.vault), str(out))["forks"]) == 1
    # the desk copy extends the branch that sorts first ("mine"), the vault's last is "theirs"
    after_mine = cli.json(alice, "observe", str(desk), "--subject", "door", "--predicate",
                          "state", "--value", '"ajar"')["event_id"]
    out2 = tmp_path / "desk.provara-bundle"
    cli.json(alice, "export", str(desk), str(out2))
    preview = cli.json(alice, "import", str(alice.vault), str(out2), "--dry-run")
    assert preview["forks"] == []
    assert preview["new_events"] == 1
    got = cli.json(alice, "import", str(alice.vault), str(out2))
    assert got["imported"] == 1
    assert after_mine in event_ids(alice.vault)
    code, raw, _err = cli(alice, "verify", str(alice.vault), "--json")
    assert [set(f["event_ids"]) for f in json.loads(raw)["forks"]] == [{mine, theirs}]
