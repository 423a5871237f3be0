"""The ``.provara-bundle`` format: names, limits, and the rules every member name must obey.

A bundle is a zip archive (any unzip tool lists and extracts it) holding:

    events.ndjson            the events, canonical JSON lines, in the vault's total order
    keys.json                {"keys": [...]} the public-key entries the events need
    artifacts/cas/<sha256>   the attachments the events reference
    bundle.json              the manifest: scope, frontiers, prerequisites, every member's
                             path, sha256 and size (canonical JSON)
    bundle.sig               the exporter's Ed25519 signature over bundle.json

Nothing else is allowed in, so a member name is either one of these or the bundle is
refused: no path can escape, and the reader never extracts by a name it did not build.
docs/BUNDLE_FORMAT.md describes the format for people and other programs.
"""

from __future__ import annotations

import re

FORMAT = "provara-bundle"
FORMAT_VERSION = 1
SIG_FORMAT = "provara-bundle-signature"
EXTENSION = ".provara-bundle"
FRONTIER_FORMAT = "provara-frontier"
FRONTIER_VERSION = 1
DELTA_V1_TYPE = "provara_delta_v1"

MANIFEST = "bundle.json"
SIGNATURE = "bundle.sig"
EVENTS = "events.ndjson"
KEYS = "keys.json"
CAS_PREFIX = "artifacts/cas/"

# Domain separation: a bundle signature can never be replayed as an event signature (events
# sign canonical JSON objects, which never start with these bytes), nor the other way round.
SIG_DOMAIN = b"provara-bundle-v1\x00"

_CAS_RE = re.compile(r"artifacts/cas/[0-9a-f]{64}")

# Limits for untrusted bundles. A real manifest is ~120 bytes per member; keys.json a few
# hundred bytes per key. Events are bounded per line by the core's parser.
MAX_MANIFEST_BYTES = 64 << 20
MAX_SIG_BYTES = 64 << 10
MAX_KEYS_BYTES = 16 << 20
MAX_EVENTS_BYTES = 8 << 30
MAX_MEMBERS = 2_000_000
MAX_TOTAL_BYTES = 256 << 30
# Deflate cannot compress better than ~1032:1, and real evidence (text, images, NDJSON)
# stays far below 100:1; a big member above this ratio is built to exhaust the disk.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 1 << 20


def member_problem(name: str) -> str | None:
    """Why ``name`` may not be a member of a bundle, or None when it may."""
    if not name:
        return "an empty member name"
    if "\\" in name:
        return f"member {name!r} uses backslashes (a Windows path)"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return f"member {name!r} is an absolute path"
    if ".." in name.split("/"):
        return f"member {name!r} climbs out of the bundle (path traversal)"
    if name.endswith("/"):
        return f"member {name!r} is a directory entry"
    if "\x00" in name:
        return f"member {name!r} holds a NUL byte"
    if name in (MANIFEST, SIGNATURE, EVENTS, KEYS) or _CAS_RE.fullmatch(name):
        return None
    return f"member {name!r} is not part of the bundle format"


def cas_member(sha256: str) -> str:
    return CAS_PREFIX + sha256


def is_cas_member(name: str) -> bool:
    return _CAS_RE.fullmatch(name) is not None
