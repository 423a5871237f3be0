"""Typed application settings over QSettings (INI format, user scope).

Each key is declared once with its type and default; ``settings_version`` plus ordered upgrade
functions migrate old files (STYLE rule 7). Vault data never goes here, only UI state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QByteArray, QSettings

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

T = TypeVar("T")
SETTINGS_VERSION = 1


@dataclass(frozen=True)
class Option(Generic[T]):
    key: str
    default: T
    kind: type


RECENT_VAULTS: Option[list[str]] = Option("vaults/recent", [], list)
LAST_VAULT: Option[str] = Option("vaults/last", "", str)
THEME: Option[str] = Option("ui/theme", "system", str)  # "system", "light" or "dark"
WINDOW_GEOMETRY: Option[QByteArray] = Option("window/geometry", QByteArray(), QByteArray)
WINDOW_STATE: Option[QByteArray] = Option("window/state", QByteArray(), QByteArray)
CURRENT_TAB: Option[int] = Option("window/tab", 0, int)
# LAN sync (issue 11): the app serves, announces and browses for the open vault unless off.
LAN_ENABLED: Option[bool] = Option("lan/enabled", True, bool)
MAX_RECENT = 10

# Upgrades run in order from the stored version to SETTINGS_VERSION.
_UPGRADES: dict[int, Callable[[QSettings], None]] = {}


class Settings:
    def __init__(self, path: Path | None = None) -> None:
        if path is not None:
            self._qs = QSettings(str(path), QSettings.Format.IniFormat)
        else:
            self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                                 "provara", "provara-desktop")
        self._upgrade()

    def _upgrade(self) -> None:
        version = int(self._qs.value("settings_version", 0) or 0)  # type: ignore[call-overload]
        for v in range(version + 1, SETTINGS_VERSION + 1):
            if v in _UPGRADES:
                _UPGRADES[v](self._qs)
        self._qs.setValue("settings_version", SETTINGS_VERSION)

    def get(self, opt: Option[T]) -> T:
        raw: Any = self._qs.value(opt.key, None)
        if raw is None:
            return opt.default
        if opt.kind is list:
            return list(raw) if isinstance(raw, (list, tuple)) else [raw]  # type: ignore[return-value]
        if opt.kind is bool:  # the INI file holds "true"/"false" as text
            return (raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1"))  # type: ignore[return-value]
        if opt.kind is QByteArray:
            return raw if isinstance(raw, QByteArray) else opt.default  # type: ignore[return-value]
        try:
            return opt.kind(raw)  # type: ignore[no-any-return]
        except (TypeError, ValueError):
            return opt.default

    def set(self, opt: Option[T], value: T) -> None:
        self._qs.setValue(opt.key, value)

    def add_recent_vault(self, path: str) -> None:
        recent = [p for p in self.get(RECENT_VAULTS) if p != path]
        self.set(RECENT_VAULTS, [path, *recent][:MAX_RECENT])
        self.set(LAST_VAULT, path)

    def remove_recent_vault(self, path: str) -> None:
        self.set(RECENT_VAULTS, [p for p in self.get(RECENT_VAULTS) if p != path])

    # Column widths, order and sort of each table, keyed by the table's objectName: tables
    # come and go with the vault, so they are not declared one by one above.
    def header_state(self, table: str) -> QByteArray:
        raw: Any = self._qs.value(f"tables/{table}", None)
        return raw if isinstance(raw, QByteArray) else QByteArray()

    def set_header_state(self, table: str, state: QByteArray) -> None:
        self._qs.setValue(f"tables/{table}", state)

    @property
    def path(self) -> str:
        return self._qs.fileName()

    def sync(self) -> None:
        self._qs.sync()
