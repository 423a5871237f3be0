"""Where a profile lives: the directory holding one investigator's identity, trust store,
indexes and logs (``--home``, then ``$PROVARA_HOME``, then the platform's per-user data
directory), and how it is created: private to its owner."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["APP_DIR_NAME", "HOME_ENV", "make_private_dir", "resolve_home"]

APP_DIR_NAME = "provara-desktop"
HOME_ENV = "PROVARA_HOME"


def resolve_home(
    home: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> Path:
    """The user profile directory, as an absolute path (not created here).

    Precedence: ``home`` (the CLI's ``--home``), then ``$PROVARA_HOME``, then the platform's
    per-user application data directory. ``env`` and ``platform`` default to ``os.environ``
    and ``sys.platform``; they are parameters so the rules can be exercised for every OS.
    """
    environ = os.environ if env is None else env
    plat = sys.platform if platform is None else platform
    if home is not None and os.fspath(home) != "":
        chosen = Path(os.fspath(home))
    elif environ.get(HOME_ENV):
        chosen = Path(environ[HOME_ENV])
    else:
        chosen = _platform_data_dir(environ, plat) / APP_DIR_NAME
    # expanduser: a value put in a config file or env var by hand may start with "~", which no
    # shell expanded. absolute (not resolve): keep the user's symlinks as they wrote them.
    return chosen.expanduser().absolute()


def _platform_data_dir(environ: Mapping[str, str], plat: str) -> Path:
    if plat == "win32":
        appdata = environ.get("APPDATA")
        if appdata:
            return Path(appdata)
        return Path.home() / "AppData" / "Roaming"
    if plat == "darwin":
        return Path.home() / "Library" / "Application Support"
    # Linux and other Unixes: XDG base directories. The spec says a relative XDG_DATA_HOME is
    # invalid and must be ignored, which also keeps the result independent of the cwd.
    xdg = environ.get("XDG_DATA_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg)
    return Path.home() / ".local" / "share"


def make_private_dir(home: Path) -> None:
    """Create the profile directory, readable by its owner only, unless it exists."""
    if home.is_dir():
        # An existing directory keeps the permissions its owner chose; the identity file
        # itself is 0600 regardless.
        return
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    # mkdir's mode is filtered by the umask; say what we mean explicitly.
    with contextlib.suppress(OSError):
        os.chmod(home, 0o700)
