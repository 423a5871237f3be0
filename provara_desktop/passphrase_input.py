"""Where a passphrase comes from outside the app's dialogs: ``--passphrase-file``, then
``$PROVARA_PASSPHRASE``, then a prompt on the terminal. Used by the command line (and by the
app, which takes one from the environment and never prompts); the store never asks for one."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from provara_desktop.core.errors import IdentityError, StoreError, UsageError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["PASSPHRASE_ENV", "read_passphrase"]

PASSPHRASE_ENV = "PROVARA_PASSPHRASE"


def read_passphrase(
    passphrase_file: str | None,
    *,
    env: Mapping[str, str] | None = None,
    prompt: bool = True,
    confirm: bool = False,
) -> str:
    """Get the passphrase: ``--passphrase-file``, then ``$PROVARA_PASSPHRASE``, then a prompt.

    Non-interactive sources win so that scripts never hang on a hidden prompt. The prompt is
    only used when stdin is a terminal; otherwise the error says how to supply one.
    """
    if passphrase_file is not None:
        try:
            raw = Path(passphrase_file).read_bytes()
        except OSError as exc:
            raise StoreError(
                f"cannot read passphrase file {passphrase_file}: {exc.strerror or exc}"
            ) from None
        try:
            content = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise StoreError(f"passphrase file {passphrase_file} is not UTF-8 text") from None
        # Exactly one line ending is stripped: editors add one, but any other whitespace may
        # be a deliberate part of the passphrase.
        if content.endswith("\r\n"):
            content = content[:-2]
        elif content.endswith("\n"):
            content = content[:-1]
        if not content:
            raise UsageError(f"passphrase file {passphrase_file} is empty")
        return content

    environ = os.environ if env is None else env
    from_env = environ.get(PASSPHRASE_ENV)
    if from_env:  # an empty variable counts as unset
        return from_env

    if prompt and _stdin_is_tty():
        import getpass

        try:
            first = getpass.getpass("Passphrase: ")
            if confirm:
                second = getpass.getpass("Repeat passphrase: ")
                if first != second:
                    raise UsageError("the two passphrases do not match")
        except EOFError:
            raise IdentityError("no passphrase was entered") from None
        return first

    raise IdentityError(
        f"a passphrase is needed: use --passphrase-file FILE or set {PASSPHRASE_ENV}"
    )


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdin
        return False
