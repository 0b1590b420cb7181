# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What nvidia-smi says: the GPUs it can talk to, the driver version and the CUDA version the driver supports."""

from __future__ import annotations

import csv
import re

# compute_cap needs driver 510 or newer; older drivers are asked again without it.
FIELDS = ("index", "uuid", "name", "pci.bus_id", "memory.total", "driver_version", "compute_cap")
OPTIONAL_FIELDS = ("compute_cap",)
_CUDA = re.compile(r"CUDA Version\s*:\s*(\d+\.\d+)")
_TIMED_OUT = 124


def normalize_bus_id(bus_id):
    """nvidia-smi's ``00000000:1B:00.0`` as sysfs names it: ``0000:1b:00.0``."""
    match = re.match(r"^([0-9A-Fa-f]+):([0-9A-Fa-f]{2}):([0-9A-Fa-f]{2})\.([0-7])$", (bus_id or "").strip())
    if not match:
        return None
    domain, bus, slot, function = match.groups()
    return "%04x:%s:%s.%s" % (int(domain, 16), bus.lower(), slot.lower(), function)


def _value(text):
    text = text.strip()
    return None if not text or text.startswith("[") else text  # [N/A], [Not Supported], [Unknown Error]


def parse_query(text, fields=FIELDS):
    """GPUs from ``nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`` output."""
    gpus = []
    for row in csv.reader((text or "").splitlines(), skipinitialspace=True):
        if len(row) != len(fields):
            continue
        raw = dict(zip(fields, (_value(v) for v in row)))
        memory = raw.get("memory.total")
        gpus.append(dict(
            index=int(raw["index"]) if raw.get("index") and raw["index"].isdigit() else None,
            uuid=raw.get("uuid"),
            name=raw.get("name"),
            address=normalize_bus_id(raw.get("pci.bus_id")),
            memory_total_mib=int(float(memory)) if memory and re.match(r"^\d+(\.\d+)?$", memory) else None,
            driver_version=raw.get("driver_version"),
            compute_capability=raw.get("compute_cap"),
        ))
    return gpus


def parse_cuda_version(text):
    """The CUDA version from nvidia-smi's banner (``CUDA Version: 13.0``) or ``nvidia-smi -q``."""
    match = _CUDA.search(text or "")
    return match.group(1) if match else None


def _first_line(rc, out, err):
    for line in (err or "").splitlines() + (out or "").splitlines():
        if line.strip():
            return line.strip()[:300]
    return "exited with rc=%s" % rc


def query(run, smi_path, timeout_path=None, timeout=30):
    """Ask nvidia-smi about the GPUs. Returns ``present``, ``path``, ``works``, ``error``, ``gpus``,
    ``driver_version`` and ``cuda_version``; a failing or hanging nvidia-smi is reported, never raised."""
    result = dict(present=bool(smi_path), path=smi_path, works=False, error=None, gpus=[], driver_version=None,
                  cuda_version=None)
    if not smi_path:
        result["error"] = "nvidia-smi is not installed"
        return result
    prefix = [timeout_path, "--kill-after=5", str(timeout)] if timeout_path else []

    def smi(*args):
        rc, out, err = run(prefix + [smi_path] + list(args))
        if rc == _TIMED_OUT and prefix:
            return rc, out, "nvidia-smi did not answer within %s s" % timeout
        return rc, out, err

    fields = FIELDS
    rc, out, err = smi("--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits")
    if rc != 0 and "not a valid field" in (out or "") + (err or ""):
        fields = tuple(f for f in FIELDS if f not in OPTIONAL_FIELDS)
        rc, out, err = smi("--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits")
    if rc != 0:
        result["error"] = _first_line(rc, out, err)
        return result
    result["gpus"] = parse_query(out, fields)
    versions = sorted({g["driver_version"] for g in result["gpus"] if g["driver_version"]})
    result["driver_version"] = versions[0] if versions else None
    rc, out, err = smi()
    result["cuda_version"] = parse_cuda_version(out) if rc == 0 else None
    result["works"] = bool(result["gpus"])
    if not result["works"]:
        result["error"] = "nvidia-smi lists no GPU"
    return result
