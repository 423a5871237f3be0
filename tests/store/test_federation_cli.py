"""`federation sign` and `federation verify` as members drive them: real identities (PyNaCl,
Argon2 at its minimum cost), one contract file passed from one member's profile to the
next. Checked: the exit codes (verify 1 until every member signed, then 0; 2 for a file
that is not a contract or a key that is no member's), the JSON fields docs/FEDERATION.md
names, and that a refused command leaves the file as it was, byte for byte."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.cli import main
from provara_desktop.core import federation_contract as fc
from provara_desktop.store.identity import Identity, IdentityStore

if TYPE_CHECKING:
    from pathlib import Path

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Identity]]:
    """A profile each: Alice signs for agency-a, Bob for agency-b, Carol is no member."""
    base = tmp_path_factory.mktemp("profiles")
    return {name: (base / name, IdentityStore(base / name, **FAST).create(name, PASS))
            for name in ("Alice", "Bob", "Carol")}


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.delenv("PROVARA_HOME", raising=False)


@pytest.fixture
def contract(tmp_path: Path, people: dict[str, tuple[Path, Identity]]) -> Path:
    alice, bob = people["Alice"][1], people["Bob"][1]
    doc = {
        "format": "provara-federation-contract", "format_version": 1,
        "contract_id": "case-2026-117", "revision": 1, "vault_uid": "uid-117",
        "title": "Joint investigation",
        "members": [
            {"member": "agency-a", "name": "Agency A", "key_id": alice.key_id,
             "public_key_b64": alice.public_key_b64, "keys": []},
            {"member": "agency-b", "key_id": bob.key_id,
             "public_key_b64": bob.public_key_b64, "keys": []}],
        "flows": [{"from": "agency-a", "to": "agency-b", "actors": ["member:agency-a"],
                   "namespaces": ["canonical", "local"]}],
    }
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def run(capsys: pytest.CaptureFixture[str], home: Path | None, *argv: str
        ) -> tuple[int, str, str]:
    code = main([*(["--home", str(home)] if home else []), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def verify_json(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, Any]:
    code, out, _ = run(capsys, None, "federation", "verify", str(path), "--json")
    return code, json.loads(out)


def test_two_members_sign_in_turn_and_the_contract_comes_into_force(
        capsys: pytest.CaptureFixture[str], contract: Path,
        people: dict[str, tuple[Path, Identity]]) -> None:
    (alice_home, alice), (bob_home, bob) = people["Alice"], people["Bob"]
    digest = fc.parse_contract(contract.read_bytes()).digest()

    code, out, err = run(capsys, None, "federation", "verify", str(contract))
    assert code == 1
    assert "NOT IN FORCE: not signed by agency-a, agency-b" in out
    assert "not in force" in one_line(err)

    code, out, err = run(capsys, alice_home, "federation", "sign", str(contract))
    assert code == 0, err
    # What Alice signed is shown: the digest members compare, the members, the flows.
    assert digest in out
    assert "signed as agency-a" in out
    assert bob.key_id in out
    assert "agency-a -> agency-b: events by member:agency-a in canonical, local" in out
    assert "agency-b -> agency-a: nothing else" in out
    # The file is now sorted, indented JSON.
    text = contract.read_text()
    assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text

    code, doc = verify_json(capsys, contract)
    assert code == 1
    assert (doc["ok"], doc["in_force"]) == (False, False)
    assert [(m["member"], m["signature"]) for m in doc["members"]] == \
        [("agency-a", "valid"), ("agency-b", "missing")]
    assert doc["problems"] == [{"where": "signatures.agency-b",
                                "message": "missing: this member has not signed"}]

    code, out, err = run(capsys, bob_home, "federation", "sign", str(contract), "--json")
    assert code == 0, err
    signed = json.loads(out)
    assert (signed["signed_as"], signed["key_id"], signed["in_force"]) == \
        ("agency-b", bob.key_id, True)

    code, doc = verify_json(capsys, contract)
    assert code == 0
    assert (doc["ok"], doc["in_force"], doc["contract_id"], doc["revision"],
            doc["vault_uid"], doc["digest"]) == (True, True, "case-2026-117", 1, "uid-117",
                                                 digest)
    assert doc["members"] == [
        {"member": "agency-a", "name": "Agency A", "key_id": alice.key_id,
         "fingerprint": alice.fingerprint, "keys": [], "signature": "valid"},
        {"member": "agency-b", "name": None, "key_id": bob.key_id,
         "fingerprint": bob.fingerprint, "keys": [], "signature": "valid"}]
    assert doc["flows"] == [{"from": "agency-a", "to": "agency-b",
                             "actors": ["member:agency-a"],
                             "namespaces": ["canonical", "local"]}]
    assert doc["problems"] == []
    # Alice's signature survived Bob's signing (and signing changed no signed byte).
    on_file = json.loads(contract.read_text())
    assert set(on_file["signatures"]) == {"agency-a", "agency-b"}
    code, out, _ = run(capsys, None, "federation", "verify", str(contract))
    assert code == 0
    assert "IN FORCE: every member signed this revision" in out


def test_an_edit_after_signing_breaks_every_signature(
        capsys: pytest.CaptureFixture[str], contract: Path,
        people: dict[str, tuple[Path, Identity]]) -> None:
    for name in ("Alice", "Bob"):
        assert run(capsys, people[name][0], "federation", "sign", str(contract))[0] == 0
    doc = json.loads(contract.read_text())
    doc["flows"][0]["namespaces"].append("contested")  # one more namespace to agency-b
    contract.write_text(json.dumps(doc))
    code, report = verify_json(capsys, contract)
    assert code == 1
    assert [m["signature"] for m in report["members"]] == ["bad", "bad"]
    assert all("changed after this member signed it" in p["message"]
               for p in report["problems"])


def test_a_key_that_is_no_members_cannot_sign_and_the_file_is_untouched(
        capsys: pytest.CaptureFixture[str], contract: Path,
        people: dict[str, tuple[Path, Identity]]) -> None:
    carol_home, carol = people["Carol"]
    before = contract.read_bytes()
    code, out, err = run(capsys, carol_home, "federation", "sign", str(contract))
    assert (code, out) == (2, "")
    line = one_line(err)
    assert carol.key_id in line
    assert f"agency-a {people['Alice'][1].key_id}" in line
    assert f"agency-b {people['Bob'][1].key_id}" in line
    assert contract.read_bytes() == before


def test_a_members_other_key_is_told_it_is_not_the_federation_key(
        capsys: pytest.CaptureFixture[str], contract: Path,
        people: dict[str, tuple[Path, Identity]]) -> None:
    doc = json.loads(contract.read_text())
    doc["members"][1]["keys"] = [people["Carol"][1].key_id]  # Carol works for agency-b
    contract.write_text(json.dumps(doc))
    before = contract.read_bytes()
    code, _, err = run(capsys, people["Carol"][0], "federation", "sign", str(contract))
    assert code == 2
    assert "one of agency-b's other keys, not its federation key" in one_line(err)
    assert contract.read_bytes() == before


@pytest.mark.parametrize(("change", "where"), [
    (lambda t: t[:-20], "document: malformed JSON"),
    (lambda t: t.replace('"revision": 1', '"revision": 1, "expires": "2027"'),
     "expires: unknown field"),
    (lambda t: t.replace('"to": "agency-b"', '"to": "agency-c"'),
     'flows[0].to: no member "agency-c"'),
])
def test_a_file_that_is_not_a_contract_exits_2_and_stays_as_it_was(
        capsys: pytest.CaptureFixture[str], contract: Path,
        people: dict[str, tuple[Path, Identity]], change: Any, where: str) -> None:
    contract.write_text(change(contract.read_text()))
    before = contract.read_bytes()
    for argv in (("sign",), ("verify",), ("verify", "--json")):
        code, out, err = run(capsys, people["Alice"][0], "federation", argv[0],
                             str(contract), *argv[1:])
        assert (code, out) == (2, "")
        assert f"{contract}: {where}" in one_line(err)
        assert contract.read_bytes() == before


def test_a_missing_file_is_an_io_error(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code, _, err = run(capsys, None, "federation", "verify", str(tmp_path / "nope.json"))
    assert code == 2
    assert "nope.json" in one_line(err)
