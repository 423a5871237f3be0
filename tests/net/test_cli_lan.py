"""LAN sync as people run it: separate profiles (``--home``), every command a real
``python -m provara_desktop`` process, on 127.0.0.1 only. Two people pair with a one-time
code (``pair offer`` / ``pair join``), one runs ``serve --port 0 --json --no-discovery``, the
other ``sync --peer``, and their vaults converge (byte-identical events.ndjson, the same
state hash, the reference's ``provara verify`` passing on both). Three peers in a line
converge through the middle one; a wrong code and an unpaired peer are refused with nothing
changed; ``serve`` stops cleanly on SIGTERM and lets other commands write the vault.

Every wait is bounded (a line from a process, a process's exit, a whole command)."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.pwhash.argon2id
import pytest

from provara_desktop.store.identity import IdentityStore
from tests.conftest import optional_reference_cli

PASS = "correct horse battery staple"
FAST = {"opslimit": nacl.pwhash.argon2id.OPSLIMIT_MIN,
        "memlimit": nacl.pwhash.argon2id.MEMLIMIT_MIN}
UID = "6b0f1d2e-8c3a-4e5f-9a7b-1c2d3e4f5a6b"
REPO = Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT = 60.0
LINE_TIMEOUT = 30.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROVARA_HOME"}
    env["PROVARA_PASSPHRASE"] = PASS
    env["PYTHONPATH"] = str(REPO)
    return env


@dataclass
class Person:
    name: str
    home: Path
    vault: Path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "provara_desktop", "--home", str(self.home), *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True, env=_env(),
                              timeout=timeout, check=False, cwd=REPO)

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def observe(self, n: int, tag: str = "") -> None:
        for i in range(n):
            done = self.run("observe", str(self.vault), "--subject", f"{self.name}{tag}-{i}",
                            "--predicate", "seen", "--value", str(i))
            assert done.returncode == 0, done.stderr

    def key_id(self) -> str:
        return str(self.json("identity", "show")["key_id"])

    def log(self) -> bytes:
        return (self.vault / "events" / "events.ndjson").read_bytes()

    def state_hash(self) -> str:
        return str(self.json("state", str(self.vault))["state_hash"])

    def digest(self) -> dict[str, str]:
        return {p.relative_to(self.vault).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.vault.rglob("*")) if p.is_file()}


class Proc:
    """A running command whose stdout lines arrive on a queue (read by a thread, so every
    wait for a line has a deadline)."""

    def __init__(self, argv: list[str]) -> None:
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=_env(), cwd=REPO)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.p.stderr is not None
        self._stderr.extend(self.p.stderr)

    def line(self, timeout: float = LINE_TIMEOUT) -> str:
        try:
            got = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output within {timeout} s; stderr: "
                                 f"{self.stderr}") from None
        assert got is not None, f"the process ended; stderr: {self.stderr}"
        return got

    def json_line(self) -> Any:
        return json.loads(self.line())

    def wait(self, timeout: float = COMMAND_TIMEOUT) -> int:
        return self.p.wait(timeout=timeout)

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=10)


@pytest.fixture(scope="module")
def identity_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lan-identities")
    out = {}
    for name in ("Alice", "Bob", "Carol", "Mallory"):
        IdentityStore(base / name, **FAST).create(name, PASS)
        out[name] = base / name / "identity.json"
    return out


@pytest.fixture
def people(tmp_path: Path, identity_files: dict[str, Path]) -> Any:
    """people("Alice", ...) -> Persons with their own profile and a vault of one uid."""
    procs: list[Proc] = []

    def make(*names: str) -> list[Person]:
        out = []
        for name in names:
            home = tmp_path / f"{name}-home"
            home.mkdir()
            shutil.copyfile(identity_files[name], home / "identity.json")
            p = Person(name, home, tmp_path / f"{name}-vault")
            done = p.run("init", str(p.vault), "--uid", UID)
            assert done.returncode == 0, done.stderr
            out.append(p)
        return out

    make.procs = procs  # type: ignore[attr-defined]
    yield make
    for proc in procs:
        proc.kill()


def start(people: Any, argv: list[str]) -> Proc:
    proc = Proc(argv)
    people.procs.append(proc)
    return proc


def pair(people: Any, offerer: Person, joiner: Person, *, code: str | None = None
         ) -> tuple[int, Any, int, Any, str]:
    """Run pair offer / pair join; (offer's exit, its result line, join's exit, join's
    result, join's stderr)."""
    offer = start(people, offerer.argv("pair", "offer", "--host", "127.0.0.1", "--port", "0",
                                       "--timeout", "30", "--json"))
    first = offer.json_line()
    assert {"code", "host", "port"} <= set(first)
    assert list(first)[:3] == ["code", "host", "port"]
    join = joiner.run("pair", "join", f"{first['host']}:{first['port']}", "--code",
                      code or first["code"], "--json")
    offer_exit = offer.wait()
    offer_result = json.loads(offer.line())
    return offer_exit, offer_result, join.returncode, json.loads(join.stdout), join.stderr


def serve(people: Any, who: Person) -> tuple[Proc, str]:
    proc = start(people, who.argv("serve", str(who.vault), "--host", "127.0.0.1", "--port",
                                  "0", "--json", "--no-discovery", "--gossip-interval", "0"))
    ready = proc.json_line()
    assert ready["host"] == "127.0.0.1"
    assert ready["port"] > 0
    return proc, f"{ready['host']}:{ready['port']}"


def stop(proc: Proc) -> None:
    proc.p.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.lines.get(timeout=5) is None  # --json: the ready line was the only one


def sync(who: Person, address: str) -> tuple[int, Any, str]:
    done = who.run("sync", str(who.vault), "--peer", address, "--json")
    return done.returncode, json.loads(done.stdout) if done.stdout else None, done.stderr


def assert_converged(*persons: Person) -> None:
    logs = {p.log() for p in persons}
    assert len(logs) == 1, "events.ndjson differ"
    assert len({p.state_hash() for p in persons}) == 1
    for p in persons:
        assert p.json("verify", str(p.vault))["ok"]
    reference = optional_reference_cli()
    if reference is not None:
        for p in persons:
            done = subprocess.run([reference, "verify", str(p.vault)], capture_output=True,
                                  text=True, timeout=120, check=False)
            assert done.returncode == 0, done.stdout + done.stderr
            assert "PASS" in done.stdout


def paired_keys(p: Person) -> dict[str, Any]:
    return {k["key_id"]: k for k in p.json("trust", "list")["keys"]}


def test_two_people_pair_serve_and_sync_to_the_same_vault(people: Any) -> None:
    alice, bob = people("Alice", "Bob")
    a_id, b_id = alice.key_id(), bob.key_id()
    offer_exit, offered, join_exit, joined, _ = pair(people, alice, bob)
    assert (offer_exit, join_exit) == (0, 0)
    # Both people see both full fingerprints.
    a_fp = alice.json("identity", "show")["fingerprint"]
    b_fp = bob.json("identity", "show")["fingerprint"]
    assert (offered["key_id"], offered["fingerprint"]) == (b_id, b_fp)
    assert (joined["key_id"], joined["fingerprint"]) == (a_id, a_fp)
    assert offered["own_fingerprint"] == a_fp
    assert joined["own_fingerprint"] == b_fp
    # Each side recorded the pairing and heard that the other did too.
    assert offered["peer_recorded"] is True
    assert joined["peer_recorded"] is True
    for me, other, fps in ((alice, b_id, {"own": a_fp, "peer": b_fp}),
                           (bob, a_id, {"own": b_fp, "peer": a_fp})):
        entry = paired_keys(me)[other]
        assert entry["source"]["kind"] == "paired"
        assert entry["source"]["method"] == "spake2"
        assert entry["source"]["fingerprints"] == fps
        assert "127.0.0.1" in entry["source"]["peer"]
        secrets = json.loads((me.home / "pairing_secrets.json").read_text())
        assert set(secrets["peers"]) == {other}
        assert (me.home / "pairing_secrets.json").stat().st_mode & 0o777 == 0o600
    assert (json.loads((alice.home / "pairing_secrets.json").read_text())["peers"][b_id]
            ["secret_b64"] == json.loads((bob.home / "pairing_secrets.json").read_text())
            ["peers"][a_id]["secret_b64"])

    alice.observe(3)
    bob.observe(2)
    n_alice, n_bob = len(alice.log().splitlines()), len(bob.log().splitlines())
    server, address = serve(people, alice)
    code, report, err = sync(bob, address)
    assert code == 0, err
    (peer,) = report["peers"]
    assert {"peer", "sent", "received", "held_back", "forks", "duration_ms"} <= set(peer)
    assert "error" not in peer
    assert (peer["peer"], peer["key_id"]) == (address, a_id)
    assert (peer["sent"], peer["received"]) == (n_bob, n_alice)
    assert (peer["held_back"], peer["forks"]) == (0, [])
    assert len(bob.log().splitlines()) == n_alice + n_bob
    assert_converged(alice, bob)

    # While serve runs, another command writes the same vault (the vault lock), and the
    # next sync carries it.
    alice.observe(1, tag="-during-serve")
    code, report, err = sync(bob, address)
    assert code == 0, err
    assert (report["peers"][0]["sent"], report["peers"][0]["received"]) == (0, 1)
    assert_converged(alice, bob)
    stop(server)


def test_a_wrong_code_fails_on_both_sides_trusts_nothing_and_kills_the_offer(
        people: Any) -> None:
    alice, bob = people("Alice", "Bob")
    offer = start(people, alice.argv("pair", "offer", "--host", "127.0.0.1", "--port", "0",
                                     "--timeout", "30", "--json"))
    first = offer.json_line()
    wrong = "0000-0001" if first["code"] != "0000-0001" else "0000-0002"
    address = f"{first['host']}:{first['port']}"
    join = bob.run("pair", "join", address, "--code", wrong, "--json")
    assert join.returncode == 1, join.stderr
    assert "did not match" in join.stderr
    assert offer.wait() == 1
    assert json.loads(offer.line())["error_code"] == "WRONG_CODE"
    assert "did not match" in offer.stderr
    for p in (alice, bob):
        assert not (p.home / "trust.json").exists()
        assert not (p.home / "pairing_secrets.json").exists()
    # The code is dead: the right one now finds nobody listening (a connection error).
    again = bob.run("pair", "join", address, "--code", first["code"])
    assert again.returncode == 2
    assert "cannot connect" in again.stderr
    assert not (bob.home / "trust.json").exists()


def test_three_peers_in_a_line_converge_through_the_middle(people: Any) -> None:
    """A and C never talk: each is paired with B only. A's and C's events reach each other
    through B (their keys trusted by hand, since vouching is not built yet)."""
    alice, bob, carol = people("Alice", "Bob", "Carol")
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    assert pair(people, carol, bob)[0:3:2] == (0, 0)
    for me, other in ((alice, carol), (carol, alice)):
        shown = other.json("identity", "show")
        assert me.run("trust", "add", shown["key_id"], "--public-key",
                      shown["public_key_b64"], "--name", other.name).returncode == 0
    alice.observe(2)
    bob.observe(1)
    carol.observe(3)
    total = sum(len(p.log().splitlines()) for p in (alice, bob, carol))
    servers = {p.name: serve(people, p) for p in (alice, bob, carol)}
    # Round one: B with each end (these also record where A and C are reached).
    for end in ("Alice", "Carol"):
        code, _, err = sync(bob, servers[end][1])
        assert code == 0, err
    assert alice.log() != carol.log()  # A has not seen C's events yet
    # Round two: `sync --all` from B reaches both again; A now gets C's events via B.
    done = bob.run("sync", str(bob.vault), "--all", "--discovery-timeout", "0", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert sorted(p["key_id"] for p in report["peers"]) == sorted(
        (alice.key_id(), carol.key_id()))
    assert_converged(alice, bob, carol)
    assert len(alice.log().splitlines()) == total
    for proc, _ in servers.values():
        stop(proc)


def test_an_unpaired_peer_is_refused_and_nothing_changes(people: Any) -> None:
    alice, bob, mallory = people("Alice", "Bob", "Mallory")
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    alice.observe(2)
    mallory.observe(1)
    server, address = serve(people, alice)
    before = alice.digest(), mallory.digest()
    # Mallory trusts no one: her side refuses Alice's certificate.
    code, report, err = sync(mallory, address)
    assert code == 1, err
    assert report["peers"][0]["error_code"] == "UNTRUSTED_PEER"
    assert "error" in report["peers"][0]
    # Mallory trusts Alice's key (it is public): Alice's side refuses Mallory.
    shown = alice.json("identity", "show")
    assert mallory.run("trust", "add", shown["key_id"], "--public-key",
                       shown["public_key_b64"]).returncode == 0
    code, report, err = sync(mallory, address)
    assert code == 1, err
    assert report["peers"][0]["error_code"] == "UNTRUSTED_PEER"
    assert (alice.digest(), mallory.digest()) == before
    # Bob, paired, still syncs with the same server.
    code, _, err = sync(bob, address)
    assert code == 0, err
    stop(server)


def test_sync_usage_and_connection_errors_exit_2(people: Any) -> None:
    (alice,) = people("Alice")
    for args in ((), ("--peer", "nowhere"), ("--peer", "127.0.0.1:1", "--all")):
        done = alice.run("sync", str(alice.vault), *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1
    done = alice.run("sync", str(alice.vault), "--all", "--discovery-timeout", "0")
    assert done.returncode == 2
    assert "no trusted peer" in done.stderr
    done = alice.run("sync", str(alice.vault), "--peer", "127.0.0.1:1", "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["peers"][0]["error_code"] == "CONNECT"


def test_sigterm_cuts_an_open_session_and_serve_exits_0(people: Any) -> None:
    """A paired peer is mid-session (the server sent its hello and waits for the peer's);
    SIGTERM ends serve at once with exit 0, no traceback, and the peer sees the connection
    close, not a half-answered protocol."""
    import asyncio
    import time

    from provara_desktop.core.keys import PublicKey
    from provara_desktop.net import tls
    from provara_desktop.net.framing import FrameStream, Limits

    alice, bob = people("Alice", "Bob")
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    server, address = serve(people, alice)
    bob_key = IdentityStore(bob.home).unlock(PASS)
    alice_public = PublicKey.from_b64(alice.json("identity", "show")["public_key_b64"]).raw
    host, port = address.rsplit(":", 1)

    async def stalled_peer() -> tuple[str, str, float]:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(
            host, int(port), ssl=tls.client_context(bob_key, [alice_public])), 10)
        stream = FrameStream(reader, writer, limits=Limits(read_timeout=20.0))
        hello = await stream.read_frame()  # the session is open
        assert hello.message is not None
        began = time.monotonic()
        server.p.send_signal(signal.SIGTERM)
        try:
            await stream.read_frame()
            ended = "a frame"
        except Exception as exc:  # noqa: BLE001 - what the peer sees is the point
            ended = getattr(exc, "code", type(exc).__name__)
        writer.close()
        return str(hello.message["type"]), ended, time.monotonic() - began

    kind, ended, waited = asyncio.run(asyncio.wait_for(stalled_peer(), 30))
    assert kind == "hello"
    assert ended in ("CLOSED", "TRUNCATED")
    assert waited < 10  # cut, not left to its 30 s read deadline
    stop(server)
    # The vault is whole and still opens for writing.
    assert alice.json("verify", str(alice.vault))["ok"]
    alice.observe(1, tag="-after")


@pytest.mark.parametrize("discreet", [False, True], ids=["announced", "discreet"])
def test_sync_all_finds_a_paired_peer_by_discovery(people: Any, discreet: bool) -> None:
    """serve announces itself (on loopback only); `sync --all` finds it where it listens
    now (port 0: not the address pairing recorded), by its fingerprint prefix or, discreet,
    by the token only a paired peer recognises."""
    alice, bob = people("Alice", "Bob")
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    alice.observe(2)
    proc = start(people, alice.argv("serve", str(alice.vault), "--host", "127.0.0.1",
                                    "--port", "0", "--json",
                                    *(["--discreet"] if discreet else [])))
    ready = proc.json_line()
    if ready["discovery"].startswith("discovery is off"):
        stop(proc)
        pytest.skip(f"mDNS cannot run on loopback here: {ready['discovery']}")
    assert ready["discovery"] == ("discreet" if discreet else "on")
    address = f"{ready['host']}:{ready['port']}"
    done = bob.run("sync", str(bob.vault), "--all", "--interface", "127.0.0.1",
                   "--discovery-timeout", "5", "--json")
    assert done.returncode == 0, done.stderr
    (peer,) = json.loads(done.stdout)["peers"]
    assert (peer["peer"], peer["key_id"]) == (address, alice.key_id())
    assert_converged(alice, bob)
    if discreet:
        # `peers` recognises the paired peer by its token; a stranger sees no name, no key.
        (mallory,) = people("Mallory")
        for who, known in ((bob, True), (mallory, False)):
            seen = who.json("peers", "--interface", "127.0.0.1", "--timeout", "4")["peers"]
            ours = [p for p in seen if p["port"] == ready["port"]]
            assert len(ours) == 1, seen
            assert ours[0]["discreet"] is True
            assert ours[0]["name"] is None
            assert ours[0]["fingerprint"] is None
            assert ours[0]["key_id"] == (alice.key_id() if known else None)
    stop(proc)


def test_serve_follows_the_trust_store_while_it_runs(people: Any) -> None:
    """Pairing while serve runs lets the new peer in (its key is pinned within a second);
    `trust remove` shuts it out again, with the vault unchanged."""
    import time

    alice, bob = people("Alice", "Bob")
    bob.observe(1)
    server, address = serve(people, alice)
    code, report, _ = sync(bob, address)
    assert code == 1
    assert report["peers"][0]["error_code"] == "UNTRUSTED_PEER"
    assert pair(people, alice, bob)[0:3:2] == (0, 0)
    deadline = time.monotonic() + 15
    while True:  # the server's watch of trust.json runs once a second
        code, report, err = sync(bob, address)
        if code == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert code == 0, err
    assert_converged(alice, bob)
    assert alice.run("trust", "remove", bob.key_id()).returncode == 0
    bob.observe(1, tag="-after-removal")
    before = alice.digest()
    code, report, _ = sync(bob, address)
    assert code == 1
    assert report["peers"][0]["error_code"] == "UNTRUSTED_PEER"
    assert alice.digest() == before
    stop(server)


def test_pair_and_serve_usage_errors_exit_2_with_one_line(people: Any, tmp_path: Path) -> None:
    (alice,) = people("Alice")
    # Nobody comes: the offer gives up after its timeout, nothing trusted.
    offer = alice.run("pair", "offer", "--host", "127.0.0.1", "--port", "0", "--timeout", "1",
                      "--json")
    assert offer.returncode == 2, offer.stderr
    lines = offer.stdout.splitlines()
    assert json.loads(lines[0])["code"]
    assert json.loads(lines[1])["error_code"] == "NO_PEER"
    assert "nobody joined" in offer.stderr
    for argv in (("pair", "join", "127.0.0.1:1", "--code", "12-34"),  # not 8 digits
                 ("pair", "join", "no-port", "--code", "1234-5678"),
                 ("pair", "offer", "--timeout", "0"),
                 ("serve", str(alice.vault), "--port", "70000"),
                 ("serve", str(tmp_path / "no-such-vault"), "--port", "0")):
        done = alice.run(*argv)
        assert done.returncode == 2, (argv, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr
        assert "Traceback" not in done.stderr
    assert not (alice.home / "trust.json").exists()


def test_garbage_at_the_offer_uses_it_up_and_trusts_nothing(people: Any) -> None:
    import socket

    alice, bob = people("Alice", "Bob")
    offer = start(people, alice.argv("pair", "offer", "--host", "127.0.0.1", "--port", "0",
                                     "--timeout", "30", "--json"))
    first = offer.json_line()
    with socket.create_connection((first["host"], first["port"]), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        assert offer.wait() == 1
    assert json.loads(offer.line())["error_code"] == "GARBAGE"
    join = bob.run("pair", "join", f"{first['host']}:{first['port']}", "--code", first["code"])
    assert join.returncode == 2  # the offer is gone
    assert not (alice.home / "trust.json").exists()
    assert not (bob.home / "trust.json").exists()
