"""Fixtures shared by the whole test suite."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Return the folder of real data sets next to the repository, or skip the test.

    The data sets may not be redistributed, so they are never part of the repository.
    """
    folder = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not folder.is_dir():
        pytest.skip(f"real data folder {folder} not found. It lives outside the repository.")
    return folder
