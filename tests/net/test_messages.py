"""Each message to JSON and back, and the strict parse: a hostile field is a PeerRejected
naming the message and the field (never a KeyError or TypeError); unknown fields are
ignored, so a later revision can add some."""

from __future__ import annotations

from typing import Any

import pytest

from provara_desktop.core.errors import PeerRejected
from provara_desktop.net import messages as m

E1, E2 = "evt_" + "1" * 24, "evt_" + "2" * 24
SHA = "a" * 64

EXAMPLES: list[m.Message] = [
    m.Hello((1,), "uid-1", "hub", ("attachments",), 8 << 20, 500),
    m.Frontier({"alice": m.ActorHeads(3, (E1,)), "bob": m.ActorHeads(5, (E1, E2))}),
    m.Lacking({"alice": m.Lack((E2,), (E1,))}),
    m.Events(1, 2, 600, ({"key_id": "bp1_x"},), (E1,), (E2,), (m.AttachmentRef(SHA, 9),),
             ("b" * 64,)),
    m.Attachment(SHA, 10),
    m.Ack(1, 2, 0, 0, 1),
    m.Done(2, 1),
    m.Error("BATCH_REFUSED", "bad signature"),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda x: type(x).__name__)
def test_round_trip(msg: m.Message) -> None:
    assert m.parse(msg.to_json()) == msg
    assert m.parse({**msg.to_json(), "added_in_a_later_revision": [1]}) == msg


@pytest.mark.parametrize(("doc", "words"), [
    ({"type": "nope"}, "unknown message type 'nope'"),
    ({"versions": [1]}, "unknown message type 'None'"),
    ({**EXAMPLES[0].to_json(), "protocol": "http"}, "not the provara-sync protocol"),
    ({**EXAMPLES[0].to_json(), "versions": []}, "versions must list"),
    ({**EXAMPLES[0].to_json(), "versions": ["1"]}, "versions must list"),
    ({**EXAMPLES[0].to_json(), "role": "king"}, "role must be one of"),
    ({**EXAMPLES[0].to_json(), "vault_uid": 5}, "vault_uid must be a text"),
    ({**EXAMPLES[0].to_json(), "max_frame": -1}, "max_frame must be an integer"),
    ({"type": "frontier", "actors": []}, "actors must be an object"),
    ({"type": "frontier", "actors": {"a": {"count": 1, "heads": ["x"]}}}, "event ids"),
    ({"type": "frontier", "actors": {"a": {"count": 0, "heads": [E1]}}}, "count them all"),
    ({"type": "frontier", "actors": {"a": {"count": True, "heads": [E1]}}}, "count must be"),
    ({"type": "frontier", "actors": {"a": 3}}, "must be an object"),
    ({"type": "lacking", "actors": {"a": {"lacking": [E1] * 300}}}, "at most 256"),
    ({**EXAMPLES[3].to_json(), "count": 0}, "count must be an integer from 1"),
    ({**EXAMPLES[3].to_json(), "keys": ["k"]}, "keys must be a list of keys.json"),
    ({**EXAMPLES[3].to_json(), "attachments": [{"sha256": "A" * 64}]}, "sha256, size"),
    ({**EXAMPLES[3].to_json(), "missing_attachments": [1]}, "sha256 digests"),
    ({"type": "ack", "batch": 1, "accepted": -1, "held_back": 0, "already_present": 0,
      "forks": 0}, "accepted must be"),
    ({"type": "error", "code": "lower", "reason": "x"}, "upper-case error code"),
    ({"type": "error", "code": "X", "reason": ""}, "reason must be a text"),
])
def test_hostile_fields_are_refused_by_name(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(PeerRejected) as info:
        m.parse(doc)
    assert words in str(info.value)
    assert info.value.code in ("BAD_MESSAGE", "VERSION")


# -- the hub messages (capabilities receipts and witness) ---------------------------------

HUB_EXAMPLES: list[m.Message] = [
    m.Audit(7, ((E1, 3),), (5,)),
    m.Checkpoint("note\n", (b"\x01" * 32,), (), ((5, (b"\x02" * 32,)),)),
    m.Witness(()),
]


@pytest.mark.parametrize("msg", HUB_EXAMPLES, ids=lambda x: type(x).__name__)
def test_hub_messages_round_trip(msg: m.Message) -> None:
    assert m.parse(msg.to_json()) == msg


@pytest.mark.parametrize(("doc", "words"), [
    ({"type": "audit", "known_size": -1}, "known_size must be an integer"),
    ({"type": "audit", "known_size": 1, "prove": [[E1]]}, "[event_id, leaf index]"),
    ({"type": "audit", "known_size": 1, "prove": [["evt_x", 1]]}, "[event_id, leaf index]"),
    ({"type": "audit", "known_size": 1, "prove": [[E1, 1]] * 513}, "at most 512"),
    ({"type": "audit", "known_size": 1, "also": ["5"]}, "tree sizes"),
    ({"type": "checkpoint"}, "note must be a signed note"),
    ({"type": "checkpoint", "note": "x" * 70_000}, "note must be a signed note"),
    ({"type": "checkpoint", "note": "n", "consistency": ["zz"]}, "sha256 hex digests"),
    ({"type": "checkpoint", "note": "n", "consistency": [SHA] * 65}, "at most 64"),
    ({"type": "checkpoint", "note": "n", "inclusion": [3]}, "inclusion[0] must be an object"),
    ({"type": "checkpoint", "note": "n", "also": [[1]]}, "also[0] must be [tree size"),
    ({"type": "witness", "notes": [{"note": "n"}]}, "hub_public_key_b64 must be a key"),
    ({"type": "witness", "notes": [{"hub_public_key_b64": "k", "note": "n"}] * 17},
     "at most 16 notes"),
    ({"type": "witness", "notes": [{"hub_public_key_b64": "k", "note": "n",
                                    "witness_public_key_b64": 7}]},
     "witness_public_key_b64 must be a key"),
    ({"type": "witness", "notes": [{"hub_public_key_b64": "k", "note": "n",
                                    "witness_public_key_b64": "x" * 65}]},
     "witness_public_key_b64 must be a key"),
])
def test_hostile_hub_fields_are_refused_by_name(doc: dict[str, Any], words: str) -> None:
    with pytest.raises(PeerRejected) as info:
        m.parse(doc)
    assert words in str(info.value)
    assert info.value.code == "BAD_MESSAGE"


def test_a_hostile_receipt_is_refused_by_name() -> None:
    from provara_desktop.net.hub_messages import Receipt

    for doc, words in (({"accepted": []}, "note must be"),
                       ({"note": "n", "accepted": [[E1, -1]]}, "[event_id, leaf index]"),
                       ({"note": "n", "accepted": "all"}, "[event_id, index] pairs")):
        with pytest.raises(PeerRejected, match=words.replace("[", r"\[").replace("]", r"\]")):
            Receipt.from_json(doc)
