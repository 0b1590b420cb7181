"""Import the lab role's programs (roles/lab/files/*.py) as modules."""
import importlib
import pathlib
import sys

import pytest

FILES = pathlib.Path(__file__).resolve().parents[3] / "roles" / "lab" / "files"
sys.path.insert(0, str(FILES))
sys.dont_write_bytecode = True  # no __pycache__ among the role's files


@pytest.fixture(scope="session")
def builder():
    return importlib.import_module("wiremesh_lab_spec")


@pytest.fixture(scope="session")
def init():
    return importlib.import_module("wiremesh_lab_init")


@pytest.fixture(scope="session")
def units():
    return importlib.import_module("wiremesh_lab_units")


@pytest.fixture(scope="session")
def ctl():
    return importlib.import_module("wiremesh_lab_ctl")
