"""The Peers tab against real peers on loopback only: an in-process mDNS announcer bound to
127.0.0.1, real ``pair offer``/``pair join`` and ``serve --port 0 --no-discovery``
processes with their own profiles. Every wait is bounded (qtbot.waitUntil with a timeout,
process waits with a timeout)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.net.app_peer import LanOptions, LanService, PeerState
from provara_desktop.net.frontier_gap import FrontierGap
from provara_desktop.net.sync_history import SyncRecord
from provara_desktop.runtime.async_loop import AsyncLoop
from provara_desktop.store.identity import IdentityStore
from provara_desktop.store.trust import TrustStore
from provara_desktop.ui.models.peers_model import Column, PeersModel
from provara_desktop.ui.views.peers_view import PeersView
from tests.ui.conftest import PASSPHRASE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from provara_desktop.session import VaultSession

REPO = Path(__file__).resolve().parents[2]
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
WAIT_MS = 30_000
PROC_TIMEOUT = 60


class Bob:
    """The other person: a profile, an identity, a vault of the same uid, the real CLI."""

    def __init__(self, base: Path, uid: str) -> None:
        self.home = base / "bob-home"
        self.vault = base / "bob-vault"
        self.ident = IdentityStore(self.home, **FAST).create("Bob", PASSPHRASE)
        self.key = IdentityStore(self.home, **FAST).unlock(PASSPHRASE)
        self.procs: list[subprocess.Popen[str]] = []
        done = self.run("init", str(self.vault), "--uid", uid)
        assert done.returncode == 0, done.stderr

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PROVARA_HOME"}
        env.update(PROVARA_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(REPO))
        return env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "provara_desktop", "--home", str(self.home), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=self.env(),
                              timeout=PROC_TIMEOUT, check=False, cwd=REPO)

    def start(self, *args: str) -> subprocess.Popen[str]:
        p = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=self.env(), cwd=REPO)
        self.procs.append(p)
        return p

    def observe(self, n: int) -> None:
        for i in range(n):
            done = self.run("observe", str(self.vault), "--subject", f"bob-{i}",
                            "--predicate", "seen", "--value", str(i))
            assert done.returncode == 0, done.stderr

    def log(self) -> bytes:
        return (self.vault / "events" / "events.ndjson").read_bytes()

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=10)


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def first_line(p: subprocess.Popen[str]) -> Any:
    """The process's first stdout line as JSON (bounded: the process must print it)."""
    import threading

    box: list[str] = []
    t = threading.Thread(target=lambda: box.append(p.stdout.readline() if p.stdout else ""),
                         daemon=True)
    t.start()
    t.join(PROC_TIMEOUT)
    assert box, "no output"
    assert box[0], f"no output; stderr: {p.stderr.read() if p.stderr else ''}"
    return json.loads(box[0])


@pytest.fixture
def bob(tmp_path: Path, session: VaultSession) -> Iterator[Bob]:
    b = Bob(tmp_path, session.vault.uid)
    yield b
    b.stop()


@pytest.fixture
def lan(home: Path) -> Iterator[LanService]:
    loop = AsyncLoop("test-net").start()
    service = LanService(loop, home, LanOptions(host="127.0.0.1", port=0,
                                                interfaces=["127.0.0.1"], discovery=False))
    yield service
    try:
        service.stop_peer().result(20)
    finally:
        loop.stop(timeout=10)


@pytest.fixture
def view(qtbot, session: VaultSession, lan: LanService, unlocked) -> PeersView:  # type: ignore[no-untyped-def]
    ident, key = unlocked
    v = PeersView(session, None, lan=lan, key_provider=lambda: key,
                  name_provider=lambda: ident.name, offer_host="127.0.0.1")
    qtbot.addWidget(v)
    v.show()
    qtbot.waitUntil(lambda: v.snapshot is not None, timeout=WAIT_MS)
    return v


def cell(v: PeersView, ident: str, col: Column) -> str:
    row = v.model.row_of(ident)
    assert row >= 0, [r.ident for r in v.model.rows()]
    return str(v.model.index(row, col).data())


def trust_each_other(home: Path, ident: Any, key: Any, bob: Bob) -> None:
    TrustStore(home).add(bob.ident.key_id, bob.ident.public_key_b64, "Bob")
    TrustStore(bob.home).add(ident.key_id, key.public.b64, ident.name)


def serve(bob: Bob) -> str:
    p = bob.start("serve", str(bob.vault), "--host", "127.0.0.1", "--port", "0", "--json",
                  "--no-discovery")
    ready = first_line(p)
    return f"{ready['host']}:{ready['port']}"


# -- the model ----------------------------------------------------------------------------

def _row(ident: str, **kw: Any) -> PeerState:
    base: dict[str, Any] = {"name": ident, "addresses": ("127.0.0.1:1",), "source": "mdns",
                            "trust": "unknown", "trust_detail": "", "key_id": None}
    base.update(kw)
    return PeerState(ident, **base)


def test_peers_model_passes_the_model_tester_through_inserts_updates_and_removals(
        qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = PeersModel()
    qtmodeltester.check(model)
    rec = SyncRecord("bp1_x", "127.0.0.1:1", "2026-12-02T01:00:00.000Z", True, True,
                     received=3)
    model.set_rows([_row("a"), _row("b", trust="paired", last_sync=rec,
                                    gap=FrontierGap(3, 1, 0, 0, True))])
    qtmodeltester.check(model)
    assert model.index(1, Column.THEY_HAVE).data() == ("they have 3 events from 1 actor "
                                                       "that you lack")
    assert model.index(1, Column.STATUS).data() == "synced"
    assert model.index(0, Column.STATUS).data() == "not paired"
    model.set_rows([_row("b", trust="paired", syncing=True), _row("c")])
    qtmodeltester.check(model)
    assert [r.ident for r in model.rows()] == ["b", "c"]
    assert model.index(0, Column.STATUS).data() == "connected, syncing…"


# -- discovery ------------------------------------------------------------------------------

def test_the_panel_lists_a_peer_announced_on_loopback_with_diagnostics(
        qtbot, session: VaultSession, home: Path, unlocked) -> None:  # type: ignore[no-untyped-def]
    """Discovery on (loopback only); another announcer in this process says "Bob"."""
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net.discovery import Announcement, MdnsDiscovery
    from provara_desktop.net.peers_view import PeersInView

    ident, key = unlocked
    loop = AsyncLoop("test-net-mdns").start()
    service = LanService(loop, home, LanOptions(host="127.0.0.1", port=0,
                                                interfaces=["127.0.0.1"]))
    other = SigningKey.generate()
    name = f"Bob {other.key_id[4:10]}"
    announcer = MdnsDiscovery(PeersInView(), interfaces=["127.0.0.1"], browse=False,
                              announcement=Announcement(45999, other.key_id, name))
    try:
        assert loop.submit(announcer.start()).result(30)
        v = PeersView(session, None, lan=service, key_provider=lambda: key,
                      name_provider=lambda: ident.name)
        qtbot.addWidget(v)
        v.show()
        qtbot.waitUntil(lambda: any(r.name == name for r in v.model.rows()), timeout=WAIT_MS)
        row = next(r for r in v.model.rows() if r.name == name)
        assert row.addresses == ("127.0.0.1:45999",)
        assert cell(v, row.ident, Column.SEEN) == "found on the LAN"
        assert cell(v, row.ident, Column.TRUST) == "unknown"
        assert cell(v, row.ident, Column.THEY_HAVE) == "unknown until a sync"
        text = v.diagnostics.toPlainText()
        assert "127.0.0.1: joined" in text
        qtbot.waitUntil(lambda: "Announcing: yes · browsing: yes"
                        in v.diagnostics.toPlainText(), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "Last answer: none yet" not in v.diagnostics.toPlainText(),
                        timeout=WAIT_MS)
        assert "Listening on 127.0.0.1:" in v.state_label.text()
    finally:
        loop.submit(announcer.stop()).result(20)
        service.stop_peer().result(20)
        loop.stop(timeout=10)


def test_a_peer_added_by_address_is_listed_and_a_bad_address_is_said(
        qtbot, view: PeersView) -> None:  # type: ignore[no-untyped-def]
    view.add_peer("127.0.0.1:47999")
    qtbot.waitUntil(lambda: view.model.row_of("manual:127.0.0.1:47999") >= 0,
                    timeout=WAIT_MS)
    assert cell(view, "manual:127.0.0.1:47999", Column.SEEN) == "added by address"
    view.add_peer("nonsense")
    assert "HOST:PORT" in view.reason_label.text()


# -- pairing --------------------------------------------------------------------------------

def _dialog(qtbot, view: PeersView):  # type: ignore[no-untyped-def]
    from provara_desktop.ui.dialogs.pairing_dialog import PairingDialog

    assert view.lan is not None
    key = view.key_provider()
    assert key is not None
    d = PairingDialog(view.lan, key, "Dana Tester", view, offer_host="127.0.0.1",
                      offer_port=0)
    qtbot.addWidget(d)
    d.show()
    return d


def test_offer_in_the_dialog_and_join_from_the_cli_pins_both(
        qtbot, view: PeersView, bob: Bob, home: Path, unlocked) -> None:  # type: ignore[no-untyped-def]
    ident, _ = unlocked
    d = _dialog(qtbot, view)
    d.offer_button.click()
    qtbot.waitUntil(lambda: d.code_label.text() != "", timeout=WAIT_MS)
    code = d.code_label.text()
    where = d.offer_where.text().split("join ", 1)[1].split(" ", 1)[0]
    assert ident.fingerprint in d.own_fp.text()
    join = bob.run("pair", "join", where, "--code", code, "--json")
    assert join.returncode == 0, join.stderr
    qtbot.waitUntil(lambda: "Paired with Bob" in d.status.text(), timeout=WAIT_MS)
    assert bob.ident.fingerprint in d.peer_fp.text()
    entry = TrustStore(home).trusted()[bob.ident.key_id]
    assert [s.kind for s in entry.sources] == ["paired"]
    out = json.loads(join.stdout)
    assert out["fingerprint"] == ident.fingerprint
    assert out["peer_recorded"] is True  # the dialog's side recorded it, and said so
    assert "Warning" not in d.status.text()
    assert ident.key_id in TrustStore(bob.home).trusted()


def test_the_dialog_warns_when_the_other_side_may_not_have_recorded(
        qtbot, view: PeersView) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.net import pairing

    d = _dialog(qtbot, view)
    other = SigningKey.generate()
    paired = pairing.Paired(pairing.OFFER, "bp1_self", "fp-self", pairing.Peer(
        "Erin", other.public.b64, other.key_id, other.public.fingerprint), "peer", b"s" * 32)
    d._finish(replace(paired, peer_recorded=False), None)
    assert "Paired with Erin" in d.status.text()
    assert "did not confirm" in d.status.text()
    assert f"trust remove {other.key_id}" in d.status.text()


def test_join_in_the_dialog_against_a_cli_offer_and_a_wrong_code_says_so(
        qtbot, view: PeersView, bob: Bob, home: Path, unlocked) -> None:  # type: ignore[no-untyped-def]
    ident, _ = unlocked
    # A wrong code first: refused plainly on both sides, nothing trusted anywhere.
    offer = bob.start("pair", "offer", "--host", "127.0.0.1", "--port", "0", "--timeout",
                      "30", "--json")
    first = first_line(offer)
    wrong = "0000-0000" if first["code"] != "0000-0000" else "1111-1111"
    d = _dialog(qtbot, view)
    d.tabs.setCurrentIndex(1)
    d.join_address.setCurrentText(f"{first['host']}:{first['port']}")
    d.join_code.setText(wrong)
    d.join_button.click()
    qtbot.waitUntil(lambda: "Wrong code" in d.status.text(), timeout=WAIT_MS)
    assert "Nothing was trusted" in d.status.text()
    assert offer.wait(PROC_TIMEOUT) == 1
    assert bob.ident.key_id not in TrustStore(home).trusted()
    assert ident.key_id not in TrustStore(bob.home).trusted()
    assert d.peer_fp.text() == ""
    # Then the right code on a new offer: both full fingerprints shown, both pinned.
    offer = bob.start("pair", "offer", "--host", "127.0.0.1", "--port", "0", "--timeout",
                      "30", "--json")
    first = first_line(offer)
    d.join_address.setCurrentText(f"{first['host']}:{first['port']}")
    d.join_code.setText(first["code"])
    d.join_button.click()
    qtbot.waitUntil(lambda: "Paired with Bob" in d.status.text(), timeout=WAIT_MS)
    assert offer.wait(PROC_TIMEOUT) == 0
    assert bob.ident.fingerprint in d.peer_fp.text()
    assert ident.fingerprint in d.own_fp.text()
    assert bob.ident.key_id in TrustStore(home).trusted()
    assert ident.key_id in TrustStore(bob.home).trusted()


# -- sync -----------------------------------------------------------------------------------

def test_sync_now_against_serve_converges_and_shows_result_gap_history_and_notice(
        qtbot, view: PeersView, bob: Bob, home: Path, session: VaultSession,
        unlocked) -> None:  # type: ignore[no-untyped-def]
    ident, key = unlocked
    trust_each_other(home, ident, key, bob)
    bob.observe(2)
    address = serve(bob)
    before = session.event_count
    notices: list[str] = []
    view.evidence_arrived.connect(notices.append)
    view.add_peer(address)
    manual = f"manual:{address}"
    qtbot.waitUntil(lambda: view.model.row_of(manual) >= 0, timeout=WAIT_MS)
    view.select_peer(manual)
    assert view.sync_button.isEnabled()
    view.sync_button.click()
    assert view.progress_box.isVisible()
    qtbot.waitUntil(lambda: "Synced with" in view.reason_label.text(), timeout=WAIT_MS)
    assert "received 4" in view.reason_label.text()  # Bob's genesis, seed and 2 observations
    assert not view.progress_box.isVisible()
    # The views picked the events up through the session's external-change path.
    qtbot.waitUntil(lambda: session.event_count == before + 4, timeout=WAIT_MS)
    assert notices
    assert "New evidence from" in notices[0]
    assert view.banner.isVisible()
    # Bob now holds ours too: the two logs are byte-identical.
    assert bob.log() == session.vault.events_path.read_bytes()
    # The row is Bob's key now (the address completed a sync), with the gap and history.
    kid = bob.ident.key_id
    qtbot.waitUntil(lambda: view.model.row_of(kid) >= 0 and cell(
        view, kid, Column.THEY_HAVE) != "unknown until a sync", timeout=WAIT_MS)
    assert cell(view, kid, Column.THEY_HAVE) == ("they have 4 events from 1 actor that you "
                                                 "lack")
    assert cell(view, kid, Column.YOU_HAVE).startswith("you have 2 events from 1 actor")
    assert cell(view, kid, Column.TRUST) == "trusted"
    view.select_peer(kid)
    assert view.history.count() == 1
    assert "received 4" in view.history.item(0).text()
    assert json.loads((home / "sync_history.json").read_text())["peers"][kid][0]["ok"]
    # Sync all: level now, a second session in the history.
    view.sync_all_button.click()
    qtbot.waitUntil(lambda: "received 0, sent 0" in view.reason_label.text(),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: view.history.count() == 2, timeout=WAIT_MS)


def test_an_unpaired_peer_is_refused_with_a_plain_reason(
        qtbot, view: PeersView, bob: Bob, session: VaultSession) -> None:  # type: ignore[no-untyped-def]
    address = serve(bob)
    before = digest(session.vault.root)
    view.add_peer(address)
    qtbot.waitUntil(lambda: view.model.row_of(f"manual:{address}") >= 0, timeout=WAIT_MS)
    view.select_peer(f"manual:{address}")
    view.sync_button.click()
    qtbot.waitUntil(lambda: "Sync stopped" in view.reason_label.text(), timeout=WAIT_MS)
    assert "pair with it first" in view.reason_label.text()
    assert digest(session.vault.root) == before


def test_cancel_stops_a_sync_waiting_on_the_peer_with_nothing_written(
        qtbot, view: PeersView, bob: Bob, home: Path, session: VaultSession,
        unlocked) -> None:  # type: ignore[no-untyped-def]
    """Bob's side completes the TLS handshake (it pins our key) and then says nothing: the
    session waits for its hello (30 s read deadline). Cancel ends it at once."""
    import asyncio

    from provara_desktop.net import tls

    ident, key = unlocked
    trust_each_other(home, ident, key, bob)
    assert view.lan is not None
    held: list[Any] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()  # until we hang up

    async def listen() -> Any:
        ctx = tls.server_context(bob.key, [key.public.raw])
        return await asyncio.start_server(silent, "127.0.0.1", 0, ssl=ctx)

    server = view.lan.loop.submit(listen()).result(20)
    port = server.sockets[0].getsockname()[1]
    before = digest(session.vault.root)
    try:
        view.add_peer(f"127.0.0.1:{port}")
        manual = f"manual:127.0.0.1:{port}"
        qtbot.waitUntil(lambda: view.model.row_of(manual) >= 0, timeout=WAIT_MS)
        view.select_peer(manual)
        view.sync_button.click()
        qtbot.waitUntil(lambda: view.progress is not None
                        and view.progress.phase == "handshake", timeout=WAIT_MS)
        qtbot.waitUntil(lambda: "handshake" in view.phase_label.text(), timeout=WAIT_MS)
        view.cancel_button.click()
        qtbot.waitUntil(lambda: "cancelled" in view.reason_label.text(), timeout=5000)
        assert "Sync stopped" in view.reason_label.text()
        assert not view.progress_box.isVisible()
        assert digest(session.vault.root) == before
        assert view.last_record is not None
        assert view.last_record.error_code == "CANCELLED"
    finally:
        async def close() -> None:
            server.close()
            for w in held:
                w.transport.abort()

        view.lan.loop.submit(close()).result(10)


def test_the_pair_button_opens_the_dialog_listening_where_the_peer_listens(
        qtbot, session: VaultSession, lan: LanService, unlocked) -> None:  # type: ignore[no-untyped-def]
    from provara_desktop.ui.dialogs.pairing_dialog import PairingDialog

    ident, key = unlocked
    v = PeersView(session, None, lan=lan, key_provider=lambda: key,
                  name_provider=lambda: ident.name)
    qtbot.addWidget(v)
    v.show()
    qtbot.waitUntil(lambda: v.snapshot is not None, timeout=WAIT_MS)
    assert v.pair_button.isEnabled()
    v.pair_button.click()
    assert isinstance(v.dialog, PairingDialog)
    assert v.dialog.offer_host == "127.0.0.1"  # the service's loopback-only host
    assert ident.fingerprint in v.dialog.own_fp.text()
    v.dialog.reject()


def test_the_app_serves_like_serve_a_peer_syncing_with_it_brings_a_notice(
        qtbot, view: PeersView, bob: Bob, home: Path, session: VaultSession,
        unlocked) -> None:  # type: ignore[no-untyped-def]
    """Bob runs `sync --peer` against the app's own listener: his events arrive, the
    session picks them up, the banner says so, and the history shows who started it."""
    ident, key = unlocked
    trust_each_other(home, ident, key, bob)
    bob.observe(2)
    assert view.snapshot is not None
    listening = view.snapshot.listening
    assert listening is not None
    before = session.event_count
    notices: list[str] = []
    view.evidence_arrived.connect(notices.append)
    # The listener pins keys trusted while it runs within a second (serve.TRUST_POLL):
    # until then Bob's handshake is refused, as it should be.
    from provara_desktop.net.serve import TRUST_POLL

    qtbot.wait(int(TRUST_POLL * 1000 * 2))
    done = bob.run("sync", str(bob.vault), "--peer", listening, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["peers"][0]["sent"] == 4
    qtbot.waitUntil(lambda: bool(notices), timeout=WAIT_MS)
    assert "4 events arrived" in notices[0]
    assert "Bob" in notices[0]
    qtbot.waitUntil(lambda: session.event_count == before + 4, timeout=WAIT_MS)
    assert bob.log() == session.vault.events_path.read_bytes()
    kid = bob.ident.key_id
    qtbot.waitUntil(lambda: view.model.row_of(kid) >= 0, timeout=WAIT_MS)
    view.select_peer(kid)
    qtbot.waitUntil(lambda: view.history.count() == 1
                    and "they synced" in view.history.item(0).text(), timeout=WAIT_MS)


def test_a_computer_we_did_not_pair_with_shows_in_the_refused_list(
        qtbot, view: PeersView, bob: Bob, session: VaultSession,
        unlocked) -> None:  # type: ignore[no-untyped-def]
    """Bob trusts us, we never trusted Bob: his `sync --peer` against the app's listener is
    turned down at the handshake, and this side says so (who, when, why) instead of only
    logging it; nothing of his is written."""
    ident, key = unlocked
    TrustStore(bob.home).add(ident.key_id, key.public.b64, ident.name)  # his side only
    bob.observe(1)
    assert view.snapshot is not None
    listening = view.snapshot.listening
    assert listening is not None
    assert view.refused.item(0).text() == "none since LAN sync started"
    before = digest(session.vault.root)
    done = bob.run("sync", str(bob.vault), "--peer", listening, "--json")
    assert done.returncode != 0
    qtbot.waitUntil(lambda: "not of a key you trust" in view.refused.item(0).text(),
                    timeout=WAIT_MS)
    assert "127.0.0.1:" in view.refused.item(0).text()
    assert "1 connection(s) refused" in view.state_label.text()
    assert digest(session.vault.root) == before
