# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the mesh table and the all-pairs ping matrix from the JSON that playbooks/report.yml writes.

Kept for scripts that call it; the formatting lives in the CLI (``wiremesh status --report FILE``, what
``make report`` and ``make demo`` print), loaded here from cli/ so there is one implementation.
Exit status: 0 when every pair answered, 1 when some pair did not, 2 on a bad report file."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cli"))

from wiremesh_cli.status import latest_handshake, ping_cell, render_report  # noqa: E402 pylint: disable=wrong-import-position

__all__ = ["latest_handshake", "ping_cell", "render", "main"]


def render(report, now):
    """The host table and the ping matrix (no per-peer table); returns (text, failures)."""
    return render_report(report, now, peers=False)


def main(argv):
    if len(argv) != 2:
        print("usage: mesh_report.py REPORT.json", file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as handle:
            report = json.load(handle)
        text, failures = render(report, int(time.time()))
    except (OSError, ValueError, KeyError) as exc:
        print("cannot read the report %s: %s" % (argv[1], exc), file=sys.stderr)
        return 2
    print(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
