# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the wireguard role needs to know about a host, read in one go: its OS (as Ansible's facts name it), the
kernel module, which packages are installed, the service manager, and what its failover agent holds."""

from __future__ import annotations

import json
import os

# os-release ID -> Ansible's ansible_facts.distribution and os_family (the names the role's vars files use)
DISTRIBUTIONS = {
    "debian": ("Debian", "Debian"), "ubuntu": ("Ubuntu", "Debian"), "raspbian": ("Debian", "Debian"),
    "rhel": ("RedHat", "RedHat"), "rocky": ("Rocky", "RedHat"), "almalinux": ("AlmaLinux", "RedHat"),
    "centos": ("CentOS", "RedHat"), "fedora": ("Fedora", "RedHat"), "ol": ("OracleLinux", "RedHat"),
    "amzn": ("Amazon", "RedHat"),
}
LAB_CTL = "/usr/local/sbin/wiremesh-lab-ctl"


def parse_os_release(text):
    """KEY=value lines (values optionally quoted) -> dict."""
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            out[key] = value
    return out


def os_facts(release):
    """{"distribution", "os_family", "distribution_version"} from parsed os-release; an unknown ID keeps its own
    name and takes its family from ID_LIKE when that names a known one."""
    ident = release.get("ID", "").lower()
    if ident in DISTRIBUTIONS:
        distribution, family = DISTRIBUTIONS[ident]
    else:
        distribution, family = release.get("NAME", ident or "unknown").split(" ")[0], None
        for like in release.get("ID_LIKE", "").lower().split():
            if like in DISTRIBUTIONS:
                family = DISTRIBUTIONS[like][1]
                break
        family = family or distribution
    return {"distribution": distribution, "os_family": family,
            "distribution_version": release.get("VERSION_ID", "")}


def installed_packages(run, which, family, names):
    """{name: True/False} for ``names`` (dpkg on the Debian family, rpm elsewhere); {} when the tool is missing."""
    names = sorted(set(names))
    if not names or not which("dpkg-query" if family == "Debian" else "rpm"):
        return {}
    if family == "Debian":
        rc, out, dummy = run(["dpkg-query", "-W", "-f", "${Package} ${Status}\\n"] + names)
        if rc not in (0, 1):
            return {}
        have = {line.split(" ", 1)[0] for line in out.splitlines() if line.endswith(" installed")}
    else:
        rc, out, dummy = run(["rpm", "-q", "--qf", "%{NAME}\\n"] + names)
        if rc not in (0, 1) and not out:
            return {}
        have = {line.strip() for line in out.splitlines() if line.strip() and " " not in line.strip()}
    return {name: name in have for name in names}


def kernel_module(run, which):
    """True when the kernel has (or can load) the wireguard module."""
    if os.path.isdir("/sys/module/wireguard"):
        return True
    if not which("modprobe"):
        return False
    return run(["modprobe", "--dry-run", "wireguard"])[0] == 0


def service_manager():
    if os.path.isdir("/run/systemd/system"):
        return "systemd"
    if os.path.exists(LAB_CTL):
        return "lab"
    return "none"


def agent_state(interface, directory="/run/wiremesh"):
    """The failover agent's state file, parsed (None when it does not run or the file is unreadable)."""
    path = os.path.join(directory, "failover-%s.state.json" % interface)
    try:
        with open(path, "r", encoding="utf-8") as handle:
            state = json.load(handle)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def read(run, which, interface, packages, os_release_path="/etc/os-release"):
    """Everything above; ``which(name)`` finds a command (None when it is missing)."""
    try:
        with open(os_release_path, "r", encoding="utf-8") as handle:
            release = parse_os_release(handle.read())
    except OSError:
        release = {}
    facts = os_facts(release)
    return dict(facts,
                kernel_module=kernel_module(run, which),
                packages=installed_packages(run, which, facts["os_family"], packages),
                service_manager=service_manager(),
                failover=agent_state(interface))
