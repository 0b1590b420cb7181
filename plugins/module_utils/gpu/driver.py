# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The loaded NVIDIA kernel driver (/proc/driver/nvidia/version) and which kernel modules are loaded."""

from __future__ import annotations

import os
import re

from .pci import read_text

VERSION_FILE = os.path.join("proc", "driver", "nvidia", "version")
MODULES_FILE = os.path.join("proc", "modules")
SYS_MODULE = os.path.join("sys", "module")
NVIDIA_MODULES = ("nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset")
WATCHED_MODULES = NVIDIA_MODULES + ("nouveau",)

# "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (dvs-builder@...)  <date>"
# "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.216.03  Thu Apr  3 01:14:19 UTC 2025"
# "NVRM version: NVIDIA UNIX Kernel Module for aarch64  34.1.1  Release Build  ..." (Jetson)
_NVRM = re.compile(r"NVRM version:\s+NVIDIA UNIX\s+(?P<what>.*?Kernel Module)(?:\s+for\s+(?P<arch_for>\S+))?"
                   r"\s+(?P<version>\d+(?:\.\d+)+)")


def parse_version_file(text):
    """Version, branch (major), flavour (open or proprietary) and architecture from the NVRM line, or None."""
    match = _NVRM.search(text or "")
    if not match:
        return None
    what = match.group("what")
    words = what.split()
    arch = match.group("arch_for") or (words[0] if len(words) > 2 and words[1] == "Kernel" else None)
    version = match.group("version")
    return dict(version=version, major=version.split(".")[0], arch=arch,
                flavour="open" if what.startswith("Open ") else "proprietary")


def loaded_driver(root="/"):
    """The loaded NVIDIA driver: ``loaded``, ``version``, ``major``, ``flavour``, ``arch`` and ``source``.

    /proc/driver/nvidia/version exists only while the nvidia module is loaded. /sys/module/nvidia/version is
    the fallback (it gives the version but not the flavour)."""
    parsed = parse_version_file(read_text(os.path.join(root, VERSION_FILE)))
    if parsed:
        return dict(parsed, loaded=True, source=VERSION_FILE)
    version = read_text(os.path.join(root, SYS_MODULE, "nvidia", "version"))
    if version and re.match(r"^\d+(\.\d+)+$", version):
        return dict(loaded=True, version=version, major=version.split(".")[0], flavour=None, arch=None,
                    source=os.path.join(SYS_MODULE, "nvidia", "version"))
    return dict(loaded=False, version=None, major=None, flavour=None, arch=None, source=None)


def loaded_modules(root="/", names=WATCHED_MODULES):
    """{name: loaded} for the given kernel modules.

    A loadable module is listed in /proc/modules; a built-in one (or any module on a kernel without /proc/modules)
    shows up as a /sys/module/<name> directory, which also exists while a loadable module is loaded."""
    text = read_text(os.path.join(root, MODULES_FILE)) or ""
    listed = {line.split()[0] for line in text.splitlines() if line.strip()}
    return {name: name in listed or os.path.isdir(os.path.join(root, SYS_MODULE, name)) for name in names}
