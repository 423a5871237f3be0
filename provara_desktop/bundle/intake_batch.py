"""A loaded bundle (either file kind, or a vault directory given as one) as the batch of
foreign events the intake checks and imports (provara_desktop/intake). What is about the
container (members, their hashes, the manifest) is answered here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import format as fmt
from provara_desktop.bundle.load import VAULT_DIRECTORY
from provara_desktop.intake import check as intake_check

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from provara_desktop.bundle.load import LoadedBundle
    from provara_desktop.bundle.reader import Signer
    from provara_desktop.intake.trust_view import Trust
    from provara_desktop.store.vault import Vault


class BundleBatch:
    def __init__(self, bundle: LoadedBundle) -> None:
        self.bundle = bundle

    @property
    def origin(self) -> str:
        return str(self.bundle.path)

    def numbered_lines(self) -> Iterator[tuple[int, bytes]]:
        return self.bundle.numbered_lines()

    @property
    def size_hint(self) -> int:
        return self.bundle.size_hint

    @property
    def lines(self) -> Sequence[bytes]:
        return self.bundle.lines

    @property
    def key_entries(self) -> list[dict[str, Any]]:
        return self.bundle.key_entries

    @property
    def signer(self) -> Signer | None:
        return self.bundle.signer

    @property
    def declared_prerequisites(self) -> set[str]:
        return self.bundle.declared_prerequisites

    @property
    def declared_dangling(self) -> set[str]:
        return self.bundle.declared_dangling

    @property
    def carries_attachments(self) -> bool:
        # A provara_delta_v1 file is NDJSON only: no place for attachment bytes.
        return self.bundle.reader is not None or self.bundle.directory is not None

    def describe(self) -> dict[str, Any]:
        b = self.bundle
        return {"bundle": str(b.path), "format": b.kind, "scope": b.scope,
                "created_at_utc": b.manifest.get("created_at_utc"),
                "source_vault": b.manifest.get("source_vault")}

    def carried_attachments(self) -> dict[str, int]:
        return self.bundle.carried_attachments()

    def attachment_may_be_missing(self, sha256: str) -> bool:
        b = self.bundle
        if b.kind == VAULT_DIRECTORY:
            # A vault copy may lack attachment bytes the original holds; its events are
            # still evidence (the reference treats a missing CAS file the same way).
            return True
        listed = b.manifest.get("missing_attachments", [])
        return isinstance(listed, list) and sha256 in listed

    def check_attachment(self, sha256: str) -> None:
        if self.bundle.reader is not None:  # every member's hash, not only those read
            self.bundle.reader.check_member(fmt.cas_member(sha256))

    def extract_attachment(self, sha256: str, dest: Path) -> None:
        self.bundle.extract_attachment(sha256, dest)


BundleCheck = intake_check.IntakeCheck[BundleBatch]


def check_bundle(bundle: LoadedBundle, trust: Trust, *, vault: Vault | None = None,
                 workers: int = 2, cancelled: Callable[[], bool] | None = None,
                 progress: Callable[[int], None] | None = None) -> BundleCheck:
    """The intake's check of a bundle's events (bundle verify, the import preview)."""
    return intake_check.check(BundleBatch(bundle), trust, vault=vault, workers=workers,
                              cancelled=cancelled, progress=progress)
