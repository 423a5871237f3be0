"""Shared fixtures. Qt runs offscreen in every test (set before any Qt import)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The app serves and announces on the LAN by default (issue 11): every app a test starts,
# in this process or a child, stays off the network unless the test asks for loopback.
os.environ.setdefault("PROVARA_LAN", "off")

import importlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any, NoReturn  # noqa: E402

import pytest  # noqa: E402

if TYPE_CHECKING:
    from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
# Every fixture lives in the repository, written by scripts/gen_fixtures with the reference.
FIXTURES = REPO / "tests" / "fixtures"


def pytest_addoption(parser: pytest.Parser) -> None:
    # The headless CI step (scripts/test) runs the non-UI tests where neither PySide6 nor
    # pytest-qt is installed: pytest-qt's setting in pyproject.toml would then be an unknown
    # option, an error under --strict-config.
    if importlib.util.find_spec("pytestqt") is None:
        parser.addini("qt_api", "Qt binding for pytest-qt (not installed here)")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    # The tests run in random order (pytest-randomly), whose seed shows only in the header,
    # which -q (as CI runs) hides: name it at the end, where a failure is read.
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int) and exitstatus != 0:
        terminalreporter.write_line(
            f"test order: pytest-randomly seed {seed}; rerun this order with "
            f"-p randomly --randomly-seed={seed}")


def in_ci() -> bool:
    """CI=true (GitHub Actions, most CI systems, and .ci/run) makes missing prerequisites fail."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def missing(reason: str) -> NoReturn:
    """A prerequisite of a test is absent: a failure in CI (a skipped interop test there would
    hide that the check never ran), a skip with the reason on a developer's machine."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require_reference(module: str = "provara") -> ModuleType:
    """The reference package (PyPI provara-protocol, a dev dependency), or missing()."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing(f"reference package not installed: cannot import {module} ({exc})")


def _reference_cli() -> str | None:
    exe = Path(sys.executable).parent / "provara"
    return str(exe) if exe.exists() else shutil.which("provara")


def require_reference_cli() -> str:
    """The reference's `provara` command: the one beside this interpreter, else on PATH."""
    found = _reference_cli()
    if found is None:
        missing("reference `provara` CLI not installed (pip install provara-protocol)")
    return found


def optional_reference_cli() -> str | None:
    """For tests where the reference is an extra oracle: None on a developer's machine
    without it (the test still checks everything else), a failure in CI."""
    found = _reference_cli()
    if found is None and in_ci():
        missing("reference `provara` CLI not installed (pip install provara-protocol)")
    return found


def require_fixture(relative: str) -> Path:
    """tests/fixtures/RELATIVE, or missing() (regenerate them with scripts/gen_fixtures)."""
    path = FIXTURES / relative
    if not path.exists():
        missing(f"fixture tests/fixtures/{relative} is missing: run scripts/gen_fixtures")
    return path


def fixture_json(relative: str) -> Any:
    return json.loads(require_fixture(relative).read_text("utf-8"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private profile directory, as PROVARA_HOME, with no passphrase in the environment."""
    h = tmp_path / "home"
    monkeypatch.setenv("PROVARA_HOME", str(h))
    # The user's own home too (where the app offers to save a recovery file, say), beside
    # tmp_path: tests that list tmp_path must not find it there.
    user = tmp_path.parent / f"{tmp_path.name}-user"
    user.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.delenv("PROVARA_PASSPHRASE", raising=False)
    return h
