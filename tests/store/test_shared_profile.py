"""Two processes on one profile share one SQLite index: the app following a vault while
the CLI (or an import) appends to it. The follower must never mistake the writer's
half-indexed tail for a rewritten log (it used to empty the index, and the writer's own
indexing then failed after its commit)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

from provara_desktop.core.keys import SigningKey
from provara_desktop.store.vault import Vault
from provara_desktop.store.verify_vault import verify_vault

if TYPE_CHECKING:
    from pathlib import Path

KEY = SigningKey(b"\x21" * 32)
ACTOR = "writer-" + KEY.key_id[4:12]

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from provara_desktop.core.event import build_event
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault
    key = SigningKey(b"\\x21" * 32)
    actor = sys.argv[3]
    with Vault.open(Path(sys.argv[1]), home=Path(sys.argv[2])) as v:
        for batch in range(24):
            head = v.chain_head(actor)
            prev = head.event_id if head else None
            events = []
            for i in range(300):
                ev = build_event(event_type="OBSERVATION", actor=actor, key=key,
                                 payload={"subject": f"item-{i % 7}", "predicate": "seen",
                                          "value": batch * 1000 + i, "confidence": 0.6},
                                 prev_event_hash=prev)
                prev = ev["event_id"]
                events.append(ev)
            v.append(events, signer=key)
""")


def test_follower_and_writer_on_one_index_stay_consistent(tmp_path: Path, home: Path) -> None:
    root = tmp_path / "vault"
    Vault.init(root, key=KEY, actor=ACTOR, home=home).close()
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(home), ACTOR],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    follower = Vault.open(root, home=home)
    seen = []
    try:
        while writer.poll() is None:
            follower.sync_index()
            seen.append(follower.index.count())
            time.sleep(0.002)
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err
        follower.sync_index()
        lines = root.joinpath("events/events.ndjson").read_bytes().count(b"\n")
        assert follower.index.count() == lines == 2 + 24 * 300
        # The follower only ever saw the index grow: it was never emptied under the writer.
        assert seen == sorted(seen)
        assert verify_vault(follower).ok
    finally:
        if writer.poll() is None:
            writer.kill()
        follower.close()
