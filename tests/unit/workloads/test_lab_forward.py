"""tools/lab_forward.py: loopback of the root namespace -> a server that exists only inside a network namespace this
test creates (and removes). Needs root and iproute2."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOL = os.path.join(ROOT, "tools", "lab_forward.py")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and iproute2")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tool(*args):
    proc = subprocess.run([sys.executable, TOOL, *args], capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def netns_server():
    """A namespace with only its loopback up and an HTTP server on its 127.0.0.1 (unreachable from here)."""
    name = "wl-fwdtest-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", name], check=True)
    server = None
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        port = free_port()
        server = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-m", "http.server", "--bind",
                                   "127.0.0.1", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(["ip", "netns", "exec", name, "ss", "-Hltn", "sport", "= :%d" % port],
                                   capture_output=True, text=True, check=False)
            if probe.stdout.strip():
                break
            time.sleep(0.1)
        yield name, port
    finally:
        if server:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", name], check=False)


def test_forwards_into_the_namespace_idempotently_and_stops(netns_server, tmp_path):
    name, port = netns_server
    listen = "127.0.0.1:%d" % free_port()
    pidfile = str(tmp_path / "forward-test.pid")
    with pytest.raises(OSError):   # nothing listens there in this namespace: only the forwarder gets in
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    args = ["--netns", name, "--listen", listen, "--pidfile", pidfile]
    try:
        rc, first = tool("start", *args, "--connect", "127.0.0.1:%d" % port)
        assert rc == 0 and first["changed"], first
        with urllib.request.urlopen("http://%s/" % listen, timeout=10) as response:
            assert response.status == 200 and b"Directory listing" in response.read()
        rc, again = tool("start", *args, "--connect", "127.0.0.1:%d" % port)
        assert rc == 0 and not again["changed"] and again["pid"] == first["pid"]
        rc, moved = tool("start", *args, "--connect", "127.0.0.1:%d" % (port + 1 if port < 65535 else port - 1))
        assert rc == 0 and moved["changed"] and moved["pid"] != first["pid"]
        assert not os.path.exists("/proc/%d" % first["pid"])
        assert tool("status", "--pidfile", pidfile)[1]["running"]
    finally:
        rc, stopped = tool("stop", "--all", str(tmp_path))
    assert rc == 0 and stopped["changed"]
    assert not tool("status", "--pidfile", pidfile)[1]["running"] and not os.path.exists(pidfile)
    assert tool("stop", "--all", str(tmp_path))[1]["changed"] is False


def test_refuses_non_loopback_listeners_and_missing_namespaces(tmp_path):
    proc = subprocess.run([sys.executable, TOOL, "start", "--netns", "x", "--listen", "0.0.0.0:8480", "--connect",
                           "10.4.0.2:8080", "--pidfile", str(tmp_path / "f.pid")], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 2 and "listens on loopback addresses only" in proc.stderr
    rc, result = tool("start", "--netns", "wl-no-such-netns", "--listen", "127.0.0.1:%d" % free_port(),
                      "--connect", "10.4.0.2:8080", "--pidfile", str(tmp_path / "f.pid"))
    assert rc == 1 and "wl-no-such-netns does not exist" in result["msg"]
