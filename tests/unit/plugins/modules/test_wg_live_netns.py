"""Live test of wg_key and wg_interface with wireguard-go, inside a throwaway network namespace.

Each module runs as a subprocess the way Ansible runs it (``python MODULE.py ARGS.json``), entered with
nsenter into a namespace pair the test creates: a network namespace ``wmt-<random>`` and a private mount
namespace with a tmpfs on /run (wireguard-go's sockets live in /run/wireguard). Two interfaces talk over
127.0.0.1 inside it. Everything started is killed by PID and the namespace deleted at the end."""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULES = os.path.join(ROOT, "plugins", "modules")
TOOLS = ("wg", "wg-quick", "wireguard-go", "ip", "unshare", "nsenter", "setsid")


def _skip_reason():
    if not sys.platform.startswith("linux"):
        return "needs Linux"
    if os.geteuid() != 0:
        return "needs root (network namespaces, wireguard-go)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return "missing tools: %s" % ", ".join(missing)
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun for wireguard-go"
    if subprocess.call(["ip", "netns", "list"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) != 0:
        return "ip netns is not available"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


class Sandbox(object):
    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.ns = "wmt-%s" % secrets.token_hex(4)
        subprocess.check_call(["ip", "netns", "add", self.ns])
        script = "mount -t tmpfs tmpfs /run && mkdir -p /run/wireguard && echo $$ && exec sleep 3600"
        self.holder = subprocess.Popen(["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation",
                                        "private", "sh", "-c", script], stdout=subprocess.PIPE, text=True)
        line = self.holder.stdout.readline().strip()
        if not line.isdigit():
            self.close()
            pytest.skip("could not create a private mount namespace: %r" % line)
        self.pid = int(line)
        self.sh("ip", "link", "set", "lo", "up")

    def cmd(self, *args, **kwargs):
        return subprocess.run(["nsenter", "-t", str(self.pid), "-m", "-n", "--"] + list(args),
                              capture_output=True, text=True, check=False, **kwargs)

    def sh(self, *args, **kwargs):
        proc = self.cmd(*args, **kwargs)
        assert proc.returncode == 0, "%s: %s" % (" ".join(args), proc.stderr)
        return proc.stdout

    def module(self, name, args, check=False):
        """Run plugins/modules/NAME.py with ARGS in the namespaces; (result, raw stdout+stderr)."""
        args = dict(args)
        if check:
            args["_ansible_check_mode"] = True
        args["_ansible_diff"] = True
        path = self.tmp / ("args-%s.json" % secrets.token_hex(3))
        path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "collections"))
        proc = self.cmd(sys.executable, os.path.join(MODULES, name + ".py"), str(path), env=env, timeout=120)
        raw = proc.stdout + proc.stderr
        try:
            result = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("module %s printed no JSON: %s" % (name, raw))
        return result, raw

    def pids(self):
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True, check=False).stdout
        return [int(p) for p in out.split()]

    def dump(self, iface):
        """wg show IFACE dump as {public key: (endpoint, latest handshake, rx, tx)}."""
        peers = {}
        for line in self.sh("wg", "show", iface, "dump").splitlines()[1:]:
            fields = line.split("\t")
            peers[fields[0]] = (fields[2], int(fields[4]), int(fields[5]), int(fields[6]))
        return peers

    def routes(self, iface):
        return sorted(r["dst"] for r in json.loads(self.sh("ip", "-j", "route", "show", "dev", iface)))

    def close(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 5
            while self.pids() and time.time() < deadline:
                time.sleep(0.1)
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()
        subprocess.call(["ip", "netns", "del", self.ns])


@pytest.fixture
def sandbox(tmp_path):
    box = Sandbox(tmp_path)
    try:
        yield box
    finally:
        box.close()
        assert box.ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                            check=False).stdout


def iface_args(box, name, config, **extra):
    args = {"name": name, "config": config, "private_key_path": str(box.tmp / (name + ".key")),
            "config_path": str(box.tmp / (name + ".conf"))}
    args.update(extra)
    return args


def wait_for_handshake(box, iface, peer, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        entry = box.dump(iface).get(peer)
        if entry and entry[1] > 0 and entry[0] != "(none)":
            return entry
        time.sleep(0.2)
    raise AssertionError("no handshake on %s: %r" % (iface, box.dump(iface)))


def test_key_and_interface_lifecycle(sandbox):
    box = sandbox
    # -- keys: made on the "host", only the public key comes back ------------------------------------------
    keys = {}
    for name in ("wg0", "wgp"):
        result, raw = box.module("wg_key", {"path": str(box.tmp / (name + ".key"))})
        private = (box.tmp / (name + ".key")).read_text().strip()
        assert result["changed"] is True and private not in raw
        assert result["public_key"] == box.sh("wg", "pubkey", input=private).strip()
        assert oct(os.stat(str(box.tmp / (name + ".key"))).st_mode & 0o777) == "0o600"
        keys[name] = (private, result["public_key"])
    result, dummy = box.module("wg_key", {"path": str(box.tmp / "wg0.key")})
    assert result["changed"] is False and result["public_key"] == keys["wg0"][1]

    # -- wg0 (hub, waits for the peer: endpoint null) and wgp (dials wg0 on 127.0.0.1) ---------------------
    peer1 = {"name": "peer1", "public_key": keys["wgp"][1], "endpoint": None, "allowed_ips": ["10.99.0.2/32"],
             "persistent_keepalive": None}
    hub = {"interface": {"address": ["10.99.0.1/32"], "listen_port": 51820}, "peers": [peer1]}
    spoke = {"interface": {"address": ["10.99.0.2/32"], "listen_port": 51821},
             "peers": [{"name": "hub", "public_key": keys["wg0"][1], "endpoint": "127.0.0.1:51820",
                        "allowed_ips": ["10.99.0.1/32"], "persistent_keepalive": 1}]}
    result, raw = box.module("wg_interface", iface_args(box, "wg0", hub))
    assert result["changed"] is True, raw
    assert result["actions"][-1].startswith("bring up wg0 (") and "setsid -w wg-quick up" in result["actions"][-1]
    assert keys["wg0"][0] not in raw and "PrivateKey = <redacted>" in result["diff"]["after"]
    assert oct(os.stat(str(box.tmp / "wg0.conf")).st_mode & 0o777) == "0o600"
    result, raw = box.module("wg_interface", iface_args(box, "wgp", spoke))
    assert result["changed"] is True, raw
    before = wait_for_handshake(box, "wg0", keys["wgp"][1])
    assert before[0] == "127.0.0.1:51821"

    # -- rerun: nothing to do (the learnt endpoint of the roaming peer is left alone) --------------------
    result, raw = box.module("wg_interface", iface_args(box, "wg0", hub))
    assert result["changed"] is False and result["actions"] == [], raw

    # -- check mode: a new peer is reported, not applied --------------------------------------------------
    peer2_key = box.sh("wg", "pubkey", input=box.sh("wg", "genkey")).strip()
    peer2 = {"name": "peer2", "public_key": peer2_key, "endpoint": "127.0.0.1:51999",
             "allowed_ips": ["10.99.0.3/32", "10.98.0.0/24"], "persistent_keepalive": 25}
    hub2 = dict(hub, peers=[peer1, peer2])
    conf_before = (box.tmp / "wg0.conf").read_text()
    result, raw = box.module("wg_interface", iface_args(box, "wg0", hub2), check=True)
    assert result["changed"] is True and "add peer peer2" in result["actions"], raw
    assert "add route 10.98.0.0/24" in result["actions"]
    assert set(box.dump("wg0")) == {keys["wgp"][1]} and (box.tmp / "wg0.conf").read_text() == conf_before

    # -- add the peer for real: the first peer is updated in place, not removed and re-added -------------
    result, raw = box.module("wg_interface", iface_args(box, "wg0", hub2))
    assert result["changed"] is True, raw
    assert result["actions"] == ["write %s" % (box.tmp / "wg0.conf"), "add peer peer2",
                                 "add route 10.98.0.0/24", "add route 10.99.0.3/32"]
    after = box.dump("wg0")
    assert set(after) == {keys["wgp"][1], peer2_key}
    endpoint, handshake, rx, tx = after[keys["wgp"][1]]
    assert endpoint == before[0] and handshake >= before[1] > 0 and rx >= before[2] > 0 and tx >= before[3]
    assert after[peer2_key][0] == "127.0.0.1:51999"
    assert box.routes("wg0") == ["10.98.0.0/24", "10.99.0.2", "10.99.0.3"]
    result, raw = box.module("wg_interface", iface_args(box, "wg0", hub2))
    assert result["changed"] is False, raw

    # -- a live change of allowed IPs moves the routes; MTU and PSK are applied live ----------------------
    psk = box.sh("wg", "genpsk").strip()
    peer2b = dict(peer2, allowed_ips=["10.99.0.3/32"])
    result, raw = box.module("wg_interface", iface_args(box, "wg0", dict(hub, peers=[peer1, peer2b]), mtu=1380,
                                                        preshared_keys={peer2_key: psk}))
    assert result["actions"][1:] == ["update allowed ips of peer2", "update preshared key of peer2",
                                     "set mtu 1380", "remove route 10.98.0.0/24"], raw
    assert psk not in raw and box.routes("wg0") == ["10.99.0.2", "10.99.0.3"]
    assert json.loads(box.sh("ip", "-j", "link", "show", "dev", "wg0"))[0]["mtu"] == 1380
    assert box.dump("wg0")[keys["wgp"][1]][0] == "127.0.0.1:51821"

    # -- what syncconf cannot clear (a PSK, a keepalive) is cleared with wg set ---------------------------
    peer2c = dict(peer2b, persistent_keepalive=None)
    result, raw = box.module("wg_interface", iface_args(box, "wg0", dict(hub, peers=[peer1, peer2c]), mtu=1380))
    assert result["actions"][1:] == ["turn off persistent keepalive of peer2", "remove preshared key of peer2"], raw
    line = [ln for ln in box.sh("wg", "show", "wg0", "dump").splitlines() if ln.startswith(peer2_key)][0]
    assert line.split("\t")[1] == "(none)" and line.split("\t")[7] == "off"

    # -- key rotation: wg_key force, then wg_interface replaces the key live ------------------------------
    result, raw = box.module("wg_key", {"path": str(box.tmp / "wg0.key"), "force": True})
    new_public = result["public_key"]
    assert result["changed"] and new_public != keys["wg0"][1]
    result, raw = box.module("wg_interface", iface_args(box, "wg0", dict(hub, peers=[peer1, peer2c]), mtu=1380))
    assert result["actions"][1:] == ["replace private key (new public key %s)" % new_public], raw
    assert box.sh("wg", "show", "wg0", "public-key").strip() == new_public == result["public_key"]

    # -- state=absent brings it down and removes the file; wireguard-go for wg0 goes away -----------------
    result, raw = box.module("wg_interface", {"name": "wg0", "state": "absent",
                                              "config_path": str(box.tmp / "wg0.conf")})
    assert result["changed"] is True, raw
    assert box.cmd("ip", "link", "show", "dev", "wg0").returncode != 0 and not (box.tmp / "wg0.conf").exists()
    result, raw = box.module("wg_interface", {"name": "wg0", "state": "absent",
                                              "config_path": str(box.tmp / "wg0.conf")})
    assert result["changed"] is False, raw
