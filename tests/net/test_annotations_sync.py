"""Annotations survive a sync over TLS on loopback with their signers, and a withdrawal
made on one replica is in force on the other."""

from __future__ import annotations

from typing import Any

from provara_desktop.store.annotations import annotate, folded
from provara_desktop.store.evidence import observe
from tests.net.test_hub_spoke import _trust_all
from tests.net.test_mesh_partition import _sync


def test_annotations_travel_by_sync(make_replica: Any) -> None:
    a, b = make_replica("alice"), make_replica("bob")
    _trust_all(a, b)
    with a.open() as v:
        seen = observe(v, a.key, a.name, subject="door", predicate="state",
                       value="open").events[-1]["event_id"]
        tag = annotate(v, a.key, a.name, event_id=seen, tag="photo").events[-1]
        annotate(v, a.key, a.name, belief="door:state", mark="follow-up")
    _sync(b, a)
    with b.open() as v:
        mark = annotate(v, b.key, b.name, belief="door:state", mark="reviewed").events[-1]
    _sync(a, b)
    with a.open() as v:
        annotate(v, a.key, a.name, event_id=seen, withdraw=str(tag["event_id"]))
    _sync(b, a)
    with b.open() as v:
        got = folded(v)
    assert [(x.kind, x.signer) for x in got.all] == [
        ("tag", a.key.key_id), ("mark", a.key.key_id), ("mark", b.key.key_id),
        ("withdraw", a.key.key_id)]
    assert got.mark_of("door:state").event_id == mark["event_id"]
    assert got.all[0].withdrawn_by is not None  # alice's withdrawal counts on bob's copy
