"""A hub's signed notes: what it signs reads back with its key; a changed byte, another key,
a note of another shape each fail with a reason; a receipt binds its list."""

from __future__ import annotations

import base64

import pytest

from provara_desktop.core import hub_notes
from provara_desktop.core.keys import SigningKey

KEY = SigningKey(bytes(range(32)))
ROOT = bytes(range(100, 132))


def _note(**extra: object) -> str:
    return hub_notes.sign(KEY, vault_uid="uid-1", size=42, root=ROOT,
                          time="2026-12-03T07:00:00Z",
                          frontier={"actors": {"a": {"count": 2, "heads": []}}}, **extra)  # type: ignore[arg-type]


def test_a_note_reads_back_with_the_hubs_key() -> None:
    note = hub_notes.read(_note(), KEY.public)
    assert (note.vault_uid, note.size, note.root) == ("uid-1", 42, ROOT)
    assert note.frontier_digest == hub_notes.digest({"actors": {"a": {"count": 2,
                                                                       "heads": []}}})
    assert note.time == "2026-12-03T07:00:00Z"
    assert note.receipt_digest is None
    lines = _note().split("\n")
    assert lines[0] == "provara-hub/uid-1"
    assert lines[2] == base64.b64encode(ROOT).decode()
    assert lines[-2].startswith("\u2014 provara-hub ")


def test_a_receipt_signs_its_list() -> None:
    accepted = [("evt_" + "0" * 24, 3), ("evt_" + "1" * 24, 4)]
    note = hub_notes.read(_note(accepted=accepted), KEY.public)
    assert note.receipt_digest == hub_notes.receipt_digest(accepted)
    assert note.receipt_digest != hub_notes.receipt_digest(accepted[:1])


@pytest.mark.parametrize(("change", "reason"), [
    (lambda t: t.replace("\n42\n", "\n43\n"), "does not verify"),
    (lambda t: t.replace("provara-hub/uid-1", "provara-hub/uid-2"), "does not verify"),
    (lambda t: t.replace("\n\n", "\n"), "blank line"),
    (lambda t: t.replace("\n42\n", "\n042\n"), "decimal"),
    (lambda t: t.replace("provara-hub/uid-1", "someone-else"), "not a provara hub"),
    (lambda t: t.rstrip("\n"), "newline"),
    (lambda t: t + "x" * 70_000, "over"),
])
def test_a_changed_or_malformed_note_is_refused(change: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        hub_notes.read(change(_note()), KEY.public)  # type: ignore[operator]


def test_another_keys_note_is_not_the_hubs() -> None:
    with pytest.raises(ValueError, match="not signed by the hub"):
        hub_notes.read(_note(), SigningKey(bytes(32)).public)
