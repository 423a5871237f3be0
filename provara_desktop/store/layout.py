"""The vault directory in the reference layout (PROTOCOL.md B §1) and the documents that
``init`` writes. Paths are relative POSIX strings, as the manifest lists them."""

from __future__ import annotations

import json
from typing import Any

EVENTS = "events/events.ndjson"
GENESIS = "identity/genesis.json"
KEYS = "identity/keys.json"
PRIVATE_KEYS = "identity/private_keys.json"  # the reference's; we never write one in a vault
SAFETY_POLICY = "policies/safety_policy.json"
RETENTION_POLICY = "policies/retention_policy.json"
SYNC_CONTRACT = "policies/sync_contract.json"
ONTOLOGY = "policies/ontology/perception_ontology_v1.json"
MANIFEST = "manifest.json"
MERKLE_ROOT = "merkle_root.txt"
MANIFEST_SIG = "manifest.sig"
CAS_DIR = "artifacts/cas"
# Our transaction directory: exists only while an operation is in flight (or after a crash,
# until the next open recovers it).
TXN_DIR = ".provara-txn"

REQUIRED_DIRS = ("identity", "events", "policies", "state", "artifacts", CAS_DIR)
REQUIRED_FILES = (GENESIS, KEYS, EVENTS, SAFETY_POLICY, RETENTION_POLICY, SYNC_CONTRACT, MANIFEST)
# Never in the manifest (the reference excludes exactly these).
MANIFEST_EXCLUDED = frozenset({MANIFEST, MANIFEST_SIG, MERKLE_ROOT, PRIVATE_KEYS})

SPEC_VERSION = "1.0"
MANIFEST_VERSION = "manifest.v0"


def pretty_json(doc: Any) -> bytes:
    """The reference's format for identity and policy files: indent 2, insertion order,
    trailing newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def genesis_doc(uid: str, birth_timestamp: str, root_key_id: str) -> dict[str, Any]:
    return {
        "uid": uid,
        "birth_timestamp": birth_timestamp,
        "root_key_id": root_key_id,
        "governance_model": SYNC_CONTRACT,
        "initial_ontology_versions": {"perception": "perception_ontology_v1.json"},
    }


def key_entry(key_id: str, public_key_b64: str, created_at: str,
              roles: list[str] | None = None) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "algorithm": "Ed25519",
        "public_key_b64": public_key_b64,
        "roles": roles or ["root", "attestation"],
        "scopes": ["all"],
        "status": "active",
        "created_at_utc": created_at,
    }


def safety_policy() -> dict[str, Any]:
    # Action tiers L0..L3 as the protocol defines them; nothing enforces them yet.
    return {
        "action_classes": {
            "L0": {"description": "data-only/reversible", "offline_allowed": True,
                   "approval": "local_reducer"},
            "L1": {"description": "low-kinetic", "offline_allowed": True,
                   "approval": "local_reducer+policy", "review_on_sync": True},
            "L2": {"description": "high-kinetic", "offline_allowed": "within_lease",
                   "approval": "multi_sensor+signed_policy"},
            "L3": {"description": "irreversible/human-space", "offline_allowed": False,
                   "approval": "remote_signature_or_mfa"},
        },
        "merge_ratchet": "most_restrictive_wins",
        "loosen_requires": "signed_policy_update_by_top_authority",
    }


def retention_policy() -> dict[str, Any]:
    return {
        "events": "permanent",
        "checkpoints": "permanent",
        "perception_t0_raw": {"max_age_days": 30, "eviction": "oldest_first"},
        "artifacts_cas": {"referenced_by_event": "permanent",
                          "unreferenced": {"max_age_days": 90}},
        "state_caches": "regeneratable_on_eviction",
    }


def sync_contract(root_key_id: str) -> dict[str, Any]:
    return {
        "authorities": [{"role": "root", "key_id": root_key_id, "scope": "all"}],
        "merge_policies": {"events": "union_by_event_id",
                           "beliefs": "evidence_union_then_reduce",
                           "policies": "authority_signed_update"},
        "lease_model": {"default_duration_seconds": 300, "fencing": True},
        "replication_factor": 2,
        "degradation_ladder": ["designated_human", "quorum_peers", "archive_peer",
                               "local_emergency"],
    }


def ontology() -> dict[str, Any]:
    return {"version": "v1", "object_classes": ["door", "mug", "person", "container",
                                                "surface", "tool", "obstacle"]}
