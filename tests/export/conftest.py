"""Fixtures of the export tests."""

from __future__ import annotations

import pytest

from tests.export.helpers import Recording, record


@pytest.fixture(scope="session")
def recordings() -> dict[str, Recording]:
    """Duel (2v2, 60 ticks) in every observation mode: 70 steps, so every world resets."""
    return {mode: record("duel", mode, 70) for mode in ("vector", "grid", "entities")}
