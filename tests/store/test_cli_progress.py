"""The command line's indexing progress on stderr: silent for quick runs, one line rewritten
in place on a terminal, a line every few seconds into a file or pipe."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from provara_desktop.cli_progress import PIPE_EVERY, IndexProgressLine
from provara_desktop.store.index_build import IndexBuildProgress

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(stream: io.StringIO, steps: list[tuple[float, int]], total: int = 1000) -> None:
    """Report (elapsed seconds, bytes done) steps, as index_log does, then the end."""
    clock = Clock()
    line = IndexProgressLine(stream, clock=clock)
    for elapsed, done in steps:
        clock.now = elapsed
        line(IndexBuildProgress(events=done // 10, log_bytes=done, total_bytes=total,
                                elapsed=elapsed))
    line.close()


def test_a_quick_run_prints_nothing() -> None:
    out = io.StringIO()
    run(out, [(0.1, 500), (0.3, 1000), (0.3, 1000)])
    assert out.getvalue() == ""


def test_into_a_pipe_a_line_every_few_seconds_and_one_at_the_end() -> None:
    out = io.StringIO()
    steps = [(0.2 * i, 40 * i) for i in range(1, 25)] + [(5.0, 1000), (5.0, 1000)]
    run(out, steps)
    lines = out.getvalue().splitlines()
    assert lines[0] == "indexing the vault: 20 events, 20% of the log"  # first after 1 s
    assert lines[-1] == "indexed the vault: 100 events in 5.0 s"
    assert len(lines) <= 2 + 5.0 / PIPE_EVERY
    assert "\r" not in out.getvalue()


def test_on_a_terminal_one_line_rewritten_at_most_four_times_a_second() -> None:
    out = Tty()
    steps = [(0.05 * i, 10 * i) for i in range(1, 100)] + [(5.0, 1000)]
    run(out, steps)
    text = out.getvalue()
    assert text.count("\n") == 1  # one line, ended once
    assert text.endswith("\rindexed the vault: 100 events in 5.0 s\x1b[K\n")
    updates = text.count("\r")
    assert 2 <= updates <= 5.0 * 4 + 1


def test_a_run_stopped_by_an_error_ends_its_line(tmp_path: Path) -> None:
    out = Tty()
    run(out, [(1.5, 300)])
    assert out.getvalue().endswith("\n")


def test_the_cli_reports_a_long_index_build_on_stderr_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from provara_desktop import cli_progress
    from provara_desktop.cli import main
    from provara_desktop.core.keys import SigningKey
    from provara_desktop.store.vault import Vault

    home = tmp_path / "home"
    Vault.init(tmp_path / "v", key=SigningKey.generate(), actor="alice", home=home).close()
    monkeypatch.setattr(cli_progress, "QUIET_SECONDS", 0.0)  # report even this tiny build
    code = main(["--home", str(tmp_path / "other-home"), "log", str(tmp_path / "v"),
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "indexed the vault: 2 events" in err
    assert "indexed" not in out
