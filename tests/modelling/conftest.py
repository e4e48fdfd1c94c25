"""Fixtures for modelling tests: the public datasets under <repo root>/../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

# the first ``shared/data`` above the repository (a git worktree sits one level deeper)
DATA = next(
    (
        p / "shared" / "data"
        for p in Path(__file__).resolve().parents[2].parents
        if (p / "shared" / "data").is_dir()
    ),
    Path(__file__).resolve().parents[2].parent / "shared" / "data",
)


@pytest.fixture
def cdnow_dir() -> Path:
    path = DATA / "cdnow"
    if not (path / "cdnow_customers_summary_with_transactions.csv").exists():
        pytest.skip(f"CDNOW data not found under {path} (see the data README); skipping")
    return path


@pytest.fixture
def online_retail_file() -> Path:
    path = DATA / "online_retail" / "online_retail.csv.gz"
    if not path.exists():
        pytest.skip(f"Online Retail data not found at {path}; skipping")
    return path
