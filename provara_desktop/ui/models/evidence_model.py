"""The evidence behind one competing value of a contested belief.

One row per piece of evidence (as the reducer records it). What a reviewer needs to weigh
it (the signing key's fingerprint, the signature check, the event's place in its actor's
chain, its attachments) costs a log read, an Ed25519 verify and a few index counts per
event (~5 ms on a million-event vault), so it is worked out only for rows a view actually
shows, on a background thread, and kept; the row shows "…" until then.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from provara_desktop.store.event_check import SigStatus
from provara_desktop.ui.gui_thread_calls import Inbox

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.ui.provenance_cache import Provenance

log = logging.getLogger(__name__)
EventIdRole = Qt.ItemDataRole.UserRole + 1
_PENDING: tuple[str, str | None, QColor | None] = ("…", "checking…", None)
# One thread for every evidence table: the work is index reads and Ed25519 verifies, and
# the order rows are asked for (top of each visible table first) is the order that matters.
_DETAILS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence-details")
_BAD = QColor("#c62828")
_WARN = QColor("#ef6c00")


class Column(IntEnum):
    # what decides whether to trust a piece of evidence comes first
    ACTOR = 0
    SIGNATURE = 1
    CONFIDENCE = 2
    CHAIN = 3
    CLAIMED = 4
    FINGERPRINT = 5
    ATTACHMENTS = 6
    EVENT_ID = 7


COLUMN_WIDTHS = {Column.ACTOR: 140, Column.SIGNATURE: 100, Column.CONFIDENCE: 80,
                 Column.CHAIN: 190, Column.CLAIMED: 150, Column.FINGERPRINT: 330,
                 Column.ATTACHMENTS: 200}


_HEADERS = {Column.ACTOR: "Actor", Column.FINGERPRINT: "Key fingerprint",
            Column.CONFIDENCE: "Confidence", Column.CLAIMED: "Claimed time",
            Column.SIGNATURE: "Signature", Column.CHAIN: "Chain position",
            Column.ATTACHMENTS: "Attachments", Column.EVENT_ID: "Event id"}


class EvidenceModel(QAbstractTableModel):

    def __init__(self, provenance: Provenance, evidence: Sequence[dict[str, Any]],
                 forked: set[str] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self._prov = provenance
        self._evidence = list(evidence)
        self._forked = forked or set()
        self._details: dict[int, dict[Column, tuple[str, str | None, QColor | None]]] = {}
        self._pending: set[int] = set()
        # The worker hands its results to the GUI thread here (see ui/inbox.py).
        self._inbox = Inbox(self)

    def details_complete(self, rows: int | None = None) -> bool:
        """Every one of the first ``rows`` rows (all by default) has its details."""
        n = self.rowCount() if rows is None else min(rows, self.rowCount())
        return all(i in self._details for i in range(n))

    def on_detail_ready(self, i: int, detail: object) -> None:
        self._pending.discard(i)
        if not 0 <= i < len(self._evidence):
            return
        self._details[i] = detail  # type: ignore[assignment]
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(Column) - 1))

    def event_ids(self) -> list[str]:
        return [str(e.get("event_id")) for e in self._evidence]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._evidence)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _HEADERS.get(Column(section)) if 0 <= section < len(Column) else None
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._evidence):
            return None
        ev = self._evidence[index.row()]
        if role == EventIdRole:
            return ev.get("event_id")
        col = Column(index.column())
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                        Qt.ItemDataRole.ForegroundRole):
            return None
        if col == Column.ACTOR:
            return ev.get("actor") if role != Qt.ItemDataRole.ForegroundRole else None
        if col == Column.CONFIDENCE:
            return f"{ev.get('confidence'):.2f}" if role == Qt.ItemDataRole.DisplayRole \
                and isinstance(ev.get("confidence"), float) else None
        if col == Column.EVENT_ID:
            return ev.get("event_id") if role != Qt.ItemDataRole.ForegroundRole else None
        detail = self._details.get(index.row())
        if detail is None:
            self._request(index.row())
            text, tip, color = _PENDING
        else:
            text, tip, color = detail[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip or text
        return QBrush(color) if color is not None else None

    def _request(self, i: int) -> None:
        if i in self._pending:
            return
        self._pending.add(i)
        _DETAILS.submit(self._compute, i)

    def _compute(self, i: int) -> None:
        """On the worker thread: never touches the model's state, only emits."""
        try:
            detail = self._detail(i)
        except Exception:
            log.exception("cannot compute the details of evidence row %d", i)
            detail = dict.fromkeys(Column, ("error", "see the log panel", _BAD))
        self._inbox.call(self.on_detail_ready, i, detail)  # dropped if the model is gone

    def _detail(self, i: int) -> dict[Column, tuple[str, str | None, QColor | None]]:
        eid = str(self._evidence[i].get("event_id"))
        prov = self._prov
        row = prov.row(eid)
        out: dict[Column, tuple[str, str | None, QColor | None]]
        if row is None:
            missing = ("not in the index", None, _BAD)
            out = dict.fromkeys((Column.FINGERPRINT, Column.CLAIMED, Column.SIGNATURE,
                                 Column.CHAIN, Column.ATTACHMENTS), missing)
        else:
            check = prov.check(row)
            sig_text = str(check.sig)
            sig_color = None if check.sig is SigStatus.VALID else (
                _WARN if check.sig is SigStatus.REVOKED else _BAD)
            if eid in self._forked:
                sig_text += " · FORKED CHAIN"
                sig_color = _BAD
            chain = prov.chain_position(row)
            pred = chain.predecessor[:16] + "…" if chain.predecessor else "none (first)"
            chain_text = f"{chain.rank} of {chain.length}, after {pred}"
            try:
                atts = prov.attachments(prov.event(row))
            except Exception:  # noqa: BLE001 - an unreadable line is shown, not raised
                atts = []
            att_text = ", ".join(f"{a.name} ({a.size} B) {'hash ok' if a.ok else a.status}"
                                 for a in atts) or "none"
            flags = prov.skew_flags(row, prov.predecessor(row))
            out = {
                Column.FINGERPRINT: (check.fingerprint or "key not in keyring",
                                     row.actor_key_id, None if check.fingerprint else _BAD),
                Column.CLAIMED: (row.timestamp_utc or "(none)",
                                 "; ".join(flags) or f"first seen here {row.first_seen_utc}",
                                 _WARN if flags else None),
                Column.SIGNATURE: (sig_text, check.detail, sig_color),
                Column.CHAIN: (chain_text, chain.predecessor,
                               _BAD if len(chain.successors) > 1 else None),
                Column.ATTACHMENTS: (att_text, None,
                                     _BAD if any(not a.ok for a in atts) else None),
            }
        return out
