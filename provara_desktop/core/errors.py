"""Typed error hierarchy shared by every layer.

Every error a user can meet carries a one-line human message that names what went wrong and
where (file and line when there is one). The CLI maps the classes to exit codes: validation
and verification problems exit 1, usage and I/O problems exit 2.
"""

from __future__ import annotations


class ProvaraDesktopError(Exception):
    """Base of every error raised on purpose by provara_desktop."""

    exit_code = 2


class UserFacingError(ProvaraDesktopError):
    """Marker: the message is written for the user and can be shown as is."""


class UsageError(UserFacingError):
    """The user asked for something that cannot be done as asked (exit 2)."""


class StoreError(UserFacingError):
    """A file could not be read or written, or the vault layout is wrong (exit 2)."""


class VaultError(UserFacingError):
    """The vault's content is invalid: verification or validation failed (exit 1)."""

    exit_code = 1


class InputError(VaultError):
    """Bad input data: malformed JSON, a NaN, a duplicate key, an oversized line...

    ``where`` names the file and line (or the argument) the bad data came from.
    """

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        self.detail = message  # without ``where``: for a caller that names the place itself
        super().__init__(f"{where}: {message}" if where else message)


class TamperedVaultError(VaultError):
    """The vault's files no longer match its manifest, or events this replica saw are
    gone: a write would seal the change in, so it is refused (exit 1)."""


class SignatureError(VaultError):
    """A signature does not verify."""


class ChainBrokenError(VaultError):
    """An event does not chain to its author's previous event."""


class UnsupportedVersionError(VaultError):
    """The vault or file was written by a newer, unknown version of the format."""


class IdentityError(UserFacingError):
    """No identity, a locked identity, or a wrong passphrase (exit 2)."""


class WrongPassphraseError(IdentityError):
    """The passphrase does not decrypt the private key."""


class UserCancelled(ProvaraDesktopError):
    """The user cancelled a long operation; callers stay silent about it."""


class PeerRejected(VaultError):
    """A sync peer (or what it sent) was refused: an oversized, truncated, garbled or slow
    frame, a message out of turn, a batch the intake refused, an unpinned certificate
    (exit 1). ``code`` is the protocol's error code (docs/SYNC_PROTOCOL.md, "Errors"), the
    same word on both sides of the connection."""

    def __init__(self, message: str, *, code: str = "PROTOCOL") -> None:
        self.code = code
        super().__init__(message)
