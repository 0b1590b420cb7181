"""Load a script of the checkout (bench/, tools/) as a module, for the tests of this folder."""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def load(name, path):
    """The script at ``path`` (relative to the checkout) imported as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
