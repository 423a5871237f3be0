"""The bundle dialogs driven as a user would: export writes a signed bundle, the import
preview names the signer and what will change and imports on accept (nothing on reject),
an untrusted signer needs an explicit tick, a damaged bundle is refused with the vault
unchanged, and the evidence report comes out as a real PDF. Real vaults, real Qt widgets;
only the modal message boxes are replaced (they would block the test's event loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from PySide6.QtWidgets import QDialog, QWidget

from provara_desktop.bundle.export import export_bundle
from provara_desktop.bundle.intake_batch import check_bundle as check
from provara_desktop.bundle.load import load
from provara_desktop.bundle.selection import Selection
from provara_desktop.intake.trust_view import trust_for
from provara_desktop.store.evidence import observe
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.trust import TrustStore
from provara_desktop.store.vault import Vault
from provara_desktop.ui import ops
from provara_desktop.ui.dialogs import bundle_dialogs
from tests.ui.conftest import FAST, PASSPHRASE, tree_digest

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.session import VaultSession


@pytest.fixture
def boxes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    shown: list[tuple[str, str]] = []

    def fake(kind: str) -> Any:
        return lambda _parent, title, text, *a, **k: shown.append((kind, f"{title}: {text}"))

    for kind in ("information", "critical", "warning"):
        monkeypatch.setattr(bundle_dialogs.QMessageBox, kind, fake(kind))
    return shown


@pytest.fixture
def ready(session: VaultSession, unlocked: Any) -> VaultSession:
    ident, key = unlocked
    session.unlock(key, ident.actor, ident)
    observe(session.vault, key, ident.actor, subject="door", predicate="state", value="open")
    return session


@pytest.fixture
def sender(tmp_path: Path) -> tuple[Path, Any, Any]:
    """Another investigator's bundle: (bundle path, identity, key)."""
    home = tmp_path / "sender-home"
    store = IdentityStore(home, **FAST)
    ident = store.create("Sam Sender", PASSPHRASE)
    key = store.unlock(PASSPHRASE)
    att = tmp_path / "scan.txt"
    att.write_text("scan of the door")
    with Vault.init(tmp_path / "sender-vault", key=key, actor=ident.actor, home=home) as v:
        observe(v, key, ident.actor, subject="door", predicate="state", value="closed",
                attachments=[att])
        out = tmp_path / "sam.provara-bundle"
        export_bundle(v, out, key=key, actor=ident.actor, selection=Selection())
    return out, ident, key


def settle(qtbot: Any) -> None:
    qtbot.waitUntil(lambda: ops.pending_ops() == 0, timeout=20_000)


def preview_of(parent: QWidget) -> bundle_dialogs.ImportPreviewDialog:
    found = parent.findChildren(bundle_dialogs.ImportPreviewDialog)
    assert len(found) == 1
    return found[0]


def test_is_removable_root() -> None:
    assert bundle_dialogs.is_removable_root("/media/dana/USBSTICK/")
    assert bundle_dialogs.is_removable_root("/run/media/dana/KEY/")
    assert bundle_dialogs.is_removable_root("E:/")
    assert not bundle_dialogs.is_removable_root("/")
    assert not bundle_dialogs.is_removable_root("/home/")
    assert not bundle_dialogs.is_removable_root("C:/")
    assert isinstance(bundle_dialogs.removable_volumes(), list)


def test_export_dialog_writes_a_signed_bundle(qtbot: Any, ready: VaultSession,
                                              tmp_path: Path, boxes: list) -> None:
    dialog = bundle_dialogs.ExportDialog(ready)
    qtbot.addWidget(dialog)
    assert dialog.destination.itemText(dialog.destination.count() - 1) == "Another folder…"
    out = tmp_path / "out.provara-bundle"
    dialog.path.setText(str(out))
    dialog.export_button.click()
    settle(qtbot)
    assert out.is_file()
    assert boxes[-1][0] == "information"
    assert "3 events" in boxes[-1][1]
    with load(out) as b:
        c = check(b, trust_for(ready.vault.home))
        assert c.ok
        assert b.signer is not None
        assert b.signer.key_id == ready.key.key_id  # type: ignore[union-attr]


def test_import_preview_accept_imports(qtbot: Any, ready: VaultSession, sender: Any,
                                       boxes: list) -> None:
    bundle, ident, key = sender
    TrustStore(ready.vault.home).add(key.key_id, key.public.b64, "Sam")
    parent = QWidget()
    qtbot.addWidget(parent)
    before = ready.vault.index.count()
    bundle_dialogs.import_bundle(parent, ready, str(bundle))
    settle(qtbot)
    dialog = preview_of(parent)
    assert not parent.findChildren(QDialog, "untrustedSigner")  # trusted: nothing to decide
    text = dialog.view.toPlainText()
    assert key.public.fingerprint in text
    assert "3 new event(s)" in text
    assert "contested" in text  # open vs closed
    assert "1 attachment(s)" in text
    assert dialog.import_button.isEnabled()
    assert not dialog.accept_untrusted.isVisible()
    dialog.import_button.click()
    qtbot.waitUntil(lambda: ready.vault.index.count() == before + 3, timeout=20_000)
    settle(qtbot)
    from provara_desktop.store.verify_vault import verify_vault

    assert verify_vault(ready.vault).ok


def test_import_preview_reject_changes_nothing(qtbot: Any, ready: VaultSession,
                                               sender: Any) -> None:
    bundle, _, key = sender
    TrustStore(ready.vault.home).add(key.key_id, key.public.b64, "Sam")
    before = tree_digest(ready.vault.root)
    parent = start_import(qtbot, ready, bundle)
    dialog = preview_of(parent)
    dialog.reject()
    qtbot.waitUntil(lambda: not parent.findChildren(bundle_dialogs.ImportPreviewDialog))
    assert tree_digest(ready.vault.root) == before


@pytest.fixture
def member_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bundle members read, one entry per chunk actually handed out (a generator that
    was made but never advanced reads nothing)."""
    from provara_desktop.bundle.reader import BundleReader

    reads: list[str] = []
    chunks, stream = BundleReader._chunks, BundleReader._stream

    def counted_chunks(self: BundleReader, name: str, limit: int) -> Any:
        for chunk in chunks(self, name, limit):
            reads.append(name)
            yield chunk

    def counted_stream(self: BundleReader, name: str, *args: Any) -> Any:
        reads.append(name)
        return stream(self, name, *args)

    monkeypatch.setattr(BundleReader, "_chunks", counted_chunks)
    monkeypatch.setattr(BundleReader, "_stream", counted_stream)
    return reads


def start_import(qtbot: Any, ready: VaultSession, bundle: Any) -> QWidget:
    """File > Import on ``bundle`` from a fresh parent widget, run until it settles."""
    parent = QWidget()
    qtbot.addWidget(parent)
    bundle_dialogs.import_bundle(parent, ready, str(bundle))
    settle(qtbot)
    return parent


def signer_decision_of(parent: QWidget) -> Any:
    from provara_desktop.ui.dialogs.untrusted_signer import UntrustedSignerDialog

    found = parent.findChildren(UntrustedSignerDialog)
    assert len(found) == 1
    return found[0]


def test_an_untrusted_signer_is_decided_on_before_any_event_is_read(
        qtbot: Any, ready: VaultSession, sender: Any, member_reads: list[str]) -> None:
    """Memory before trust, in the app: the dialog first shows only what the signed
    manifest says; the events member is read only after "Read the bundle anyway", and
    accepting the signer is still the preview's separate, recorded tick."""
    bundle, ident, key = sender
    with load(bundle) as b:
        manifest = dict(b.manifest)
    member_reads.clear()
    parent = start_import(qtbot, ready, bundle)
    decision = signer_decision_of(parent)
    assert not parent.findChildren(bundle_dialogs.ImportPreviewDialog)
    assert "events.ndjson" not in member_reads  # not one event line read
    text = decision.view.toPlainText()
    assert "NOT TRUSTED" in text
    assert key.key_id in text
    assert key.public.fingerprint in text  # in full, to compare with the sender
    assert ident.actor in text
    assert manifest["created_at_utc"] in text
    assert manifest["scope"]["kind"] in text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[lines.index("Declared events") + 1] == str(manifest["event_count"]) == "3"

    decision.read_button.click()
    settle(qtbot)
    assert "events.ndjson" in member_reads
    dialog = preview_of(parent)
    assert "3 new event(s)" in dialog.view.toPlainText()
    assert "NOT TRUSTED" in dialog.view.toPlainText()
    # Reading it trusted nobody: the import still waits for the tick that accepts the signer.
    assert key.key_id not in TrustStore(ready.vault.home).trusted_ids()
    assert not dialog.import_button.isEnabled()
    assert dialog.accept_untrusted.isVisibleTo(dialog)
    dialog.reject()


def test_declining_to_read_an_untrusted_bundle_reads_and_changes_nothing(
        qtbot: Any, ready: VaultSession, sender: Any, member_reads: list[str]) -> None:
    bundle, _, _ = sender
    before = tree_digest(ready.vault.root)
    member_reads.clear()
    parent = start_import(qtbot, ready, bundle)
    decision = signer_decision_of(parent)
    loaded = decision.bundle
    decision.reject()
    qtbot.waitUntil(lambda: not parent.findChildren(QDialog, "untrustedSigner"))
    settle(qtbot)
    assert loaded.reader is None  # closed
    assert "events.ndjson" not in member_reads
    assert not parent.findChildren(bundle_dialogs.ImportPreviewDialog)
    assert tree_digest(ready.vault.root) == before


def test_untrusted_signer_needs_an_explicit_tick(qtbot: Any, ready: VaultSession,
                                                 sender: Any) -> None:
    bundle, _, key = sender
    parent = start_import(qtbot, ready, bundle)
    signer_decision_of(parent).read_button.click()
    settle(qtbot)
    dialog = preview_of(parent)
    assert "NOT TRUSTED" in dialog.view.toPlainText()
    assert not dialog.import_button.isEnabled()
    assert "not trusted" in dialog.status.text()
    dialog.accept_untrusted.setChecked(True)
    # the plan is made again off the GUI thread; Import waits for it
    qtbot.waitUntil(dialog.import_button.isEnabled, timeout=10_000)
    assert dialog.plan.new_events
    dialog.accept_untrusted.setChecked(False)
    settle(qtbot)
    assert not dialog.import_button.isEnabled()
    dialog.reject()


def test_damaged_bundle_is_refused(qtbot: Any, ready: VaultSession, sender: Any,
                                   tmp_path: Path, boxes: list) -> None:
    bundle, _, _ = sender
    bad = tmp_path / "bad.provara-bundle"
    data = bytearray(bundle.read_bytes())
    bad.write_bytes(bytes(data[: len(data) // 2]))
    before = tree_digest(ready.vault.root)
    parent = QWidget()
    qtbot.addWidget(parent)
    errors: list[BaseException] = []
    import provara_desktop.ui.dialogs.bundle_dialogs as mod

    orig = mod.show_exception
    mod.show_exception = lambda _p, exc: errors.append(exc)  # type: ignore[assignment]
    try:
        bundle_dialogs.import_bundle(parent, ready, str(bad))
        settle(qtbot)
    finally:
        mod.show_exception = orig  # type: ignore[assignment]
    assert errors
    assert "bad.provara-bundle" in str(errors[0])
    assert not parent.findChildren(bundle_dialogs.ImportPreviewDialog)
    assert tree_digest(ready.vault.root) == before


def test_report_dialog_writes_a_pdf(qtbot: Any, ready: VaultSession, tmp_path: Path) -> None:
    dialog = bundle_dialogs.ReportDialog(ready)
    qtbot.addWidget(dialog)
    out = tmp_path / "report.pdf"
    dialog.path.setText(str(out))
    dialog.subject.setEditText("door")
    dialog.write_button.click()
    settle(qtbot)
    qtbot.waitUntil(out.is_file, timeout=20_000)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert dialog.written == out


def test_report_dialog_reports_on_a_bundle_without_importing_it(
        qtbot: Any, ready: VaultSession, sender: Any, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QComboBox, QLineEdit

    bundle, ident, key = sender
    before = tree_digest(ready.vault.root)
    dialog = bundle_dialogs.ReportDialog(ready)
    qtbot.addWidget(dialog)
    source = dialog.findChild(QComboBox, "reportSource")
    source.setCurrentIndex(source.findData("bundle"))
    path = dialog.findChild(QLineEdit, "reportBundlePath")
    assert path.isEnabled()
    qtbot.keyClicks(path, str(bundle))
    dialog.format.setCurrentIndex(dialog.format.findData("html"))
    out = tmp_path / "from-bundle.html"
    dialog.path.setText(str(out))
    dialog.write_button.click()
    settle(qtbot)
    qtbot.waitUntil(out.is_file, timeout=20_000)
    text = out.read_text()
    assert "sam.provara-bundle" in text  # where the evidence came from
    assert key.public.fingerprint in text  # who signed it, as the sender can confirm
    assert ident.actor in text
    assert tree_digest(ready.vault.root) == before  # reporting imports nothing


def test_report_dialog_says_when_the_bundle_is_missing(qtbot: Any, ready: VaultSession,
                                                       tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: shown.append(a[2]))
    dialog = bundle_dialogs.ReportDialog(ready)
    qtbot.addWidget(dialog)
    dialog.source.setCurrentIndex(dialog.source.findData("bundle"))
    dialog.bundle_path.setText(str(tmp_path / "nowhere.provara-bundle"))
    dialog.path.setText(str(tmp_path / "r.html"))
    dialog.write_button.click()
    assert len(shown) == 1
    assert "no such bundle file" in shown[0]
    assert not (tmp_path / "r.html").exists()
    assert dialog.write_button.isEnabled()


def test_dropping_a_bundle_on_the_window_opens_the_preview(
        qtbot: Any, make_window: Any, ready: VaultSession, unlocked: Any,
        sender: Any) -> None:
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    bundle, _, key = sender
    TrustStore(ready.vault.home).add(key.key_id, key.public.b64, "Sam")
    window = make_window(ready, key=unlocked[1])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(bundle))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    settle(qtbot)
    dialog = preview_of(window)
    assert "3 new event(s)" in dialog.view.toPlainText()
    dialog.reject()


def test_import_preview_counts_every_change_and_says_how_many_are_not_listed(
        qtbot: Any, ready: VaultSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle_dialogs, "PREVIEW_LISTED", 3)  # a big bundle, in small
    home = tmp_path / "many-home"
    store = IdentityStore(home, **FAST)
    ident = store.create("Mo Many", PASSPHRASE)
    key = store.unlock(PASSPHRASE)
    with Vault.init(tmp_path / "many-vault", key=key, actor=ident.actor, home=home) as v:
        for i in range(5):
            observe(v, key, ident.actor, subject=f"item-{i}", predicate="location",
                    value=f"shelf {i}")
        out = tmp_path / "many.provara-bundle"
        export_bundle(v, out, key=key, actor=ident.actor, selection=Selection())
    TrustStore(ready.vault.home).add(key.key_id, key.public.b64, "Mo")
    parent = QWidget()
    qtbot.addWidget(parent)
    bundle_dialogs.import_bundle(parent, ready, str(out))
    settle(qtbot)
    text = preview_of(parent).view.toPlainText()
    assert "0 belief(s) become contested, 5 change value." in text
    assert sum(f"item-{i}:location" in text for i in range(5)) == 3
    assert "… and 2 more that change value." in text
