"""The smaller things found while probing: what a killed export leaves behind, the
attachment count of a verified bundle, a bundle's declarations (event_count, prerequisites)
that were ignored without a word, a hash mismatch named once, and the last-resort guard of
the CLI (exit 3, one line, the details in the log file)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from typing import TYPE_CHECKING

import pytest

from provara_desktop.bundle import format as fmt
from provara_desktop.cli import main
from tests.hostile.conftest import (
    Copy,
    members_of,
    one_error_line,
    run,
    signed_bundle,
    tree_digest,
)

if TYPE_CHECKING:
    from pathlib import Path


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_export_removes_what_killed_exports_left(user: Copy,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = user.tmp / "out"
    out_dir.mkdir()
    stale = out_dir / f".old.provara-bundle.partial-{_dead_pid()}"
    stale.write_bytes(b"PK half a bundle")
    live = out_dir / f".other.provara-bundle.partial-{__import__('os').getpid()}"
    live.write_bytes(b"PK being written")  # a running export's: left alone
    code, _, err = run(capsys, user.home, "export", str(user.vault),
                       str(out_dir / "new.provara-bundle"))
    assert code == 0, err
    assert not stale.exists()
    assert live.exists()
    assert f"note: removed {stale.name}" in err


def test_bundle_verify_counts_attachments(user: Copy,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    att = user.tmp / "scan.txt"
    att.write_bytes(b"evidence\n")
    assert run(capsys, user.home, "observe", str(user.vault), "--subject", "door",
               "--predicate", "photo", "--value", '"x"', "--attach", str(att))[0] == 0
    out = user.tmp / "a.provara-bundle"
    assert run(capsys, user.home, "export", str(user.vault), str(out))[0] == 0
    code, raw, err = run(capsys, user.home, "bundle", "verify", str(out), "--json")
    assert code == 0, err
    assert json.loads(raw)["attachment_count"] == 1  # was 0: counted after the file closed


@pytest.mark.parametrize(("declared", "words"), [
    (3, "events.ndjson line 4: more events than the 3 the signed bundle.json declares"),
    (5, "events.ndjson: 4 events, but the signed bundle.json declares 5"),
])
@pytest.mark.parametrize("cmd", ["bundle verify", "import"])
def test_declared_event_count_is_enforced(cmd: str, declared: int, words: str, user: Copy,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    bundle = signed_bundle(user.tmp / "c.provara-bundle", b"\n".join(user.lines) + b"\n",
                           user.key, members_of(user.bundle), patch={"event_count": declared})
    before = tree_digest(user.vault)
    argv = (["bundle", "verify", str(bundle)] if cmd == "bundle verify"
            else ["import", str(user.vault), str(bundle)])
    code, _, err = run(capsys, user.home, *argv)
    assert code == 1, err
    assert words in one_error_line(err)
    assert tree_digest(user.vault) == before


def test_declared_prerequisite_missing_from_the_vault_is_refused(
        user: Copy, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/BUNDLE_FORMAT.md: the receiver must hold every prerequisite, or the import is
    refused. One no event refers to was ignored before."""
    missing = "evt_" + "0" * 24
    bundle = signed_bundle(user.tmp / "p.provara-bundle", b"\n".join(user.lines) + b"\n",
                           user.key, members_of(user.bundle),
                           patch={"prerequisites": [missing]})
    before = tree_digest(user.vault)
    code, _, err = run(capsys, user.home, "import", str(user.vault), str(bundle))
    assert code == 1, err
    msg = one_error_line(err)
    assert "prerequisite event(s) are not in the vault" in msg, msg
    assert missing in msg
    assert tree_digest(user.vault) == before
    code, raw, err = run(capsys, user.home, "bundle", "verify", str(bundle), "--vault",
                         str(user.vault), "--json")
    assert code == 1, err
    assert json.loads(raw)["missing_prerequisites"] == [missing]


def test_hash_mismatch_names_the_bundle_once(user: Copy,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    att = user.tmp / "scan.txt"
    att.write_bytes(b"scan of the door\n")
    assert run(capsys, user.home, "observe", str(user.vault), "--subject", "door",
               "--predicate", "photo", "--value", '"x"', "--attach", str(att))[0] == 0
    good = user.tmp / "a.provara-bundle"
    assert run(capsys, user.home, "export", str(user.vault), str(good))[0] == 0
    bad = user.tmp / "b.provara-bundle"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members_of(good).items():
            zf.writestr(name, data.replace(b"door", b"dorr") if name.startswith(
                fmt.CAS_PREFIX) else data)
    other = user.tmp / "other-vault"
    assert run(capsys, user.home, "init", str(other))[0] == 0
    before = tree_digest(other)
    code, _, err = run(capsys, user.home, "import", str(other), str(bad))
    msg = one_error_line(err)
    assert code == 1, err
    assert "does not match the sha256" in msg, msg
    assert msg.count(str(bad)) == 1, msg  # was printed twice
    assert tree_digest(other) == before


def test_an_unexpected_exception_is_one_line_and_exit_3(
        user: Copy, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The last resort, for a bug: no traceback on the terminal, the details in the log."""
    import provara_desktop.cli_keys as cli_keys

    def broken(_args: object) -> int:
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(cli_keys, "cmd_keys", broken)
    capsys.readouterr()
    code = main(["--home", str(user.home), "keys", str(user.vault)])
    _, err = capsys.readouterr()
    assert code == 3
    assert "Traceback" not in err
    assert err.count("\n") == 1
    log = user.home / "logs" / "provara-desktop.log"
    assert err.startswith("internal error: RuntimeError: a bug (details in the log file "
                          f"{log})"), err
    assert "Traceback" in log.read_text("utf-8")
    assert "with a second line" in log.read_text("utf-8")


def test_the_guard_catches_tracebacks_of_the_real_program(user: Copy, tmp_path: Path) -> None:
    """Through a real process: an exception the code did not expect still ends in one line."""
    env = {"PATH": "/usr/bin:/bin", "PROVARA_PASSPHRASE": "x"}
    code = ("import sys, provara_desktop.cli as c\n"
            "c.cmd_state = lambda a: 1 / 0\n"
            "sys.exit(c.main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "--home", str(user.home), "state",
                        str(user.vault)], capture_output=True, text=True, env=env,
                       check=False, cwd=tmp_path)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith("internal error: ZeroDivisionError: division by zero")
