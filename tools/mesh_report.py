# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print the mesh table and the all-pairs ping matrix from the JSON that playbooks/report.yml writes.

Exit status: 0 when every pair answered, 1 when some pair did not, 2 on a bad report file."""

import json
import re
import sys
import time

_RTT = re.compile(r"rtt min/avg/max/mdev = [\d.]+/([\d.]+)/")
_LOSS = re.compile(r"(\d+) received")


def ping_cell(stdout):
    """'0.7ms' for a ping that answered, 'FAIL' otherwise."""
    received = _LOSS.search(stdout or "")
    rtt = _RTT.search(stdout or "")
    if not received or int(received.group(1)) == 0 or not rtt:
        return None
    return float(rtt.group(1))


def latest_handshake(wg, now):
    """Age in seconds of the newest handshake with any peer, and how many peers have one."""
    stamps = []
    for line in (wg.get("latest-handshakes") or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) > 0:
            stamps.append(int(parts[1]))
    peers = len([line for line in (wg.get("latest-handshakes") or "").splitlines() if line.strip()])
    return (now - max(stamps) if stamps else None), len(stamps), peers


def render(report, now):
    hosts = report["hosts"]
    names = sorted(hosts)
    rows = [("HOST", "LOCATION", "MESH IP", "ENDPOINT", "LATEST HANDSHAKE")]
    for name in names:
        info = hosts[name]
        age, with_hs, peers = latest_handshake(info.get("wg", {}), now)
        hs = "never" if age is None else "%ds ago (%d/%d peers)" % (max(age, 0), with_hs, peers)
        rows.append((name, info.get("location") or "-", info["mesh_ip"], info.get("endpoint") or "(behind NAT)", hs))
    out = [_table(rows), "", "Ping matrix over the mesh (avg RTT; row pings column):"]
    matrix = [["from \\ to"] + names]
    failures = 0
    for src in names:
        row = [src]
        pings = hosts[src].get("pings", {})   # keyed by target host name
        for dst in names:
            if dst == src:
                row.append("-")
                continue
            rtt = ping_cell(pings.get(dst))
            if rtt is None:
                failures += 1
            row.append("FAIL" if rtt is None else "%.2fms" % rtt)
        matrix.append(row)
    out.append(_table(matrix))
    total = len(names) * (len(names) - 1)
    out.append("")
    out.append("%d of %d pairs answered" % (total - failures, total))
    return "\n".join(out), failures


def _table(rows):
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


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
