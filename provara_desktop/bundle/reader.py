"""Opening a ``.provara-bundle`` that may be damaged or hostile.

Everything is checked before any byte is trusted: member names (a fixed list, no paths that
escape, no symlinks, no duplicates), the zip's own bookkeeping (no overlapping members, no
encryption, only stored or deflated data, sizes that agree with the signed manifest, no
decompression bombs), then the signature over the manifest, then every member's sha256 as it
is read. Reading never extracts by a name found in the archive: callers ask for members by
the names the format defines, and attachments are written where the caller says.

Every failure is an :class:`InputError` that names the bundle and the member.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from provara_desktop.bundle import format as fmt
from provara_desktop.core.canonical import strict_loads
from provara_desktop.core.errors import InputError, StoreError, UnsupportedVersionError
from provara_desktop.core.keys import PublicKey, b64decode_strict
from provara_desktop.core.logline import split_lines

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)
# Reading a member of a damaged archive can also fail with an OSError (a seek to a negative
# offset computed from corrupt headers): for an open archive that means "damaged" too.
_MEMBER_ERRORS = (*_ZIP_ERRORS, OSError)
_CHUNK = 1 << 20  # bytes inflated at a time: what reading a member holds, with one line


@dataclass(frozen=True)
class Member:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Signer:
    key_id: str
    public_key_b64: str
    fingerprint: str
    actor: str | None


class BundleReader:
    """A bundle whose structure and signature have been checked. Use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._where = str(path)
        try:
            self._zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise StoreError(f"{path}: no such bundle file") from None
        except IsADirectoryError:
            raise StoreError(f"{path}: is a directory, not a bundle file") from None
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
        except _ZIP_ERRORS as exc:
            raise InputError(f"not a readable bundle ({exc}); the file is truncated, damaged "
                             "or not a .provara-bundle", where=self._where) from None
        try:
            self._infos = self._check_archive()
            self.manifest_bytes = self._read_raw(fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES)
            self.manifest = self._parse_manifest()
            self.signer = self._check_signature()
            self.members = self._check_members()
        except BaseException:
            self._zip.close()
            raise

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fail(self, message: str) -> InputError:
        return InputError(message, where=self._where)

    # -- structure ---------------------------------------------------------------------------

    def _check_archive(self) -> dict[str, zipfile.ZipInfo]:
        infos = self._zip.infolist()
        if len(infos) > fmt.MAX_MEMBERS:
            raise self._fail(f"{len(infos)} members, more than the {fmt.MAX_MEMBERS} allowed")
        out: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            why = fmt.member_problem(name)
            if why is not None:
                raise self._fail(why)
            if name in out:
                raise self._fail(f"member {name!r} appears twice (duplicate members)")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise self._fail(f"member {name!r} is a symbolic link")
            if info.flag_bits & 0x1:
                raise self._fail(f"member {name!r} is encrypted")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise self._fail(f"member {name!r} uses unsupported compression "
                                 f"{info.compress_type}")
            if (info.file_size > fmt.RATIO_FLOOR_BYTES
                    and info.file_size > fmt.MAX_RATIO * max(1, info.compress_size)):
                raise self._fail(
                    f"member {name!r} would expand {info.compress_size} bytes to "
                    f"{info.file_size} (a decompression bomb); refused")
            total += info.file_size
            out[name] = info
        if total > fmt.MAX_TOTAL_BYTES:
            raise self._fail(f"members add up to {total} bytes, more than the "
                             f"{fmt.MAX_TOTAL_BYTES} allowed (a decompression bomb?)")
        # Members must not share bytes: overlapping entries are how the smallest zip bombs
        # (and some parser-confusion attacks) are built.
        spans = sorted((i.header_offset, i.header_offset + 30 + len(i.filename.encode())
                        + i.compress_size, i.filename) for i in infos)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise self._fail(f"members {a!r} and {b!r} overlap in the archive")
        for required in (fmt.MANIFEST, fmt.SIGNATURE):
            if required not in out:
                raise self._fail(f"{required} is missing: not a signed bundle, or truncated")
        return out

    def _read_raw(self, name: str, limit: int) -> bytes:
        info = self._infos.get(name)
        if info is None:
            raise self._fail(f"member {name} is missing")
        if info.file_size > limit:
            raise self._fail(f"member {name} is {info.file_size} bytes, over the {limit} "
                             "allowed")
        try:
            with self._zip.open(info) as f:
                data = f.read(limit + 1)
        except _MEMBER_ERRORS as exc:
            raise self._fail(f"member {name} is damaged ({exc})") from None
        if len(data) > limit:
            raise self._fail(f"member {name} is over the {limit} bytes allowed")
        return data

    def _parse_manifest(self) -> dict[str, Any]:
        doc = strict_loads(self.manifest_bytes, where=f"{self._where}: {fmt.MANIFEST}",
                           max_bytes=fmt.MAX_MANIFEST_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != fmt.FORMAT:
            raise self._fail(f"{fmt.MANIFEST} does not describe a {fmt.FORMAT}")
        version = doc.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise self._fail(f"{fmt.MANIFEST} has no integer format_version")
        if version > fmt.FORMAT_VERSION:
            raise UnsupportedVersionError(
                f"{self._where}: written by a newer version of the bundle format "
                f"({version}); this program reads version {fmt.FORMAT_VERSION}. "
                "Nothing was changed.")
        for key in ("members", "prerequisites", "dangling"):
            if not isinstance(doc.get(key), list):
                raise self._fail(f"{fmt.MANIFEST}: {key} must be a list")
        if not isinstance(doc.get("exporter"), dict) or not isinstance(doc.get("scope"), dict):
            raise self._fail(f"{fmt.MANIFEST}: exporter and scope must be objects")
        return doc

    def _check_signature(self) -> Signer:
        raw = self._read_raw(fmt.SIGNATURE, fmt.MAX_SIG_BYTES)
        doc = strict_loads(raw, where=f"{self._where}: {fmt.SIGNATURE}",
                           max_bytes=fmt.MAX_SIG_BYTES)
        if not isinstance(doc, dict) or doc.get("format") != fmt.SIG_FORMAT:
            raise self._fail(f"{fmt.SIGNATURE} is not a bundle signature")
        kid, b64, sig = doc.get("key_id"), doc.get("public_key_b64"), doc.get("sig")
        if not (isinstance(kid, str) and isinstance(b64, str) and isinstance(sig, str)):
            raise self._fail(f"{fmt.SIGNATURE}: key_id, public_key_b64 and sig must be text")
        try:
            public = PublicKey.from_b64(b64)
            sig_raw = b64decode_strict(sig, expected_len=64)
        except ValueError as exc:
            raise self._fail(f"{fmt.SIGNATURE} is malformed ({exc})") from None
        if public.key_id != kid:
            raise self._fail(f"{fmt.SIGNATURE}: key id {kid} does not match its public key")
        if not public.verify(fmt.SIG_DOMAIN + self.manifest_bytes, sig_raw):
            raise self._fail(f"the signature by {kid} does not verify: {fmt.MANIFEST} was "
                             "changed after it was signed, or the signature is forged")
        exporter = self.manifest["exporter"]
        if exporter.get("key_id") != kid:
            raise self._fail(f"{fmt.MANIFEST} names exporter {exporter.get('key_id')} but "
                             f"{fmt.SIGNATURE} is by {kid}")
        actor = exporter.get("actor")
        return Signer(kid, b64, public.fingerprint, actor if isinstance(actor, str) else None)

    def _check_members(self) -> dict[str, Member]:
        listed: dict[str, Member] = {}
        for i, m in enumerate(self.manifest["members"]):
            if not isinstance(m, dict):
                raise self._fail(f"{fmt.MANIFEST}: members[{i}] is not an object")
            path, sha, size = m.get("path"), m.get("sha256"), m.get("size")
            if not (isinstance(path, str) and isinstance(sha, str) and _HEX64.fullmatch(sha)
                    and isinstance(size, int) and not isinstance(size, bool) and size >= 0):
                raise self._fail(f"{fmt.MANIFEST}: members[{i}] needs path, sha256 (64 hex "
                                 "digits) and size")
            why = fmt.member_problem(path)
            if why is not None or path in (fmt.MANIFEST, fmt.SIGNATURE):
                raise self._fail(f"{fmt.MANIFEST}: {why or f'lists {path}'}")
            if path in listed:
                raise self._fail(f"{fmt.MANIFEST} lists {path} twice")
            if fmt.is_cas_member(path) and path[len(fmt.CAS_PREFIX):] != sha:
                raise self._fail(f"{fmt.MANIFEST}: {path} is listed with another sha256")
            listed[path] = Member(path, sha, size)
        present = set(self._infos) - {fmt.MANIFEST, fmt.SIGNATURE}
        for name in sorted(present - set(listed)):
            raise self._fail(f"member {name} is not listed in the signed {fmt.MANIFEST} "
                             "(added after signing)")
        for name in sorted(set(listed) - present):
            raise self._fail(f"member {name} is listed in {fmt.MANIFEST} but missing from "
                             "the archive")
        for name, m in listed.items():
            if self._infos[name].file_size != m.size:
                raise self._fail(f"member {name} is {self._infos[name].file_size} bytes in "
                                 f"the archive but {m.size} in the signed {fmt.MANIFEST}")
        for name in (fmt.EVENTS, fmt.KEYS):
            if name not in listed:
                raise self._fail(f"member {name} is missing")
        return listed

    # -- content -----------------------------------------------------------------------------

    def _stream(self, name: str, out: BinaryIO | _Sink | None, limit: int) -> bytes:
        """Read member ``name`` checking its size and sha256 against the signed manifest;
        write to ``out`` if given (returns b"") or return the bytes."""
        m = self.members[name]
        if m.size > limit:
            raise self._fail(f"member {name} is {m.size} bytes, over the {limit} allowed")
        h = hashlib.sha256()
        chunks: list[bytes] = []
        got = 0
        try:
            with self._zip.open(self._infos[name]) as f:
                while chunk := f.read(1 << 20):
                    got += len(chunk)
                    if got > m.size:
                        raise self._fail(f"member {name} holds more than its {m.size} bytes")
                    h.update(chunk)
                    if out is None:
                        chunks.append(chunk)
                    else:
                        try:
                            out.write(chunk)
                        except OSError as exc:  # the destination, not the bundle
                            raise StoreError(f"cannot write {name} out of the bundle "
                                             f"({exc.strerror})") from None
        except _MEMBER_ERRORS as exc:
            raise self._fail(f"member {name} is damaged ({exc})") from None
        if got != m.size or h.hexdigest() != m.sha256:
            raise self._fail(f"member {name} does not match the sha256 in the signed "
                             f"{fmt.MANIFEST}: it was changed or damaged")
        return b"".join(chunks)

    def iter_lines(self, name: str, limit: int) -> Iterator[bytes]:
        """The lines of member ``name`` (without their newlines), read as a stream: never
        more than one chunk and one line in memory, whatever the member's size. Stops with
        an InputError at the first line over the line limit, past ``limit`` bytes or past
        the size the signed manifest gives; the sha256 is checked at the end, before the
        last line is handed out (so a consumer that got every line got checked bytes)."""
        return split_lines(self._chunks(name, limit), where=f"{self._where}: {name}")

    def _chunks(self, name: str, limit: int) -> Iterator[bytes]:
        m = self.members[name]
        if m.size > limit:
            raise self._fail(f"member {name} is {m.size} bytes, over the {limit} allowed")
        h = hashlib.sha256()
        got = 0
        try:
            with self._zip.open(self._infos[name]) as f:
                while chunk := f.read(_CHUNK):
                    got += len(chunk)
                    if got > m.size:
                        raise self._fail(f"member {name} holds more than its {m.size} bytes")
                    h.update(chunk)
                    yield chunk
        except _MEMBER_ERRORS as exc:
            raise self._fail(f"member {name} is damaged ({exc})") from None
        if got != m.size or h.hexdigest() != m.sha256:
            raise self._fail(f"member {name} does not match the sha256 in the signed "
                             f"{fmt.MANIFEST}: it was changed or damaged")

    def check_member(self, name: str) -> None:
        """Read member ``name`` through, checking its size and sha256; keep nothing."""
        self._stream(name, _Sink(), fmt.MAX_TOTAL_BYTES)

    def read(self, name: str, limit: int) -> bytes:
        return self._stream(name, None, limit)

    def event_lines(self) -> Iterator[bytes]:
        return self.iter_lines(fmt.EVENTS, fmt.MAX_EVENTS_BYTES)

    def key_entries(self) -> list[dict[str, Any]]:
        doc = strict_loads(self.read(fmt.KEYS, fmt.MAX_KEYS_BYTES),
                           where=f"{self._where}: {fmt.KEYS}", max_bytes=fmt.MAX_KEYS_BYTES)
        keys = doc.get("keys") if isinstance(doc, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
            raise self._fail(f"{fmt.KEYS} must be {{\"keys\": [objects]}}")
        return keys

    def attachment_shas(self) -> list[str]:
        return sorted(p[len(fmt.CAS_PREFIX):] for p in self.members if fmt.is_cas_member(p))

    def extract_attachment(self, sha256: str, dest: Path) -> None:
        """Write attachment ``sha256`` to ``dest``, verified; a failed copy is removed."""
        name = fmt.cas_member(sha256)
        try:
            with dest.open("wb") as out:
                self._stream(name, out, fmt.MAX_TOTAL_BYTES)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise


class _Sink:
    def write(self, data: bytes) -> int:
        return len(data)


def sniff(path: Path) -> str:
    """"bundle" for a zip, "delta" for the reference's NDJSON delta, else an error."""
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise StoreError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise StoreError(f"{path}: is a directory, not a bundle file") from None
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from None
    if head.startswith(b"PK"):
        return "bundle"
    if head.lstrip().startswith(b"{"):
        return "delta"
    if not head:
        raise InputError("empty file: not a bundle", where=str(path))
    raise InputError("neither a .provara-bundle (zip) nor a provara_delta_v1 file",
                     where=str(path))
