"""Every vector and every expected reference hash in tests/fixtures (written by
scripts/gen_fixtures with the reference), reproduced by our core."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provara_desktop.core.canonical import canonical_bytes, canonical_hash
from provara_desktop.core.event import event_id_rule_a
from provara_desktop.core.keys import PublicKey, SigningKey, key_id_for
from provara_desktop.core.reducer import Reducer, reduce_events
from provara_desktop.store.manifest import merkle_root
from tests.conftest import FIXTURES, fixture_json

VECTORS = {v["id"]: v for v in fixture_json("vectors/vectors.json")["vectors"]}
CANONICAL = fixture_json("vectors/canonical_conformance.json")
EXPECTED = fixture_json("expected.json")["vaults"]


def test_canonical_json_vector() -> None:
    v = VECTORS["canonical_json_01"]
    assert canonical_bytes(v["input"]).hex() == v["expected"]


def test_sha256_vector() -> None:
    v = VECTORS["sha256_hash_01"]
    import hashlib

    assert hashlib.sha256(v["input"].encode()).hexdigest() == v["expected"]


def test_event_id_vector() -> None:
    v = VECTORS["event_id_derivation_01"]
    assert event_id_rule_a(v["input"]) == v["expected"]


@pytest.mark.parametrize("name", ["key_id_derivation_01", "key_id_derivation_02"])
def test_key_id_vector(name: str) -> None:
    v = VECTORS[name]
    assert key_id_for(bytes.fromhex(v["input"])) == v["expected"]


def test_signature_vector_verifies_and_rejects_tampering() -> None:
    v = VECTORS["ed25519_sign_verify_01"]
    pk = PublicKey.from_b64(v["input"]["public_key_b64"])
    assert pk.key_id == v["input"]["key_id"]
    # The vector signs the message as an event: actor_key_id is added before signing.
    msg = canonical_bytes({**v["input"]["message"], "actor_key_id": v["input"]["key_id"]})
    import base64

    sig = base64.b64decode(v["expected"])
    assert pk.verify(msg, sig)
    assert not pk.verify(msg.replace(b"sign me", b"sign me!"), sig)


def test_signature_from_a_fixed_seed_is_the_references() -> None:
    """Ed25519 is deterministic: our key from the vector's seed signs the event bytes exactly
    as the reference's sign_event did, and the key id is the reference's."""
    import base64

    v = VECTORS["ed25519_sign_02"]
    key = SigningKey(base64.b64decode(v["input"]["private_key_b64"]))
    assert key.key_id == v["input"]["key_id"]
    assert key.public == PublicKey.from_b64(v["input"]["public_key_b64"])
    msg = canonical_bytes({**v["input"]["message"], "actor_key_id": key.key_id})
    assert base64.b64encode(key.sign(msg)).decode() == v["expected"]


def test_merkle_vector_uses_entries_verbatim() -> None:
    v = VECTORS["merkle_root_01"]
    assert merkle_root(v["input"]) == v["expected"]


def test_reducer_vector() -> None:
    v = VECTORS["reducer_determinism_01"]
    r = reduce_events(v["input"])
    assert r.state_hash() == v["expected"]
    assert r.canonical["door:state"]["attested_by"] == "admin_key"


def test_empty_state_hash() -> None:
    assert Reducer().state_hash() == (
        "6d2d920098d4f30c2a0aa1065e05d75e5a02d4fcd78a5cf5b04e47ad07449823")


@pytest.mark.parametrize("vector", CANONICAL["vectors"], ids=lambda v: v["id"])
def test_canonical_conformance(vector: dict) -> None:
    assert canonical_bytes(vector["input"]).hex() == vector["expected_hex"]


@pytest.mark.parametrize(("value", "expected"), [
    (1.0, b"1.0"), (1e-7, b"1e-07"), (1.2345678901234568e20, b"1.2345678901234568e+20"),
    (-0.0, b"-0.0"), (2**64, b"18446744073709551616"), (True, b"true"),
    ({"\U0001F600": 1, "\uff61": 2}, '{"\uff61":2,"\U0001F600":1}'.encode()),
])
def test_canonical_matches_python_json_not_jcs(value: object, expected: bytes) -> None:
    assert canonical_bytes(value) == expected


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_reference_state_hash(name: str) -> None:
    lines = (FIXTURES / name / "events" / "events.ndjson").read_text().splitlines()
    events = [json.loads(x) for x in lines if x.strip()]
    r = reduce_events(events)
    exp = EXPECTED[name]
    assert r.state_hash() == exp["state_hash"]
    assert r.event_count == exp["event_count"]
    assert sorted(r.canonical) == exp["canonical_keys"]
    assert sorted(r.local) == exp["local_keys"]
    assert r.contested_keys == exp["contested_keys"]
    assert canonical_hash(r.export_state()["canonical"]) == canonical_hash(
        {k: r.canonical[k] for k in sorted(r.canonical)})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_merkle_root(name: str) -> None:
    manifest = json.loads((FIXTURES / name / "manifest.json").read_text())
    assert merkle_root(manifest["files"]) == EXPECTED[name]["merkle_root_txt"]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children,
                                                                      max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES)
def test_canonical_is_exactly_the_reference_call(value: object) -> None:
    """Our fast path must produce the very bytes of the reference's json.dumps call."""
    import json as _json

    expected = _json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           allow_nan=False).encode("utf-8")
    assert canonical_bytes(value) == expected
