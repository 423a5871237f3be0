"""Another program rewrites the log's tail from an early position while the app shows the
vault: every row the timeline and the beliefs table show afterwards is what a fresh read of
the vault gives (no stale cached row before the announced position), also when the rewrite
keeps the log's length."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from provara_desktop.core.keys import SigningKey
from provara_desktop.core.reducer import Reducer
from provara_desktop.runtime.bus import VaultChanged
from provara_desktop.session import VaultSession, belief_rows
from provara_desktop.store.vault import Vault
from provara_desktop.ui.models.beliefs_model import BeliefsModel
from provara_desktop.ui.models.timeline_model import Column
from tests.bench.gen_vault import generate
from tests.conftest import REPO

if TYPE_CHECKING:
    from pathlib import Path

N_EVENTS = 1500
EARLY = 40  # the backdated event sorts here, long before the log's end

# Run in another process: a new witness signs an observation dated just before the event at
# position EARLY and appends it with the store API, so the vault merges it into the total
# order and rewrites the log from there. "same-length" then also drops the newest line, as
# a program restoring another replica's log might: the log ends up as long as it was.
_REWRITER = r"""
import hashlib, sys
from pathlib import Path
from provara_desktop.core.event import build_event
from provara_desktop.core.keys import SigningKey
from provara_desktop.store import layout
from provara_desktop.store.vault import Vault

root, home, early, mode = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
key = SigningKey(hashlib.sha256(b"late witness").digest())
with Vault.open(root, home=home) as vault:
    before = vault.index.row_at(early - 1).timestamp_utc
    at = vault.index.row_at(early).timestamp_utc
    assert before < at, (before, at)
    ev = build_event(event_type="OBSERVATION", actor="late-witness",
                     payload={"subject": "EX-LATE", "predicate": "location",
                              "value": "found in the archive", "confidence": 0.5},
                     prev_event_hash=None, key=key, timestamp_utc=before + "1",
                     namespace="local")
    result = vault.append([ev], signer=key)
    assert result.reordered_from == early, result.reordered_from
if mode == "same-length":
    # Not something a Provara tool does (the log is append-only): the newest line is cut
    # off by hand, so the log is as long as before the merge, and ends in another event.
    path = root / layout.EVENTS
    data = path.read_bytes()
    path.write_bytes(data[:data.rstrip(b"\n").rfind(b"\n") + 1])
print(ev["event_id"])
"""


def _rewrite_elsewhere(root: Path, home: Path, mode: str) -> str:
    out = subprocess.run([sys.executable, "-c", _REWRITER, str(root), str(home), str(EARLY),
                          mode], cwd=REPO, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _fresh_read(root: Path, home: Path) -> tuple[list[str], Reducer]:
    """The vault as someone opening it now sees it: event ids by position, and beliefs."""
    with Vault.open(root, home=home) as vault:
        ids = [r.event_id for r in vault.index.query()]
        reducer = Reducer()
        for event in vault.events():
            reducer.apply(event)
    return ids, reducer


def _cells(model: BeliefsModel) -> list[list[str]]:
    return [[str(model.index(r, c).data()) for c in range(model.columnCount())]
            for r in range(model.rowCount())]


@pytest.mark.parametrize(("mode", "shared_profile", "noticed_by"),
                         [("insert", True, "poll"), ("insert", False, "poll"),
                          ("same-length", False, "poll"), ("insert", True, "own write")])
def test_rewrite_by_another_program_refreshes_every_row(
        qtbot, make_window, tmp_path: Path, home: Path, mode: str,
        shared_profile: bool, noticed_by: str) -> None:
    """``noticed_by``: the app's poll finds the rewrite, or the investigator writes an
    event first (the write catches up with the log under the vault lock)."""
    gv = generate(tmp_path / "vault", N_EVENTS, home=home, workers=0)
    session = VaultSession(Vault.open(gv.path, home=home))
    session.start().result(timeout=60)
    window = make_window(session)
    timeline = window.views["Timeline"]
    window.tabs.setCurrentWidget(timeline)
    model = timeline.model
    qtbot.waitUntil(lambda: model.rowCount() == N_EVENTS, timeout=10000)
    old_ids = [model.index(r, Column.EVENT_ID).data() for r in range(N_EVENTS)]  # all cached
    beliefs_view = window.views["Beliefs"]
    window.tabs.setCurrentWidget(beliefs_view)
    qtbot.waitUntil(lambda: len(beliefs_view.model.all_rows) > 0, timeout=10000)
    window.tabs.setCurrentWidget(timeline)

    announced: list[int | None] = []

    def listen(event: object) -> None:
        if isinstance(event, VaultChanged) and event.changes.events:
            announced.append(event.changes.first_new_pos)

    session.bus.subscribe(listen)  # held weakly: ``listen`` lives as long as the test
    other_home = home if shared_profile else tmp_path / "other-home"
    new_id = _rewrite_elsewhere(gv.path, other_home, mode)
    if noticed_by == "poll":
        assert session.check_external().result(timeout=60)
    else:
        key = SigningKey(hashlib.sha256(b"the app's user").digest())
        session.unlock(key, "app-user")
        session.observe(subject="EX-NEW", predicate="seal", value="intact").result(timeout=60)

    fresh_ids, fresh_beliefs = _fresh_read(gv.path, tmp_path / "fresh-home")
    assert fresh_ids[EARLY] == new_id
    assert len(fresh_ids) == N_EVENTS + {"insert": 1, "same-length": 0}[mode] + (
        noticed_by == "own write")
    began = next(p for p, (a, b) in enumerate(zip(old_ids, fresh_ids, strict=False)) if a != b)
    assert began == EARLY

    qtbot.waitUntil(lambda: model.rowCount() == len(fresh_ids), timeout=10000)
    qtbot.wait(400)  # the view's refresh timer
    shown = [model.index(r, Column.EVENT_ID).data() for r in range(model.rowCount())]
    stale = [r for r, (a, b) in enumerate(zip(shown, fresh_ids, strict=True)) if a != b]
    assert not stale, f"{len(stale)} stale timeline rows, first at {stale[0]}"
    # announced from where the rewrite began (at most one stride of marks before it)
    assert announced, "the rewrite was not announced"
    first = announced[-1]
    assert first is not None
    assert began - session._seen.stride < first <= began, announced

    window.tabs.setCurrentWidget(beliefs_view)
    want = belief_rows(fresh_beliefs)
    qtbot.waitUntil(lambda: beliefs_view.model.all_rows == want, timeout=10000)
    expected = BeliefsModel()
    expected.set_rows(want, fresh_beliefs, want)
    qtbot.waitUntil(lambda: _cells(beliefs_view.model) == _cells(expected), timeout=5000)
    session.close()


def test_unchanged_log_is_not_announced(qtbot, make_window, tmp_path: Path,
                                        home: Path) -> None:
    """A poll of an untouched log announces nothing (and so refreshes nothing)."""
    gv = generate(tmp_path / "vault", 600, home=home, workers=0)
    session = VaultSession(Vault.open(gv.path, home=home))
    session.start().result(timeout=60)
    assert session.check_external().result(timeout=30) is False
    session.close()
