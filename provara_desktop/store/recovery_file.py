"""The recovery file: an identity's recovery key, handed to its owner to keep offline.

The recovery key may rotate or revoke the identity's keys (core/key_life.py) and signs
nothing else, so it does not need to be on the machine that records evidence; it is written
once, to a file the user moves away (a USB stick in a safe, a printout of
:func:`printable_sheet`), and never kept in the profile. Its seed is in clear in the file, as
a paper key is: whoever holds the file can rotate the identity, which is the point of it.
The file also names the identity it belongs to, so a wrong file is refused before anything
is signed with it.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UsageError
from provara_desktop.core.keys import SEED_BYTES, SigningKey, b64decode_strict, b64encode
from provara_desktop.store.profile_files import create_file

if TYPE_CHECKING:
    from pathlib import Path

    from provara_desktop.store.identity import Identity

RECOVERY_FORMAT = "provara-desktop-recovery"
RECOVERY_VERSION = 1
_MAX_BYTES = 64 * 1024


def recovery_bytes(identity: Identity, recovery: SigningKey) -> bytes:
    doc = {
        "format": RECOVERY_FORMAT,
        "version": RECOVERY_VERSION,
        "warning": ("This file can rotate and revoke the keys of the identity below. Keep "
                    "it offline, away from the computer you record evidence on."),
        "identity": {"name": identity.name, "actor": identity.actor,
                     "key_id": identity.key_id, "fingerprint": identity.fingerprint},
        "recovery_key_id": recovery.key_id,
        "recovery_fingerprint": recovery.public.fingerprint,
        "recovery_public_key_b64": recovery.public.b64,
        "recovery_seed_b64": b64encode(recovery.seed),
        "created_at_utc": datetime.now(UTC).isoformat(),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("utf-8")


def write_recovery_file(path: Path, identity: Identity, recovery: SigningKey) -> Path:
    """Write it (mode 0600), never over an existing file."""
    target = path.absolute()
    try:
        create_file(target, recovery_bytes(identity, recovery), mode=0o600)
    except FileExistsError:
        raise UsageError(f"{target} already exists: refusing to overwrite it (choose another "
                         "--recovery-out)") from None
    except OSError as exc:
        raise StoreError(f"cannot write the recovery file {target}: "
                         f"{exc.strerror or exc}") from None
    return target


def refuse_existing(path: Path) -> None:
    """Checked before an identity is made, so a taken name fails before anything is."""
    if os.path.lexists(path):
        raise UsageError(f"{path.absolute()} already exists: refusing to overwrite it "
                         "(choose another --recovery-out)")


def read_recovery_file(path: Path, *, for_key_id: str | None = None,
                       recovery_key_id: str | None = None) -> tuple[SigningKey, dict[str, Any]]:
    """The recovery key in ``path`` and the identity facts it names. ``recovery_key_id``:
    the recovery key the caller expects (the identity's, or the vault's record of it); a
    file holding another is refused, as is one for another identity (``for_key_id``: a key
    the identity held)."""
    where = str(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(_MAX_BYTES + 1)
    except OSError as exc:
        raise StoreError(f"cannot read the recovery file {path}: {exc.strerror or exc}") \
            from None
    if data.lstrip().startswith(SHEET_TITLE.encode()):
        doc = _sheet_doc(data, where)  # the printed sheet, typed back in or kept as text
    else:
        doc = strict_loads(data, where=where, max_bytes=_MAX_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != RECOVERY_FORMAT:
        raise InputError("not a provara-desktop recovery file", where=where)
    if doc.get("version") != RECOVERY_VERSION:
        raise InputError(f"unsupported recovery file version {doc.get('version')!r}",
                         where=where)
    seed_b64 = doc.get("recovery_seed_b64")
    try:
        seed = b64decode_strict(str(seed_b64), expected_len=SEED_BYTES)
    except ValueError as exc:
        raise InputError(f"recovery_seed_b64: {exc}", where=where) from None
    key = SigningKey(seed)
    if doc.get("recovery_key_id") != key.key_id:
        raise InputError(f"the file says recovery key {doc.get('recovery_key_id')!r} but "
                         f"holds {key.key_id}: it was altered (or, on a typed-in sheet, a "
                         "group of the seed is mistyped)", where=where)
    found = doc.get("identity")
    ident: dict[str, Any] = found if isinstance(found, dict) else {}
    if recovery_key_id is not None and key.key_id != recovery_key_id:
        raise UsageError(f"{where} holds recovery key {key.key_id} (for {ident.get('actor')}), "
                         f"not this identity's recovery key {recovery_key_id}: wrong recovery "
                         "file")
    if for_key_id is not None and recovery_key_id is None and ident.get("key_id") != for_key_id:
        raise UsageError(f"{where} is the recovery file of {ident.get('actor')} "
                         f"({ident.get('key_id')}), not of key {for_key_id}")
    return key, ident


SHEET_TITLE = "PROVARA DESKTOP RECOVERY SHEET"
# The sheet's labelled lines that read_recovery_file reads back (the rest is for people).
_SHEET_FIELDS = {"Identity": "identity", "Identity key": "key_id",
                 "Identity fingerprint": "fingerprint", "Recovery key": "recovery_key_id"}
_SEED_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t")


def _sheet_doc(data: bytes, where: str) -> dict[str, Any]:
    """A printed sheet typed back into a text file, as the recovery file's fields: the seed
    in its groups of four (spaces and line breaks ignored), and the labelled lines. The
    recovery key id on the sheet must be the seed's: a mistyped group is caught, not used."""
    if len(data) > _MAX_BYTES:
        raise InputError(f"over {_MAX_BYTES} bytes: not a recovery sheet", where=where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("a recovery sheet is text (UTF-8)", where=where) from None
    fields: dict[str, str] = {}
    seed_parts: list[str] = []
    in_seed = False
    for line in text.splitlines():
        if in_seed:
            # the groups, on as many lines as the typist used, up to a blank line
            if line.strip() and set(line.strip()) <= _SEED_CHARS:
                seed_parts.append("".join(line.split()))
                continue
            in_seed = not line.strip() and not seed_parts
            if in_seed:
                continue
        label, sep, value = line.partition(":")
        if sep and label.strip() in _SHEET_FIELDS:
            fields[_SHEET_FIELDS[label.strip()]] = value.strip()
        elif line.strip() == "Recovery seed (base64):":
            in_seed = True
    name, _, actor = fields.get("identity", "").rpartition(" (")
    if not seed_parts or not actor.endswith(")"):
        raise InputError("this recovery sheet lacks its identity line or its seed groups",
                         where=where)
    return {"format": RECOVERY_FORMAT, "version": RECOVERY_VERSION,
            "identity": {"name": name, "actor": actor[:-1], "key_id": fields.get("key_id"),
                         "fingerprint": fields.get("fingerprint")},
            "recovery_key_id": fields.get("recovery_key_id"),
            "recovery_seed_b64": "".join(seed_parts)}


def printable_sheet(identity: Identity, recovery: SigningKey) -> str:
    """The recovery file as a page to print: what it is, whose it is, and the seed in groups
    of four characters to type back in (base64 of the seed, as in the file): typed into a
    text file, that file serves as the recovery file (read_recovery_file)."""
    seed = b64encode(recovery.seed)
    groups = " ".join(seed[i:i + 4] for i in range(0, len(seed), 4))
    return "\n".join([
        SHEET_TITLE,
        "",
        f"Identity:             {identity.name} ({identity.actor})",
        f"Identity key:         {identity.key_id}",
        f"Identity fingerprint: {identity.fingerprint}",
        f"Recovery key:         {recovery.key_id}",
        f"Recovery fingerprint: {recovery.public.fingerprint}",
        "",
        "Recovery seed (base64):",
        f"  {groups}",
        "",
        "Whoever holds this sheet can rotate and revoke this identity's keys.",
        "Keep it offline; never store it on the computer you record evidence on.",
        "To use it: type this sheet (at least the lines above and the seed) into a text",
        "file and give that file where a recovery file is asked for.",
        "",
    ])
