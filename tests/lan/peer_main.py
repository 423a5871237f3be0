"""A discovery peer in its own process (a network namespace's, or loopback's), for the tests.

    python -m tests.lan.peer_main announce --interface A --key-id K [--name N] [--discreet]
        [--secret KEY_ID=HEX]... [--port P] [--lifetime S]
    python -m tests.lan.peer_main browse --interface A [--secret KEY_ID=HEX]... [--timeout S]

``announce`` prints one JSON line ``{"ready": true, ...}`` once its announcement went out (or
``{"ready": false, "diagnostics": ...}``) and runs until stdin closes, SIGTERM, or the
lifetime ends (every test process is bounded). ``browse`` prints one JSON line with the
peers it saw (``peers_json``) and the diagnostics, then exits. Nothing here is the product:
``serve`` and ``peers`` are (the browser side of the tests also runs the real ``peers``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from provara_desktop.net.discovery import Announcement, MdnsDiscovery
from provara_desktop.net.peers_view import PeersInView, peers_json


def _secrets(pairs: list[str]) -> dict[str, bytes]:
    out = {}
    for pair in pairs:
        key_id, _, hexed = pair.partition("=")
        out[key_id] = bytes.fromhex(hexed)
    return out


def _print(doc: object) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


async def announce(args: argparse.Namespace) -> int:
    model = PeersInView()
    disc = MdnsDiscovery(model, interfaces=args.interface, secrets=_secrets(args.secret),
                         browse=False, announcement=Announcement(
                             args.port, args.key_id, name=args.name, discreet=args.discreet))
    if not await disc.start() or not await disc.wait_announced(15):
        _print({"ready": False, "diagnostics": disc.diagnostics.to_json()})
        await disc.stop()
        return 1
    info = disc._registered
    _print({"ready": True, "instance": info.name if info is not None else None,
            "server": info.server if info is not None else None})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except TimeoutError:
        pass
    await disc.stop()
    return 0


async def browse(args: argparse.Namespace) -> int:
    model = PeersInView()
    disc = MdnsDiscovery(model, interfaces=args.interface, secrets=_secrets(args.secret))
    ok = await disc.start()
    if ok:
        await asyncio.sleep(args.timeout)
    peers = model.peers()
    await disc.stop()
    _print({"peers": peers_json(peers, {}), "diagnostics": disc.diagnostics.to_json()})
    return 0 if ok else 1


def main() -> int:
    p = argparse.ArgumentParser(prog="peer_main")
    p.add_argument("mode", choices=["announce", "browse"])
    p.add_argument("--interface", action="append", required=True)
    p.add_argument("--secret", action="append", default=[], metavar="KEY_ID=HEX")
    p.add_argument("--key-id", default="bp1_0000000000000000")
    p.add_argument("--name")
    p.add_argument("--discreet", action="store_true")
    p.add_argument("--port", type=int, default=7400)
    p.add_argument("--lifetime", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=3.0)
    args = p.parse_args()
    return asyncio.run(announce(args) if args.mode == "announce" else browse(args))


if __name__ == "__main__":
    sys.exit(main())
