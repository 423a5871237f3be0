"""Light and dark palettes, and the "system" choice that follows the desktop.

Fusion is used for every theme: it is the one Qt style that honours a palette completely on
every OS, so a dark palette is dark everywhere. Colours for event types and severities that
the views paint themselves come from ``accent()``, so they stay readable on both palettes.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")

_R = QPalette.ColorRole
_G = QPalette.ColorGroup

_LIGHT = {
    _R.Window: "#f3f3f3", _R.WindowText: "#1e1e1e", _R.Base: "#ffffff",
    _R.AlternateBase: "#f0f4f8", _R.ToolTipBase: "#ffffe1", _R.ToolTipText: "#1e1e1e",
    _R.PlaceholderText: "#7a7a7a", _R.Text: "#1e1e1e", _R.Button: "#e8e8e8",
    _R.ButtonText: "#1e1e1e", _R.BrightText: "#d00000", _R.Highlight: "#2f6fbf",
    _R.HighlightedText: "#ffffff", _R.Link: "#1a5fb4",
}
_DARK = {
    _R.Window: "#2b2b2b", _R.WindowText: "#e6e6e6", _R.Base: "#1e1e1e",
    _R.AlternateBase: "#262a2e", _R.ToolTipBase: "#3a3a3a", _R.ToolTipText: "#e6e6e6",
    _R.PlaceholderText: "#8c8c8c", _R.Text: "#e6e6e6", _R.Button: "#353535",
    _R.ButtonText: "#e6e6e6", _R.BrightText: "#ff6b6b", _R.Highlight: "#3d7fd1",
    _R.HighlightedText: "#ffffff", _R.Link: "#78aeed",
}
_DISABLED_TEXT = {"light": "#a0a0a0", "dark": "#6e6e6e"}

_ACCENTS = {
    "light": {"error": "#b00020", "warning": "#9a6700", "ok": "#1a7f37", "muted": "#6e6e6e"},
    "dark": {"error": "#ff6b6b", "warning": "#e3b341", "ok": "#56d364", "muted": "#9a9a9a"},
}

_system_palette: QPalette | None = None
_current = "light"


def palette_for(theme: str) -> QPalette:
    if theme not in ("light", "dark"):
        raise ValueError(f"no palette named {theme!r}")
    pal = QPalette()
    for role, colour in (_DARK if theme == "dark" else _LIGHT).items():
        pal.setColor(role, QColor(colour))
    for role in (_R.Text, _R.WindowText, _R.ButtonText):
        pal.setColor(_G.Disabled, role, QColor(_DISABLED_TEXT[theme]))
    return pal


def _system_is_dark() -> bool:
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)  # Qt >= 6.5
    if scheme is not None:
        from PySide6.QtCore import Qt

        return bool(scheme() == Qt.ColorScheme.Dark)
    return False


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply ``theme`` ("system", "light" or "dark"); returns the palette in effect."""
    global _system_palette, _current  # noqa: PLW0603 - one palette per process, like Qt's
    if theme not in THEMES:
        theme = "system"
    if _system_palette is None:
        _system_palette = app.palette()
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    if theme == "system":
        effective = "dark" if _system_is_dark() else "light"
        app.setPalette(palette_for(effective) if effective == "dark" else _system_palette)
    else:
        effective = theme
        app.setPalette(palette_for(theme))
    _current = effective
    return effective


def current() -> str:
    return _current


def accent(name: str) -> QColor:
    """A colour for ``name`` ("error", "warning", "ok", "muted") readable on the palette in
    effect."""
    return QColor(_ACCENTS[_current].get(name, _ACCENTS[_current]["muted"]))
