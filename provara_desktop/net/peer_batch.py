"""One batch received from a sync peer, as the intake's ForeignBatch (intake/batch.py): the
same check, plan and atomic commit as a bundle file, so a bad signature, a wrong event id, a
broken chain or an unknown key is refused by a peer exactly as it is in a bundle.

A peer's batch is not signed as a whole (``signer`` is None: the TLS session says who the
peer is; each event's own signature says who wrote it), so trust is decided per event by the
keys that sign them, as for a delta file. Its attachments were received into a private
staging directory and hashed on the way in (sync_session.py); the commit copies them into the
vault's transaction.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.core.errors import InputError

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path


@dataclass
class PeerBatch:
    peer: str
    batch_no: int
    event_lines: list[bytes]
    keys: list[dict[str, Any]] = field(default_factory=list)
    prerequisites: set[str] = field(default_factory=set)
    dangling: set[str] = field(default_factory=set)
    # sha256 -> (size, the verified file in the session's staging directory)
    received: dict[str, tuple[int, Path]] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)  # the peer does not hold these bytes

    @property
    def origin(self) -> str:
        return f"{self.peer} batch {self.batch_no}"

    def numbered_lines(self) -> Iterator[tuple[int, bytes]]:
        return enumerate(self.event_lines, start=1)

    @property
    def size_hint(self) -> int:
        return len(self.event_lines)

    @property
    def lines(self) -> Sequence[bytes]:
        return self.event_lines

    @property
    def key_entries(self) -> list[dict[str, Any]]:
        return self.keys

    @property
    def signer(self) -> None:
        return None

    @property
    def declared_prerequisites(self) -> set[str]:
        return self.prerequisites

    @property
    def declared_dangling(self) -> set[str]:
        return self.dangling

    @property
    def carries_attachments(self) -> bool:
        return True

    def describe(self) -> dict[str, Any]:
        return {"peer": self.peer, "format": "provara-sync", "batch": self.batch_no}

    def carried_attachments(self) -> dict[str, int]:
        return {sha: size for sha, (size, _) in self.received.items()}

    def attachment_may_be_missing(self, sha256: str) -> bool:
        return sha256 in self.missing

    def check_attachment(self, sha256: str) -> None:
        # Hashed and sized while it arrived (sync_session._receive_attachment): a damaged
        # attachment ended the session before the batch reached the intake.
        if sha256 not in self.received:
            raise InputError(f"attachment {sha256[:12]}… was not received", where=self.origin)

    def extract_attachment(self, sha256: str, dest: Path) -> None:
        shutil.copyfile(self.received[sha256][1], dest)
