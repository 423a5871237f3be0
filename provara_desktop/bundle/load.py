"""Loading a bundle file of either kind into one shape the checks and the import share.

A ``.provara-bundle`` is opened through :class:`BundleReader` (structure, signature and member
hashes checked); a reference ``provara_delta_v1`` file is plain NDJSON and unsigned, so all
that can be said about who made it is nothing: each event still carries its own signature.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provara_desktop.bundle import format as fmt
from provara_desktop.bundle.reader import BundleReader, Signer, sniff
from provara_desktop.core.canonical import MAX_LINE_BYTES, strict_loads
from provara_desktop.core.errors import InputError, StoreError
from provara_desktop.core.logline import parse_line

if TYPE_CHECKING:
    from pathlib import Path

VAULT_DIRECTORY = "vault-directory"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class LoadedBundle:
    path: Path
    kind: str  # "provara-bundle" or "provara_delta_v1"
    lines: list[bytes]  # event lines without newline, as in the file
    key_entries: list[dict[str, Any]]
    signer: Signer | None = None  # None: unsigned (delta v1)
    manifest: dict[str, Any] = field(default_factory=dict)
    reader: BundleReader | None = None  # open while attachments may still be read

    @property
    def signed(self) -> bool:
        return self.signer is not None

    @property
    def scope(self) -> dict[str, Any]:
        scope = self.manifest.get("scope")
        return scope if isinstance(scope, dict) else {"kind": "unknown"}

    @property
    def declared_prerequisites(self) -> set[str]:
        return {p for p in self.manifest.get("prerequisites", []) if isinstance(p, str)}

    @property
    def declared_dangling(self) -> set[str]:
        return {p for p in self.manifest.get("dangling", []) if isinstance(p, str)}

    directory: Path | None = None  # a plain vault directory used as the source

    def carried_attachments(self) -> dict[str, int]:
        """sha256 -> size of every attachment the source carries."""
        if self.reader is not None:
            return {sha: self.reader.members[fmt.cas_member(sha)].size
                    for sha in self.reader.attachment_shas()}
        if self.directory is not None:
            cas = self.directory / "artifacts" / "cas"
            if not cas.is_dir():
                return {}
            return {p.name: p.stat().st_size for p in cas.iterdir()
                    if _HEX64.fullmatch(p.name) and p.is_file() and not p.is_symlink()}
        return {}

    def extract_attachment(self, sha256: str, dest: Path) -> None:
        """Write attachment ``sha256`` to ``dest``, checked against its hash."""
        if self.reader is not None:
            self.reader.extract_attachment(sha256, dest)
            return
        assert self.directory is not None
        src = self.directory / "artifacts" / "cas" / sha256
        h = hashlib.sha256()
        try:
            with src.open("rb") as f, dest.open("wb") as out:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
        except OSError as exc:
            dest.unlink(missing_ok=True)
            raise StoreError(f"{src}: cannot read ({exc.strerror})") from None
        if h.hexdigest() != sha256:
            dest.unlink(missing_ok=True)
            raise InputError("attachment does not match its sha256 (damaged)", where=str(src))

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def __enter__(self) -> LoadedBundle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _split_lines(data: bytes, where: str, first: int = 1) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for i, raw in enumerate(lines, start=first):
        if len(raw) > MAX_LINE_BYTES:  # before any parser sees it
            raise InputError(f"line {i} is too large ({len(raw)} bytes, limit "
                             f"{MAX_LINE_BYTES})", where=where)
    return lines


def load(path: Path) -> LoadedBundle:
    if path.is_dir():
        return _load_vault_dir(path)
    kind = sniff(path)
    if kind == "delta":
        return _load_delta(path)
    reader = BundleReader(path)
    try:
        lines = _split_lines(reader.events_bytes(), f"{path}: {fmt.EVENTS}")
        keys = reader.key_entries()
    except BaseException:
        reader.close()
        raise
    return LoadedBundle(path, "provara-bundle", lines, keys, reader.signer, reader.manifest,
                        reader)


def _load_delta(path: Path) -> LoadedBundle:
    where = str(path)
    try:
        size = path.stat().st_size
        if size > fmt.MAX_EVENTS_BYTES:
            raise InputError(f"{size} bytes, over the {fmt.MAX_EVENTS_BYTES} allowed",
                             where=where)
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    lines = data.split(b"\n", 1)
    if len(lines) == 2:
        lines = [lines[0], *_split_lines(lines[1], where, first=2)]
    if not lines or lines == [b""]:
        raise InputError("empty file", where=where)
    header = strict_loads(lines[0], where=f"{where} line 1 (header)",
                          max_bytes=max(MAX_LINE_BYTES, fmt.MAX_KEYS_BYTES))
    if not isinstance(header, dict) or header.get("type") != fmt.DELTA_V1_TYPE:
        raise InputError(f"line 1 is not a {fmt.DELTA_V1_TYPE} header", where=where)
    keys = header.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise InputError("header keys must be a list of key entries", where=f"{where} line 1")
    count = header.get("event_count")
    body = lines[1:]
    if isinstance(count, int) and count != sum(1 for b in body if b.strip()):
        raise InputError(f"header announces {count} events but the file holds "
                         f"{sum(1 for b in body if b.strip())} (truncated?)", where=where)
    for i, raw in enumerate(body, start=2):
        if raw.strip() and parse_line(raw, where=f"{where} line {i}").event is None:
            raise InputError(parse_line(raw, where=f"{where} line {i}").error or "bad line")
    return LoadedBundle(path, fmt.DELTA_V1_TYPE, body, keys,
                        manifest={"scope": {"kind": "delta-v1"},
                                  "exported_at": header.get("exported_at"),
                                  "prerequisites": [], "dangling": []})


def _load_vault_dir(path: Path) -> LoadedBundle:
    """A copy of a whole vault directory (the reference layout) as the source: unsigned as a
    package, every event checked on its own; attachments come from its artifacts/cas/."""
    events, keys = path / "events" / "events.ndjson", path / "identity" / "keys.json"
    if not events.is_file() or not keys.is_file():
        raise InputError("a directory given as a bundle must be a vault (events/events.ndjson "
                         "and identity/keys.json)", where=str(path))
    try:
        data = events.read_bytes()
        keys_doc = strict_loads(keys.read_bytes(), where=str(keys), max_bytes=fmt.MAX_KEYS_BYTES)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    entries = keys_doc.get("keys") if isinstance(keys_doc, dict) else None
    if not isinstance(entries, list) or not all(isinstance(k, dict) for k in entries):
        raise InputError("no \"keys\" list of objects", where=str(keys))
    return LoadedBundle(path, VAULT_DIRECTORY, _split_lines(data, str(events)), entries,
                        manifest={"scope": {"kind": VAULT_DIRECTORY},
                                  "prerequisites": [], "dangling": []},
                        directory=path)
