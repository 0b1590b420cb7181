# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build, on the controller, a wheelhouse that installs a local Python package on an offline target host.

    python3 wheelhouse.py build --source DIR --cache DIR --python-version 3.11 --machine x86_64 \
        --libc glibc --libc-version 2.36 [--extra NAME ...] [--pip-arg=ARG ...] [--pip PYTHON]

The package is built with ``pip wheel --no-deps`` and its dependencies are fetched with ``pip download
--only-binary=:all:`` for the *target's* interpreter and platform (not the controller's), so a wheelhouse made
on an x86_64 controller serves an aarch64 edge host just as well. The result lands in
``CACHE/<target>/<fingerprint>/``: the wheels, a ``requirements.txt`` that pins every wheel by version and sha256
(pip installs it with ``--require-hashes`` implied), a ``manifest.json``, and all of them in ``wheelhouse.tar``
(what is shipped to the hosts, in one transfer). The fingerprint covers the package's
source files, the extras, the target and the pip arguments, so an unchanged source is never rebuilt (its wheels
keep their checksums, which keeps the copy to the hosts idempotent) while any edit makes a new wheelhouse even
without a version bump. Older wheelhouses of the same target and extras are pruned. Prints one JSON object.
"""

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

ARCHIVE = "wheelhouse.tar"
SKIP_DIRS = {"__pycache__", ".git", ".tox", ".venv", "build", "dist", ".pytest_cache", ".mypy_cache"}
WHEEL_RE = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


class BuildError(RuntimeError):
    """A step failed; the message says which and why."""


def source_files(source):
    """Every file of the package source that a build can read, as sorted relative paths."""
    found = []
    for top, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info"))
        for name in files:
            if not name.endswith((".pyc", ".pyo")):
                found.append(os.path.relpath(os.path.join(top, name), source))
    return sorted(found)


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(source, key):
    """sha256 over the source tree (paths and contents) and ``key`` (target, extras, pip arguments)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode())
    for rel in source_files(source):
        digest.update(b"\0" + rel.encode() + b"\0" + sha256_file(os.path.join(source, rel)).encode())
    return digest.hexdigest()


def platforms(machine, libc, libc_version):
    """pip ``--platform`` tags a host with this C library can run, newest first (pip does not expand
    ``manylinux_2_X`` to older glibc levels by itself)."""
    major, minor = (int(part) for part in libc_version.split(".")[:2])
    if libc == "glibc":
        tags = ["manylinux_%d_%d_%s" % (major, m, machine) for m in range(minor, 4, -1)]
        legacy = {"17": "manylinux2014", "12": "manylinux2010", "5": "manylinux1"}
        tags += ["%s_%s" % (legacy[m], machine) for m in ("17", "12", "5") if int(m) <= minor]
        return tags
    if libc == "musl":
        return ["musllinux_%d_%d_%s" % (major, m, machine) for m in range(minor, -1, -1)]
    raise BuildError("unsupported C library %r (glibc or musl)" % libc)


def target_id(args):
    return "cp%s-%s-%s%s" % (args.python_version.replace(".", ""), args.machine, args.libc, args.libc_version)


def run_pip(args, pip_argv):
    argv = [args.pip, "-m", "pip", "--disable-pip-version-check", "--no-input", *pip_argv, *args.pip_arg]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = (proc.stderr or proc.stdout)[-3000:]
        raise BuildError("pip %s failed (rc %d): %s" % (pip_argv[0], proc.returncode, output))


def wheel_meta(filename):
    match = WHEEL_RE.match(filename)
    if not match:
        raise BuildError("not a wheel file name: %s" % filename)
    return re.sub(r"[-_.]+", "-", match.group("name")).lower(), match.group("version")


def build_into(args, workdir):
    """Build the package wheel and download its dependencies into workdir; return the package's (name, version)."""
    with tempfile.TemporaryDirectory(prefix=".source-", dir=os.path.dirname(workdir)) as copy:
        # build from a copy of exactly the fingerprinted files: the source tree gets no build/ or egg-info
        for rel in source_files(args.source):
            os.makedirs(os.path.join(copy, os.path.dirname(rel)), exist_ok=True)
            shutil.copy2(os.path.join(args.source, rel), os.path.join(copy, rel))
        run_pip(args, ["wheel", "--no-deps", "--wheel-dir", workdir, copy])
    built = [f for f in os.listdir(workdir) if f.endswith(".whl")]
    if len(built) != 1:
        raise BuildError("pip wheel made %d wheels from %s, expected one" % (len(built), args.source))
    name, version = wheel_meta(built[0])
    spec = os.path.join(workdir, built[0]) + ("[%s]" % ",".join(args.extra) if args.extra else "")
    abi = "cp" + args.python_version.replace(".", "")
    target = ["--only-binary=:all:", "--python-version", args.python_version, "--implementation", "cp",
              "--abi", abi]
    for tag in platforms(args.machine, args.libc, args.libc_version):
        target += ["--platform", tag]
    run_pip(args, ["download", "--dest", workdir, *target, spec])
    return name, version


def write_lock(workdir, name, version, extras, target):
    wheels = {f: sha256_file(os.path.join(workdir, f)) for f in sorted(os.listdir(workdir)) if f.endswith(".whl")}
    lines = []
    for filename, digest in wheels.items():
        dist, dist_version = wheel_meta(filename)
        extra = "[%s]" % ",".join(extras) if dist == name and extras else ""
        lines.append("%s%s==%s --hash=sha256:%s" % (dist, extra, dist_version, digest))
    with open(os.path.join(workdir, "requirements.txt"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    manifest = {"name": name, "version": version, "extras": extras, "target": target, "wheels": wheels}
    with open(os.path.join(workdir, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    # One archive to ship (one transfer instead of one per wheel); manifest.json last, so its presence on the
    # host means the whole archive was unpacked.
    with tarfile.open(os.path.join(workdir, ARCHIVE), "w") as archive:
        for member in [*wheels, "requirements.txt", "manifest.json"]:
            info = archive.gettarinfo(os.path.join(workdir, member), arcname=member)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            with open(os.path.join(workdir, member), "rb") as handle:
                archive.addfile(info, handle)
    return manifest


def build(args):
    args.source = os.path.abspath(args.source)
    if not os.path.isfile(os.path.join(args.source, "pyproject.toml")) and \
            not os.path.isfile(os.path.join(args.source, "setup.py")):
        raise BuildError("%s: no pyproject.toml or setup.py (vision_common_source)" % args.source)
    target = target_id(args)
    platforms(args.machine, args.libc, args.libc_version)  # fail early on an unsupported libc
    key = {"target": target, "extras": sorted(args.extra), "pip_arg": args.pip_arg}
    fprint = fingerprint(args.source, key)[:16]
    # one cache folder per target and set of extras: hosts of one platform with different extras (the detector's
    # engine) keep a wheelhouse each, instead of pruning each other's on every run
    variant = target + ("+" + "+".join(sorted(args.extra)) if args.extra else "")
    base = os.path.join(os.path.abspath(args.cache), variant)
    final = os.path.join(base, fprint)
    os.makedirs(base, mode=0o755, exist_ok=True)
    with open(os.path.join(base, ".lock"), "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = False
        if not os.path.isfile(os.path.join(final, ARCHIVE)):
            workdir = tempfile.mkdtemp(prefix=".build-", dir=base)
            try:
                name, version = build_into(args, workdir)
                write_lock(workdir, name, version, sorted(args.extra), target)
                os.chmod(workdir, 0o755)
                shutil.rmtree(final, ignore_errors=True)
                os.rename(workdir, final)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            changed = True
        for other in os.listdir(base):
            if other != fprint and not other.startswith("."):
                shutil.rmtree(os.path.join(base, other), ignore_errors=True)
    with open(os.path.join(final, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    return {"changed": changed, "path": final, "archive": os.path.join(final, ARCHIVE),
            "id": "%s-%s" % (target, fprint), "name": manifest["name"],
            "version": manifest["version"], "wheels": len(manifest["wheels"])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    cmd = sub.add_parser("build")
    cmd.add_argument("--source", required=True)
    cmd.add_argument("--cache", required=True)
    cmd.add_argument("--python-version", required=True)
    cmd.add_argument("--machine", required=True)
    cmd.add_argument("--libc", required=True)
    cmd.add_argument("--libc-version", required=True)
    cmd.add_argument("--extra", action="append", default=[])
    cmd.add_argument("--pip-arg", action="append", default=[])
    cmd.add_argument("--pip", default=sys.executable, help="python whose pip builds and downloads")
    args = parser.parse_args(argv)
    if not re.match(r"^3\.\d+$", args.python_version) or not re.match(r"^\d+\.\d+$", args.libc_version):
        parser.error("--python-version wants X.Y and --libc-version wants X.Y")
    try:
        print(json.dumps(build(args)))
    except BuildError as exc:
        print(json.dumps({"failed": True, "msg": str(exc)}))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
