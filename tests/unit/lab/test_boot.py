"""A lab host's boot (roles/lab/files/wiremesh_lab_boot.py) must not depend on where the lab's programs live.

The boot mounts over /etc, /root, /var/lib, /var/log, /run, /tmp and the parent of lab_root, which hides whatever
lay there before: a checkout under /tmp (the case that broke `wiremesh-lab restart`), /run, /root, /var/lib, ...
The first tests run boot() against a fake system that keeps the order of its mounts and refuses any read or exec of
a file one of them hides (no root needed); the last one, as root, boots a throwaway lab host from copies of
roles/lab/files under "/tmp/wm lab test/" and under the parent of its lab_root, then reboots it
(`wiremesh-lab restart`)."""
import ast
import importlib.util
import io
import json
import os
import shutil
import signal
import subprocess
import time
import types
import uuid

import pytest

from wiremesh_lab_ctl import request as ctl_request
from wiremesh_lab_spec import LabError, is_within
from wiremesh_lab_sys import alive, check_tools, netns_list, netns_pids, ns_ident

from .conftest import FILES

ROOT = "/srv/wiremesh-lab/t"


class Exec(Exception):
    """Raised by the fake execve: the boot is over."""


class FakeSystem:
    """Stands in for every system call boot() makes. Keeps the mount points in the order they are mounted and when
    each file was written; a read, stat or exec of a file that a later mount covers fails the test. ``checkout`` is
    where boot() believes its programs are (its HERE), ``real`` where they really are."""

    def __init__(self, checkout, real):
        self.checkout, self.real = checkout, real
        self.mounts, self.born, self.files, self.calls = [], {}, {}, []

    def hider(self, path):
        """The mount point that hides path now, or None (a file written after a mount lives on top of it)."""
        for point in self.mounts[self.born.get(path, 0):]:
            if is_within(path, point):
                return point
        return None

    def touch(self, what, path):
        self.calls.append((what, path, len(self.mounts)))
        point = self.hider(path)
        assert point is None, f"boot {what}s {path} after mounting over {point}: it is hidden by then"

    def wrote(self, path, data=b""):
        self.born[path] = len(self.mounts)
        self.files[path] = data

    # -- what boot() calls ---------------------------------------------------------------------------------
    def sh(self, argv, check=True, input=None, timeout=60):
        self.calls.append(("run", argv, len(self.mounts)))
        if argv[0] == "mount":
            self.mounts.append(argv[-1])
        return subprocess.CompletedProcess(argv, 0, "", "")

    def open(self, path, mode="r", encoding=None):
        if "w" in mode:
            sys_ = self

            class Sink(io.BytesIO if "b" in mode else io.StringIO):
                def close(self):
                    sys_.wrote(path, self.getvalue())
                    super().close()
            return Sink()
        self.touch("read", path)
        if path == "/proc/self/mountinfo":
            return io.StringIO("30 1 0:25 / / rw - ext4 /dev/root rw\n"
                               "31 30 0:4 net:[4026532000] /run/netns/wm-other rw - nsfs nsfs rw\n")
        if path == f"{ROOT}/ssh/id_ed25519.pub":
            return io.StringIO("ssh-ed25519 AAAAtest wiremesh-lab-t\n")
        assert is_within(path, self.checkout), f"boot reads {path}, which this fake does not know"
        return open(self.real + path[len(self.checkout):], mode, encoding=encoding)  # noqa: SIM115

    def write_if_changed(self, path, text, mode=0o644):
        self.wrote(path, text)
        return True

    def makedirs(self, path, mode=0o777, exist_ok=False):
        self.wrote(path)

    def chmod(self, path, mode):
        self.touch("chmod", path)

    def unlink(self, path):
        self.touch("unlink", path)

    def exists(self, path):
        self.touch("stat", path)
        return False

    def execve(self, program, argv, env):
        self.calls.append(("exec", argv, len(self.mounts)))
        self.touch("exec", program)
        script = argv[1]
        self.touch("exec", script)
        raise Exec(program, argv, env)

    def patch(self, monkeypatch, module):
        os_path = types.SimpleNamespace(exists=self.exists, join=os.path.join, dirname=os.path.dirname)
        monkeypatch.setattr(module, "os", types.SimpleNamespace(
            path=os_path, makedirs=self.makedirs, chmod=self.chmod, unlink=self.unlink, getpid=os.getpid,
            execve=self.execve))
        monkeypatch.setattr(module, "sh", self.sh)
        monkeypatch.setattr(module, "write_if_changed", self.write_if_changed)
        monkeypatch.setattr(module, "open", self.open, raising=False)
        monkeypatch.setattr(module, "glob", types.SimpleNamespace(glob=lambda pattern: []))
        monkeypatch.setattr(module, "socket", types.SimpleNamespace(sethostname=lambda name: None))
        # reads the host's own /etc (its overlay), not the checkout: tested on its own below
        monkeypatch.setattr(module, "apply_net_sysctls", lambda: self.calls.append(("sysctl", None, len(self.mounts))))
        monkeypatch.setattr(module, "HERE", f"{self.checkout}/roles/lab/files")


def load_boot(files_dir, name):
    """wiremesh_lab_boot loaded from files_dir (a fresh module object, so HERE is computed from there)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(files_dir, "wiremesh_lab_boot.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_boot(monkeypatch, module, checkout, real):
    """boot() of host h of lab t against a FakeSystem; returns (fake, the Exec it ended with)."""
    fake = FakeSystem(checkout, real)
    fake.patch(monkeypatch, module)
    with pytest.raises(Exec) as ended:
        module.boot("t", ROOT, "h")
    return fake, ended.value


def check_exec(module, fake, ended):
    """What the boot execs is the init, installed where no mount hides it, with every module it imports, byte for
    byte the code next to wiremesh_lab_boot.py, and nothing after the first mount came from the checkout."""
    program, argv, env = ended.args
    assert env["WIREMESH_LAB"] == "t/h"
    script_dir = os.path.dirname(argv[1])
    assert not is_within(script_dir, fake.checkout)
    for name in module.INIT_FILES:
        path = os.path.join(script_dir, name)
        assert path in fake.files, f"{name} is not installed next to the init"
        fake.touch("import", path)
        with open(FILES / name, "rb") as handle:
            assert fake.files[path] == handle.read()
    late = [(what, path) for what, path, mounted in fake.calls if mounted and what != "run"
            and is_within(str(path[1] if isinstance(path, list) else path), fake.checkout)]
    assert late == [], "after its first mount the boot still uses the checkout"
    assert fake.mounts[-1] == "/srv/wiremesh-lab", "the lab root's parent is hidden last"


def test_the_fake_system_sees_what_a_mount_hides():
    fake = FakeSystem("/tmp/x y", "/nowhere")
    fake.touch("read", "/tmp/x y/a.py")
    fake.sh(["mount", "-t", "tmpfs", "tmp", "/tmp"])
    with pytest.raises(AssertionError, match="hidden"):
        fake.touch("read", "/tmp/x y/a.py")
    fake.wrote("/tmp/new")
    fake.touch("read", "/tmp/new")          # written after the mount: on top of it
    fake.touch("read", "/tmpfoo/x")         # not below /tmp
    fake.sh(["mount", "-t", "tmpfs", "hidden", "/"])
    with pytest.raises(AssertionError, match="hidden"):
        fake.touch("read", "/tmp/new")


@pytest.mark.parametrize("checkout", [
    "/tmp/x y/wiremesh.multicloud",           # the reported case: /tmp gets a tmpfs
    "/run/user/0/x y/wiremesh.multicloud",    # /run too
    "/root/src/x y",                          # overlays: what is mounted below them is hidden
    "/var/lib/ci/x y",
    "/var/log/x y",
    "/etc/x y",
    "/srv/wiremesh-lab/x y",                  # the parent of lab_root is hidden last of all
    "/srv/x y/wiremesh.multicloud",           # never hidden: must keep working
])
def test_boot_never_reads_the_checkout_after_mounting(monkeypatch, checkout):
    module = load_boot(str(FILES), f"wiremesh_lab_boot_{uuid.uuid4().hex}")
    fake, ended = run_boot(monkeypatch, module, checkout, str(FILES.parents[2]))
    check_exec(module, fake, ended)


def test_boot_from_a_copy_under_a_path_with_spaces(monkeypatch, tmp_path):
    """The module itself copied into `.../x y/roles/lab/files` (the real file system): it finds its init code
    there, and execs a copy of it from the host's /run."""
    checkout = tmp_path / "x y" / "wiremesh multicloud"
    files = checkout / "roles" / "lab" / "files"
    shutil.copytree(FILES, files, ignore=shutil.ignore_patterns("__pycache__"))
    module = load_boot(str(files), f"wiremesh_lab_boot_{uuid.uuid4().hex}")
    assert module.HERE == str(files)
    fake, ended = run_boot(monkeypatch, module, str(checkout), str(checkout))
    check_exec(module, fake, ended)
    assert tuple(ended.args[1]) == module.INIT_ARGV
    assert [c for c in fake.calls if c[0] == "read" and is_within(c[1], str(checkout))] == \
        [("read", str(files / n), 0) for n in module.INIT_FILES]


def test_boot_applies_the_hosts_own_net_sysctls_only(tmp_path):
    """A new network namespace starts with ip_forward 0: a rebooted lab host must get the forwarding the wireguard
    role put in its /etc/sysctl.d back, as systemd-sysctl gives it to a rebooted machine; machine-wide keys are
    left alone (the lab hosts share the kernel)."""
    module = load_boot(FILES, "boot_sysctl")
    texts = ["# comment\nnet.ipv4.ip_forward = 1\nkernel.sysrq=1\n; other\n-net/ipv6/conf/all/forwarding=1\n",
             "net.ipv4.ip_forward=0\nnet..bad=1\nvm.swappiness = 10\n"]
    assert module.net_sysctls(texts) == [("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.forwarding", "1"),
                                         ("net.ipv4.ip_forward", "0")]
    etc, proc = tmp_path / "etc", tmp_path / "proc"
    (etc / "sysctl.d").mkdir(parents=True)
    (etc / "sysctl.d" / "60-wiremesh.conf").write_text("net.ipv4.ip_forward = 1\nkernel.panic = 3\n")
    (proc / "net" / "ipv4").mkdir(parents=True)
    (proc / "net" / "ipv4" / "ip_forward").write_text("0")
    module.apply_net_sysctls(str(etc), str(proc))
    assert (proc / "net" / "ipv4" / "ip_forward").read_text() == "1"
    assert not (proc / "kernel").exists()


def test_init_files_hold_every_module_the_init_imports():
    """INIT_FILES (what the boot installs for the init) covers every module of roles/lab/files that the init and
    those modules import: the init could not import one left out."""
    boot = importlib.import_module("wiremesh_lab_boot")
    ours = {p.stem for p in FILES.glob("wiremesh_lab*.py")}
    needed, todo = set(), ["wiremesh_lab_init"]
    while todo:
        name = todo.pop()
        needed.add(name)
        tree = ast.parse((FILES / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            todo += [n for n in names if n in ours and n not in needed]
    assert {f"{n}.py" for n in needed} == set(boot.INIT_FILES)
    assert boot.INIT_ARGV[1] == f"{boot.INIT_DIR}/wiremesh_lab_init.py"
    assert is_within(boot.INIT_DIR, "/run")  # the host's own tmpfs: no mount goes over it afterwards
    for root in ("/srv/wiremesh-lab/lab", "/opt/labs/x", "/srv/lab"):
        assert not is_within(boot.INIT_DIR, boot.check_lab_root(root))


# -- as root: a real lab host booted from a copy that its own mounts hide ------------------------------------------
def tools_missing():
    if os.geteuid() != 0:
        return "needs root (network namespaces, mounts)"
    try:
        check_tools()
    except LabError as exc:
        return str(exc)
    return None


def lab_tool(files, *args, stdin=None, timeout=120):
    res = subprocess.run(["/usr/bin/python3", os.path.join(files, "wiremesh_lab.py"), *args], input=stdin,
                         capture_output=True, text=True, timeout=timeout, check=False)
    return res, (json.loads(res.stdout) if res.stdout.strip().startswith("{") else {})


def control(pid, payload, timeout=10):
    """A request to the init's control socket, reached through the init's own root (its mount namespace)."""
    return ctl_request(payload, f"/proc/{pid}/root/run/wiremesh-lab/control.sock", timeout)


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return [a.decode() for a in handle.read().split(b"\0") if a]


def ours(pid, lab, host):
    """pid is the init (or a process) of host `host` of lab `lab`: checked by its environment."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return f"WIREMESH_LAB={lab}/{host}".encode() in handle.read().split(b"\0")
    except OSError:
        return False


def cleanup(lab, host, root, pids, dirs):
    """Tear the throwaway lab down: `down` first, then whatever it left, by PID and by exact namespace name."""
    try:
        lab_tool(str(FILES), "down", "--lab-name", lab, "--lab-root", root, timeout=120)
    except subprocess.TimeoutExpired:
        pass
    for pid in pids:
        if alive(pid) and ours(pid, lab, host):
            os.kill(pid, signal.SIGKILL)
    for ns in (f"wm-{host}", f"wm-{lab}-switch"):
        if ns in netns_list():
            deadline = time.monotonic() + 10
            while (left := netns_pids(ns_ident(f"/run/netns/{ns}"))) and time.monotonic() < deadline:
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.05)
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30, check=False)
    for path in dirs + [root]:
        shutil.rmtree(path, ignore_errors=True)
    try:
        os.rmdir("/tmp/wm lab test")
    except OSError:
        pass
    try:
        os.unlink(f"/run/lock/wiremesh-lab-{lab}.lock")
    except OSError:
        pass


@pytest.mark.skipif(tools_missing() is not None, reason=f"{tools_missing()}")
@pytest.mark.parametrize("where", ["tmp", "lab-root-parent"])
def test_a_host_boots_and_reboots_from_a_checkout_its_mounts_hide(where):
    """`wiremesh-lab up` then `restart` run from a copy of roles/lab/files that the host's mounts hide: under
    "/tmp/wm lab test/" (tmpfs on /tmp) or under the parent of lab_root (hidden last). The host comes up and back,
    its init runs from its own /run and answers, sshd runs; then the lab is torn down."""
    tag = uuid.uuid4().hex[:6]
    lab, host = f"wmpt-{tag}", f"wmpt-{tag}-h"
    if where == "tmp":
        top = f"/tmp/wm lab test/{lab}"
        root = f"/srv/wiremesh-lab/{lab}"
    else:
        top = f"/srv/{lab}"
        root = f"{top}/lab"
    files = f"{top}/check out/roles/lab/files"
    assert f"wm-{host}" not in netns_list() and f"wm-{lab}-switch" not in netns_list()
    pids = []
    try:
        shutil.copytree(FILES, files, ignore=shutil.ignore_patterns("__pycache__"))
        spec = {"lab_name": lab, "lab_root": root, "wait_timeout": 30, "networks": {}, "routers": {},
                "hosts": [{"name": host, "interfaces": []}]}
        for step in ("up", "restart"):
            args = ["up", "-"] if step == "up" else ["restart", "--lab-root", root, "--host", host]
            res, out = lab_tool(files, *args, stdin=json.dumps(spec) if step == "up" else None)
            console = f"{root}/hosts/{host}/console.log"
            log = open(console, encoding="utf-8", errors="replace").read() if os.path.exists(console) else ""
            assert res.returncode == 0 and out.get("changed"), f"{step}: {res.stdout}{res.stderr}\n{log}"
            assert f"host {host} booted" in out["actions"]
            pid = out["hosts"][host]["init_pid"]
            pids.append(pid)
            assert alive(pid) and ours(pid, lab, host)
            assert ns_ident(f"/proc/{pid}/ns/net") == ns_ident(f"/run/netns/wm-{host}")
            assert cmdline(pid) == ["/usr/bin/python3", "/run/wiremesh-lab/lib/wiremesh_lab_init.py"]
            assert "can't open file" not in log
            assert not os.path.exists(f"/proc/{pid}/root{files}"), "the copy is visible inside the host"
            deadline = time.monotonic() + 30
            while True:
                status = control(pid, {"cmd": "status"})
                if status["sshd"]["state"] == "running" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert status["ok"] and status["sshd"]["state"] == "running", status
        assert pids[0] != pids[1] and not alive(pids[0])
        res, out = lab_tool(files, "status", "-", stdin=json.dumps(spec))
        assert res.returncode == 0 and out["healthy"], res.stdout
        res, out = lab_tool(files, "up", "-", stdin=json.dumps(spec))
        assert res.returncode == 0 and out["changed"] is False, res.stdout  # idempotent: a healthy lab stays
        res, out = lab_tool(files, "down", "--lab-name", lab, "--lab-root", root)
        assert res.returncode == 0 and out["changed"], res.stdout
        assert f"wm-{host}" not in netns_list() and not os.path.exists(root)
        deadline = time.monotonic() + 10
        while alive(pids[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pids[1])
    finally:
        cleanup(lab, host, root, pids, [top])
