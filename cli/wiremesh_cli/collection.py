# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the wiremesh.multicloud collection (and so its pure planner) is: the one lookup of the CLI."""

import importlib
import os
import sys

_MARK = os.path.join("ansible_collections", "wiremesh", "multicloud", "plugins", "module_utils", "mesh")


def find_collections(environ=None, here=None):
    """The collections directory (the one holding ``ansible_collections/``) that has wiremesh.multicloud:
    ``$WIREMESH_COLLECTIONS_PATH``, each entry of ``$ANSIBLE_COLLECTIONS_PATH``, the checkout or collection tree
    this package sits in, then the user's and the system's default. Raises LookupError naming where it looked."""
    environ = os.environ if environ is None else environ
    here = os.path.dirname(os.path.abspath(here or __file__))
    candidates = [p for var in ("WIREMESH_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")
                  for p in environ.get(var, "").split(os.pathsep) if p]
    parent = here
    while os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
        if os.path.basename(parent) == "ansible_collections":
            candidates.append(os.path.dirname(parent))
        candidates.append(os.path.join(parent, "collections"))
    candidates += [os.path.expanduser("~/.ansible/collections"), "/usr/share/ansible/collections"]
    for path in candidates:
        if os.path.isdir(os.path.join(path, _MARK)):
            return os.path.abspath(path)
    raise LookupError("the wiremesh.multicloud collection is not in any of: %s (set WIREMESH_COLLECTIONS_PATH)"
                      % ", ".join(dict.fromkeys(candidates)))


def _import(name):
    path = find_collections()
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("ansible_collections.wiremesh.multicloud.plugins." + name)


def mesh(module):
    """Import ``ansible_collections.wiremesh.multicloud.plugins.module_utils.mesh.<module>``."""
    return _import("module_utils.mesh." + module)


def plugin_utils(module):
    """Import ``ansible_collections.wiremesh.multicloud.plugins.plugin_utils.<module>`` (the state stores)."""
    return _import("plugin_utils." + module)
