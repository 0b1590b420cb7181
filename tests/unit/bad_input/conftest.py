"""Fixtures of the bad-input suite (see harness.py)."""

import pytest

from .harness import MeshInventory


@pytest.fixture
def inventory(tmp_path):
    """A valid three-host inventory of unreachable hosts in a tmp dir; tests break it on purpose."""
    return MeshInventory(tmp_path)
