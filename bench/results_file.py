# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""bench/results.json, shared by every benchmark: each merges its own figures and keeps the others'."""

import json
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json")


def merge(figures, path=RESULTS):
    """Read-modify-write the results file: these figures replace theirs, every other key stays."""
    previous = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
    previous.update(figures)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(previous, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)
