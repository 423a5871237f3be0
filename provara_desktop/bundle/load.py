"""Loading a bundle file of either kind into one shape the checks and the import share.

A ``.provara-bundle`` is opened through :class:`BundleReader` (structure, signature and member
hashes checked); a reference ``provara_delta_v1`` file is plain NDJSON and unsigned, so all
that can be said about who made it is nothing: each event still carries its own signature.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from provara_desktop.bundle import format as fmt
from provara_desktop.bundle.reader import BundleReader, Signer, sniff
from provara_desktop.core.canonical import MAX_LINE_BYTES, strict_loads
from provara_desktop.core.errors import InputError, StoreError
from provara_desktop.core.logline import parse_line, split_lines

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

VAULT_DIRECTORY = "vault-directory"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


@dataclass
class LoadedBundle:
    """A bundle whose container was checked and whose event lines are read on demand, as a
    stream (:meth:`numbered_lines`): a caller that decides from the signed manifest alone
    (who signed it, what it declares) reads no event at all, and one that stops at the
    first problems reads no further."""

    path: Path
    kind: str  # "provara-bundle" or "provara_delta_v1"
    source: Iterator[bytes] | None  # the event lines not read yet (None: all read)
    key_entries: list[dict[str, Any]]
    signer: Signer | None = None  # None: unsigned (delta v1)
    manifest: dict[str, Any] = field(default_factory=dict)
    reader: BundleReader | None = None  # open while attachments may still be read
    read_lines: list[bytes] = field(default_factory=list)  # event lines read so far

    @property
    def lines(self) -> list[bytes]:
        """Every event line without its newline, as in the file (reads them all)."""
        for _ in self.numbered_lines():
            pass
        return self.read_lines

    @property
    def size_hint(self) -> int:
        """How many event lines there are: counted once read, else as declared."""
        if self.source is None:
            return len(self.read_lines)
        declared = self.manifest.get("event_count")
        return declared if isinstance(declared, int) and declared >= 0 else 0

    def numbered_lines(self) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of every event line, read from the source as they are asked
        for and kept in ``read_lines``. A problem of the container (a line over the limit,
        a member that does not match its hash, more or fewer events than declared) stops
        the reading with an InputError."""
        yield from enumerate(self.read_lines, start=1)
        source, self.source = self.source, None
        if source is None:
            return
        keep = self.read_lines.append
        for raw in source:
            keep(raw)
            yield len(self.read_lines), raw

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
        if self.kind == "provara-bundle":
            # Closed (a report written after the check): the signed member list, which the
            # reader checked against the archive when it opened it, still says what it holds.
            return {m["path"][len(fmt.CAS_PREFIX):]: m["size"]
                    for m in self.manifest.get("members", [])
                    if isinstance(m, dict) and fmt.is_cas_member(str(m.get("path")))}
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


def _counted(lines: Iterable[bytes], declared: Any, where: str, what: str) -> Iterator[bytes]:
    """``lines``, refused as soon as they hold more events (non-blank lines) than
    ``declared`` says, or at the end when they hold fewer: a stream never runs past what
    its signer announced. No check when nothing (no integer) is declared."""
    if not isinstance(declared, int) or isinstance(declared, bool):
        yield from lines
        return
    count = 0
    for lineno, raw in enumerate(lines, start=1):
        if raw and not raw.isspace():
            count += 1
            if count > declared:
                raise InputError(f"more events than the {declared} {what} declares "
                                 "(event_count); refused", where=f"{where} line {lineno}")
        yield raw
    if count != declared:
        raise InputError(f"{count} events, but {what} declares {declared} (event_count): "
                         "truncated or padded; refused", where=where)


def load(path: Path) -> LoadedBundle:
    """Open a bundle, a delta file or a vault directory: its container checked (for a
    bundle: structure, signature, keys.json), its event lines not read yet."""
    if path.is_dir():
        return _load_vault_dir(path)
    kind = sniff(path)
    if kind == "delta":
        return _load_delta(path)
    reader = BundleReader(path)
    try:
        keys = reader.key_entries()
    except BaseException:
        reader.close()
        raise
    where = f"{path}: {fmt.EVENTS}"
    lines = _counted(reader.event_lines(), reader.manifest.get("event_count"), where,
                     f"the signed {fmt.MANIFEST}")
    return LoadedBundle(path, "provara-bundle", lines, keys, reader.signer, reader.manifest,
                        reader)


def _file_chunks(f: BinaryIO, where: str) -> Iterator[bytes]:
    try:
        with f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise StoreError(f"{where}: cannot read ({exc.strerror})") from None


def _load_delta(path: Path) -> LoadedBundle:
    where = str(path)
    header_limit = max(MAX_LINE_BYTES, fmt.MAX_KEYS_BYTES)  # the header carries the keys
    try:
        size = path.stat().st_size
        if size > fmt.MAX_EVENTS_BYTES:
            raise InputError(f"{size} bytes, over the {fmt.MAX_EVENTS_BYTES} allowed",
                             where=where)
        f = path.open("rb")
        first = f.readline(header_limit + 1)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        header, keys = _delta_header(first, where, header_limit)
    except BaseException:
        f.close()
        raise
    body = _counted(split_lines(_file_chunks(f, where), where=where, first=2),
                    header.get("event_count"), where, "its header")
    return LoadedBundle(path, fmt.DELTA_V1_TYPE, _readable(body, where), keys,
                        manifest={"scope": {"kind": "delta-v1"},
                                  "exported_at": header.get("exported_at"),
                                  "event_count": header.get("event_count"),
                                  "prerequisites": [], "dangling": []})


def _delta_header(first: bytes, where: str, limit: int) -> tuple[dict[str, Any],
                                                                  list[dict[str, Any]]]:
    if not first.strip():
        raise InputError("empty file", where=where)
    header = strict_loads(first.rstrip(b"\n"), where=f"{where} line 1 (header)",
                          max_bytes=limit)
    if not isinstance(header, dict) or header.get("type") != fmt.DELTA_V1_TYPE:
        raise InputError(f"line 1 is not a {fmt.DELTA_V1_TYPE} header", where=where)
    keys = header.get("keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise InputError("header keys must be a list of key entries", where=f"{where} line 1")
    return header, keys


def _readable(lines: Iterable[bytes], where: str) -> Iterator[bytes]:
    """A delta's lines, stopped at the first one that is not a readable event: an unsigned
    file gets no benefit of the doubt (line numbers count the header as line 1)."""
    for lineno, raw in enumerate(lines, start=2):
        if raw.strip():
            parsed = parse_line(raw, where=f"{where} line {lineno}")
            if parsed.event is None:
                raise InputError(parsed.error or f"{where} line {lineno}: unreadable")
        yield raw


def _load_vault_dir(path: Path) -> LoadedBundle:
    """A copy of a whole vault directory (the reference layout) as the source: unsigned as a
    package, every event checked on its own; attachments come from its artifacts/cas/."""
    events, keys = path / "events" / "events.ndjson", path / "identity" / "keys.json"
    if not events.is_file() or not keys.is_file():
        raise InputError("a directory given as a bundle must be a vault (events/events.ndjson "
                         "and identity/keys.json)", where=str(path))
    try:
        keys_doc = strict_loads(keys.read_bytes(), where=str(keys), max_bytes=fmt.MAX_KEYS_BYTES)
        f = events.open("rb")
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    entries = keys_doc.get("keys") if isinstance(keys_doc, dict) else None
    if not isinstance(entries, list) or not all(isinstance(k, dict) for k in entries):
        f.close()
        raise InputError("no \"keys\" list of objects", where=str(keys))
    lines = split_lines(_file_chunks(f, str(events)), where=str(events))
    return LoadedBundle(path, VAULT_DIRECTORY, lines, entries,
                        manifest={"scope": {"kind": VAULT_DIRECTORY},
                                  "prerequisites": [], "dangling": []},
                        directory=path)
