"""Real multicast between hosts: network namespaces joined by a bridge (the MACHINE recipe).

Each test gets its own namespaces, named uniquely for this run (several runs, or helpers,
may use namespaces at the same time), and they are always deleted at teardown. Traffic goes
only to loopback or to these namespaces' own 10.77.0.x addresses: the bridge is itself in a
namespace of its own, joined to nothing else.

Needs root and iproute2's ``ip``. Without root the tests skip, saying so; as root under
CI=true a namespace that cannot be made fails the test (a skipped LAN test in CI would hide
that the check never ran).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import in_ci

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO = Path(__file__).resolve().parents[2]
SUBNET = "10.77.0"
CMD_TIMEOUT = 15.0


def _prerequisite() -> str | None:
    if os.name != "posix" or os.geteuid() != 0:
        return "network namespaces need root (CI runs these tests as root)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    return None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=CMD_TIMEOUT)


@dataclass
class Lan:
    """Hosts ``a``, ``b``, ``c``... each in a namespace with ``veth0`` = 10.77.0.<n>/24 (v4)
    and fd77::<n>/64 (v6), all on one bridge in a namespace of their own."""

    tag: str
    hosts: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def ns(self, host: str) -> str:
        return f"pv{self.tag}-{host}"

    @property
    def bridge_ns(self) -> str:
        return f"pv{self.tag}-br"

    def addr(self, host: str) -> str:
        return f"{SUBNET}.{self.hosts[host]}"

    def addr6(self, host: str) -> str:
        return f"fd77::{self.hosts[host]}"

    def add_host(self, host: str) -> None:
        n = len(self.hosts) + 1
        ns, br = self.ns(host), self.bridge_ns
        _ip("netns", "add", ns)
        self.hosts[host] = n
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "veth0", "netns", ns, "type", "veth", "peer", "name", f"br-{host}",
            "netns", br)
        _ip("-n", br, "link", "set", f"br-{host}", "master", "br0")
        _ip("-n", br, "link", "set", f"br-{host}", "up")
        _ip("-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "veth0")
        _ip("-n", ns, "-6", "addr", "add", f"{self.addr6(host)}/64", "dev", "veth0", "nodad")
        _ip("-n", ns, "link", "set", "veth0", "up")

    def cut(self, host: str) -> None:
        """Take the host's bridge port down: its namespace is up, nothing reaches it."""
        _ip("-n", self.bridge_ns, "link", "set", f"br-{host}", "down")

    def command(self, host: str, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns(host), sys.executable, *args]

    def start(self, host: str, args: Sequence[str]) -> subprocess.Popen[str]:
        proc = subprocess.Popen(self.command(host, args), cwd=REPO, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        self.procs.append(proc)
        return proc

    def run(self, host: str, args: Sequence[str], timeout: float = 60.0
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(host, args), cwd=REPO, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def announce(self, host: str, *extra: str) -> dict[str, Any]:
        """A peer_main announcer on the host's own address; its ready line."""
        proc = self.start(host, ["-m", "tests.lan.peer_main", "announce", "--interface",
                                 self.addr(host), "--lifetime", "90", *extra])
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: peer_main gives up after 15 s
        if not line:
            _, err = proc.communicate(timeout=CMD_TIMEOUT)
            pytest.fail(f"the announcer in {self.ns(host)} died: {err[-2000:]}")
        doc: dict[str, Any] = json.loads(line)
        assert doc["ready"], f"the announcer in {self.ns(host)} did not announce: {doc}"
        return doc

    def teardown(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                if proc.stdin is not None:
                    proc.stdin.close()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        for ns in [*(self.ns(h) for h in self.hosts), self.bridge_ns]:
            _ip("netns", "del", ns, check=False)


@pytest.fixture
def lan() -> Iterator[Lan]:
    reason = _prerequisite()
    if reason is not None:
        if in_ci() and os.name == "posix" and os.geteuid() == 0:
            pytest.fail(f"{reason} (CI=true and root: the LAN tests must run)")
        pytest.skip(reason)
    net = Lan(tag=secrets.token_hex(3))
    try:
        try:
            _ip("netns", "add", net.bridge_ns)
            _ip("-n", net.bridge_ns, "link", "set", "lo", "up")
            _ip("-n", net.bridge_ns, "link", "add", "br0", "type", "bridge")
            _ip("-n", net.bridge_ns, "link", "set", "br0", "up")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            detail = getattr(exc, "stderr", "") or exc
            if in_ci():
                pytest.fail(f"cannot create network namespaces as root: {detail}")
            pytest.skip(f"cannot create network namespaces here: {detail}")
        yield net
    finally:
        net.teardown()
        left = [n for n in _ip("netns", "list", check=False).stdout.split()
                if n.startswith(f"pv{net.tag}-")]
        assert not left, f"namespaces left behind: {left}"


def wait_until(pred: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if got := pred():
            return got
        time.sleep(0.1)
    return pred()
