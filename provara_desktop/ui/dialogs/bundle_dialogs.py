"""Bundles in the app: export (removable media offered first), import with a preview the
user accepts or rejects, and the evidence report (HTML or PDF).

The main window calls the three module functions from the File menu and when a
``.provara-bundle`` is dropped on it. The work itself is bundle/ (no Qt): these dialogs only
collect choices, run the job off the GUI thread through the session, and render progress
(runtime.progress, polled by a timer; cancel sets the token) and results.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QStorageInfo, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from provara_desktop.bundle import format as bundle_format
from provara_desktop.core.errors import UserCancelled
from provara_desktop.runtime.progress import CancelToken, Progress
from provara_desktop.ui.errors import show_exception
from provara_desktop.ui.ops import run_op

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from provara_desktop.bundle.intake_batch import BundleCheck
    from provara_desktop.bundle.load import LoadedBundle
    from provara_desktop.intake.plan import ImportPlan
    from provara_desktop.session import VaultSession

_REMOVABLE_ROOTS = ("/media/", "/run/media/", "/mnt/", "/Volumes/")


def is_removable_root(root: str) -> bool:
    """Qt does not say whether a volume is removable; where the OS mounts removable media
    (and, on Windows, any drive but the system one) is the best portable hint."""
    if len(root) >= 2 and root[1] == ":":
        return root[0].upper() != "C"
    return root.startswith(_REMOVABLE_ROOTS)


def removable_volumes() -> list[tuple[str, str]]:
    """(label, root path) of mounted, writable volumes that look removable."""
    out = []
    for vol in QStorageInfo.mountedVolumes():
        root = vol.rootPath()
        if vol.isValid() and vol.isReady() and not vol.isReadOnly() and is_removable_root(
                root if root.endswith("/") else root + "/"):
            free = vol.bytesAvailable() / 1e9
            out.append((f"{vol.displayName() or root} ({root}, {free:.1f} GB free)", root))
    return out


class _Runner(QObject):
    """Run a job off the GUI thread with a progress dialog (shown after 500 ms) and a
    cancel button that sets the job's CancelToken.

    A QObject child of its dialog, holding the token itself: the dialog's signals are
    connected to this object's slots only. PySide watches a plain Python object connected
    as a slot (``canceled.connect(token.cancel)``) with a weak reference, and disconnects
    on the thread that drops it last; the job's closure (the token in it) is dropped last
    by the worker that ran it, which then disconnected the dialog off the GUI thread while
    the GUI thread deleted it: the crash of the UI tests (a segfault or abort, in some test
    orders). A slot on a QObject is disconnected by Qt, on the GUI thread, when it goes."""

    def __init__(self, parent: QWidget, label: str, progress: Progress,
                 token: CancelToken) -> None:
        dialog = QProgressDialog(label, "Cancel", 0, 100, parent)
        super().__init__(dialog)
        self.dialog = dialog
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(500)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.token = token
        self.dialog.canceled.connect(self.on_cancel)
        self.progress = progress
        self.timer = QTimer(self)
        self.timer.setInterval(100)
        self.timer.timeout.connect(self.on_tick)
        self.timer.start()

    def on_cancel(self) -> None:
        self.token.cancel()

    def on_tick(self) -> None:
        self.dialog.setLabelText(self.progress.label or self.dialog.labelText())
        self.dialog.setValue(int(self.progress.fraction * 100))

    def done(self) -> None:
        self.timer.stop()
        self.dialog.reset()
        self.dialog.deleteLater()  # takes this runner with it


def _run(parent: QWidget, label: str, job: Callable[[Progress, CancelToken], Any],
         submit: Callable[[Callable[[], Any]], Future[Any]],
         on_success: Callable[[Any], None]) -> None:
    progress, token = Progress(label=label), CancelToken()
    runner = _Runner(parent, label, progress, token)

    def ok(result: Any) -> None:
        runner.done()
        on_success(result)

    def failed(exc: BaseException) -> None:
        runner.done()
        if not isinstance(exc, UserCancelled):
            show_exception(parent, exc)

    run_op(parent, lambda: submit(lambda: job(progress, token))).success(ok).failure(failed)


def _need_key(parent: QWidget, session: VaultSession, then: Callable[[], None]) -> bool:
    """True when the identity is unlocked; otherwise ask the window to unlock it and run
    ``then`` afterwards (False)."""
    if session.key is not None and session.actor is not None:
        return True
    unlock = getattr(parent, "ensure_unlocked", None)
    if unlock is not None:
        unlock(then, reason="Unlock your identity: bundles and imports are signed by you.")
    else:
        QMessageBox.warning(parent, "Identity locked", "Unlock your identity first.")
    return False


# -- export ---------------------------------------------------------------------------------


class ExportDialog(QDialog):
    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Export bundle")
        form = QFormLayout()
        self.destination = QComboBox()
        for label, root in removable_volumes():
            self.destination.addItem(f"Removable: {label}", root)
        self.destination.addItem("Another folder…", "")
        self.destination.activated.connect(self.on_destination)
        from provara_desktop.bundle.export import default_name

        self.path = QLineEdit(str(Path.home() / default_name(session.vault)))
        if self.destination.count() > 1:
            self.path.setText(str(Path(self.destination.itemData(0))
                                  / default_name(session.vault)))
        form.addRow("Destination", self.destination)
        form.addRow("File", self.path)
        self.format = QComboBox()
        self.format.addItem("Signed bundle (.provara-bundle)", "provara-bundle")
        self.format.addItem("Reference delta file (unsigned, no attachments)",
                            "provara-delta-v1")
        form.addRow("Format", self.format)
        self.frontier = QLineEdit()
        self.frontier.setPlaceholderText("whole vault (or a receiver's frontier file)")
        browse = QPushButton("Frontier…")
        browse.clicked.connect(self.on_browse_frontier)
        row = QHBoxLayout()
        row.addWidget(self.frontier)
        row.addWidget(browse)
        form.addRow("Delta against", row)
        self.actors = QLineEdit()
        self.actors.setPlaceholderText("all actors (or a comma-separated list)")
        form.addRow("Actors", self.actors)
        self.namespaces = QLineEdit()
        self.namespaces.setPlaceholderText("all (or canonical, local, contested, archived)")
        form.addRow("Namespaces", self.namespaces)
        self.since = QLineEdit()
        self.since.setPlaceholderText("e.g. 2026-03-01 (inclusive)")
        self.until = QLineEdit()
        self.until.setPlaceholderText("e.g. 2026-04-01 (exclusive)")
        form.addRow("Since", self.since)
        form.addRow("Until", self.until)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.export_button = buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_export)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.result_doc: dict[str, Any] | None = None

    def on_destination(self, index: int) -> None:
        root = self.destination.itemData(index)
        name = Path(self.path.text()).name
        if root:
            self.path.setText(str(Path(root) / name))
            return
        chosen, _ = QFileDialog.getSaveFileName(self, "Export bundle to", self.path.text(),
                                                f"Bundles (*{bundle_format.EXTENSION})")
        if chosen:
            self.path.setText(chosen)

    def on_browse_frontier(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Receiver's frontier file")
        if chosen:
            self.frontier.setText(chosen)

    def on_export(self) -> None:
        signed = self.format.currentData() == "provara-bundle"  # the delta needs no key
        if signed and not _need_key(self.parentWidget() or self, self.session, self.on_export):
            return
        from provara_desktop.bundle import actions

        def split(text: str) -> list[str]:
            return [x.strip() for x in text.split(",") if x.strip()]

        try:
            selection = actions.selection_from(
                actors=split(self.actors.text()), namespaces=split(self.namespaces.text()),
                since=self.since.text().strip() or None, until=self.until.text().strip() or None,
                since_frontier=Path(self.frontier.text()) if self.frontier.text().strip()
                else None)
        except Exception as exc:  # a bad date or frontier: say so, keep the dialog open
            show_exception(self, exc)
            return
        out, fmt = Path(self.path.text()), str(self.format.currentData())
        session = self.session
        key, actor = session.key, session.actor

        def job(progress: Progress, token: CancelToken) -> Any:
            def report(done: int, total: int) -> None:
                progress.total, progress.done = total, done
                progress.label = f"copying attachments ({done}/{total})"

            witnessed = None
            if key is not None and fmt == "provara-bundle":
                from provara_desktop.net.hub_side import bundle_witness

                witnessed = bundle_witness(session.vault.home, session.vault.uid, key)
            return actions.export(session.vault, out, selection, fmt=fmt, key=key,
                                  actor=actor, cancelled=token, progress=report,
                                  witnessed=witnessed).to_json()

        self.export_button.setEnabled(False)
        # On the writer thread: the log is read whole, and no append may land half-way.
        _run(self, "Exporting…", job, session.submit, self.on_exported)

    def on_exported(self, doc: dict[str, Any]) -> None:
        self.result_doc = doc
        self.export_button.setEnabled(True)
        notes = "".join(f"\n\n{n}" for n in doc["notes"])
        QMessageBox.information(self, "Bundle exported",
                                f"{doc['event_count']} events and {doc['attachment_count']} "
                                f"attachment(s) written to\n{doc['path']}\n"
                                f"({doc['bytes']} bytes){notes}")
        self.accept()


def export_bundle(parent: QWidget, session: VaultSession) -> None:
    dialog = ExportDialog(session, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()


# -- import ---------------------------------------------------------------------------------


# Belief changes listed by name in the preview (the counts are always given in full): a
# rich-text page of a thousand lines took the GUI thread ~0.1 s to lay out.
PREVIEW_LISTED = 200


def preview_html(c: BundleCheck, p: ImportPlan[Any]) -> str:
    """The preview as the user reads it: who made the bundle and whether they are trusted,
    what it adds, what it puts in dispute, and what is held back."""
    e = html.escape
    b = c.batch.bundle
    out = [f"<h3>{e(b.path.name)}</h3>"]
    if b.signer is None:
        out.append("<p><b>Unsigned</b> (a reference delta file or a vault copy): nothing says "
                   "who made it; every event's own signature was checked.</p>")
    else:
        trust = (f"trusted ({e(str(c.signer_vouched_by))})" if c.signer_trusted else
                 "<b style='color:#a00'>NOT TRUSTED: signed by an untrusted key</b>")
        out.append(f"<p>Signed by <b>{e(str(b.signer.actor))}</b>, key "
                   f"<code>{e(b.signer.key_id)}</code>, fingerprint "
                   f"<code>{e(b.signer.fingerprint)}</code>: signature valid, {trust}.</p>")
    out.append(f"<p><b>{len(p.new_events)}</b> new event(s), {p.already_present} already in "
               f"this vault, <b>{len(p.held_back)}</b> held back.</p>")
    if p.new_actors:
        out.append(f"<p>New actors: {e(', '.join(p.new_actors))}</p>")
    accepted = {k.key_id for k in p.accepted_keys}  # described below, with the tick
    for k in (k for k in p.new_keys if k.key_id not in accepted):
        out.append(f"<p>New key <code>{e(k.key_id)}</code> ({e(str(k.fingerprint))}) for "
                   f"{e(', '.join(k.actors))}: vouched by {e(k.vouched_by)}</p>")
    for k in p.held_back_keys:
        known = (" Your vault lists this key (someone imported its events before), but you "
                 "have not trusted it." if k.in_vault else "")
        out.append(f"<p style='color:#a00'>Untrusted key <code>{e(k.key_id)}</code> "
                   f"({e(str(k.fingerprint))}) signs {k.event_count} event(s) as "
                   f"{e(', '.join(k.actors))}: held back.{e(known)}</p>")
    for k in p.accepted_keys:
        out.append(f"<p style='color:#a60'>Untrusted key <code>{e(k.key_id)}</code> "
                   f"({e(str(k.fingerprint))}) signs {k.event_count} event(s) as "
                   f"{e(', '.join(k.actors))}: if you tick the box below, it is <b>trusted "
                   "from now on</b>, recorded as accepted at the import of "
                   f"{e(b.path.name)} (File &gt; Trusted keys… undoes it).</p>")
    for f in c.forks:
        out.append(f"<p style='color:#a60'>Fork: actor {e(f.actor)} signed several events on "
                   f"{e(str(f.prev_event_hash))}: {e(', '.join(f.event_ids))}</p>")
    if p.beliefs:
        contested, changed = p.beliefs["became_contested"], p.beliefs["changed"]
        n_contested = int(p.beliefs.get("became_contested_count", len(contested)))
        n_changed = int(p.beliefs.get("changed_count", len(changed)))
        out.append(f"<p><b>{n_contested}</b> belief(s) become contested, <b>{n_changed}</b> "
                   "change value.</p>")
        for key in contested[:PREVIEW_LISTED]:
            out.append(f"<p>Becomes <b>contested</b>: {e(key)}</p>")
        if n_contested > PREVIEW_LISTED:
            out.append(f"<p>… and {n_contested - PREVIEW_LISTED} more that become "
                       "contested.</p>")
        for ch in changed[:PREVIEW_LISTED]:
            out.append(f"<p>{e(ch['namespace'])} {e(ch['key'])}: {e(repr(ch['before']))} "
                       f"&#8594; {e(repr(ch['after']))}</p>")
        if n_changed > PREVIEW_LISTED:
            out.append(f"<p>… and {n_changed - PREVIEW_LISTED} more that change value.</p>")
    if p.attachments:
        out.append(f"<p>{len(p.attachments)} attachment(s), {p.attachment_bytes} bytes</p>")
    for prob in c.problems:
        out.append(f"<p>[{e(prob.severity)}] {e(prob.code)}: {e(prob.message)}</p>")
    return "\n".join(out)


class ImportPreviewDialog(QDialog):
    """The preview, with Import (accept) and Cancel (reject). Accepting untrusted signers or
    events needs a tick in a box that names them."""

    def __init__(self, session: VaultSession, bundle: LoadedBundle, c: BundleCheck,
                 plan: ImportPlan[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session, self.bundle, self.check, self.plan = session, bundle, c, plan
        self.setWindowTitle("Import bundle")
        self.resize(640, 480)
        self.view = QTextBrowser()
        self.view.setHtml(preview_html(c, plan))
        self.accept_untrusted = QCheckBox()
        untrusted = [k.key_id for k in c.untrusted_keys]
        signer_untrusted = bundle.signer is not None and not c.signer_trusted
        self.accept_untrusted.setText(
            "I checked the fingerprints: trust these keys from now on and import what they "
            "signed (" + ", ".join(untrusted) + "). Recorded in your trust store; "
            "File > Trusted keys… undoes it." if untrusted else
            "I checked the fingerprint: trust the bundle's signer from now on (recorded in "
            "your trust store; File > Trusted keys… undoes it)")
        self.accept_untrusted.setVisible(bool(untrusted) or signer_untrusted)
        self.accept_untrusted.toggled.connect(self.on_toggled)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.import_button = buttons.addButton("Import",
                                               QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_import)
        buttons.rejected.connect(self.reject)
        self.status = QLabel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(self.accept_untrusted)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.finished.connect(self.on_finished)
        self.imported: int | None = None
        self.trusted_now: list[Any] = []  # keys the tick made trusted (store/trust.py)
        self._show_ready(False)  # the plan given is the one for an unticked box

    def on_toggled(self, checked: bool) -> None:
        """A new decision about untrusted keys: the plan is made again, on the query thread
        (it reads the index's actor list and looks at every event: ~0.2 s on a big vault,
        which froze the window when it ran here)."""
        from provara_desktop.intake import plan as intake_plan

        signer_untrusted = self.bundle.signer is not None and not self.check.signer_trusted
        if not (checked or not signer_untrusted):
            self._show_ready(checked)  # nothing can be imported without the tick
            return
        self.import_button.setEnabled(False)
        self.status.setText("Working out what would be imported…")
        session, c = self.session, self.check
        run_op(self, lambda: session.query(lambda: intake_plan.plan(
            session.vault, c, accept_untrusted=checked, with_beliefs=False))).success(
                lambda plan: self._planned(plan, checked))

    def _planned(self, plan: ImportPlan[Any], checked: bool) -> None:
        if checked != self.accept_untrusted.isChecked():
            return  # the box changed again meanwhile: that plan follows
        self.plan = plan
        self._show_ready(checked)

    def _show_ready(self, checked: bool) -> None:
        signer_untrusted = self.bundle.signer is not None and not self.check.signer_trusted
        ready = bool(self.plan.new_events) and (checked or not signer_untrusted)
        self.import_button.setEnabled(ready)
        self.status.setText("" if ready else "Nothing to import." if not
                            self.plan.new_events else
                            "The bundle's signer is not trusted: tick the box to proceed.")

    def on_import(self) -> None:
        if not _need_key(self.parentWidget() or self, self.session, self.on_import):
            return
        plan, session = self.plan, self.session
        self.import_button.setEnabled(False)

        def job(progress: Progress, token: CancelToken) -> Any:
            progress.label = f"importing {len(plan.new_events)} events…"
            # Through the session's writer, which also advances its beliefs and tells the
            # views what changed.
            done = session.commit_import(plan, cancelled=token).result()
            if plan.accept_untrusted:
                # The tick is a trust decision: recorded with this bundle's name, and shown
                # (and undone) under File > Trusted keys…, as `import --accept-untrusted`.
                from provara_desktop.bundle.actions import record_acceptance

                self.trusted_now = record_acceptance(session.vault.home, plan, session.vault)
            _take_witnessed(session, self.bundle)
            _acknowledge(session)
            return done

        # The session's writer runs the commit; this job only waits for it.
        _run(self, "Importing…", job, _thread, self.on_imported)

    def on_imported(self, result: Any) -> None:
        self.imported = len(result.events)
        self.accept()

    def on_finished(self, _code: int) -> None:
        self.bundle.close()


def _take_witnessed(session: VaultSession, bundle: LoadedBundle) -> None:
    """The hub checkpoints the exporter witnessed (the manifest's, cosigned by its signer):
    a hub that showed them another log than ours is an alert, recorded like a sync's."""
    from provara_desktop.net.hub_side import record_alerts, take_bundle_witness

    signer = bundle.signer.public_key_b64 if bundle.signer is not None else None
    alerts = take_bundle_witness(session.vault.home, session.vault.uid, bundle.manifest,
                                 signer)
    key, actor = session.key, session.actor
    if alerts and key is not None and actor is not None:
        session.submit(lambda: record_alerts(session.vault, key, actor, alerts)).result()


def _acknowledge(session: VaultSession) -> None:
    """Under a federation contract, a revocation the bundle brought is acknowledged, signed,
    as after a sync (the revocation ceremony, docs/FEDERATION.md)."""
    from provara_desktop.store import federation

    key, actor = session.key, session.actor
    if key is not None and actor is not None:
        session.submit(lambda: federation.in_force(session.vault) is not None
                       and federation.acknowledge(session.vault, key=key, actor=actor)
                       ).result()


def _thread(fn: Callable[[], Any]) -> Future[Any]:
    from provara_desktop.ui.ops import background

    return background(fn)


def import_bundle(parent: QWidget, session: VaultSession, path: str | None = None) -> None:
    """Open a bundle and decide on its signer first: a bundle signed by a key the user does
    not trust is shown from its signed manifest alone (untrusted_signer.py), and its events
    are read only if the user chooses to; any other goes straight to the check and the
    preview."""
    if path is None:
        path, _ = QFileDialog.getOpenFileName(
            parent, "Import bundle", str(Path.home()),
            f"Bundles (*{bundle_format.EXTENSION} *.delta);;All files (*)")
        if not path:
            return
    source = Path(path)

    def job(progress: Progress, token: CancelToken) -> Any:
        from provara_desktop.bundle.actions import manifest_facts, signer_untrusted
        from provara_desktop.bundle.load import load
        from provara_desktop.intake.trust_view import trust_for

        progress.label = f"opening {source.name}…"
        # Container, manifest, signature and keys.json only: no event line is read here.
        bundle = load(source)
        try:
            untrusted = signer_untrusted(bundle, trust_for(session.vault.home), session.vault)
            facts = manifest_facts(bundle) if untrusted else None
        except BaseException:
            bundle.close()
            raise
        return bundle, facts

    def opened(result: tuple[LoadedBundle, dict[str, Any] | None]) -> None:
        bundle, facts = result
        if facts is None:
            _check_and_preview(parent, session, bundle)
            return
        from provara_desktop.ui.dialogs.untrusted_signer import UntrustedSignerDialog

        # The callback takes the parent when called (see UntrustedSignerDialog).
        dialog = UntrustedSignerDialog(
            bundle, facts, lambda p, b: _check_and_preview(p, session, b), parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    _run(parent, "Opening bundle…", job, session.submit, opened)


def _check_and_preview(parent: QWidget, session: VaultSession, bundle: LoadedBundle) -> None:
    """Read and check the bundle's events against the vault, then show the preview (or why
    it is refused). Owns ``bundle``: closed here unless the preview takes it."""
    source = bundle.path

    def job(progress: Progress, token: CancelToken) -> Any:
        from provara_desktop.bundle.intake_batch import check_bundle
        from provara_desktop.intake import plan as intake_plan
        from provara_desktop.intake.trust_view import trust_for
        from provara_desktop.runtime.gcpause import gc_paused

        progress.label = f"checking {source.name}…"
        try:
            # The checked events live as long as the preview: kept out of the cyclic
            # collector, whose passes over 100k parsed events stalled the window.
            with gc_paused(keep_survivors=True):
                progress.total = max(1, bundle.size_hint)  # as declared: lines not read yet
                c = check_bundle(bundle, trust_for(session.vault.home),
                                 vault=session.vault, cancelled=token,
                                 progress=progress.update)
                if not c.intact:
                    return c, None
                from provara_desktop.bundle.actions import refuse_out_of_contract

                refuse_out_of_contract(session.vault, bundle, c)  # raises: shown, nothing kept
                signer_ok = bundle.signer is None or c.signer_trusted
                # On the writer thread: the session's beliefs do not move while it reads
                # them.
                plan = intake_plan.plan(session.vault, c, accept_untrusted=not signer_ok,
                                        with_beliefs=True, beliefs_by_key=True,
                                        live=session.beliefs())
        except BaseException:
            bundle.close()
            raise
        return c, plan

    def show(result: tuple[BundleCheck, ImportPlan[Any] | None]) -> None:
        c, plan = result
        if plan is None:
            bundle.close()
            QMessageBox.critical(parent, "Bundle refused",
                                 f"{source.name} cannot be imported: {c.summary()}\n\n"
                                 "Nothing was changed.")
            return
        dialog = ImportPreviewDialog(session, bundle, c, plan, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    _run(parent, "Checking bundle…", job, session.submit, show)


# -- evidence report ----------------------------------------------------------------------


class ReportDialog(QDialog):
    def __init__(self, session: VaultSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Evidence report")
        form = QFormLayout()
        # What the report is about: this vault, or a bundle received on removable media
        # (checked as `bundle verify` checks it, without importing anything).
        self.source = QComboBox()
        self.source.setObjectName("reportSource")
        self.source.addItem("This vault", "vault")
        self.source.addItem("A bundle file", "bundle")
        self.bundle_path = QLineEdit()
        self.bundle_path.setObjectName("reportBundlePath")
        self.bundle_path.setPlaceholderText(".provara-bundle or provara_delta_v1 file")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self.on_browse)
        bundle_row = QHBoxLayout()
        bundle_row.addWidget(self.bundle_path, 1)
        bundle_row.addWidget(self.browse)
        form.addRow("Source", self.source)
        form.addRow("Bundle", bundle_row)
        self.source.currentIndexChanged.connect(self._on_source)
        self._on_source()
        self.subject = QComboBox()
        self.subject.setEditable(True)
        self.subject.addItem("")
        self.actor = QComboBox()
        self.actor.addItem("")
        for actor in session.vault.index.actor_names():
            self.actor.addItem(actor)
        form.addRow("Subject (empty: all)", self.subject)
        form.addRow("Actor (empty: all)", self.actor)
        self.format = QComboBox()
        self.format.addItem("PDF", "pdf")
        self.format.addItem("HTML (self-contained)", "html")
        form.addRow("Format", self.format)
        self.path = QLineEdit(str(Path.home() / f"evidence-report-{session.vault.uid[:8]}.pdf"))
        form.addRow("File", self.path)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.write_button = buttons.addButton("Write report",
                                              QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_write)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.written: Path | None = None

    def _on_source(self) -> None:
        from_bundle = self.source.currentData() == "bundle"
        self.bundle_path.setEnabled(from_bundle)
        self.browse.setEnabled(from_bundle)

    def on_browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self, "Bundle to report on", self.bundle_path.text() or str(Path.home()),
            f"Provara bundles (*{bundle_format.EXTENSION} *.ndjson);;All files (*)")
        if chosen:
            self.bundle_path.setText(chosen)

    def on_write(self) -> None:
        from provara_desktop.bundle import report
        from provara_desktop.bundle.actions import verify_bundle

        scope = report.ReportScope(subject=self.subject.currentText().strip() or None,
                                   actor=self.actor.currentText().strip() or None)
        out, fmt = Path(self.path.text()), str(self.format.currentData())
        vault = self.session.vault
        bundle = (Path(self.bundle_path.text().strip())
                  if self.source.currentData() == "bundle" else None)
        if bundle is not None and not bundle.is_file():
            QMessageBox.warning(self, "Evidence report",
                                f"{bundle}: no such bundle file. Choose the bundle to report on "
                                "(Browse…), or report on this vault.")
            return
        self.write_button.setEnabled(False)

        def job(progress: Progress, token: CancelToken) -> Any:
            if bundle is not None:
                progress.label = "verifying the bundle for the report…"
                return report.render(report.from_bundle(
                    verify_bundle(bundle, vault.home, cancelled=token), scope))
            progress.label = "verifying the vault for the report…"
            data = report.from_vault(vault, scope)
            from provara_desktop.ui.report_previews import add_pdf_previews

            add_pdf_previews(data, vault.root)  # a PDF attachment's first page, inline
            return report.render(data)

        def write(text: str) -> None:
            self.write_button.setEnabled(True)
            try:
                if fmt == "pdf":
                    from provara_desktop.ui.report_pdf import html_to_pdf

                    html_to_pdf(text, out)
                else:
                    report.write(text, out)
            except Exception as exc:
                show_exception(self, exc)
                return
            self.written = out
            self.accept()

        _run(self, "Writing the report…", job, self.session.submit, write)


def evidence_report(parent: QWidget, session: VaultSession) -> None:
    dialog = ReportDialog(session, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
