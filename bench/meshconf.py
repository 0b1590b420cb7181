# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wg-meshconf (PyPI) as a baseline: a CSV database of N peers, then `wg-meshconf genconfig`, timed whole (as a
user runs it: CPU seconds of the child process, startup included). Note that wg-meshconf keeps every private key
in that CSV on the controller.

Its CSV takes private keys only: genconfig derives a peer's public key from its private key every time it writes
that peer, N × (N-1) X25519 derivations (62,250 at 250 peers), so its own figure includes key derivation
(meshconf_<N>_incl_keygen_s). meshconf_<N>_keys_once_s runs the same genconfig with each public key derived once
(the derivation memoised in the process): wg-meshconf given the keys, as our planner is."""

import base64
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

COLUMNS = ["Name", "Address", "Endpoint", "AllowedIPs", "ListenPort", "PersistentKeepalive", "FwMark",
           "PrivateKey", "DNS", "MTU", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig"]

KEYS_ONCE = """import functools, sys
from wg_meshconf import wireguard
wireguard.WireGuard.pubkey = staticmethod(functools.lru_cache(maxsize=None)(wireguard.WireGuard.pubkey))
from wg_meshconf.wg_meshconf import main
sys.argv = ["wg-meshconf", "genconfig"]
main()
"""


def command():
    path = os.path.join(os.path.dirname(sys.executable), "wg-meshconf")
    return path if os.path.exists(path) else shutil.which("wg-meshconf")


def child_cpu(argv, cwd):
    """CPU seconds (user + system) of one child process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def database(work, count):
    with open(os.path.join(work, "database.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL)
        writer.writerow(COLUMNS)
        for i in range(count):
            row = {"Name": "node%05d" % i, "Address": "10.4.%d.%d/32" % (i // 254, i % 254 + 1),
                   "Endpoint": "198.18.%d.%d" % (i // 256, i % 256), "ListenPort": "51820",
                   "PrivateKey": base64.b64encode(os.urandom(32)).decode()}
            writer.writerow([row.get(c, "") for c in COLUMNS])


def time_genconfig(count, rounds=3):
    """Figures for `wg-meshconf genconfig` over ``count`` peers (median of ``rounds``; _min_s/_max_s the spread), or
    {} when wg-meshconf is not installed."""
    exe = command()
    if exe is None:
        return {}
    work = tempfile.mkdtemp(prefix="wg-meshconf-bench-")
    try:
        database(work, count)
        variants = {"incl_keygen": [exe, "genconfig"], "keys_once": [sys.executable, "-c", KEYS_ONCE]}
        out = {}
        for name, argv in variants.items():
            seconds = []
            for dummy in range(rounds):
                shutil.rmtree(os.path.join(work, "output"), ignore_errors=True)
                seconds.append(child_cpu(argv, work))
            key = "meshconf_%d_%s" % (count, name)
            out.update({key + "_s": statistics.median(seconds), key + "_min_s": min(seconds),
                        key + "_max_s": max(seconds)})
        out["meshconf_%d_key_derivations" % count] = count * (count - 1)
        return out
    finally:
        shutil.rmtree(work)
