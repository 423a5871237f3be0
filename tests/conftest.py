"""Shared fixtures. Qt runs offscreen in every test (set before any Qt import)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CONFORMANCE = SHARED / "conformance"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private profile directory, as PROVARA_HOME, with no passphrase in the environment."""
    h = tmp_path / "home"
    monkeypatch.setenv("PROVARA_HOME", str(h))
    monkeypatch.delenv("PROVARA_PASSPHRASE", raising=False)
    return h
