# -*- coding: utf-8 -*-
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Display controllers from PCI sysfs (no lspci needed), named from pci.ids when the host has that file."""

from __future__ import annotations

import os

NVIDIA_VENDOR_ID = "0x10de"
PCI_DEVICES = os.path.join("sys", "bus", "pci", "devices")
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")
# PCI base class 0x03 is "display controller"; its subclasses are below (others are reported as "display").
_DISPLAY_BASE_CLASS = 0x03
_KINDS = {0x00: "vga", 0x01: "xga", 0x02: "3d"}


def read_text(path):
    """Stripped text of a small file, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _hex(text):
    try:
        return int(text, 16)
    except (TypeError, ValueError):
        return None


def _driver(device_dir):
    """Name of the kernel driver bound to the device (its ``driver`` symlink), or None."""
    try:
        return os.path.basename(os.readlink(os.path.join(device_dir, "driver")))
    except OSError:
        return None


def _numa_node(device_dir):
    try:
        node = int(read_text(os.path.join(device_dir, "numa_node")))
    except (TypeError, ValueError):
        return None
    return node if node >= 0 else None


def display_devices(root="/"):
    """Every PCI display controller (class 0x03xxxx) of the host under ``root``, sorted by PCI address.

    Each is a dict: ``address`` (sysfs name, e.g. ``0000:18:00.0``), ``vendor_id``, ``device_id``,
    ``subsystem_vendor_id``, ``subsystem_device_id``, ``class_id`` (hex strings), ``kind`` (vga, xga, 3d or
    display), ``driver`` (bound kernel driver or None) and ``numa_node`` (None when unknown)."""
    base = os.path.join(root, PCI_DEVICES)
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    found = []
    for name in names:
        device_dir = os.path.join(base, name)
        class_id = _hex(read_text(os.path.join(device_dir, "class")))
        if class_id is None or class_id >> 16 != _DISPLAY_BASE_CLASS:
            continue
        ids = {}
        for field in ("vendor", "device", "subsystem_vendor", "subsystem_device"):
            value = _hex(read_text(os.path.join(device_dir, field)))
            ids[field + "_id"] = None if value is None else "0x%04x" % value
        found.append(dict(
            address=name.lower(),
            class_id="0x%06x" % class_id,
            kind=_KINDS.get((class_id >> 8) & 0xFF, "display"),
            driver=_driver(device_dir),
            numa_node=_numa_node(device_dir),
            **ids))
    return found


def pci_ids_names(root, wanted):
    """{(vendor_id, device_id): "Vendor Device"} for the wanted id pairs, from the first pci.ids under root.

    pci.ids lists a vendor as ``vvvv  Name`` at column 0 and its devices as ``<TAB>dddd  Name``; ids are
    matched as lower-case hex strings like ``0x10de``. Pairs not in the file (or with no file) are left out."""
    wanted = {(v, d) for v, d in wanted if v and d}
    if not wanted:
        return {}
    vendors = {pair[0] for pair in wanted}
    for relative in PCI_IDS:
        try:
            handle = open(os.path.join(root, relative), encoding="utf-8", errors="replace")
        except OSError:
            continue
        with handle:
            return _scan_pci_ids(handle, vendors, wanted)
    return {}


def _scan_pci_ids(lines, vendors, wanted):
    names, vendor, vendor_name = {}, None, None
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if not line[0].isspace():
            if line.startswith("C "):  # the device class list follows the vendors
                break
            vendor, vendor_name = "0x" + line[:4].lower(), line[4:].strip()
            continue
        if vendor in vendors and line.startswith("\t") and not line.startswith("\t\t"):
            key = (vendor, "0x" + line[1:5].lower())
            if key in wanted:
                names[key] = "%s %s" % (vendor_name, line[5:].strip())
    return names
