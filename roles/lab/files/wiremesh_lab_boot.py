"""A lab host's first process: overlays on /etc, /root, /var/lib, /var/log, private /run and /tmp, its own
hostname, machine-id and SSH host keys, the lab's key authorized, then the lab root hidden and the supervisor
(wiremesh_lab_init.py) exec'd. Runs as `ip netns exec wm-HOST unshare --mount --uts --propagation private --
python3 wiremesh_lab.py boot ...`.

The host's mounts hide whatever lay below their mount points (a checkout under /tmp, /run, /root, /var/lib, the
parent of lab_root, ...): so the boot reads the init's code (INIT_FILES, next to this file) before its first mount
and writes it into the host's own /run (INIT_DIR, a tmpfs nothing is mounted over afterwards), and execs it from
there. After its first mount, the boot reads nothing from where these programs live."""
import glob
import os
import socket
import uuid

from wiremesh_lab_spec import check_lab_root, mountpoints
from wiremesh_lab_sys import ENV, sh, write_if_changed

HERE = os.path.dirname(os.path.realpath(__file__))
INIT_FILES = ("wiremesh_lab_init.py", "wiremesh_lab_units.py")  # the init and every module of HERE it imports
INIT_DIR = "/run/wiremesh-lab/lib"  # in the host's private /run
INIT_ARGV = ("/usr/bin/python3", f"{INIT_DIR}/wiremesh_lab_init.py")
OVERLAYS = (("/etc", "etc"), ("/root", "root"), ("/var/lib", "var-lib"), ("/var/log", "var-log"))
ETC_HOSTS = ("127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
             "ff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def read_init(here):
    """{file name: bytes} of the init's code in directory here (read before any mount can hide it)."""
    code = {}
    for name in INIT_FILES:
        with open(os.path.join(here, name), "rb") as handle:
            code[name] = handle.read()
    return code


def install_init(code):
    """Write the init's code into INIT_DIR (the host's own /run, mounted already)."""
    os.makedirs(INIT_DIR, mode=0o755, exist_ok=True)
    for name, data in code.items():
        with open(os.path.join(INIT_DIR, name), "wb") as handle:
            handle.write(data)


def net_sysctls(texts):
    """[(key, value)] of the net.* settings in sysctl.conf texts (in order; a later one wins when applied): the
    per-network-namespace settings a booting machine's systemd-sysctl applies, e.g. the ip_forward that the
    wireguard role puts in /etc/sysctl.d for a leader or relay. Other keys are machine-wide: left alone."""
    out = []
    for text in texts:
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            key = key.lstrip("-").replace("/", ".")
            if key.startswith("net.") and ".." not in key:
                out.append((key, value))
    return out


def apply_net_sysctls(etc="/etc", proc="/proc/sys"):
    """Apply the host's own /etc/sysctl.conf and /etc/sysctl.d/*.conf net.* settings to its network namespace
    (a new namespace starts with the kernel's defaults: ip_forward 0). Best effort, like systemd-sysctl."""
    texts = []
    for path in [f"{etc}/sysctl.conf"] + sorted(glob.glob(f"{etc}/sysctl.d/*.conf")):
        try:
            with open(path, encoding="utf-8") as handle:
                texts.append(handle.read())
        except (OSError, UnicodeDecodeError):
            continue
    for key, value in net_sysctls(texts):
        try:
            with open(os.path.join(proc, *key.split(".")), "w", encoding="ascii") as handle:
                handle.write(value)
        except (OSError, UnicodeEncodeError):
            continue


def boot(lab, root, host):
    hd, hide = f"{root}/hosts/{host}", check_lab_root(root)
    init_code = read_init(HERE)  # before the first mount: the mounts may hide where this file lives
    for target, key in OVERLAYS:
        upper, work = f"{hd}/upper/{key}", f"{hd}/work/{key}"
        os.makedirs(upper, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        sh(["mount", "-t", "overlay", f"wiremesh-lab-{host}", "-o",
            f"lowerdir={target},upperdir={upper},workdir={work}", target])
    with open("/proc/self/mountinfo", encoding="utf-8") as handle:  # e.g. /run/netns/*: pins other hosts
        for point in sorted(mountpoints(handle.read()), reverse=True):
            if point.startswith("/run/"):
                sh(["umount", "-l", point], check=False)
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "run", "/run"])
    sh(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmp", "/tmp"])
    for path, mode in (("/run/sshd", 0o755), ("/run/lock", 0o1777)):
        os.makedirs(path, exist_ok=True)
        os.chmod(path, mode)
    install_init(init_code)
    socket.sethostname(host)
    write_if_changed("/etc/hostname", f"{host}\n")
    write_if_changed("/etc/hosts", ETC_HOSTS.format(host=host))
    apply_net_sysctls()
    if not os.path.exists(f"{hd}/upper/etc/machine-id"):
        write_if_changed("/etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    if not os.path.exists(f"{hd}/upper/etc/ssh/ssh_host_ed25519_key"):  # first boot: own host keys
        for path in glob.glob("/etc/ssh/ssh_host_*"):
            os.unlink(path)
        sh(["ssh-keygen", "-A"])
    os.makedirs("/root/.ssh", mode=0o700, exist_ok=True)
    os.chmod("/root/.ssh", 0o700)
    with open(f"{root}/ssh/id_ed25519.pub", encoding="utf-8") as handle:
        write_if_changed("/root/.ssh/authorized_keys", handle.read(), 0o600)
    write_if_changed(f"{hd}/init.pid", f"{os.getpid()}\n")
    sh(["mount", "-t", "tmpfs", "-o", "mode=0755,size=64k", "wiremesh-lab-hidden", hide])
    os.execve(INIT_ARGV[0], list(INIT_ARGV), dict(ENV, WIREMESH_LAB=f"{lab}/{host}"))
