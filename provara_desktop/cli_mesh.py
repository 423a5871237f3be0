"""`mesh VAULT`: the picture of a mesh partition (docs/TOPOLOGIES.md, "Mesh"): every peer
this profile synced the vault with, when, what its copy lacks and holds beyond this one,
and the contested beliefs that exist on its copy only until the two converge."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from provara_desktop import cli_output

if TYPE_CHECKING:
    import argparse

_emit, _home = cli_output.emit, cli_output.home


def cmd_mesh(args: argparse.Namespace) -> int:
    from provara_desktop.net.mesh_picture import picture
    from provara_desktop.store.vault import Vault

    home = _home(args)
    with Vault.open(Path(args.vault), home=home) as vault:
        doc = {"vault": str(vault.root), **picture(vault, home)}
    lines = [f"vault {doc['vault_uid']}: {doc['event_count']} events here; "
             + ("partitioned: some copies differ" if doc["partitioned"]
                else "every copy known here holds the same events")]
    for p in doc["peers"]:
        who = p["name"] or p["key_id"]
        state = "in step" if p["converged"] else (
            f"lacks {p['lacks_total']} event(s) of ours "
            f"({', '.join(f'{a}: {n}' for a, n in p['lacks'].items()) or 'none'}), holds "
            f"{p['we_lack_total']} we lack")
        lines.append(f"  {who} at {p['address']}: last synced {p['synced_utc'][:19]}, "
                     f"{state}")
        if p["last_attempt_ok"] is False:
            lines.append(f"    last attempt {p['last_attempt_utc'][:19]} failed")
        for key in p["contested_only_there"]:
            lines.append(f"    {key}: contested on its copy only until it gets our events")
    if not doc["peers"]:
        lines.append("  no peer has synced this vault with this profile yet")
    _emit(args, doc, "\n".join(lines))
    return 0


def add_parsers(sub: Any, cmd: Any, parser_class: Any) -> None:
    del parser_class
    sp = cmd("mesh", cmd_mesh, "the copies of this vault on your peers: when each last "
             "synced, what it lacks, what is contested only until they converge", sub)
    sp.add_argument("vault")
