"""The investigator's actions on a vault: observe, attest, retract.

Each builds one signed event through the vault's single writer. Attachments are hashed here
and stored content-addressed under artifacts/cas/<sha256>; the event payload carries their
sha256, size, media type and name, so the signature covers the evidence file too.
"""

from __future__ import annotations

import hashlib
import math
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import contains_non_finite
from provara_desktop.core.errors import StoreError, UsageError
from provara_desktop.store.vault import OpResult, StagedAttachment, Vault

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provara_desktop.core.keys import SigningKey

MAX_ATTACHMENT_BYTES = 4 << 30


def stage_attachment(path: Path) -> StagedAttachment:
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise UsageError(f"{path}: not a regular file")
        if size > MAX_ATTACHMENT_BYTES:
            raise UsageError(f"{path}: {size} bytes is over the {MAX_ATTACHMENT_BYTES} limit")
        h = hashlib.sha256()
        # The size recorded is the bytes hashed, not stat()'s figure: they differ for a file
        # still being written, or one whose stat size is 0 (/proc), and the event must
        # describe exactly the bytes stored, or verify calls the attachment corrupt.
        size = 0
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
                if size > MAX_ATTACHMENT_BYTES:
                    raise UsageError(f"{path}: over the {MAX_ATTACHMENT_BYTES} byte limit")
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file to attach") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return StagedAttachment(path, h.hexdigest(), size, media_type, path.name)


def _check_belief_key(subject: str, predicate: str) -> None:
    if not subject or not subject.strip():
        raise UsageError("--subject must not be empty")
    if not predicate or not predicate.strip():
        raise UsageError("--predicate must not be empty")


def _check_value(value: Any) -> None:
    if contains_non_finite(value):
        raise UsageError("the value contains NaN or Infinity, which JSON cannot carry")


def observe(vault: Vault, key: SigningKey, actor: str, *, subject: str, predicate: str,
            value: Any, confidence: float | None = None, note: str | None = None,
            attachments: Sequence[Path] = ()) -> OpResult:
    _check_belief_key(subject, predicate)
    _check_value(value)
    payload: dict[str, Any] = {"subject": subject, "predicate": predicate, "value": value}
    if confidence is not None:
        if not math.isfinite(confidence) or not 0.0 <= confidence <= 1.0:
            raise UsageError(f"--confidence must be between 0 and 1, got {confidence}")
        payload["confidence"] = float(confidence)
    if note:
        payload["note"] = note
    staged = [stage_attachment(p) for p in attachments]
    if staged:
        payload["attachments"] = [s.reference() for s in staged]
    event = vault.new_event(key=key, actor=actor, event_type="OBSERVATION", payload=payload,
                            namespace="local")
    return vault.append([event], signer=key, attachments=staged)


def attest(vault: Vault, key: SigningKey, actor: str, *, subject: str, predicate: str,
           value: Any, targets: Sequence[str] = ()) -> OpResult:
    """Promote a value to canonical. ``targets`` name the evidence the attestation settles;
    the reducer's provenance is the first, and all of them are recorded."""
    _check_belief_key(subject, predicate)
    _check_value(value)
    for t in targets:
        if vault.index.get(t) is None:
            raise UsageError(f"--target {t}: no such event in this vault")
    payload: dict[str, Any] = {"subject": subject, "predicate": predicate, "value": value,
                               "actor_key_id": key.key_id}
    if targets:
        payload["target_event_id"] = targets[0]
        payload["target_event_ids"] = list(targets)
    event = vault.new_event(key=key, actor=actor, event_type="ATTESTATION", payload=payload,
                            namespace="canonical")
    return vault.append([event], signer=key)


def retract(vault: Vault, key: SigningKey, actor: str, *, subject: str, predicate: str,
            reason: str | None = None) -> OpResult:
    _check_belief_key(subject, predicate)
    payload: dict[str, Any] = {"subject": subject, "predicate": predicate}
    if reason:
        payload["reason"] = reason
    event = vault.new_event(key=key, actor=actor, event_type="RETRACTION", payload=payload,
                            namespace="canonical")
    return vault.append([event], signer=key)
