"""Tampering is never laundered (issue "Hostile input", item 3).

A write on a vault whose files no longer match its manifest is refused, with nothing
changed; and a vault that lost events since this profile last saw it raises an alert naming
what went missing, even when whoever removed them re-sealed the manifest (here with the
reference's own `provara manifest`, the tool an attacker would reach for)."""

from __future__ import annotations

import hashlib
import subprocess
from typing import TYPE_CHECKING

from provara_desktop.store import layout
from provara_desktop.store.seen_heads import SeenHeads, seen_event
from tests.conftest import require_reference_cli
from tests.store.test_cli import alice, identity_files, ok_json, one_line_error, run

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

__all__ = ["alice", "identity_files"]  # fixtures this module uses by name


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_vault(capsys: pytest.CaptureFixture[str], v: Path, n: int = 3) -> list[str]:
    assert run(capsys, "init", str(v))[0] == 0
    ids = []
    for i in range(n):
        doc = ok_json(capsys, "observe", str(v), "--subject", f"door{i}",
                      "--predicate", "state", "--value", '"open"')
        ids.append(doc["event_id"])
    return ids


def cut_last_line(v: Path) -> bytes:
    log = v / layout.EVENTS
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:-1]))
    return lines[-1]


def reseal_with_reference(v: Path) -> None:
    exe = require_reference_cli()
    done = subprocess.run([exe, "manifest", str(v)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_observe_refuses_a_vault_whose_log_lost_its_last_event(
        alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "v"
    make_vault(capsys, v)
    cut_last_line(v)
    before = snapshot(v)
    code, _out, err = run(capsys, "observe", str(v), "--subject", "x", "--predicate", "y",
                          "--value", "1")
    assert code == 1
    # One warning (this profile saw the cut event: see the tests below) and one error.
    warning, line = err.splitlines()
    assert warning.startswith("warning: ")
    assert "Traceback" not in err
    assert line.startswith("error: ")
    assert "events/events.ndjson" in line
    assert "manifest.json" in line
    assert "nothing was written" in line
    assert snapshot(v) == before
    # And it stays visible: verify still fails (before the fix the write re-sealed the
    # manifest and verify said OK).
    assert run(capsys, "verify", str(v))[0] == 1


def test_a_changed_small_file_is_refused_too(
        alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "v"
    make_vault(capsys, v, n=1)
    policy = v / "policies" / "safety_policy.json"
    policy.write_bytes(policy.read_bytes().replace(b"{", b"{ ", 1))
    before = snapshot(v)
    code, _out, err = run(capsys, "observe", str(v), "--subject", "x", "--predicate", "y",
                          "--value", "1")
    assert code == 1
    assert "policies/safety_policy.json" in one_line_error(err)
    assert snapshot(v) == before


def test_resealed_loss_is_named_by_this_profiles_memory(
        alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "v"
    ids = make_vault(capsys, v)
    cut_last_line(v)
    reseal_with_reference(v)  # the manifest now matches the shortened log
    code, out, err = run(capsys, "verify", str(v), "--json")
    assert code == 1
    assert ids[-1] in err  # the one-line summary names the missing event
    import json

    problems = json.loads(out)["problems"]
    removed = [p for p in problems if p["code"] == "EVENTS_REMOVED"]
    assert removed
    assert ids[-1] in removed[0]["message"]
    # Reading commands warn; writing ones refuse, naming the event.
    code, _out, err = run(capsys, "state", str(v))
    assert code == 0
    assert ids[-1] in err
    before = snapshot(v)
    code, _out, err = run(capsys, "observe", str(v), "--subject", "x", "--predicate", "y",
                          "--value", "1")
    assert code == 1
    assert ids[-1] in err.splitlines()[-1]
    assert snapshot(v) == before
    # The alert survives re-opening until the user acknowledges it, with a reason.
    assert run(capsys, "verify", str(v))[0] == 1
    doc = ok_json(capsys, "acknowledge-loss", str(v), "--reason", "restored from backup")
    assert doc["acknowledged"]
    assert doc["missing"][0]["event_id"] == ids[-1]
    assert run(capsys, "verify", str(v))[0] == 0
    assert run(capsys, "observe", str(v), "--subject", "x", "--predicate", "y",
               "--value", "1")[0] == 0


def test_events_coming_back_clear_the_alert(
        alice: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v = tmp_path / "v"
    make_vault(capsys, v)
    good = (v / layout.EVENTS).read_bytes()
    cut_last_line(v)
    reseal_with_reference(v)
    assert run(capsys, "verify", str(v))[0] == 1
    (v / layout.EVENTS).write_bytes(good)
    reseal_with_reference(v)
    assert run(capsys, "verify", str(v))[0] == 0
    code, _out, err = run(capsys, "state", str(v))
    assert code == 0
    assert "removed" not in err


def test_memory_counts_fewer_events_even_when_heads_survive(tmp_path: Path) -> None:
    """A middle event of a fork branch can go without any remembered head going: the count
    of events seen catches it."""
    mem = SeenHeads(tmp_path / "m.json", "uid-1")
    heads = {"alice": seen_event("evt_a", "alice", "OBSERVATION", None)}
    assert mem.check(present=lambda e: True, count=lambda: 5, heads=lambda _seen: heads) is None
    loss = mem.check(present=lambda e: True, count=lambda: 4, heads=lambda _seen: heads)
    assert loss is not None
    assert loss.fewer_events == 1
    assert "4 events, 1 fewer than the 5" in loss.message("v")


def test_a_damaged_memory_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b"{not json")
    mem = SeenHeads(path, "uid-1")
    heads = {"alice": seen_event("evt_a", "alice", None, None)}
    assert mem.check(present=lambda e: True, count=lambda: 1, heads=lambda _seen: heads) is None
    # ...and replaced by a good one.
    assert mem.load().heads["alice"].event_id == "evt_a"


def _append_many(root: str, home: str, n: int) -> None:
    from pathlib import Path

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.evidence import observe
    from provara_desktop.store.vault import Vault

    key = SigningKey(b"\x0c" * 32)
    with Vault.open(Path(root), home=Path(home)) as vault:
        for i in range(n):
            observe(vault, key, "carol-" + key.key_id[4:12], subject=f"s{i}",
                    predicate="p", value=i)


def test_a_writer_sharing_the_profile_never_raises_a_false_alarm(tmp_path: Path) -> None:
    """One process appends while another opens and closes the vault, both with the same
    profile (and so the same memory): the reader must never see its own stale view as a
    loss."""
    import multiprocessing

    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

    home, root = tmp_path / "home", tmp_path / "v"
    key = SigningKey(b"\x0c" * 32)
    Vault.init(root, key=key, actor="carol-" + key.key_id[4:12], home=home).close()
    writer = multiprocessing.get_context("fork").Process(
        target=_append_many, args=(str(root), str(home), 40))
    writer.start()
    try:
        looks = 0
        while writer.is_alive() and looks < 400:  # bounded
            with Vault.open(root, home=home) as vault:
                assert vault.loss is None, vault.loss.message(str(root))
            looks += 1
    finally:
        writer.join(60)
    assert writer.exitcode == 0
    assert looks > 0
    with Vault.open(root, home=home) as vault:
        assert vault.loss is None
        assert vault.index.count() >= 41
