"""The lab's system helpers: run commands, list namespaces and their processes, kill by PID, write files."""
import json
import os
import shutil
import signal
import subprocess
import time

from wiremesh_lab_spec import LabError

ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
       "PYTHONDONTWRITEBYTECODE": "1"}
TOOLS = ("ip", "sshd", "socat", "unshare", "nft", "ssh-keygen", "ssh-keyscan", "mount", "umount", "sysctl")


def check_tools():
    """Fail unless every command the lab needs is installed and we run as root."""
    missing = [t for t in TOOLS if not shutil.which(t, path=ENV["PATH"])] + \
        ([] if os.path.exists("/usr/bin/python3") else ["/usr/bin/python3"])
    if missing:
        raise LabError(f"the lab needs these commands, missing here: {', '.join(missing)} "
                       "(install the Debian packages of apt-packages.txt)")
    if os.geteuid() != 0:
        raise LabError("the lab must be built as root (network namespaces, mounts)")


# -- system helpers ---------------------------------------------------------------------------------
def sh(argv, check=True, input=None, timeout=60):
    try:
        res = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, env=ENV, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}")
    if check and res.returncode:
        raise LabError(f"{' '.join(argv)}: exit {res.returncode}: {(res.stderr or res.stdout).strip()}")
    return res


def links(ns):
    """{ifname: link} with addresses and details, from `ip -j -d addr show` in namespace ns."""
    out = sh(["ip", "-n", ns, "-j", "-d", "addr", "show"]).stdout
    return {link["ifname"]: link for link in (json.loads(out) if out.strip() else [])}


def netns_list():
    return sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else []


def ns_ident(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def netns_pids(ident):
    """PIDs of the (non-zombie) processes living in the network namespace ident."""
    if ident is None or ident in (ns_ident("/proc/1/ns/net"), ns_ident("/proc/self/ns/net")):
        return []
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and ns_ident(f"/proc/{p}/ns/net") == ident]


def alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def tagged_pids(tag):
    """PIDs whose environment holds tag (the lab's inits pass WIREMESH_LAB=<lab>/<host> on to their units)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                if any(v.startswith(tag) for v in handle.read().split(b"\0")):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def kill_all(ident, what, timeout=10):
    """SIGKILL every process of a network namespace and wait until they are gone."""
    deadline = time.monotonic() + timeout
    while True:
        pids = netns_pids(ident)
        if not pids:
            return
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in {what} survive SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)


def write_if_changed(path, text, mode=0o644):
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return False
    except OSError:
        pass
    tmp = f"{path}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def host_exec(root, host, argv):
    """Replace this process with ``argv`` run inside lab host ``host`` (its network, mount and UTS namespaces,
    entered through its init's PID): what `docker exec` is to a container, e.g. to see wireguard-go's socket."""
    try:
        with open(f"{root}/hosts/{host}/init.pid", encoding="utf-8") as handle:
            pid = handle.read().strip()
    except OSError as exc:
        raise LabError(f"host {host} of the lab at {root} is not running ({exc.strerror})")
    if not alive(int(pid)):
        raise LabError(f"host {host} of the lab at {root} is not running (init {pid} is gone)")
    os.execvp("nsenter", ["nsenter", "-t", pid, "-m", "-n", "-u", "--", *argv])
