"""Security checks on a lab of its own (slab, tests/integration/sec/inventory): s-a, s-b and s-c meshed with
playbooks/mesh.yml (full granularity), s-rogue in the lab but not in the mesh, the lab's internet router
wm-slab-internet. Needs root and `ip netns`; the lab is built here and destroyed at the end.

- Secrets: every private key is 0600 and root's on its host; no private key and no preshared key appears in
  the output of the mesh run at -vvvv, in its fact cache (jsonfile), in its ANSIBLE_LOG_PATH log, or in the
  state file (which alone may hold the preshared keys, and is 0600). Keys are looked for in base64 (as wg
  prints them) and in hex (as the WireGuard UAPI takes them); a leak is reported by label, never by value.
- An undeclared WireGuard peer (s-rogue, with its own key, s-a's real public key and endpoint, an address
  inside the mesh) gets no packet through in either direction, and s-a never lists it or a handshake with it.
- Only SSH (22/tcp) and WireGuard (51820/udp) answer on the hosts' public addresses, probed from the router:
  see ``SCAN`` for the method.
"""

import base64
import json
import os
import subprocess
import time

import pytest

from .labtools import ROOT, host_argv, in_host, lab_namespaces, needs_lab, playbook
from labkit import ping_counts  # noqa: E402  pylint: disable=wrong-import-order

INVENTORY = os.path.join(ROOT, "tests", "integration", "sec", "inventory")
LAB_ROOT = "/srv/wiremesh-lab/slab"
ROUTER_NS = "wm-slab-internet"
PUBLIC = {"s-a": "203.0.113.221", "s-b": "203.0.113.222", "s-c": "203.0.113.223"}
ROGUE, ROGUE_MESH_IP = "s-rogue", "10.48.0.200"
STATE_DIR = os.path.join(INVENTORY, ".wiremesh")
STATE = os.path.join(STATE_DIR, "mesh.state.json")
WG_PORT = 51820
TCP_EXTRA = [1080, 1194, 1433, 2049, 2375, 2376, 2379, 3000, 3306, 5000, 5432, 5601, 6379, 6443, 8000, 8080, 8081,
             8082, 8443, 8888, 9000, 9090, 9091, 9100, 9200, 10250, 10255, 11211, 27017, 51820]
UDP_PORTS = [53, 67, 69, 123, 161, 500, 514, 1194, 4500, 5353, 8080, 51819, WG_PORT, 51821]

pytestmark = needs_lab

# The port scanner, run inside the router namespace (python3 -c SCAN SPEC); prints one JSON line,
# {address: {"tcp": {port: state}, "udp": {port: state}}}. The method: test_only_ssh_and_wireguard_answer...
SCAN = r"""
import concurrent.futures, json, socket, sys, time
spec = json.loads(sys.argv[1])
deadline = time.monotonic() + spec["budget"]

def probe(kind, address, port):
    # one try: open (TCP connected), answered (a UDP reply), closed (RST, or ICMP port unreachable on the
    # connected UDP socket), silent (nothing within 1 s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    try:
        sock.connect((address, port))
        if kind == "tcp":
            return "open"
        sock.send(b"wiremesh security probe\n")
        sock.recv(2048)
        return "answered"
    except ConnectionRefusedError:
        return "closed"
    except OSError:
        return "silent"
    finally:
        sock.close()

def port_state(kind, address, port):
    for _attempt in range(1 if kind == "tcp" else 3):   # ICMP errors are rate-limited: ask a silent UDP port again
        if time.monotonic() > deadline:
            return "unprobed"
        state = probe(kind, address, port)
        if state != "silent":
            return state
    return "filtered" if kind == "tcp" else "open|filtered"

result = {a: {"tcp": {}, "udp": {}} for a in spec["addresses"]}
with concurrent.futures.ThreadPoolExecutor(64) as pool:
    tcp_jobs = {(a, p): pool.submit(port_state, "tcp", a, p) for a in spec["addresses"] for p in spec["tcp"]}
    udp_jobs = {a: pool.submit(lambda a=a: {p: port_state("udp", a, p) for p in spec["udp"]})
                for a in spec["addresses"]}
    for (a, p), job in tcp_jobs.items():
        result[a]["tcp"][p] = job.result()
    for a, job in udp_jobs.items():
        result[a]["udp"] = job.result()
print(json.dumps(result))
"""


def _remove_state():
    for suffix in ("", ".bak", ".lock"):
        if os.path.exists(STATE + suffix):
            os.unlink(STATE + suffix)
    if os.path.isdir(STATE_DIR) and not os.listdir(STATE_DIR):
        os.rmdir(STATE_DIR)


@pytest.fixture(scope="module")
def slab(tmp_path_factory):
    """The lab built and meshed once, the mesh run at -vvvv with a jsonfile fact cache and a log file;
    destroyed afterwards (no wm-s-* namespace may be left)."""
    work = tmp_path_factory.mktemp("slab")
    _remove_state()
    try:
        built = playbook("-i", INVENTORY, "playbooks/lab.yml")
        assert built.returncode == 0, built.stdout[-4000:]
        with pytest.MonkeyPatch.context() as env:
            env.setenv("ANSIBLE_CACHE_PLUGIN", "jsonfile")
            env.setenv("ANSIBLE_CACHE_PLUGIN_CONNECTION", str(work / "facts"))
            env.setenv("ANSIBLE_LOG_PATH", str(work / "ansible.log"))
            meshed = playbook("-vvvv", "-i", INVENTORY, "playbooks/mesh.yml")
            # the mesh run gathers no facts (wg_host reads what it needs): the facts a site run gathers on a
            # meshed host go through the same cache, as the playbooks of the workloads gather them
            gathered = playbook("-i", INVENTORY, "mesh", "-m", "ansible.builtin.setup", command="ansible")
        assert meshed.returncode == 0, meshed.stdout[-6000:]
        assert gathered.returncode == 0, gathered.stdout[-3000:]
        yield {"output": meshed.stdout + meshed.stderr, "facts": work / "facts", "log": work / "ansible.log"}
    finally:
        gone = playbook("-i", INVENTORY, "playbooks/lab_destroy.yml")
        _remove_state()
        assert gone.returncode == 0, gone.stdout[-4000:]
        left = [ns for ns in lab_namespaces() if ns.startswith(("wm-s-", "wm-slab-"))]
        assert left == [], left


def _host_text(host, *argv):
    proc = in_host(LAB_ROOT, host, *argv)
    assert proc.returncode == 0, (host, argv, proc.stderr)
    return proc.stdout


class Secrets:
    """The mesh's secrets by label. Its repr shows labels only: pytest prints fixture values in failure reports,
    and the secrets themselves must never end up there."""

    def __init__(self, found):
        self._found = dict(found)
        self._found.update({label + " (hex)": base64.b64decode(value).hex() for label, value in found.items()})

    def __repr__(self):
        return "<Secrets: %s>" % ", ".join(sorted(self._found))

    def leaks(self, text):
        """Labels of the secrets found in ``text``."""
        return sorted(label for label, value in self._found.items() if value in text)


@pytest.fixture(scope="module")
def secrets(slab):
    """Every private key (read on its host) and preshared key (from the state file), in base64 and in hex."""
    found = {}
    for host in PUBLIC:
        found["private key of %s" % host] = _host_text(host, "cat", "/etc/wireguard/wg0.key").strip()
    with open(STATE, encoding="utf-8") as handle:
        for pair, psk in json.load(handle)["psks"].items():
            found["preshared key %s" % pair] = psk
    assert sorted(found) == sorted(["private key of s-a", "private key of s-b", "private key of s-c",
                                    "preshared key s-a|s-b", "preshared key s-a|s-c", "preshared key s-b|s-c"])
    return Secrets(found)


def test_private_keys_are_0600_and_roots(slab):
    for host in PUBLIC:
        listing = _host_text(host, "find", "/etc/wireguard", "-maxdepth", "1", "-printf", "%m %u %g %y %p\n")
        entries = {line.split()[-1]: line.split()[:4] for line in listing.splitlines()}
        assert entries["/etc/wireguard/wg0.key"] == ["600", "root", "root", "f"], (host, listing)
        others = {path: e for path, e in entries.items() if e[3] == "f" and e[:3] != ["600", "root", "root"]
                  and not path.endswith(".pub")}
        assert others == {}, "files under /etc/wireguard on %s readable beyond root: %s" % (host, others)


def test_no_secret_in_the_verbose_output(slab, secrets):
    assert "ESTABLISH SSH CONNECTION" in slab["output"] and "SSH: EXEC" in slab["output"]    # really -vvvv
    assert secrets.leaks(slab["output"]) == []


def test_no_secret_in_the_fact_cache(slab, secrets):
    cached = sorted(os.listdir(slab["facts"]))
    # the cache did fill (setup ran on every meshed host): one file per host, named <prefix><host>
    assert all(any(name.endswith(host) for name in cached) for host in PUBLIC), cached
    for name in cached:
        with open(os.path.join(slab["facts"], name), encoding="utf-8") as handle:
            assert secrets.leaks(handle.read()) == [], name


def test_no_secret_in_the_log_file(slab, secrets):
    with open(slab["log"], encoding="utf-8") as handle:
        text = handle.read()
    assert "PLAY RECAP" in text
    assert secrets.leaks(text) == []


def test_state_file_is_private_and_holds_only_the_preshared_keys(slab, secrets):
    for path in (STATE, STATE + ".bak", STATE + ".lock"):
        if os.path.exists(path):
            assert oct(os.stat(path).st_mode & 0o777) == oct(0o600), path
    assert os.stat(STATE_DIR).st_mode & 0o077 == 0, oct(os.stat(STATE_DIR).st_mode)
    with open(STATE, encoding="utf-8") as handle:
        data = json.load(handle)
    # the matcher finds what is there: the preshared keys, in base64, in their own section...
    assert secrets.leaks(json.dumps(data["psks"])) == ["preshared key s-a|s-b", "preshared key s-a|s-c",
                                                       "preshared key s-b|s-c"]
    # ...and nothing else is there: no private key, no preshared key outside that section (not in the plan)
    data.pop("psks")
    assert secrets.leaks(json.dumps(data)) == []


def _wg(host, *argv):
    return _host_text(host, "wg", "show", "wg0", *argv)


def test_mesh_nodes_reach_each_other(slab):
    """The control: the mesh itself carries traffic, so a failing rogue ping means something."""
    with open(STATE, encoding="utf-8") as handle:
        ips = json.load(handle)["plan"]["mesh_ips"]
    result = in_host(LAB_ROOT, "s-b", "ping", "-c", "3", "-i", "0.3", "-W", "2", ips["s-a"])
    assert ping_counts(result.stdout)[1] > 0, result.stdout


@pytest.fixture
def rogue(slab):
    """s-rogue with its own key and wireguard-go interface, s-a (real key, real endpoint) as its only peer.
    The interface is removed and wireguard-go stopped (by its PID) afterwards."""
    with open(STATE, encoding="utf-8") as handle:
        state = json.load(handle)
    target_key = state["nodes"]["s-a"]["public_key"]
    sh = "umask 077; mkdir -p /etc/wireguard; wg genkey > /etc/wireguard/rogue.key; wg pubkey < /etc/wireguard/rogue.key"
    rogue_key = _host_text(ROGUE, "sh", "-c", sh).strip()
    daemon = subprocess.Popen(host_argv(LAB_ROOT, ROGUE, "env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", "wg0"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while in_host(LAB_ROOT, ROGUE, "wg", "show", "wg0").returncode != 0:
            assert time.monotonic() < deadline and daemon.poll() is None, "wireguard-go did not start on s-rogue"
            time.sleep(0.3)
        for argv in (["wg", "set", "wg0", "private-key", "/etc/wireguard/rogue.key", "peer", target_key,
                      "endpoint", "%s:%d" % (PUBLIC["s-a"], WG_PORT), "allowed-ips", "10.48.0.0/24",
                      "persistent-keepalive", "1"],
                     ["ip", "address", "add", ROGUE_MESH_IP + "/24", "dev", "wg0"],
                     ["ip", "link", "set", "wg0", "up"]):
            _host_text(ROGUE, *argv)
        yield {"key": rogue_key, "target_key": target_key, "mesh_ips": state["plan"]["mesh_ips"]}
    finally:
        in_host(LAB_ROOT, ROGUE, "ip", "link", "del", "wg0")
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(timeout=10)
        in_host(LAB_ROOT, ROGUE, "rm", "-f", "/etc/wireguard/rogue.key")


def test_an_undeclared_peer_exchanges_no_packet(rogue):
    underlay = in_host(LAB_ROOT, ROGUE, "ping", "-c", "2", "-W", "2", PUBLIC["s-a"])
    assert ping_counts(underlay.stdout)[1] > 0, "s-rogue must reach s-a's public address, or this proves nothing"
    outbound = in_host(LAB_ROOT, ROGUE, "ping", "-c", "6", "-i", "0.5", "-W", "1", rogue["mesh_ips"]["s-a"],
                       timeout=30)
    assert ping_counts(outbound.stdout) == (6, 0), outbound.stdout
    inbound = in_host(LAB_ROOT, "s-a", "ping", "-c", "3", "-i", "0.5", "-W", "1", ROGUE_MESH_IP, timeout=30)
    assert ping_counts(inbound.stdout)[1] == 0, inbound.stdout

    # s-rogue sent handshake initiations (tx) and got nothing back (rx 0, no handshake)
    _key, rx, tx = _wg(ROGUE, "transfer").split()
    assert (int(rx), int(tx) > 0) == (0, True), (rx, tx)
    assert _wg(ROGUE, "latest-handshakes").split()[1] == "0"
    # s-a knows only its mesh peers, none of them the rogue, and not the rogue's key at all
    dump = _wg("s-a", "dump")
    assert rogue["key"] not in dump
    handshakes = dict(line.split() for line in _wg("s-a", "latest-handshakes").splitlines())
    with open(STATE, encoding="utf-8") as handle:
        nodes = json.load(handle)["nodes"]
    assert set(handshakes) == {nodes[n]["public_key"] for n in ("s-b", "s-c")}

    # the control: declared on s-a, the same rogue completes a handshake within seconds, so the silence above
    # is s-a refusing a key it was not given, not a rogue that is set up wrong
    _host_text("s-a", "wg", "set", "wg0", "peer", rogue["key"], "allowed-ips", ROGUE_MESH_IP + "/32")
    try:
        deadline = time.monotonic() + 20
        while _wg(ROGUE, "latest-handshakes").split()[1] == "0":
            assert time.monotonic() < deadline, "no handshake even with the rogue declared on s-a"
            time.sleep(0.5)
    finally:
        in_host(LAB_ROOT, "s-a", "wg", "set", "wg0", "peer", rogue["key"], "remove")
    assert rogue["key"] not in _wg("s-a", "dump")


def _listeners(host):
    """{(proto, port)} of the host's listening sockets on addresses other than loopback."""
    out = set()
    for line in _host_text(host, "ss", "-H", "-l", "-n", "-t", "-u").splitlines():
        fields = line.split()
        address, _sep, port = fields[4].rpartition(":")
        if not address.strip("[]").startswith(("127.", "::1")) and "%lo" not in address:
            out.add((fields[0], int(port)))
    return out


def test_only_ssh_and_wireguard_answer_from_the_internet(slab):
    """From the lab's internet router, on each mesh host's public address: TCP 1-1024 plus ``TCP_EXTRA``
    (service ports such as 8080-8082, 9100, 6443, 10250), and the UDP ports of ``UDP_PORTS``.

    TCP: a full connect with a 1 s timeout: "open" (connected), "closed" (RST), "filtered" (no answer). Only
    22 may be open.
    UDP: a connected socket sends a junk datagram and waits 1 s. An ICMP port unreachable coming back makes the
    kernel fail the socket's recv with ECONNREFUSED: "closed"; a datagram back: "answered"; nothing at all:
    "open|filtered". WireGuard answers nothing to junk, so 51820 must read "open|filtered" (never "closed");
    no port may answer; every other port must be "closed", or, when silent, provably not open: the host's
    own socket table (``ss``, inside the host) must show nothing listening on it beyond loopback. The hosts
    rate-limit ICMP errors (net.ipv4.icmp_ratelimit), so a silent UDP port is asked 3 times.
    The socket table must list exactly sshd (22/tcp) and WireGuard (51820/udp) on non-loopback addresses.
    Every loop is bounded by the port lists and an overall time budget (ports past it: "unprobed", a failure).
    """
    spec = {"addresses": sorted(PUBLIC.values()), "tcp": list(range(1, 1025)) + TCP_EXTRA, "udp": UDP_PORTS,
            "budget": 240}
    proc = subprocess.run(["ip", "netns", "exec", ROUTER_NS, "/usr/bin/python3", "-c", SCAN, json.dumps(spec)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    scan = json.loads(proc.stdout)
    for host, address in sorted(PUBLIC.items()):
        tcp = {int(p): s for p, s in scan[address]["tcp"].items()}
        udp = {int(p): s for p, s in scan[address]["udp"].items()}
        assert "unprobed" not in set(tcp.values()) | set(udp.values()), (host, "scan ran out of time")
        assert sorted(p for p, s in tcp.items() if s == "open") == [22], (host, tcp)
        assert udp[WG_PORT] == "open|filtered", (host, udp)
        assert "answered" not in udp.values(), (host, udp)
        listening = _listeners(host)
        assert listening == {("tcp", 22), ("udp", WG_PORT)}, (host, listening)
        silent = sorted(p for p, s in udp.items() if s == "open|filtered" and p != WG_PORT)
        # a silent UDP port other than WireGuard's is only acceptable as filtered: nothing listens on it
        assert not [p for p in silent if ("udp", p) in listening], (host, silent)
        assert any(s == "closed" for p, s in udp.items() if p != WG_PORT), (host, udp)
