"""Shared fixtures: planted data and the real files in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The read-only folder of real data beside the project; skips the test where absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (real-data tests run only beside it)")
    return SHARED_DATA
