"""The event inspector: everything needed to judge one event.

Canonical JSON exactly as in the log, event id and the check of it against the content, the
signing key with its fingerprint and the signature check, the claimed time next to when this
replica first saw the event (with clock-skew warnings), its place in the actor's chain with
predecessor and successors as links, the belief it changed and where that belief stands now,
and its attachments with their hash check. A "± time" control asks the timeline to show the
events around it.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.store.belief_standing import belief_key, belief_standing
from provara_desktop.store.event_check import IdStatus, SigStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.core.annotations import Folded
    from provara_desktop.core.reducer import Reducer
    from provara_desktop.store.index import IndexRow
    from provara_desktop.store.verify_vault import VaultReport
    from provara_desktop.ui.provenance_cache import Provenance

_OK = "#2e7d32"
_BAD = "#c62828"
_WARN = "#ef6c00"


def _colored(text: str, color: str) -> str:
    return f'<span style="color:{color}; font-weight:600">{html.escape(text)}</span>'


def _link(event_id: str) -> str:
    return f'<a href="{html.escape(event_id)}">{html.escape(event_id)}</a>'


class InspectorView(QWidget):
    event_requested = Signal(str)  # the user clicked a predecessor/successor link
    context_requested = Signal(str, float)  # event id, half-window in seconds
    # A compromised key: rotate it, vouching for this event and its chain ancestors only.
    vouch_requested = Signal(str)
    annotate_requested = Signal(str)  # event id: tag, comment or mark it (signed)
    attachment_requested = Signal(str, str)  # event id, sha256: look at the attachment

    def __init__(self, provenance: Provenance,
                 beliefs: Callable[[], Reducer | None] | None = None,
                 parent: QWidget | None = None, *,
                 report: Callable[[], VaultReport | None] | None = None,
                 annotations: Callable[[], Folded | None] | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("inspectorView")
        self._annotations = annotations
        self._prov = provenance
        self._beliefs = beliefs
        self._report = report
        self._event_id: str | None = None

        self.title = QLabel("Select an event to inspect it", self)
        self.title.setObjectName("inspectorTitle")
        self.title.setWordWrap(True)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)

        form_host = QWidget(self)
        form = QFormLayout(form_host)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.fields: dict[str, QLabel] = {}
        for name, label in (("event_id", "Event id"), ("id_check", "Id check"),
                            ("key", "Signing key"), ("fingerprint", "Fingerprint"),
                            ("signature", "Signature"), ("claimed", "Claimed time"),
                            ("first_seen", "First seen here"), ("skew", "Clock"),
                            ("chain", "Chain"), ("predecessor", "Predecessor"),
                            ("successors", "Successors"), ("belief", "Belief changed"),
                            ("attachments", "Attachments"),
                            ("annotations", "Annotations"),
                            ("verification", "Last verification")):
            value = QLabel("", form_host)
            value.setObjectName(f"inspector_{name}")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            value.linkActivated.connect(self.on_link)
            form.addRow(label, value)
            self.fields[name] = value

        self.json_view = QPlainTextEdit(self)
        self.json_view.setObjectName("inspectorJson")
        self.json_view.setReadOnly(True)
        self.json_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.json_view.setPlaceholderText("canonical JSON of the selected event")

        self.context_span = QDoubleSpinBox(self)
        self.context_span.setObjectName("contextSpan")
        self.context_span.setRange(0.000001, 10 * 365 * 86400.0)
        self.context_span.setDecimals(6)
        self.context_span.setValue(60.0)
        self.context_span.setSuffix(" s")
        self.context_button = QPushButton("Show events ± this window", self)
        self.context_button.setObjectName("contextButton")
        self.context_button.setEnabled(False)
        self.context_button.clicked.connect(self.on_context_clicked)
        self.vouch_button = QPushButton("My key leaked: vouch up to here…", self)
        self.vouch_button.setObjectName("vouchUpToHere")
        self.vouch_button.setToolTip("Rotate your key as compromised, keeping this event and "
                                     "the ones before it in your chain valid; your key's "
                                     "later events are flagged and refused from now on")
        self.vouch_button.setEnabled(False)
        self.vouch_button.clicked.connect(
            lambda: self._event_id is not None and self.vouch_requested.emit(self._event_id))
        ctx = QHBoxLayout()
        ctx.addWidget(QLabel("Context:", self))
        ctx.addWidget(self.context_span)
        ctx.addWidget(self.context_button)
        ctx.addStretch(1)
        self.annotate_button = QPushButton("Annotate…", self)
        self.annotate_button.setObjectName("annotateEvent")
        self.annotate_button.setToolTip("Tag, comment on or mark this event or its belief, "
                                        "signed by you (docs/ANNOTATIONS.md)")
        self.annotate_button.setEnabled(False)
        self.annotate_button.clicked.connect(
            lambda: self._event_id is not None
            and self.annotate_requested.emit(self._event_id))
        vouch = QHBoxLayout()  # its own row: the context row must fit half a laptop screen
        vouch.addWidget(self.annotate_button)
        vouch.addStretch(1)
        vouch.addWidget(self.vouch_button)

        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(form_host)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(scroll, 3)
        layout.addLayout(ctx)
        layout.addLayout(vouch)
        layout.addWidget(QLabel("Canonical JSON (exactly as signed and stored):", self))
        layout.addWidget(self.json_view, 2)

    # -- showing ---------------------------------------------------------------------------

    def event_id(self) -> str | None:
        return self._event_id

    def clear(self) -> None:
        self._event_id = None
        self.title.setText("Select an event to inspect it")
        for value in self.fields.values():
            value.setText("")
        self.json_view.setPlainText("")
        self.context_button.setEnabled(False)
        self.vouch_button.setEnabled(False)
        self.annotate_button.setEnabled(False)

    def show_event(self, event_id: str) -> bool:
        row = self._prov.row(event_id)
        if row is None:
            self.clear()
            self.title.setText(f"{event_id} is not in this vault")
            return False
        self.show_row(row)
        return True

    def show_row(self, row: IndexRow) -> None:
        prov = self._prov
        self._event_id = row.event_id
        self.context_button.setEnabled(True)
        self.vouch_button.setEnabled(True)  # whose event it is, the rotation dialog says
        self.annotate_button.setEnabled(True)
        f = self.fields
        self.title.setText(f"{row.type or '?'} by {row.actor or '?'}  ·  "
                           f"position {row.pos + 1} in the log")
        try:
            raw = prov.raw_line(row).decode("utf-8", "replace")
        except OSError as exc:
            raw = f"(cannot read the log: {exc})"
        self.json_view.setPlainText(raw)
        check = prov.check(row)
        f["event_id"].setText(html.escape(row.event_id))
        id_color = {IdStatus.OK: _OK, IdStatus.LEGACY: _WARN}.get(check.id, _BAD)
        f["id_check"].setText(_colored(str(check.id), id_color))
        f["key"].setText(html.escape(row.actor_key_id or "(none)"))
        f["fingerprint"].setText(html.escape(check.fingerprint or "(key not in the keyring)"))
        sig_color = _OK if check.sig is SigStatus.VALID else (
            _WARN if check.sig is SigStatus.REVOKED else _BAD)
        f["signature"].setText(_colored(str(check.sig), sig_color) + " — "
                               + html.escape(check.detail))
        f["claimed"].setText(html.escape(row.timestamp_utc or "(none)"))
        f["first_seen"].setText(html.escape(row.first_seen_utc))
        pred = prov.predecessor(row)
        flags = prov.skew_flags(row, pred)
        f["skew"].setText(_colored("; ".join(flags), _WARN) if flags
                          else _colored("no skew", _OK))
        pos = prov.chain_position(row)
        chain = f"{pos.rank} of {pos.length} events by {html.escape(row.actor or '?')}"
        if len(pos.successors) > 1:
            chain += " — " + _colored(f"FORK: {len(pos.successors)} events name this one "
                                      "as predecessor", _BAD)
        if pred is not None and pos.predecessor_found:
            siblings = [r.event_id for r in prov.successors(pred) if r.event_id != row.event_id]
            if siblings:
                chain += " — " + _colored("FORKED: the same actor also signed", _BAD) + " " \
                    + ", ".join(_link(s) for s in siblings) + " " \
                    + _colored("on the same predecessor (equivocation)", _BAD)
        f["chain"].setText(chain)
        if pos.predecessor is None:
            f["predecessor"].setText("none (first event of this actor's chain)")
        elif pred is None:
            f["predecessor"].setText(html.escape(pos.predecessor) + " "
                                     + _colored("not in this vault", _BAD))
        elif not pos.predecessor_found:
            f["predecessor"].setText(_link(pred.event_id) + " "
                                     + _colored(f"of another actor ({pred.actor})", _BAD))
        else:
            f["predecessor"].setText(_link(pred.event_id))
        f["successors"].setText(", ".join(_link(s) for s in pos.successors)
                                or "none yet (head of the chain)")
        try:
            event = prov.event(row)
        except Exception as exc:  # noqa: BLE001 - shown, not raised: the inspector must open
            event = {}
            f["belief"].setText(_colored(f"unreadable event: {exc}", _BAD))
        else:
            f["belief"].setText(self._belief_text(event))
        f["verification"].setText(self._verification_text(row.event_id))
        f["annotations"].setText(self._annotations_text(row.event_id, belief_key(event)))
        atts = prov.attachments(event)
        f["attachments"].setText("<br>".join(
            (f'<a href="attachment:{html.escape(a.sha256)}">{html.escape(a.name)}</a>'
             if a.sha256 else html.escape(a.name))
            + f" ({a.size} bytes, {html.escape(a.media_type)}) — "
            + (_colored("hash ok", _OK) if a.ok else _colored(a.status, _BAD))
            for a in atts) or "none")

    def _annotations_text(self, event_id: str, belief: str | None) -> str:
        """Every annotation on this event and on its belief, with its signer and time; a
        withdrawn one struck through, one that counts for nothing said so."""
        found = self._annotations() if self._annotations is not None else None
        if found is None:
            return "none"
        mine = found.on({"event_id": event_id})
        theirs = found.on({"belief": belief}) if belief is not None else []
        lines = []
        for a in [*mine, *theirs]:
            what = html.escape(a.tag or a.mark or a.text or f"withdraws {a.withdraws}")
            on = "this event" if "event_id" in a.target else html.escape(belief or "")
            line = (f"<b>{html.escape(a.kind)}</b> {what} — {html.escape(a.actor or '?')} "
                    f"({html.escape(a.signer or '?')}), {html.escape(a.timestamp_utc or '?')}, "
                    f"on {on}")
            if a.withdrawn_by is not None:
                line = f"<s>{line}</s> " + _colored("withdrawn", _WARN)
            elif a.ignored is not None:
                line += " " + _colored(f"counts for nothing: {a.ignored}", _WARN)
            lines.append(line)
        return "<br>".join(lines) or "none"

    def _verification_text(self, event_id: str) -> str:
        report = self._report() if self._report is not None else None
        if report is None:
            return "not verified in this session (Vault ▸ Verify)"
        found = [p for p in report.all_problems if p.event_id == event_id]
        forked = any(event_id in f.event_ids for f in report.log.forks)
        lines = [_colored(f"{p.code}", _BAD if p.severity == "error" else _WARN) + " "
                 + html.escape(p.message) for p in found]
        if forked:
            lines.append(_colored("FORK", _BAD) + " part of a fork in its actor's chain")
        return "<br>".join(lines) or _colored("no problem reported for this event", _OK)

    def _belief_text(self, event: dict[str, object]) -> str:
        key = belief_key(event)
        if key is None:
            return "none (this event does not speak about a subject:predicate)"
        reducer = self._beliefs() if self._beliefs is not None else None
        if reducer is None:
            return f"{html.escape(key)} (beliefs are being computed…)"
        standing = belief_standing(reducer, key)
        payload = event.get("payload")
        said = ""
        if isinstance(payload, dict) and "value" in payload:
            said = f" — this event says {html.escape(json.dumps(payload['value']))}"
        return (f"<b>{html.escape(key)}</b>{said}<br>now: "
                f"{html.escape(standing.summary)}")

    # -- actions ---------------------------------------------------------------------------

    def on_link(self, target: str) -> None:
        if target.startswith("attachment:"):
            if self._event_id is not None:
                self.attachment_requested.emit(self._event_id, target[len("attachment:"):])
            return
        self.event_requested.emit(target)

    def on_context_clicked(self) -> None:
        if self._event_id is not None:
            self.context_requested.emit(self._event_id, self.context_span.value())
