"""A clone into an empty directory has everything its tests need: nothing in the repository
reads (or tells anyone to read) a sibling folder, every fixture a test names is committed,
and in CI a missing prerequisite fails instead of skipping."""

from __future__ import annotations

import posixpath
import re
import subprocess

import pytest

from tests.conftest import FIXTURES, REPO, missing, require_fixture, require_reference

# A path out of the repository into a sibling `shared` folder, however it is spelt: a
# relative parent-folder path to it, a pathlib walk above the repository root
# (".parent / 'shared'", "parents[2].parent"), or a name of a file only that folder holds.
OUTSIDE = re.compile(
    r"\.\.[/\\]shared\b"
    r"|\.parent\s*/\s*[\"']shared[\"']"
    r"|parents\[\d+\]\.parent\b"
    r"|\bshared[/\\](?:conformance|PROTOCOL\.md|MACHINE\.md|STYLE\.md|hooks)"
)


def tracked_files() -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True,
                          check=False)
    if done.returncode != 0:
        missing(f"not a git checkout (git ls-files: {done.stderr.decode().strip()})")
    return [p for p in done.stdout.decode().split("\0") if p]


THIS_FILE = "tests/unit/test_repository_stands_alone.py"  # it spells the patterns out


def test_no_tracked_file_reaches_outside_the_repository() -> None:
    offenders = []
    for rel in tracked_files():
        path = REPO / rel
        if not path.is_file() or rel == THIS_FILE:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        offenders += [f"{rel}:{n}: {line.strip()}" for n, line in
                      enumerate(text.splitlines(), 1) if OUTSIDE.search(line)]
    assert offenders == [], "\n".join(offenders)


@pytest.mark.parametrize("line", [
    # Built here so this file itself holds no such line.
    "CONFORMANCE = REPO.parent / " + '"sha' + 'red" / "conformance"',
    "Path(__file__).resolve().parents[2].parent",
    "see ../" + "shared/MACHINE.md",
    "copy shared/conformance/vaultA",
])
def test_the_pattern_catches_each_way_out(line: str) -> None:
    assert OUTSIDE.search(line)


def test_every_fixture_a_test_names_is_committed() -> None:
    named = set()
    for rel in tracked_files():
        if rel.startswith("tests/") and rel.endswith(".py") and rel != THIS_FILE:
            text = (REPO / rel).read_text("utf-8")
            named |= set(re.findall(r"(?:require_fixture|fixture_json)\(\s*\"([^\"{}]+)\"",
                                    text))
    assert named, "the tests name their fixtures through require_fixture/fixture_json"
    tracked = set(tracked_files())
    for name in sorted(named):
        assert (FIXTURES / name).exists(), name
        prefix = posixpath.normpath(f"tests/fixtures/{name}")
        assert any(p == prefix or p.startswith(prefix + "/") for p in tracked), (
            f"{prefix} exists here but is not committed")


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_fixture_or_reference_fails(monkeypatch: pytest.MonkeyPatch,
                                                    ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="required, not skipped"):
        require_fixture("no/such/fixture")
    with pytest.raises(pytest.fail.Exception, match="cannot import provara.no_such_module"):
        require_reference("provara.no_such_module")


@pytest.mark.parametrize("ci", [None, "", "false", "0"])
def test_outside_ci_they_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                              ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="run scripts/gen_fixtures"):
        require_fixture("no/such/fixture")
