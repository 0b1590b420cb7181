"""roles/vision_common/files/wheelhouse.py: the controller-side wheelhouse for offline hosts, built here with no
index at all (hand-made wheels in a --find-links directory, a package with an in-tree build backend)."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile

import pytest

from .wheels import make_source, make_wheel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "roles", "vision_common", "files", "wheelhouse.py")
spec = importlib.util.spec_from_file_location("wheelhouse", SCRIPT)
wheelhouse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(wheelhouse)

TARGET = ["--python-version", "3.11", "--machine", "x86_64", "--libc", "glibc", "--libc-version", "2.36"]


@pytest.fixture
def index(tmp_path):
    """A --find-links directory: one pure dependency, one native one for x86_64 and aarch64 (manylinux_2_28)."""
    links = tmp_path / "links"
    links.mkdir()
    make_wheel(str(links), "dep-pure", "1.2.0")
    for machine in ("x86_64", "aarch64"):
        make_wheel(str(links), "dep-native", "3.0.0", tag="cp311-cp311-manylinux_2_28_%s" % machine)
    return links


def build(tmp_path, index, *extra, source=None):
    source = source or make_source(str(tmp_path / "src"))
    argv = [sys.executable, SCRIPT, "build", "--source", source, "--cache", str(tmp_path / "cache"), *TARGET,
            "--pip-arg=--no-index", "--pip-arg=--find-links=%s" % index, *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, json.loads(proc.stdout.strip().splitlines()[-1])


def test_platform_tags_cover_every_older_glibc_and_the_legacy_names():
    tags = wheelhouse.platforms("x86_64", "glibc", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64" and tags[-4] == "manylinux_2_5_x86_64"
    assert tags[-3:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    assert "manylinux2014_aarch64" not in wheelhouse.platforms("aarch64", "glibc", "2.12")
    assert wheelhouse.platforms("aarch64", "musl", "1.2") == ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64",
                                                              "musllinux_1_0_aarch64"]
    with pytest.raises(wheelhouse.BuildError):
        wheelhouse.platforms("x86_64", "uclibc", "1.0")


def test_fingerprint_follows_sources_not_build_leftovers(tmp_path):
    src = make_source(str(tmp_path / "src"))
    first = wheelhouse.fingerprint(src, {"target": "t"})
    for leftover in ("build/lib/x.py", "__pycache__/backend.cpython-311.pyc", "x.egg-info/PKG-INFO"):
        os.makedirs(os.path.dirname(os.path.join(src, leftover)), exist_ok=True)
        with open(os.path.join(src, leftover), "w", encoding="utf-8") as handle:
            handle.write("noise")
    assert wheelhouse.fingerprint(src, {"target": "t"}) == first
    assert wheelhouse.fingerprint(src, {"target": "other"}) != first
    with open(os.path.join(src, "version.txt"), "a", encoding="utf-8") as handle:
        handle.write("\n")
    assert wheelhouse.fingerprint(src, {"target": "t"}) != first


def test_build_once_pin_every_wheel_and_install_offline(tmp_path, index):
    source = make_source(str(tmp_path / "src"))
    before = sorted(os.listdir(source))
    rc, result = build(tmp_path, index, source=source)
    assert sorted(os.listdir(source)) == before    # built from a copy: no build/ or egg-info in the source
    assert rc == 0, result
    assert result["changed"] and result["name"] == "tiny-vision" and result["version"] == "0.1.0"
    assert result["wheels"] == 3 and result["id"].startswith("cp311-x86_64-glibc2.36-")
    files = sorted(os.listdir(result["path"]))
    assert "dep_native-3.0.0-cp311-cp311-manylinux_2_28_x86_64.whl" in files
    assert not any("aarch64" in f for f in files)
    lock = open(os.path.join(result["path"], "requirements.txt"), encoding="utf-8").read().splitlines()
    assert sorted(line.split("==")[0] for line in lock) == ["dep-native", "dep-pure", "tiny-vision"]
    assert all(" --hash=sha256:" in line for line in lock)
    with tarfile.open(result["archive"]) as archive:   # what is shipped: everything, manifest.json last
        names = archive.getnames()
    assert sorted(names[:-2]) == sorted(f for f in files if f.endswith(".whl"))
    assert names[-2:] == ["requirements.txt", "manifest.json"]

    again_rc, again = build(tmp_path, index)
    assert again_rc == 0 and not again["changed"] and again["path"] == result["path"]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-index",
         "--find-links", result["path"], "--require-hashes", "-r", os.path.join(result["path"], "requirements.txt")],
        capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stderr


def test_a_source_edit_makes_a_new_wheelhouse_and_prunes_the_old(tmp_path, index):
    first = build(tmp_path, index)[1]
    with open(tmp_path / "src" / "version.txt", "w", encoding="utf-8") as handle:
        handle.write("0.1.1\n")
    rc, second = build(tmp_path, index, source=str(tmp_path / "src"))
    assert rc == 0 and second["changed"] and second["version"] == "0.1.1" and second["id"] != first["id"]
    assert not os.path.exists(first["path"])


def test_hosts_of_one_platform_with_other_extras_keep_a_wheelhouse_each(tmp_path, index):
    """The lab's detector host wants [yolo], its neighbours []: one run builds both, the next builds nothing."""
    source = make_source(str(tmp_path / "src"))
    plain = build(tmp_path, index, source=source)[1]
    extra = build(tmp_path, index, "--extra=fast", source=source)[1]
    again = [build(tmp_path, index, source=source)[1], build(tmp_path, index, "--extra=fast", source=source)[1]]
    assert plain["changed"] and extra["changed"] and plain["id"] != extra["id"]
    assert [r["changed"] for r in again] == [False, False], again
    assert os.path.exists(plain["archive"]) and os.path.exists(extra["archive"])


def test_the_target_decides_the_native_wheels(tmp_path, index):
    argv = ["--python-version", "3.11", "--machine", "aarch64"]
    rc, result = build(tmp_path, index, *argv)   # later --python-version/--machine win in argparse
    assert rc == 0, result
    assert result["id"].startswith("cp311-aarch64-glibc2.36-")
    assert "dep_native-3.0.0-cp311-cp311-manylinux_2_28_aarch64.whl" in os.listdir(result["path"])


def test_a_target_too_old_for_the_wheels_fails_with_pips_reason(tmp_path, index):
    rc, result = build(tmp_path, index, "--libc-version", "2.17")
    assert rc == 1 and result["failed"]
    assert "pip download failed" in result["msg"] and "dep-native" in result["msg"]
    assert not [d for d in os.listdir(tmp_path / "cache" / "cp311-x86_64-glibc2.17") if not d.startswith(".")]


def test_a_directory_without_a_package_is_refused(tmp_path, index):
    (tmp_path / "empty").mkdir()
    rc, result = build(tmp_path, index, source=str(tmp_path / "empty"))
    assert rc == 1 and "no pyproject.toml or setup.py" in result["msg"] and "vision_common_source" in result["msg"]
