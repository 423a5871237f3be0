"""What a source of foreign events hands the intake: a bundle file today, a peer's batch
tomorrow. The intake reads only this; everything about the container (a zip, a delta file,
a socket) stays with the source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from pathlib import Path


class BatchSigner(Protocol):
    """Who vouches for the batch as a whole (a bundle's manifest signer; later a peer)."""

    @property
    def key_id(self) -> str: ...

    @property
    def public_key_b64(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def actor(self) -> str | None: ...


class ForeignBatch(Protocol):
    @property
    def origin(self) -> str:
        """Where the events come from, for messages (a file path, a peer's name)."""
        ...

    def numbered_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number from 1, line without newline) of every event line, as the source
        reads them; it stops with an InputError when its container is damaged."""
        ...

    @property
    def size_hint(self) -> int:
        """How many event lines to expect (for progress; 0 when unknown)."""
        ...

    @property
    def lines(self) -> Sequence[bytes]:
        """Every event line (after numbered_lines: those it handed out)."""
        ...

    @property
    def key_entries(self) -> Sequence[Mapping[str, Any]]:
        """keys.json entries for the keys that sign the events (a known key's vault entry
        always wins over these)."""
        ...

    @property
    def signer(self) -> BatchSigner | None:
        """None: nobody signed the batch as a whole; each event's own signature counts."""
        ...

    @property
    def declared_prerequisites(self) -> set[str]:
        """Event ids outside the batch its events chain to, which the receiver must hold."""
        ...

    @property
    def declared_dangling(self) -> set[str]:
        """Event ids outside the batch that the sender did not hold either."""
        ...

    @property
    def carries_attachments(self) -> bool:
        """False for a format that cannot carry attachment bytes at all."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON fields that say what the source is (``bundle``, ``format``, ``scope``...)."""
        ...

    def carried_attachments(self) -> dict[str, int]:
        """sha256 -> size of every attachment the source carries."""
        ...

    def attachment_may_be_missing(self, sha256: str) -> bool:
        """True when the source leaves this attachment out on purpose (not an error)."""
        ...

    def check_attachment(self, sha256: str) -> None:
        """Raise InputError when the carried attachment is damaged."""
        ...

    def extract_attachment(self, sha256: str, dest: Path) -> None:
        """Write the attachment's bytes to ``dest``, checked against its hash."""
        ...
