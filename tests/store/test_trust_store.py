"""The profile's trust store (store/trust.py): sources of trust, the v1 file, vouching, and
two programs writing one profile at once (store/profile_files.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from provara_desktop.core.errors import InputError
from provara_desktop.core.keys import SigningKey
from provara_desktop.store.trust import TrustSource, TrustStore

ROOT = Path(__file__).resolve().parents[2]


def _key(seed: int) -> SigningKey:
    return SigningKey(bytes([seed]) * 32)


def test_a_version_1_file_reads_as_added_by_hand_and_is_rewritten_as_version_2(
        tmp_path: Path) -> None:
    old = _key(1)
    (tmp_path / "trust.json").write_text(json.dumps({
        "format": "provara-desktop-trust", "version": 1,
        "keys": [{"key_id": old.key_id, "public_key_b64": old.public.b64, "name": "Old",
                  "added_at_utc": "2026-01-02T03:04:05+00:00"}]}))
    store = TrustStore(tmp_path)
    (entry,) = store.load().values()
    assert entry.source.kind == "manual"
    assert entry.describe() == "added by hand on 2026-01-02"
    assert store.trusted_ids() == {old.key_id}

    new = _key(2)
    store.add(new.key_id, new.public.b64, "New")
    doc = json.loads((tmp_path / "trust.json").read_text())
    assert doc["version"] == 2
    kept = next(k for k in doc["keys"] if k["key_id"] == old.key_id)
    assert kept["sources"] == [{"kind": "manual", "at_utc": "2026-01-02T03:04:05+00:00"}]
    assert kept["name"] == "Old"
    assert set(store.load()) == {old.key_id, new.key_id}


def test_every_decision_is_kept_newest_last(tmp_path: Path) -> None:
    k = _key(3)
    store = TrustStore(tmp_path)
    store.add(k.key_id, k.public.b64, "Kim",
              TrustSource.imported(bundle="k.provara-bundle", vault="/v",
                                   manifest_sha256="ab" * 32))
    store.add(k.key_id, k.public.b64)
    entry = store.load()[k.key_id]
    assert [s.kind for s in entry.sources] == ["import", "manual"]
    assert entry.name == "Kim"  # a later decision without a name keeps the name
    assert entry.to_json()["source"]["kind"] == "manual"
    assert entry.sources[0].describe().startswith(
        "accepted at the import of k.provara-bundle (sha256 abababab")


def test_vouching_counts_only_while_the_voucher_is_trusted(tmp_path: Path) -> None:
    bob, carol = _key(4), _key(5)
    store = TrustStore(tmp_path)
    store.add(bob.key_id, bob.public.b64, "Bob")
    store.add(carol.key_id, carol.public.b64, "Carol",
              TrustSource.vouched(by_key_id=bob.key_id, by_name="Bob"))
    assert store.trusted_ids() == {bob.key_id, carol.key_id}
    assert store.load()[carol.key_id].describe().startswith(
        f"vouched for by Bob ({bob.key_id}) on ")
    store.remove(bob.key_id)
    assert store.trusted_ids() == set()
    assert carol.key_id in store.load()  # still listed, shown as not in force


def test_per_peer_policy_and_roles_survive_a_rewrite(tmp_path: Path) -> None:
    k, other = _key(6), _key(7)
    (tmp_path / "trust.json").write_text(json.dumps({
        "format": "provara-desktop-trust", "version": 2,
        "keys": [{"key_id": k.key_id, "public_key_b64": k.public.b64, "name": "Hub",
                  "added_at_utc": "2026-01-01T00:00:00+00:00",
                  "sources": [{"kind": "paired", "at_utc": "2026-01-01T00:00:00+00:00",
                               "method": "spake2", "fingerprints": {"mine": "A", "theirs": "B"}}],
                  "policy": {"direction": "receive", "actors": ["a"], "namespaces": []},
                  "roles": ["hub"]}]}))
    store = TrustStore(tmp_path)
    store.add(other.key_id, other.public.b64)
    entry = store.load()[k.key_id]
    assert entry.policy["direction"] == "receive"
    assert entry.roles == ("hub",)
    assert entry.describe() == "paired (spake2) on 2026-01-01"


def test_a_policy_is_set_and_checked(tmp_path: Path) -> None:
    k = _key(9)
    store = TrustStore(tmp_path)
    store.add(k.key_id, k.public.b64, "Peer")
    store.set_policy(k.key_id, {"direction": "send", "namespaces": ["canonical"]},
                     roles=["spoke"])
    entry = store.load()[k.key_id]
    assert entry.policy == {"direction": "send", "namespaces": ["canonical"]}
    assert entry.roles == ("spoke",)
    assert [s.kind for s in entry.sources] == ["manual"]  # a policy is no trust decision
    with pytest.raises(InputError, match="direction"):
        store.set_policy(k.key_id, {"direction": "sideways"})
    assert store.load()[k.key_id].policy["direction"] == "send"


def test_a_bad_policy_is_refused_naming_the_file(tmp_path: Path) -> None:
    k = _key(8)
    (tmp_path / "trust.json").write_text(json.dumps({
        "format": "provara-desktop-trust", "version": 2,
        "keys": [{"key_id": k.key_id, "public_key_b64": k.public.b64,
                  "sources": [{"kind": "manual", "at_utc": "x"}],
                  "policy": {"direction": "sideways"}}]}))
    with pytest.raises(InputError, match="trust.json"):
        TrustStore(tmp_path).load()


_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.trust import TrustStore
    home, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    store = TrustStore(home)
    for i in range(first, first + count):
        key = SigningKey(i.to_bytes(32, "big"))
        store.add(key.key_id, key.public.b64, f"k{i}")
""")


def test_two_processes_adding_keys_at_once_lose_nothing(tmp_path: Path) -> None:
    """The app and a headless peer share one profile: each read-modify-write of trust.json
    is made under the profile lock, through a unique temporary file."""
    n = 40
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), str(first),
                               str(n)], cwd=ROOT, stderr=subprocess.PIPE)
             for first in (1000, 2000)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    names = {k.name for k in TrustStore(tmp_path).load().values()}
    assert names == {f"k{i}" for i in (*range(1000, 1000 + n), *range(2000, 2000 + n))}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["profile.lock", "trust.json"]
