"""Federation contracts (core/federation_contract.py, docs/FEDERATION.md) with real Ed25519
keys: every refusal names its field; a signature holds for one exact text (another
revision, any changed field, makes it bad); a contract is in force once every member
signed; and a direction's rule admits what its flows list, structural events always, and
says in its exclusions exactly what admits() holds back."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core import federation_contract as fc
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import SigningKey, b64encode

# Deterministic keys, so a failure replays: A and B are the members' federation keys, the
# others their people's and devices'.
POOL = [SigningKey(bytes([i + 1]) * 32) for i in range(14)]
A, B, C, A1, A2, B1, C1, OUTSIDER = POOL[:8]
WHEN = "2026-12-03T10:00:00Z"


def member(mid: str, key: SigningKey, keys: list[SigningKey], **extra: Any) -> dict[str, Any]:
    return {"member": mid, "key_id": key.key_id, "public_key_b64": key.public.b64,
            "keys": [k.key_id for k in keys], **extra}


def base_doc() -> dict[str, Any]:
    return {
        "format": "provara-federation-contract", "format_version": 1,
        "contract_id": "case-2026-117", "revision": 1, "vault_uid": "vault-uid-1",
        "title": "Joint investigation 117",
        "members": [member("agency-a", A, [A1, A2], name="Agency A"),
                    member("agency-b", B, [B1])],
        "flows": [
            {"from": "agency-a", "to": "agency-b", "actors": ["member:agency-a"],
             "namespaces": ["canonical"]},
            {"from": "agency-a", "to": "agency-b", "actors": [A1.key_id],
             "namespaces": ["local"]},
            {"from": "agency-b", "to": "agency-a", "actors": ["*"],
             "namespaces": ["canonical", "local", "contested", "archived"]},
        ],
    }


def parse(doc: Any) -> fc.Contract:
    return fc.parse_contract(json.dumps(doc).encode())


def signed_by_both(doc: dict[str, Any] | None = None) -> fc.Contract:
    c = parse(doc or base_doc())
    return fc.sign_contract(fc.sign_contract(c, "agency-a", A, WHEN), "agency-b", B, WHEN)


def refusal(doc: Any) -> str:
    with pytest.raises(fc.ContractError) as info:
        parse(doc)
    return str(info.value)


# -- every refusal names its field -----------------------------------------------------------

def _set(path: str, value: Any) -> Any:
    """A change to base_doc: the value at a dotted path (list indices as numbers)."""
    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        obj: Any = doc
        for p in parents:
            obj = obj[int(p)] if isinstance(obj, list) else obj[p]
        if isinstance(obj, list):
            obj[int(last)] = value
        elif value is _DELETE:
            del obj[last]
        else:
            obj[last] = value
    return change


_DELETE = object()

BAD = [
    (_set("members.1.key_id", A2.key_id), "members[1].key_id: "
     f"{A2.key_id} is not the key id of public_key_b64 ({B.key_id})"),
    (_set("flows.0.to", "agency-c"), 'flows[0].to: no member "agency-c"'),
    (_set("flows.1.from", 7), "flows[1].from: a member id, not a number"),
    (_set("flows.0.to", "agency-a"), 'flows[0].to: the same member as "from"'),
    (_set("retention_days", 30), "retention_days: unknown field"),
    (_set("members.0.role", "lead"), "members[0].role: unknown field"),
    (_set("flows.2.until", WHEN), "flows[2].until: unknown field"),
    (_set("format_version", 2), "format_version: version 2 is not known here"),
    (_set("format", "provara-bundle"), 'format: "provara-bundle" is not'),
    (_set("contract_id", "Case 117"), 'contract_id: "Case 117" is not 1 to 64 characters'),
    (_set("revision", 0), "revision: a number is not an integer >= 1"),
    (_set("revision", True), "revision: a boolean is not an integer >= 1"),
    (_set("revision", 1.0), "revision: a number is not an integer >= 1"),
    (_set("vault_uid", _DELETE), "vault_uid: missing"),
    (_set("title", "x" * 201), "title: 201 characters (at most 200)"),
    (_set("title", "two\nlines"), "title: holds a control character"),
    (_set("members.1.member", "agency-a"), 'members[1].member: "agency-a" is members[0] '
     "already"),
    (_set("members.1.keys", [A1.key_id]), f"members[1].keys[0]: {A1.key_id} is given "
     "already at members[0].keys[0]"),
    (_set("members.1.keys", [A.key_id]), f"members[1].keys[0]: {A.key_id} is given "
     "already at members[0].key_id"),
    (_set("members.0.keys", [A.key_id]), f"members[0].keys[0]: {A.key_id} is this "
     "member's key_id already"),
    (_set("members.0.keys", ["bp1_xyz"]), 'members[0].keys[0]: "bp1_xyz" is not a key id'),
    (_set("members.0.public_key_b64", "not base64!"), "members[0].public_key_b64: not an "
     "Ed25519 public key"),
    (_set("flows.0.namespaces", ["public"]), 'flows[0].namespaces[0]: "public" is not one '
     "of canonical, local, contested, archived"),
    (_set("flows.0.namespaces", []), "flows[0].namespaces: empty"),
    (_set("flows.0.namespaces", ["local", "local"]), 'flows[0].namespaces[1]: "local" is '
     "listed twice"),
    (_set("flows.0.actors", []), "flows[0].actors: empty"),
    (_set("flows.0.actors", [OUTSIDER.key_id]), f"flows[0].actors[0]: {OUTSIDER.key_id} "
     "is no member's key"),
    (_set("flows.0.actors", ["member:agency-z"]), 'flows[0].actors[0]: no member '
     '"agency-z"'),
    (_set("flows.0.actors", ["everyone"]), 'flows[0].actors[0]: "everyone" is none of'),
    (_set("signatures", {"agency-a": {"key_id": A.key_id, "signed_at_utc": WHEN,
                                      "sig": "", "note": "x"}}),
     "signatures.agency-a.note: unknown field"),
    (_set("signatures", {"agency-a": {"key_id": A.key_id, "signed_at_utc": "yesterday",
                                      "sig": ""}}),
     'signatures.agency-a.signed_at_utc: "yesterday" is not a UTC time'),
    (lambda d: d["members"].pop(), "members: 1 member(s): a federation has at least 2"),
]


@pytest.mark.parametrize(("change", "expected"), BAD, ids=[e for _, e in BAD])
def test_each_refusal_names_the_field(change: Any, expected: str) -> None:
    doc = base_doc()
    change(doc)
    assert refusal(doc).startswith(expected)


@pytest.mark.parametrize(("text", "expected"), [
    (b'{"format": "provara-federation-contract", "format": "x"}', "duplicate key"),
    (b'{"revision": NaN}', "NaN"),
    (b'[1, 2]', "a contract is a JSON object, not a list"),
    (b'{"members": ', "malformed JSON"),
    (b"\xff", "not valid UTF-8"),
])
def test_text_that_is_no_json_object_is_refused_as_the_document(text: bytes,
                                                                expected: str) -> None:
    with pytest.raises(fc.ContractError) as info:
        fc.parse_contract(text)
    assert info.value.where == "document"
    assert expected in str(info.value)


def test_the_format_is_checked_before_the_fields() -> None:
    # A newer version's contract is named as such, not as a heap of unknown fields.
    doc = {**base_doc(), "format_version": 2, "jurisdiction": "EU"}
    assert refusal(doc).startswith("format_version: version 2")


# -- signatures ------------------------------------------------------------------------------

def test_signing_bytes_are_the_domain_and_the_canonical_body() -> None:
    c = signed_by_both()
    body = {k: v for k, v in c.to_json().items() if k != "signatures"}
    assert c.signing_bytes() == b"provara-federation-contract/v1\n" + canonical_bytes(body)
    assert c.digest() == hashlib.sha256(c.signing_bytes()).hexdigest()
    # Signing changes no byte of what is signed: every member signs the same text.
    assert c.digest() == parse(base_doc()).digest()


def test_in_force_only_once_every_member_signed() -> None:
    doc = base_doc()
    doc["members"].append(member("agency-c", C, [C1]))
    c = parse(doc)
    seen = []
    for mid, key in (("agency-b", B), ("agency-c", C), ("agency-a", A)):
        c = fc.sign_contract(c, mid, key, WHEN)
        v = fc.verify_signatures(c)
        seen.append((v.in_force, v.with_status("missing")))
    assert seen == [(False, ["agency-a", "agency-c"]), (False, ["agency-a"]), (True, [])]
    assert fc.verify_signatures(c).problems == ()
    # ...and it survives the file: written and read back, still in force.
    assert fc.verify_signatures(parse(c.to_json())).in_force


def test_a_signature_of_revision_1_does_not_validate_revision_2() -> None:
    rev1 = signed_by_both()
    doc2 = rev1.to_json()
    doc2["revision"] = 2
    rev2 = parse(doc2)
    v = fc.verify_signatures(rev2)
    assert not v.in_force
    assert [m.status for m in v.members] == ["bad", "bad"]
    assert rev2.digest() != rev1.digest()
    assert "changed after this member signed it" in str(v.problems[0])


TAMPER = {
    "title": lambda d: d.update(title="Joint investigation 118"),
    "title removed": lambda d: d.pop("title"),
    "contract_id": lambda d: d.update(contract_id="case-2026-118"),
    "vault_uid": lambda d: d.update(vault_uid="vault-uid-2"),
    "a member's name": lambda d: d["members"][0].update(name="Agency A (lead)"),
    "a key added to a member": lambda d: d["members"][1]["keys"].append(C1.key_id),
    "a key taken from a member": lambda d: d["members"][0]["keys"].pop(),
    "a namespace added": lambda d: d["flows"][0]["namespaces"].append("local"),
    "an actor widened": lambda d: d["flows"][0].update(actors=["*"]),
    "a flow removed": lambda d: d["flows"].pop(1),
    "flows reordered": lambda d: d["flows"].reverse(),
    "members reordered": lambda d: d["members"].reverse(),
    "a member's key swapped": lambda d: d["members"][1].update(
        key_id=C.key_id, public_key_b64=C.public.b64),
}


@pytest.mark.parametrize("tamper", list(TAMPER), ids=list(TAMPER))
def test_changing_any_field_after_signing_makes_the_signatures_bad(tamper: str) -> None:
    doc = signed_by_both().to_json()
    TAMPER[tamper](doc)
    v = fc.verify_signatures(parse(doc))
    assert not v.in_force
    assert {m.status for m in v.members} == {"bad"}


def test_signed_at_utc_is_the_signers_note_not_signed() -> None:
    # Documented: the one text every member signs leaves the signatures out, their times
    # included; the time that counts is that of the event recording the contract.
    doc = signed_by_both().to_json()
    doc["signatures"]["agency-a"]["signed_at_utc"] = "2020-01-01T00:00:00Z"
    assert fc.verify_signatures(parse(doc)).in_force


def test_bad_signature_entries_are_named_bad_with_the_reason() -> None:
    good = signed_by_both().to_json()
    other = SigningKey(bytes([99]) * 32)
    cases = {
        "signed with": {"key_id": B.key_id},  # B's key id under A's entry
        "not a base64 Ed25519 signature": {"sig": "!!!"},
        "does not verify": {"sig": b64encode(A.sign(b"another text"))},
        "does not verify ": {"sig": b64encode(other.sign(parse(good).signing_bytes()))},
    }
    for reason, fields in cases.items():
        doc = copy.deepcopy(good)
        doc["signatures"]["agency-a"].update(fields)
        v = fc.verify_signatures(parse(doc))
        assert (v.status("agency-a"), v.status("agency-b"), v.in_force) == \
            ("bad", "valid", False)
        assert reason.strip() in (v.members[0].reason or "")


def test_a_signature_of_no_member_is_a_problem_that_counts_for_nothing() -> None:
    doc = signed_by_both().to_json()
    doc["signatures"]["agency-z"] = {"key_id": OUTSIDER.key_id, "signed_at_utc": WHEN,
                                     "sig": b64encode(OUTSIDER.sign(b"x"))}
    v = fc.verify_signatures(parse(doc))
    assert v.in_force  # every member's is valid; the stray adds nothing and takes nothing
    assert [p.where for p in v.problems] == ["signatures.agency-z"]
    assert 'no member "agency-z"' in v.problems[0].message
    # Without the members' own, a stray signature does not put the contract in force.
    for mid in ("agency-a", "agency-b"):
        del doc["signatures"][mid]
    assert not fc.verify_signatures(parse(doc)).in_force


def test_only_a_members_own_key_signs_for_it() -> None:
    c = parse(base_doc())
    with pytest.raises(fc.ContractError) as info:
        fc.sign_contract(c, "agency-b", A, WHEN)
    assert str(info.value) == (f'members[1].key_id: {A.key_id} is not the key of member '
                               f'"agency-b" ({B.key_id})')
    with pytest.raises(fc.ContractError, match='no member "agency-z"'):
        fc.sign_contract(c, "agency-z", A, WHEN)
    # A person's key of the member is not its federation key either.
    with pytest.raises(fc.ContractError):
        fc.sign_contract(c, "agency-a", A1, WHEN)


def test_signing_again_replaces_only_that_members_signature() -> None:
    c = signed_by_both()
    again = fc.sign_contract(c, "agency-a", A, "2026-12-04T09:00:00Z")
    assert again.signature_of("agency-b") == c.signature_of("agency-b")
    assert again.signature_of("agency-a").signed_at_utc == "2026-12-04T09:00:00Z"  # type: ignore[union-attr]
    assert len(again.signatures) == 2
    assert fc.verify_signatures(again).in_force


def test_member_of_key() -> None:
    c = parse(base_doc())
    assert [fc.member_of_key(c, k.key_id) for k in (A, A1, A2, B, B1, OUTSIDER)] == \
        ["agency-a", "agency-a", "agency-a", "agency-b", "agency-b", None]


# -- what flows ------------------------------------------------------------------------------

def test_admits_listed_keys_members_and_anyone_in_the_listed_namespaces() -> None:
    c = parse(base_doc())
    a_to_b, b_to_a = c.direction("agency-a", "agency-b"), c.direction("agency-b", "agency-a")
    obs = "OBSERVATION"
    # member:agency-a in canonical: its federation key and every key it lists
    for k in (A, A1, A2):
        assert a_to_b.admits(obs, {k.key_id}, "canonical")
    # A1 alone is listed for local too; A2 and A are not
    assert a_to_b.admits(obs, [A1.key_id], "local")
    assert not a_to_b.admits(obs, [A2.key_id], "local")
    assert not a_to_b.admits(obs, [A.key_id], "local")
    # nothing of agency-b's nor of outsiders goes that way, nor any contested/archived
    assert not a_to_b.admits(obs, [B1.key_id], "canonical")
    assert not a_to_b.admits(obs, [OUTSIDER.key_id], "canonical")
    assert not a_to_b.admits(obs, [A1.key_id], "contested")
    assert not a_to_b.admits(obs, [], "canonical")
    # an identity whose keys include a listed one (a rotated key: the caller gives all)
    assert a_to_b.admits(obs, [OUTSIDER.key_id, A2.key_id], "canonical")
    # "*": anyone, listed or not, in every namespace listed
    for k in (A, B1, OUTSIDER):
        for ns in ("canonical", "local", "contested", "archived"):
            assert b_to_a.admits("ASSERTION", [k.key_id], ns)


def test_the_namespace_is_the_one_the_reducer_puts_the_event_in() -> None:
    c = parse(base_doc())
    rule = c.direction("agency-a", "agency-b")
    # The reducer trims and lowers the field and reads anything else (or nothing) as
    # local: the rule judges the event where it lands.
    assert rule.admits("OBSERVATION", [A2.key_id], " Canonical ")
    assert rule.admits("OBSERVATION", [A1.key_id], None)
    assert rule.admits("OBSERVATION", [A1.key_id], "no-such-namespace")
    assert not rule.admits("OBSERVATION", [A2.key_id], None)
    assert fc.normal_namespace("ARCHIVED") == "archived"


@pytest.mark.parametrize("etype", sorted(fc.STRUCTURAL_TYPES) + [
    "com.provara.desktop.federation_ack", "com.provara.desktop.federation_contract"])
def test_structural_events_flow_every_way_even_without_a_flow(etype: str) -> None:
    doc = base_doc()
    doc["flows"] = []
    c = parse(doc)
    for a, b in fc.directions(c):
        rule = c.direction(a, b)
        assert rule.admits(etype, [OUTSIDER.key_id], "contested")
        assert not rule.admits("OBSERVATION", [A.key_id], "canonical")
        assert not rule.admits("com.provara.desktop.hub_alert", [A.key_id], "local")
    assert {"GENESIS", "KEY_REVOCATION", "KEY_PROMOTION", "com.provara.desktop.key_authority",
            "com.provara.desktop.device"} <= fc.STRUCTURAL_TYPES


def test_one_key_id_given_bare_is_a_mistake_not_a_silent_refusal() -> None:
    rule = parse(base_doc()).direction("agency-a", "agency-b")
    with pytest.raises(TypeError):
        rule.admits("OBSERVATION", A.key_id, "canonical")


def test_directions_name_members_only() -> None:
    c = parse(base_doc())
    with pytest.raises(fc.ContractError, match='no member "agency-z"'):
        c.direction("agency-a", "agency-z")
    with pytest.raises(fc.ContractError):
        c.direction("agency-a", "agency-a")


def test_exclusions_in_words() -> None:
    c = parse(base_doc())
    assert c.direction("agency-a", "agency-b").describe_exclusions() == [
        f"events by {A.key_id} (agency-a) in namespaces local, contested, archived",
        f"events by {A1.key_id} (agency-a) in namespaces contested, archived",
        f"events by {A2.key_id} (agency-a) in namespaces local, contested, archived",
        "every event by member agency-b (2 keys)",
        "every event by an actor the contract does not list",
        fc.PREFIX_SENTENCE,
    ]
    assert c.direction("agency-b", "agency-a").describe_exclusions() == []
    doc = base_doc()
    doc["flows"] = doc["flows"][:1]
    rule = parse(doc).direction("agency-a", "agency-b")
    assert rule.describe_exclusions()[0] == \
        "events by member agency-a (3 keys) in namespaces local, contested, archived"
    none = parse(doc).direction("agency-b", "agency-a")
    assert none.describe_exclusions()[0].startswith("every event but the structural ones")
    assert none.exclusions_json()["excluded"] == [
        {"scope": "everything", "member": None, "key_ids": [],
         "namespaces": ["canonical", "local", "contested", "archived"]}]


# -- properties over generated contracts -----------------------------------------------------

_ACTOR_POOL = POOL[:12]


@st.composite
def contracts(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.permutations(_ACTOR_POOL))
    n = draw(st.integers(2, 4))
    cuts = sorted(draw(st.lists(st.integers(n, len(keys)), min_size=n, max_size=n)))
    members, start = [], n
    for i in range(n):
        own = keys[start:max(start, cuts[i])]
        start = max(start, cuts[i])
        extra = {"name": draw(st.text(max_size=5).filter(str.isprintable))} \
            if draw(st.booleans()) else {}
        members.append(member(f"m{i}", keys[i], list(own), **extra))
    ids = [m["member"] for m in members]
    listed = [k for m in members for k in [m["key_id"], *m["keys"]]]
    actor = st.sampled_from(["*", *(f"member:{i}" for i in ids), *listed])
    flows = []
    for _ in range(draw(st.integers(0, 6))):
        a, b = draw(st.permutations(ids))[:2]
        flows.append({"from": a, "to": b,
                      "actors": draw(st.lists(actor, min_size=1, max_size=3, unique=True)),
                      "namespaces": draw(st.lists(st.sampled_from(
                          ["canonical", "local", "contested", "archived"]),
                          min_size=1, max_size=4, unique=True))})
    doc = {"format": "provara-federation-contract", "format_version": 1,
           "contract_id": "c", "revision": draw(st.integers(1, 10)), "vault_uid": "v",
           "members": members, "flows": flows}
    if draw(st.booleans()):
        doc["title"] = draw(st.text(max_size=10).filter(str.isprintable))
    return doc


def _naive_admits(doc: dict[str, Any], a: str, b: str, key: str, ns: str) -> bool:
    """The format's words, read literally: some flow a->b lists the namespace and an actor
    that is "*", the key itself, or "member:<id>" of a member the key is one of."""
    owner = {k: m["member"] for m in doc["members"] for k in [m["key_id"], *m["keys"]]}
    for f in doc["flows"]:
        if (f["from"], f["to"]) != (a, b) or ns not in f["namespaces"]:
            continue
        if any(x == "*" or x == key or (key in owner and x == f"member:{owner[key]}")
               for x in f["actors"]):
            return True
    return False


@settings(max_examples=150, deadline=None)
@given(contracts())
def test_the_rule_is_the_format_read_literally_and_says_what_it_holds_back(
        doc: dict[str, Any]) -> None:
    c = parse(doc)
    assert c.to_json() == {**doc, "signatures": {}}  # nothing lost, nothing added
    outsider = OUTSIDER.key_id
    for a, b in fc.directions(c):
        rule = c.direction(a, b)
        excluded = rule.exclusions_json()["excluded"]
        for key in [*(k.key_id for k in _ACTOR_POOL), outsider]:
            for ns in ("canonical", "local", "contested", "archived"):
                allowed = rule.admits("OBSERVATION", [key], ns)
                assert allowed == _naive_admits(doc, a, b, key, ns)
                listed = c.member_of_key(key) is not None
                said = any(ns in e["namespaces"] and (
                    e["scope"] == "everything" or key in e["key_ids"]
                    or (e["scope"] == "unlisted" and not listed)) for e in excluded)
                assert said == (not allowed), (a, b, key, ns, excluded)
        assert bool(rule.describe_exclusions()) == bool(excluded)


@settings(max_examples=60, deadline=None)
@given(contracts(), st.data())
def test_a_signature_holds_for_its_text_only(doc: dict[str, Any], data: st.DataObject) -> None:
    c = parse(doc)
    ids = c.member_ids()
    signers = data.draw(st.lists(st.sampled_from(ids), unique=True))
    for mid in signers:
        c = fc.sign_contract(c, mid, next(k for k in _ACTOR_POOL
                                         if k.key_id == c.member(mid).key_id), WHEN)
    back = parse(c.to_json())
    v = fc.verify_signatures(back)
    assert v.with_status("valid") == [m for m in ids if m in signers]
    assert v.in_force == (set(signers) == set(ids))
    bumped = back.to_json()
    bumped["revision"] += 1
    assert fc.verify_signatures(parse(bumped)).with_status("valid") == []
