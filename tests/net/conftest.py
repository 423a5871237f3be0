"""Fixtures of the sync tests (the helpers themselves are in sync_helpers.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.net.sync_helpers import replica_factory

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def make_replica(tmp_path: Path) -> Any:
    """make_replica(name) -> a Replica: its own key, profile and vault (one shared uid)."""
    return replica_factory(tmp_path)
