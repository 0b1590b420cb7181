# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg-meshconf (PyPI) as a baseline: a CSV database of N peers, then `wg-meshconf genconfig` timed whole
(as a user runs it). Note that wg-meshconf keeps every private key in that CSV on the controller."""

import base64
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

COLUMNS = ["Name", "Address", "Endpoint", "AllowedIPs", "ListenPort", "PersistentKeepalive", "FwMark",
           "PrivateKey", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig"]


def command():
    path = os.path.join(os.path.dirname(sys.executable), "wg-meshconf")
    return path if os.path.exists(path) else shutil.which("wg-meshconf")


def time_genconfig(count):
    """Seconds for `wg-meshconf genconfig` over ``count`` peers, or None when wg-meshconf is not installed."""
    exe = command()
    if exe is None:
        return None
    work = tempfile.mkdtemp(prefix="wg-meshconf-bench-")
    try:
        with open(os.path.join(work, "database.csv"), "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
            writer.writerow(COLUMNS)
            for i in range(count):
                row = {"Name": "node%05d" % i, "Address": "10.4.%d.%d/32" % (i // 254, i % 254 + 1),
                       "Endpoint": "198.18.%d.%d" % (i // 256, i % 256), "ListenPort": "51820",
                       "PrivateKey": base64.b64encode(os.urandom(32)).decode()}
                writer.writerow([row.get(c, "") for c in COLUMNS])
        start = time.perf_counter()
        subprocess.run([exe, "genconfig"], cwd=work, check=True, capture_output=True, timeout=600)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(work)
