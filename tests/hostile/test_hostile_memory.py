"""Memory before trust: a bundle whose events member inflates to hundreds of megabytes (under
the 200:1 ratio guard) is refused within a measured RSS ceiling, in a real subprocess, with
one line on stderr and the vault unchanged.

Before the events were read as a stream, the whole member was inflated into one bytes object
and split into a list of lines before any limit or trust decision applied: peak RSS was over
twice the member's size (a 2.2 GB member: 4.3 GB). The members built here are a few MB
compressed and 250 MB inflated: buffering them would be far above the ceiling. Each is
refused by another limit: more events than declared, a line without end, the error limit of
verification (the same event repeated with its keys shuffled: a duplicate on every line), and
for an import, the signer's trust, decided before any event is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import zipfile
from typing import TYPE_CHECKING

import pytest

from provara_desktop.bundle import format as fmt
from provara_desktop.core.canonical import canonical_bytes
from provara_desktop.core.keys import SigningKey, b64encode
from tests.hostile.conftest import (
    PASS,
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
INFLATED = 250 << 20

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


def _block(line: bytes, style: str, rng: random.Random) -> bytes:
    """~1 MB of copies of ``line``, varied so that deflate stays under the bomb ratio:
    "random-id" puts 16 random hex digits in each event id (every line a different, forged
    event); "shuffled" writes the same event with its keys in a random order (the same event
    id on every line); "endless" is "random-id" without newlines (one line)."""
    if style == "shuffled":
        doc = json.loads(line)
        keys = list(doc)
        out = []
        for _ in range(2000):
            rng.shuffle(keys)
            out.append(json.dumps({k: doc[k] for k in keys}, separators=(",", ":"),
                                  ensure_ascii=False).encode() + b"\n")
        return b"".join(out)
    marker = line.index(b'"event_id":"evt_') + len(b'"event_id":"evt_')
    end = b"" if style == "endless" else b"\n"
    return b"".join(line[:marker] + rng.randbytes(8).hex().encode() + line[marker + 16:] + end
                    for _ in range(2000))


def _bundle(world: World, tmp: Path, style: str, *, declared: int | None,
            key: SigningKey) -> Path:
    """The hostile bundle signed by ``key``, declaring ``declared`` events (None: as many
    as it holds): events.ndjson (~INFLATED bytes) is written first, as a stream, then the
    signed manifest that lists its size and sha256. One ~1 MB block is written over and
    over: deflate's window is 32 KB, so the copies compress no better than the block."""
    h = hashlib.sha256()
    size = 0
    block = _block(world.lines[2], style, random.Random(7))
    small = members_of(world.bundle)
    out = tmp / "hostile.provara-bundle"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(fmt.EVENTS, "w", force_zip64=True) as w:
            while size < INFLATED:
                w.write(block)
                h.update(block)
                size += len(block)
        count = block.count(b"\n") * (size // len(block))
        placeholder = signed_bundle(tmp / "p.provara-bundle", b"", key, small)
        manifest = json.loads(members_of(placeholder)[fmt.MANIFEST])
        manifest["event_count"] = count if declared is None else declared
        for m in manifest["members"]:
            if m["path"] == fmt.EVENTS:
                m.update(sha256=h.hexdigest(), size=size)
        body = canonical_bytes(manifest)
        zf.writestr(fmt.KEYS, small[fmt.KEYS])
        zf.writestr(fmt.MANIFEST, body)
        zf.writestr(fmt.SIGNATURE, canonical_bytes({
            "format": fmt.SIG_FORMAT, "key_id": key.key_id, "public_key_b64": key.public.b64,
            "sig": b64encode(key.sign(fmt.SIG_DOMAIN + body))}))
    assert out.stat().st_size < 40 << 20  # a few MB on disk
    return out


# kind: (style, declared event_count, signed by a stranger, words per command)
KINDS = {
    "more-lines-than-declared": ("random-id", 50, False,
                                 {"bundle verify": "line 51: more events than the 50",
                                  "import": "line 51: more events than the 50"}),
    "one-endless-line": ("endless", None, False,
                         {"bundle verify": "line 1: line too large",
                          "import": "line 1: line too large"}),
    "same-event-on-every-line": ("shuffled", None, False,
                                 {"bundle verify": "line 2 repeats line 1",
                                  "import": "line 2 repeats line 1"}),
    "untrusted-signer": ("shuffled", None, True,
                         {"bundle verify": "line 2 repeats line 1",
                          "import": "its events were not read"}),
}


@pytest.fixture(scope="module")
def hostile(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each hostile bundle, built once for both commands."""
    stranger = SigningKey.generate()
    return {kind: _bundle(world, tmp_path_factory.mktemp(kind), style, declared=declared,
                          key=stranger if strange else world.key)
            for kind, (style, declared, strange, _) in KINDS.items()}


def _run(user: Copy, *argv: str) -> tuple[int, str, int]:
    env = {**os.environ, "PROVARA_PASSPHRASE": PASS}
    env.pop("PROVARA_HOME", None)
    r = subprocess.run([sys.executable, "-c", _WRAPPER, sys.executable, "-m", "provara_desktop",
                        "--home", str(user.home), *argv],
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    *err, peak = r.stderr.splitlines()
    assert peak.startswith("PEAK_KB "), r.stderr
    return r.returncode, "\n".join(err) + "\n", int(peak.split()[1]) // 1024


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("cmd", ["bundle verify", "import"])
def test_refused_within_memory_ceiling(cmd: str, kind: str, user: Copy,
                                       hostile: dict[str, Path]) -> None:
    bundle, words = hostile[kind], KINDS[kind][3][cmd]
    before = tree_digest(user.vault)
    argv = (["bundle", "verify", str(bundle)] if cmd == "bundle verify"
            else ["import", str(user.vault), str(bundle)])
    code, err, peak_mb = _run(user, *argv)
    msg = one_error_line(err)
    assert code == 1, err
    assert words in msg, msg
    if words != "its events were not read":
        assert "events.ndjson line" in msg, msg
    assert peak_mb < CEILING_MB, f"peak RSS {peak_mb} MB"
    assert tree_digest(user.vault) == before
