"""`rollup PARENT HOST:PORT` and `rollup check PARENT HOST:PORT`: a child vault served by its
keeper (serve's HeadlessPeer, real TLS on loopback) rolled up into its parent by summary and
by full merge, then checked; the parent never becomes a replica of the child's vault, and
the scratch copy is gone afterwards."""

from __future__ import annotations

import asyncio
import json
import tempfile
from typing import TYPE_CHECKING, Any

from provara_desktop.cli import main
from provara_desktop.net.serve import HeadlessPeer, ServeOptions
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.trust import TrustStore
from tests.net.sync_helpers import FAST
from tests.store.test_hierarchy import PASS, Person

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def _authors(vault: Path) -> set[str]:
    return {json.loads(line)["actor"] for line in
            (vault / "events" / "events.ndjson").read_text().splitlines()}


def _with_served(child: Person, *argvs: list[str]) -> list[tuple[int, Any, str]]:
    """Serve ``child``'s vault on loopback; run each command line (HOST:PORT filled in)."""
    async def go() -> list[tuple[int, Any, str]]:
        peer = HeadlessPeer(child.vault, child.home, IdentityStore(child.home).unlock(PASS),
                            ServeOptions(host="127.0.0.1", port=0, discovery=False,
                                         session=FAST))
        host, port = await peer.start()
        out = []
        try:
            for argv in argvs:
                filled = [f"{host}:{port}" if a == "CHILD" else a for a in argv]
                code = await asyncio.wait_for(asyncio.to_thread(main, filled), 60)
                captured = child.capsys.readouterr()
                doc = json.loads(captured.out) if captured.out.strip() else None
                out.append((code, doc, captured.err))
        finally:
            await peer.stop()
        return out

    return asyncio.run(go())


def test_a_child_is_rolled_up_and_checked_over_the_network(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVARA_PASSPHRASE", PASS)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    org, team = Person(tmp_path, "Olga", capsys), Person(tmp_path, "Tom", capsys)
    team.observe("team1", "briefing")
    team.observe("team1", "a lead")
    for me, other in ((org, team), (team, org)):
        pub = IdentityStore(other.home).load().public_key_b64
        TrustStore(me.home).add(other.key_id, pub, other.actor)
    parent = ["--home", str(org.home)]
    (code, summary, err), (ccode, checked, cerr) = _with_served(
        team, [*parent, "rollup", str(org.vault), "CHILD", "--summary", "--json"],
        [*parent, "rollup", "check", str(org.vault), "CHILD", "--json"])
    assert code == 0, err
    assert summary["mode"] == "summary"
    assert summary["child"]["state_hash"] == team.state()["state_hash"]
    assert summary["child"]["event_count"] == team.state()["event_count"]
    assert ccode == 0, cerr
    assert checked["status"] == "same"
    # The parent holds the attestation, none of the child's events, and no scratch copy.
    assert team.actor not in _authors(org.vault)
    assert list((tmp_path / "tmp").iterdir()) == []
    # Full merge over the network: the child's events come in, attested.
    team.observe("team1", "a second lead")
    [(code, full, err)] = _with_served(
        team, [*parent, "rollup", str(org.vault), "CHILD", "--json"])
    assert code == 0, err
    assert full["mode"] == "full"
    assert full["imported"] == team.state()["event_count"]
    assert full["since_previous"]["status"] == "grown"
    assert team.actor in _authors(org.vault)
    assert org.ok("verify", str(org.vault))["ok"]
