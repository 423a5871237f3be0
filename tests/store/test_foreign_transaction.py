"""The vault's transaction for foreign events (Vault.writing / log_tail / replace_tail), as
the intake's commit uses it: only under the lock, only protocol fields into keys.json, and
nothing written when it is cancelled."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest

from provara_desktop.core.errors import UserCancelled
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.intake.commit import commit_events
from provara_desktop.store import layout
from provara_desktop.store.vault import OpResult, Vault
from provara_desktop.store.verify_vault import verify_vault

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ME, THEM = SigningKey(b"\x21" * 32), SigningKey(b"\x22" * 32)
THEIR_ACTOR = "them-" + THEM.key_id[4:12]


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def vault(tmp_path: Path, home: Path) -> Iterator[Vault]:
    with Vault.init(tmp_path / "vault", key=ME, actor="me-" + ME.key_id[4:12],
                    home=home) as v:
        yield v


def _foreign() -> list[dict[str, Any]]:
    first = build_event(event_type="OBSERVATION", actor=THEIR_ACTOR, key=THEM,
                        prev_event_hash=None,
                        payload={"subject": "door", "predicate": "state", "value": "open"})
    return [first]


def _entry(**extra: Any) -> dict[str, Any]:
    return {"key_id": THEM.key_id, "algorithm": "Ed25519", "public_key_b64": THEM.public.b64,
            "roles": ["attestation"], "scopes": ["all"], "status": "active", **extra}


def test_replace_tail_outside_writing_is_refused(vault: Vault) -> None:
    before = _digest(vault.root)
    offset, tail = vault.log_tail(vault.index.count())
    with pytest.raises(RuntimeError, match="writing"):
        vault.replace_tail(OpResult(), start=vault.index.count(), tail=b"{}\n",
                           old_tail=tail, signer=ME)
    assert _digest(vault.root) == before


def test_only_protocol_fields_of_a_foreign_key_reach_keys_json(vault: Vault) -> None:
    result = commit_events(vault, _foreign(), signer=ME,
                           key_entries=[_entry(planted="anything", note={"x": 1})])
    assert len(result.events) == 1
    doc = json.loads((vault.root / layout.KEYS).read_text())
    (theirs,) = [k for k in doc["keys"] if k["key_id"] == THEM.key_id]
    assert theirs == _entry()
    assert verify_vault(vault).ok


def test_a_cancel_before_the_commit_point_writes_nothing(vault: Vault) -> None:
    before = _digest(vault.root)
    count = vault.index.count()
    with pytest.raises(UserCancelled):
        commit_events(vault, _foreign(), signer=ME, key_entries=[_entry()],
                      cancelled=lambda: True)
    assert _digest(vault.root) == before
    assert vault.index.count() == count
    # The same Vault object commits cleanly afterwards.
    assert len(commit_events(vault, _foreign(), signer=ME, key_entries=[_entry()]).events) == 1
    assert vault.index.count() == count + 1
