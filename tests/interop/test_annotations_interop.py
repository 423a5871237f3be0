"""The reference reads a vault with annotations (extension events): `provara verify` passes
and its reducer gives our state_hash, before and after a withdrawal, and on the replica a
bundle carried them to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.conftest import require_reference
from tests.interop.reference_checks import provara, reference_state_hash
from tests.store.test_annotations import carried_to_finn, case

if TYPE_CHECKING:
    from pathlib import Path

require_reference("provara.reducer_v0")
__all__ = ["case"]  # the fixture, shared with the command-line tests


def _agrees(p: Any, vault: Path) -> None:
    done = provara("verify", str(vault))
    assert done.returncode == 0, done.stdout + done.stderr
    assert reference_state_hash(vault) == p.ok("state", str(vault))["state_hash"]


def test_the_reference_reads_annotated_vaults(case: dict[str, Any], tmp_path: Path) -> None:
    dana, eve = case["dana"], case["eve"]
    mark = dana.ok("annotate", case["vault"], "--belief", "door:state", "--mark", "reviewed")
    eve.ok("annotate", case["vault"], "--event", case["seen"], "--tag", "photo")
    _agrees(dana, dana.vault)
    dana.ok("annotate", case["vault"], "--belief", "door:state", "--withdraw",
            mark["event_id"])
    _agrees(dana, dana.vault)
    finn = carried_to_finn(case, tmp_path)
    _agrees(finn, finn.vault)
