"""Every malformed value in every command that reads it: a damaged vault line (verify, state,
log, observe, report), a bundle signed by a trusted key and a delta file carrying it (bundle
verify, import, report). Each is refused with exit code 1 and one line naming the file and
the line, never a traceback, and the vault is byte-for-byte what it was.

These were tracebacks before (ValueError: Out of range float values..., Exceeds the limit
(4300 digits)..., UnicodeEncodeError: surrogates not allowed, UNIQUE constraint failed), and
a 900-level canonical line was imported although non-canonical ones stopped at 64 levels.
"""

from __future__ import annotations

import base64
import random
from typing import TYPE_CHECKING

import pytest

from tests.hostile.conftest import (
    BAD_VALUES,
    LOG,
    Copy,
    delta_file,
    members_of,
    one_error_line,
    run,
    signed_bundle,
    tree_digest,
    with_value,
)

if TYPE_CHECKING:
    from pathlib import Path

# A line over the limit that deflate cannot squeeze past the bomb guard.
_RANDOM_TEXT = b'"' + base64.b64encode(random.Random(10).randbytes(2_400_000)) + b'"'
CASES = {**BAD_VALUES, "oversized-line": (_RANDOM_TEXT, "line too large")}
# The duplicated line: the third event again, at the end.
DUP = "duplicated-line"
ALL = [*CASES, DUP]


def _damaged_lines(user: Copy, case: str) -> tuple[list[bytes], int, str]:
    """The event lines with the hostile case in them, the (1-based) line it is on among the
    events, and the words its message must hold."""
    lines = list(user.lines)
    if case == DUP:
        return [*lines, lines[2]], len(lines) + 1, f"line {len(lines) + 1} repeats line 3"
    value, words = CASES[case]
    lines[-1] = with_value(lines[-1], value)
    return lines, len(lines), words


def _vault_argv(cmd: str, user: Copy) -> list[str]:
    v = str(user.vault)
    return {"verify": ["verify", v], "state": ["state", v], "log": ["log", v],
            "observe": ["observe", v, "--subject", "door", "--predicate", "lock",
                        "--value", '"shut"'],
            "report": ["report", v, str(user.tmp / "r.html")]}[cmd]


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("cmd", ["verify", "state", "log", "observe", "report"])
def test_damaged_vault_line(cmd: str, case: str, user: Copy,
                            capsys: pytest.CaptureFixture[str]) -> None:
    lines, lineno, words = _damaged_lines(user, case)
    (user.vault / LOG).write_bytes(b"\n".join(lines) + b"\n")
    before = tree_digest(user.vault)
    code, _, err = run(capsys, user.home, *_vault_argv(cmd, user))
    if cmd == "report" and case == DUP:
        # Every event is readable: the report is written and says what verification found
        # (a chain-of-custody report of a damaged vault is what the user needs then).
        _reported(code, err, user, words)
        assert tree_digest(user.vault) == before
        return
    msg = one_error_line(err)
    assert code == 1, err
    assert f"events.ndjson line {lineno}" in msg or f"events.ndjson: line {lineno}" in msg, msg
    assert words in msg, msg
    assert tree_digest(user.vault) == before
    assert not (user.tmp / "r.html").exists()


def _bundle_argv(cmd: str, user: Copy, source: Path) -> list[str]:
    return {"bundle verify": ["bundle", "verify", str(source)],
            "import": ["import", str(user.vault), str(source)],
            "import --dry-run": ["import", str(user.vault), str(source), "--dry-run"],
            "report": ["report", str(source), str(user.tmp / "r.html")]}[cmd]


BUNDLE_COMMANDS = ["bundle verify", "import", "import --dry-run", "report"]


BUNDLE_CASES = [(cmd, case) for cmd in BUNDLE_COMMANDS for case in ALL]


@pytest.mark.parametrize(("cmd", "case"), BUNDLE_CASES)
def test_hostile_bundle(cmd: str, case: str, user: Copy,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """Signed by the user's own key (trusted), so that nothing but the line stops it."""
    lines, lineno, words = _damaged_lines(user, case)
    bundle = signed_bundle(user.tmp / "h.provara-bundle", b"\n".join(lines) + b"\n",
                           user.key, members_of(user.bundle))
    before = tree_digest(user.vault)
    code, _, err = run(capsys, user.home, *_bundle_argv(cmd, user, bundle))
    if cmd == "report" and case != "oversized-line":  # that one stops the reading
        # A bundle that fails verification gets a report saying so, line by line.
        _reported(code, err, user, f"line {lineno}")
        assert tree_digest(user.vault) == before
        return
    msg = one_error_line(err)
    assert code == 1, err
    assert f"events.ndjson line {lineno}" in msg, msg
    assert words in msg, msg
    assert tree_digest(user.vault) == before
    assert not (user.tmp / "r.html").exists()


@pytest.mark.parametrize("case", ALL)
@pytest.mark.parametrize("cmd", BUNDLE_COMMANDS)
def test_hostile_delta(cmd: str, case: str, user: Copy,
                       capsys: pytest.CaptureFixture[str]) -> None:
    """The same lines in an unsigned provara_delta_v1 file (its header is line 1)."""
    lines, lineno, words = _damaged_lines(user, case)
    delta = delta_file(user.tmp / "h.delta", lines, user.delta)
    before = tree_digest(user.vault)
    code, _, err = run(capsys, user.home, *_bundle_argv(cmd, user, delta))
    if case == DUP:
        # Every line is a readable event, so the file gets as far as the intake's check,
        # which numbers the events (not the file's lines, whose first is the header).
        if cmd == "report":
            _reported(code, err, user, "repeats line 3")
        else:
            msg = one_error_line(err)
            assert code == 1, err
            assert "line 5 repeats line 3" in msg, msg
        assert tree_digest(user.vault) == before
        return
    msg = one_error_line(err)
    assert code == 1, err
    assert f"h.delta line {lineno + 1}:" in msg, msg  # the header is line 1
    assert words in msg, msg
    assert tree_digest(user.vault) == before


def _reported(code: int, err: str, user: Copy, words: str) -> None:
    assert code == 0, err
    assert "Traceback" not in err, err
    assert err.splitlines() == ["note: verification FAILED; the report says what is wrong"]
    html = (user.tmp / "r.html").read_text("utf-8")
    assert words in html


@pytest.mark.parametrize("case", ALL)
def test_app_open_path_raises_a_typed_error(case: str, user: Copy) -> None:
    """The app opens a vault the same way (Vault.open, then the session's beliefs on its
    writer thread): what reaches ui/errors.py is an InputError naming file and line, which
    it shows as is (a VaultError: "Nothing was changed..."), never an unexpected error."""
    from provara_desktop.core.errors import InputError
    from provara_desktop.session import VaultSession
    from provara_desktop.store.vault import Vault

    lines, lineno, words = _damaged_lines(user, case)
    (user.vault / LOG).write_bytes(b"\n".join(lines) + b"\n")
    before = tree_digest(user.vault)
    def open_like_the_app() -> None:
        vault = Vault.open(user.vault, home=user.home)
        session = VaultSession(vault)
        try:
            session.start().result(timeout=60)
        finally:
            session.close()
            vault.close()

    with pytest.raises(InputError) as caught:
        open_like_the_app()
    msg = str(caught.value)
    assert "\n" not in msg
    assert f"events.ndjson line {lineno}" in msg or f"events.ndjson: line {lineno}" in msg
    assert words in msg
    assert tree_digest(user.vault) == before
