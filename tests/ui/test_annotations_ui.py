"""Annotations from the inspector: "Annotate…" signs a tag on the event and a review mark on
its belief (the same rules as `annotate`), the inspector lists both with their signer, and
a bad one (an empty comment) is refused with nothing written."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialog, QLabel, QLineEdit, QPushButton

from provara_desktop.core.annotations import ANNOTATION_EVENT
from provara_desktop.store import evidence


def _annotate(qtbot: Any, window: Any, kind: str, text: str, *, on_belief: bool) -> QDialog:
    inspector = window.views["Timeline"].inspector
    inspector.findChild(QPushButton, "annotateEvent").click()
    def shown() -> list[QDialog]:
        return [d for d in window.findChildren(QDialog, "annotateDialog") if d.isVisible()]

    qtbot.waitUntil(lambda: bool(shown()), timeout=5000)
    dlg = shown()[0]
    target = dlg.findChild(QComboBox, "annotationTarget")
    target.setCurrentIndex(1 if on_belief else 0)
    box = dlg.findChild(QComboBox, "annotationKind")
    box.setCurrentIndex(box.findText(kind))
    dlg.findChild(QLineEdit, "annotationText").setText(text)
    return dlg


def test_annotating_from_the_inspector(qtbot: Any, make_window: Any, session: Any,
                                       unlocked: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    ident, key = unlocked
    vault = session.vault
    seen = session.submit(lambda: evidence.observe(
        vault, key, ident.actor, subject="door", predicate="state",
        value="open")).result(timeout=15).events[-1]["event_id"]
    window = make_window(session, key=key)
    session.unlock(key, ident.actor)
    inspector = window.views["Timeline"].inspector
    assert inspector.show_event(seen)
    dlg = _annotate(qtbot, window, "Tag", "photo-needed", on_belief=False)
    dlg.findChild(QPushButton, "submitButton").click()
    qtbot.waitUntil(lambda: vault.index.count(type=ANNOTATION_EVENT) == 1, timeout=15000)
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in
                                    window.findChildren(QDialog, "annotateDialog")),
                    timeout=5000)
    dlg = _annotate(qtbot, window, "Mark: reviewed", "", on_belief=True)
    dlg.findChild(QPushButton, "submitButton").click()
    qtbot.waitUntil(lambda: vault.index.count(type=ANNOTATION_EVENT) == 2, timeout=15000)
    qtbot.waitUntil(lambda: session.event_count == vault.index.count(), timeout=15000)
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in
                                    window.findChildren(QDialog, "annotateDialog")),
                    timeout=5000)
    assert inspector.show_event(seen)
    shown = inspector.findChild(QLabel, "inspector_annotations").text()
    assert "photo-needed" in shown
    assert "reviewed" in shown
    assert "on door:state" in shown
    assert key.key_id in shown
    # The same annotations in every other view: the timeline marks the event, the beliefs
    # table shows the mark, the belief's history lists both, and so does the report.
    from provara_desktop.bundle import report
    from provara_desktop.ui.models.belief_cells import Column
    from provara_desktop.ui.models.timeline_model import Column as TimelineColumn

    tl = window.views["Timeline"].model
    tl.refresh()
    qtbot.waitUntil(lambda: tl.row_for_event(seen) is not None, timeout=10000)
    assert str(tl.index(tl.row_for_event(seen), TimelineColumn.TYPE).data()).endswith("✎")
    beliefs = window.views["Beliefs"]
    beliefs._arrange(snapshot=True)

    def tags() -> str:
        m = beliefs.model
        return next((str(m.index(r, Column.TAGS).data()) for r in range(m.rowCount())
                     if m.rows[r][1] == "door:state"), "")

    qtbot.waitUntil(lambda: tags() == "reviewed", timeout=10000)
    window.show()
    beliefs.select_belief("local", "door:state")
    notes = beliefs.findChild(QLabel, "historyAnnotations")
    qtbot.waitUntil(lambda: "photo-needed" in notes.text(), timeout=10000)
    assert "reviewed" in notes.text()
    page = report.render(report.from_vault(vault, report.ReportScope(subject="door")))
    assert "Annotations (2)" in page
    assert "photo-needed" in page
    # An empty comment: refused, said, nothing written.
    dlg = _annotate(qtbot, window, "Comment", "   ", on_belief=False)
    dlg.findChild(QPushButton, "submitButton").click()
    assert vault.index.count(type=ANNOTATION_EVENT) == 2
    assert dlg.isVisible()
    said = dlg.findChild(QMessageBox, "errorDialog")
    assert said is not None
    assert "--comment is empty" in said.text()


def test_the_contested_workbench_shows_review_progress(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any) -> None:
    ident, key = unlocked
    vault = session.vault
    session.unlock(key, ident.actor)
    for value in ("open", "closed"):
        session.observe(subject="door", predicate="state", value=value,
                        confidence=0.9).result(timeout=15)
    session.observe(subject="gate", predicate="state", value="open",
                    confidence=0.9).result(timeout=15)
    session.observe(subject="gate", predicate="state", value="shut",
                    confidence=0.9).result(timeout=15)
    session.annotate(belief="door:state", mark="reviewed").result(timeout=15)
    session.annotate(belief="gate:state", mark="follow-up").result(timeout=15)
    assert vault.index.count(type=ANNOTATION_EVENT) == 2
    window = make_window(session, key=key)
    view = window.views["Contested"]
    view.refresh()
    label = view.findChild(QLabel, "reviewProgress")
    qtbot.waitUntil(lambda: "of 2 contested" in label.text(), timeout=15000)
    assert label.text() == "Review: 1 of 2 contested beliefs reviewed, 1 need follow-up"
    assert ident.actor in label.toolTip()
    # for what a search leaves listed
    view.search.setText("gate")
    assert label.text() == ("Review (these search results): 0 of 1 contested beliefs "
                            "reviewed, 1 need follow-up")


def test_the_beliefs_table_shows_tags_and_filters_by_review(
        qtbot: Any, make_window: Any, session: Any, unlocked: Any) -> None:
    from provara_desktop.ui.models.belief_cells import Column

    ident, key = unlocked
    session.unlock(key, ident.actor)
    for subject in ("door", "gate", "window"):
        session.observe(subject=subject, predicate="state", value="seen").result(timeout=15)
    session.annotate(belief="door:state", tag="photo").result(timeout=15)
    session.annotate(belief="door:state", mark="reviewed").result(timeout=15)
    session.annotate(belief="gate:state", mark="follow-up").result(timeout=15)
    window = make_window(session, key=key)
    view = window.views["Beliefs"]
    model = view.model

    def shown() -> dict[str, str]:
        return {model.rows[r][1]: model.index(r, Column.TAGS).data()
                for r in range(model.rowCount())}

    qtbot.waitUntil(lambda: shown().get("door:state") == "photo · reviewed", timeout=15000)
    assert shown()["gate:state"] == "follow-up"
    assert shown()["window:state"] == ""
    assert model.headerData(Column.TAGS, Qt.Orientation.Horizontal) == "Tags · review"
    box = view.findChild(QComboBox, "reviewFilter")
    for label, keys in (("Reviewed", {"door:state"}), ("Needs follow-up", {"gate:state"}),
                        ("Tag: photo", {"door:state"})):
        box.setCurrentIndex(box.findText(label))
        qtbot.waitUntil(lambda keys=keys: set(shown()) == keys, timeout=10000)
    box.setCurrentIndex(box.findText("Not marked"))
    qtbot.waitUntil(lambda: "window:state" in shown() and "door:state" not in shown(),
                    timeout=10000)
    # The belief's history lists its annotations with their reviewer and key.
    box.setCurrentIndex(0)
    qtbot.waitUntil(lambda: "door:state" in shown(), timeout=10000)
    window.show()
    view.select_belief("local", "door:state")
    notes = view.findChild(QLabel, "historyAnnotations")
    qtbot.waitUntil(lambda: "photo" in notes.text(), timeout=10000)
    assert "reviewed" in notes.text()
    assert key.key_id in notes.text()


def test_the_timeline_marks_annotated_events(qtbot: Any, make_window: Any, session: Any,
                                            unlocked: Any) -> None:
    from provara_desktop.ui.models.timeline_model import Column as TimelineColumn

    ident, key = unlocked
    session.unlock(key, ident.actor)
    seen = session.observe(subject="door", predicate="state",
                           value="open").result(timeout=15).events[-1]["event_id"]
    other = session.observe(subject="gate", predicate="state",
                            value="shut").result(timeout=15).events[-1]["event_id"]
    session.annotate(event_id=seen, comment="blurry").result(timeout=15)
    window = make_window(session, key=key)
    model = window.views["Timeline"].model
    model.refresh()

    def type_of(event_id: str) -> str:
        row = model.row_for_event(event_id)
        assert row is not None
        return str(model.index(row, TimelineColumn.TYPE).data())

    qtbot.waitUntil(lambda: model.row_for_event(seen) is not None, timeout=10000)
    assert type_of(seen) == "OBSERVATION ✎"
    assert type_of(other) == "OBSERVATION"
