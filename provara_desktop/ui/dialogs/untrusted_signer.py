"""The decision about a bundle's signer, before its events are read.

A bundle signed by a key the user does not trust is not read on opening (as the CLI's
``import`` refuses it from the signed manifest alone, bundle/actions.py): the dialog shows
only what the signed manifest says (who signed it, with the full fingerprint to compare,
what it declares, when it was made) and that the signer is not trusted, and reads the
events only when the user chooses "Read the bundle anyway". Reading trusts nobody: whether
to accept the signer stays the import preview's tick, recorded in the trust store.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from collections.abc import Callable

    from provara_desktop.bundle.load import LoadedBundle


def _scope_text(scope: dict[str, Any]) -> str:
    """The scope as one line: its kind, then whatever narrows it."""
    parts = [str(scope.get("kind", "unknown"))]
    for name, value in scope.items():
        if name != "kind" and value not in (None, [], False, ""):
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{name}: {shown}")
    return "; ".join(parts)


def signer_decision_html(facts: dict[str, Any], name: str) -> str:
    """What the signed manifest says (bundle/actions.py manifest_facts), and the warning."""
    e = html.escape
    s = facts["signer"] or {}

    def known(value: Any) -> str:
        return e(str(value)) if value is not None else "not stated"

    return "\n".join([
        f"<h3>{e(name)}</h3>",
        "<p><b style='color:#a00'>The signer is NOT TRUSTED</b>: nobody you trust signed "
        "this bundle. Nothing in it has been read beyond its signed manifest.</p>",
        "<table>",
        f"<tr><td>Signed by</td><td><b>{known(s.get('actor'))}</b></td></tr>",
        f"<tr><td>Key</td><td><code>{known(s.get('key_id'))}</code></td></tr>",
        f"<tr><td>Fingerprint</td><td><code>{known(s.get('fingerprint'))}</code></td></tr>",
        f"<tr><td>Declared events</td><td>{known(facts.get('event_count'))}</td></tr>",
        f"<tr><td>Declared attachments</td><td>{known(facts.get('attachment_count'))}"
        "</td></tr>",
        f"<tr><td>Scope</td><td>{e(_scope_text(facts.get('scope') or {}))}</td></tr>",
        f"<tr><td>Created</td><td>{known(facts.get('created_at_utc'))}</td></tr>",
        "</table>",
        "<p>Compare the fingerprint with the sender (in person or by phone). Reading the "
        "bundle anyway shows its preview; it trusts nobody, and nothing is imported unless "
        "you then tick the box that accepts this signer.</p>",
    ])


class UntrustedSignerDialog(QDialog):
    """"Read the bundle anyway" (accept) calls ``on_read(parent, bundle)``, which then owns
    the bundle; Cancel (reject) closes the bundle, its events never read.

    The parent is handed to ``on_read`` when it is called, not held in a closure here: a
    closure kept on this dialog that held its parent would tie the two wrappers in a
    reference cycle, which the collector may then free on whatever thread it runs on (a
    widget deleted off the GUI thread crashes)."""

    def __init__(self, bundle: LoadedBundle, facts: dict[str, Any],
                 on_read: Callable[[QWidget, LoadedBundle], None],
                 parent: QWidget) -> None:
        super().__init__(parent)
        self.bundle, self._on_read = bundle, on_read
        self._handed_over = False
        self.setObjectName("untrustedSigner")
        self.setWindowTitle("Untrusted signer")
        self.resize(600, 380)
        self.view = QTextBrowser()
        self.view.setHtml(signer_decision_html(facts, bundle.path.name))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.read_button = buttons.addButton("Read the bundle anyway",
                                             QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.on_read)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addWidget(buttons)
        self.finished.connect(self.on_finished)

    def on_read(self) -> None:
        self._handed_over = True
        parent = self.parentWidget()
        assert parent is not None  # required by __init__
        self.accept()
        self._on_read(parent, self.bundle)

    def on_finished(self, _code: int) -> None:
        if not self._handed_over:
            self.bundle.close()
