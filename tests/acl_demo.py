"""The demo lab's access policy (inventories/lab/group_vars/mesh.yml), and what it allows as a person reads it:
the oracle both the compiler's unit test and the lab test compare with (never computed by the compiler)."""

import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def demo_policy():
    with open(os.path.join(ROOT, "inventories", "lab", "group_vars", "mesh.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["wireguard_acls"]


def allowed(src, dst, proto, port):
    """Whether a new flow from ``src`` (a lab host, or the operator) to lab host ``dst`` may open."""
    if src == "operator":
        return proto == "tcp" and (port == 22 or (dst == "do1" and port == 8080))
    if proto == "tcp" and port == 22:
        return False
    if proto == "tcp" and src == "do1" and (dst, port) in (("edge", 8081), ("aws1", 8082)):
        return True
    if proto == "tcp" and 8080 <= port <= 8082 and dst in ("edge", "aws1", "do1"):
        return False
    return src != "edge" or proto == "icmp"       # the edge opens nothing but its failover pings
