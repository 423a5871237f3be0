"""One trust model (issue 9, item 3): a vault's key registry (identity/keys.json) is not a
trust decision; every decision lives in the profile's trust store with where it came from,
is shown by `trust list`, and is undone by `trust remove`."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tests.bundle.conftest import Cli, Person, event_ids, tree_digest

if TYPE_CHECKING:
    from pathlib import Path


def _observe(cli: Cli, who: Person, subject: str, value: str) -> str:
    return str(cli.json(who, "observe", str(who.vault), "--subject", subject, "--predicate",
                        "status", "--value", json.dumps(value))["event_id"])


def test_accepting_an_untrusted_key_is_recorded_shown_and_revocable(
        cli: Cli, alice: Person, bob: Person, tmp_path: Path) -> None:
    """The escalation from the issue: one `import --accept-untrusted` used to make Alice's
    key trusted for Bob's vault forever (it landed in keys.json, which counted as trust),
    while `trust list` said "no trusted keys" and `trust remove` could not undo it."""
    first = tmp_path / "first.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(first))
    code, out, err = cli(bob, "import", str(bob.vault), str(first), "--accept-untrusted")
    assert code == 0, err
    # The command says what it now trusts, and why.
    assert f"now trusted: {alice.key_id}" in out
    assert "accepted at the import of first.provara-bundle" in out
    assert f"trust remove {alice.key_id}" in out

    listed = cli.json(bob, "trust", "list")["keys"]
    assert [k["key_id"] for k in listed] == [alice.key_id]
    source = listed[0]["source"]
    assert source["kind"] == "import"
    assert source["bundle"] == "first.provara-bundle"
    assert re.fullmatch(r"[0-9a-f]{64}", source["manifest_sha256"])
    assert source["vault"] == str(bob.vault.absolute())
    assert source["at_utc"][:4].isdigit()
    _, text, _ = cli(bob, "trust", "list")
    assert "accepted at the import of first.provara-bundle" in text

    # Now trusted by that decision: the next bundle from Alice imports without the flag.
    seen = _observe(cli, alice, "door", "open")
    second = tmp_path / "second.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(second))
    got = cli.json(bob, "import", str(bob.vault), str(second))
    assert got["imported"] == 1
    assert got["trusted_now"] == []
    assert seen in event_ids(bob.vault)

    # Undone: Alice's key stays in Bob's vault registry (her events are evidence), but it
    # no longer counts as trusted.
    removed = cli.json(bob, "trust", "remove", alice.key_id)
    assert removed["key_id"] == alice.key_id
    assert cli.json(bob, "trust", "list") == {"keys": []}
    keys_doc = json.loads((bob.vault / "identity/keys.json").read_text("utf-8"))
    assert alice.key_id in {k["key_id"] for k in keys_doc["keys"]}

    later = _observe(cli, alice, "door", "closed")
    delta = tmp_path / "later.delta"
    cli.json(alice, "export", str(alice.vault), str(delta), "--format", "provara-delta-v1")
    before = tree_digest(bob.vault)
    code, out, err = cli(bob, "import", str(bob.vault), str(delta), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["imported"] == 0
    assert doc["held_back"] == 1
    held = doc["held_back_keys"][0]
    assert held["key_id"] == alice.key_id
    assert held["trusted"] is False
    assert held["in_vault"] is True
    assert "you have not trusted it" in held["vouched_by"]
    assert "do not trust" in err
    assert tree_digest(bob.vault) == before
    assert later not in event_ids(bob.vault)
    assert seen in event_ids(bob.vault)  # what was imported stays

    # A bundle Alice signs is refused up front again.
    third = tmp_path / "third.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(third))
    code, _, err = cli(bob, "import", str(bob.vault), str(third))
    assert code == 1
    assert "untrusted key" in err
    assert tree_digest(bob.vault) == before


def test_a_dry_run_decides_nothing(cli: Cli, alice: Person, bob: Person,
                                   tmp_path: Path) -> None:
    out = tmp_path / "a.provara-bundle"
    cli.json(alice, "export", str(alice.vault), str(out))
    doc = cli.json(bob, "import", str(bob.vault), str(out), "--accept-untrusted", "--dry-run")
    assert [k["key_id"] for k in doc["would_trust"]] == [alice.key_id]
    assert doc["trusted_now"] == []
    assert cli.json(bob, "trust", "list") == {"keys": []}


def test_trust_added_by_hand_says_so(cli: Cli, alice: Person, bob: Person) -> None:
    cli.json(bob, "trust", "add", alice.key_id, "--public-key", alice.public_key_b64,
             "--name", "Alice")
    (entry,) = cli.json(bob, "trust", "list")["keys"]
    assert entry["source"]["kind"] == "manual"
    assert entry["source"]["text"].startswith("added by hand on ")
    assert entry["in_force"] is True
    _, text, _ = cli(bob, "trust", "list")
    assert "Alice: added by hand on" in text
