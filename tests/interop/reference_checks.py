"""The reference implementation's two verdicts on a vault, as the interop tests ask them: its
`provara verify`, and its reducer's state_hash over events.ndjson in file order."""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING

from tests.conftest import require_reference, require_reference_cli

if TYPE_CHECKING:
    from pathlib import Path


def provara(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_reference_cli(), *argv], capture_output=True, text=True,
                          timeout=120, check=False)


def reference_state_hash(vault: Path) -> str:
    reducer_v0 = require_reference("provara.reducer_v0")
    events = [json.loads(line) for line in
              (vault / "events/events.ndjson").read_text("utf-8").splitlines() if line.strip()]
    reducer = reducer_v0.SovereignReducerV0()
    reducer.apply_events(events)
    return str(reducer.export_state()["metadata"]["state_hash"])
