"""Memory before trust: a bundle whose events member inflates to hundreds of megabytes (under
the 200:1 ratio guard) is refused within a measured RSS ceiling, in a real subprocess, with
one line on stderr and the vault unchanged.

Before the events were read as a stream, the whole member was inflated into one bytes object
and split into a list of lines before any limit applied: peak RSS was over twice the member's
size (a 2.2 GB member: 4.3 GB). The members built here are a few MB compressed and ~300 MB
inflated: enough that buffering them would be far above the ceiling.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import zipfile
from typing import TYPE_CHECKING

import pytest

from provara_desktop.bundle import format as fmt
from tests.hostile.conftest import (
    Copy,
    World,
    members_of,
    one_error_line,
    signed_bundle,
    tree_digest,
)

if TYPE_CHECKING:
    from pathlib import Path

CEILING_MB = 200
INFLATED = 300 << 20

# Run the CLI as a child of a fresh interpreter and print the child's peak RSS: the maximum
# over this wrapper's children only (RUSAGE_CHILDREN of the test process would include every
# earlier test's children).
_WRAPPER = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stdout.write(r.stdout)
sys.stderr.write(r.stderr)
print("PEAK_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(r.returncode)
"""


def _hostile_member(path: Path, line: bytes, *, newline: bool) -> tuple[str, int]:
    """Write a zip holding only events.ndjson: ~INFLATED bytes of ``line`` repeated, each copy
    with 16 random hex digits in it so that deflate stays under the bomb ratio. Returns the
    member's sha256 and size (streamed: the test never holds it either)."""
    import hashlib

    rng = random.Random(7)
    h = hashlib.sha256()
    size = 0
    marker = line.index(b'"event_id":"evt_') + len(b'"event_id":"evt_')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open(fmt.EVENTS, "w", force_zip64=True) as out:
        # One block of ~1 MB, written over and over: deflate's window is 32 KB, so the copies
        # compress no better than the block does (and building it once keeps this quick).
        block = b"".join(line[:marker] + rng.randbytes(8).hex().encode() + line[marker + 16:]
                         + (b"\n" if newline else b"") for _ in range(2000))
        while size < INFLATED:
            out.write(block)
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _bundle(user: World, tmp: Path, *, declared: int, newline: bool) -> Path:
    """The hostile bundle, signed by the user's own (trusted) key: the events member is
    written by streaming into a zip, then the signed members are added around it."""
    raw = tmp / "events.zip"
    sha, size = _hostile_member(raw, user.lines[2], newline=newline)
    small = members_of(user.bundle)
    # Sign a manifest that lists the real member, then copy the member's compressed bytes
    # across (zipfile cannot append a raw entry, so the archive is rebuilt around it).
    placeholder = signed_bundle(tmp / "p.provara-bundle", b"", user.key, small,
                                patch={"event_count": declared})
    manifest = json.loads(members_of(placeholder)[fmt.MANIFEST])
    for m in manifest["members"]:
        if m["path"] == fmt.EVENTS:
            m.update(sha256=sha, size=size)
    out = tmp / "hostile.provara-bundle"
    from provara_desktop.core.canonical import canonical_bytes
    from provara_desktop.core.keys import b64encode

    body = canonical_bytes(manifest)
    sig = canonical_bytes({"format": fmt.SIG_FORMAT, "key_id": user.key.key_id,
                           "public_key_b64": user.key.public.b64,
                           "sig": b64encode(user.key.sign(fmt.SIG_DOMAIN + body))})
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(fmt.MANIFEST, body)
        zf.writestr(fmt.SIGNATURE, sig)
        zf.writestr(fmt.KEYS, small[fmt.KEYS])
        info = src.getinfo(fmt.EVENTS)
        with src.open(info) as r, zf.open(fmt.EVENTS, "w", force_zip64=True) as w:
            while chunk := r.read(1 << 20):
                w.write(chunk)
    raw.unlink()
    assert out.stat().st_size < 40 << 20  # a few MB on disk
    return out


def _run(user: Copy, *argv: str) -> tuple[int, str, int]:
    env = {**os.environ, "PROVARA_PASSPHRASE": "correct horse battery staple"}
    env.pop("PROVARA_HOME", None)
    r = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-m", "provara_desktop",
                        "--home", str(user.home), *argv],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    *err, peak = r.stderr.splitlines()
    assert peak.startswith("PEAK_KB "), r.stderr
    return r.returncode, "\n".join(err) + "\n", int(peak.split()[1]) // 1024


KINDS = {"more-lines-than-declared": (100, True, "more events than the 100"),
         "one-endless-line": (10**9, False, "line 1: line too large")}


@pytest.fixture(scope="module")
def hostile(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each hostile bundle, built once for both commands."""
    out = {}
    for kind, (declared, newline, _) in KINDS.items():
        out[kind] = _bundle(world, tmp_path_factory.mktemp(kind), declared=declared,
                            newline=newline)
    return out


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("cmd", ["bundle verify", "import"])
def test_refused_within_memory_ceiling(cmd: str, kind: str, user: Copy,
                                       hostile: dict[str, Path]) -> None:
    bundle, words = hostile[kind], KINDS[kind][2]
    before = tree_digest(user.vault)
    argv = (["bundle", "verify", str(bundle)] if cmd == "bundle verify"
            else ["import", str(user.vault), str(bundle)])
    code, err, peak_mb = _run(user, *argv)
    msg = one_error_line(err)
    assert code == 1, err
    assert "events.ndjson line" in msg, msg
    assert words in msg, msg
    assert peak_mb < CEILING_MB, f"peak RSS {peak_mb} MB"
    assert tree_digest(user.vault) == before
