"""The execution environment (EE) definitions, checked without root or a container engine.

meta/execution-environment.yml is what ansible-builder reads of this collection (``introspect``, and the builder
stage of every EE image that installs it): its Python and system needs must be there, with the lower bounds that
requirements.txt pins, and bindep must parse the system file. execution-environment.yml at the top is the image a
user builds: ``ansible-builder create`` must turn it into a build context with the ansible-core CI tests, the
collections this one calls and this collection's tarball; that tarball, installed the way the image's galaxy stage
installs it, must give the builder stage's own introspect script the collection's needs. meta/runtime.yml's
requires_ansible must admit the ansible-core CI tests and nothing of an older minor series.

Without ansible-builder or bindep these tests are skipped, saying so, except under CI=true, where they fail."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, "collections")
NAME = "wiremesh.multicloud"

# What the collection needs on the controller: package -> the requirements.txt pin its lower bound must equal
# (None: requirements.txt does not pin it, so no bound).
PYTHON_NEEDS = {"boto3": "boto3", "botocore": "botocore", "pydo": "pydo", "kubernetes": "kubernetes",
                "onnx": "onnx", "numpy": None}
# bindep lines: name -> profiles (empty: every platform).
SYSTEM_NEEDS = {"openssh-client": ["platform:dpkg"], "openssh-clients": ["platform:rpm"], "graphviz": []}
# The collections this one calls (amazon.aws modules, kubernetes.core.k8s), installed into the image beside it.
CALLED_COLLECTIONS = ("amazon.aws", "kubernetes.core")


def _tool(name):
    """The path of a command of this venv (or of the checkout's .venv); missing: fail under CI=true, else skip."""
    for folder in (os.path.dirname(sys.executable), os.path.join(ROOT, ".venv", "bin")):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    reason = "%s is not installed here (requirements-dev.txt; make deps)" % name
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + ": CI=true, so this is a failure, not a skip")
    pytest.skip(reason)
    return None  # not reached


def _run(argv, **kwargs):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert done.returncode == 0, "%s: rc %d\n%s\n%s" % (" ".join(argv), done.returncode, done.stdout[-3000:],
                                                        done.stderr[-3000:])
    return done


def _load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _pins(path):
    """name -> version of the ``name==version`` lines of a requirements file."""
    pins = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                req = Requirement(line)
                spec = list(req.specifier)
                if len(spec) == 1 and spec[0].operator == "==":
                    pins[req.name.lower()] = spec[0].version
    return pins


def _from_collection(lines):
    """The requirement lines introspect attributes to this collection, without that comment."""
    suffix = "# from collection %s" % NAME
    return [line.split("#", 1)[0].strip() for line in lines if line.rstrip().endswith(suffix)]


def _check_python(lines):
    """``lines`` (pip requirement lines) are exactly the collection's Python needs, bounded as required."""
    pins = _pins(os.path.join(ROOT, "requirements.txt"))
    found = {}
    for line in lines:
        req = Requirement(line)
        found[req.name.lower()] = req
    assert sorted(found) == sorted(PYTHON_NEEDS), lines
    for name, pinned_as in PYTHON_NEEDS.items():
        spec = found[name].specifier
        if pinned_as is None:
            assert str(spec) == "", (name, str(spec))
        else:
            # the lower bound is what requirements.txt pins (what CI tests), and nothing caps it
            assert str(spec) == ">=" + pins[pinned_as], (name, str(spec), pins[pinned_as])


def _check_system(lines):
    """``lines`` (bindep lines) are exactly the collection's system needs, with their platform profiles."""
    found = {}
    for line in lines:
        name, _space, rest = line.partition(" ")
        found[name] = sorted(rest.strip().strip("[]").split()) if rest.strip() else []
    assert found == SYSTEM_NEEDS, lines


def _meta():
    return _load(os.path.join(ROOT, "meta", "execution-environment.yml"))


def test_collection_metadata_points_at_its_own_requirement_files():
    meta = _meta()
    assert meta["version"] == 1
    deps = meta["dependencies"]
    assert sorted(deps) == ["python", "system"]
    for path in deps.values():
        # relative to the collection root (ansible-builder refuses absolute paths), and never requirements.txt:
        # that is the controller venv of `make` (ansible, test tools), not what an EE must add to ansible-core
        assert not os.path.isabs(path) and os.path.isfile(os.path.join(ROOT, path)), path
        assert path != "requirements.txt"
    with open(os.path.join(ROOT, deps["python"]), encoding="utf-8") as handle:
        names = [Requirement(line.split("#", 1)[0].strip()).name.lower() for line in handle
                 if line.split("#", 1)[0].strip()]
    assert "ansible" not in names and "ansible-core" not in names, names


def test_introspect_lists_the_collections_python_and_system_needs():
    builder = _tool("ansible-builder")
    # the checkout is the collection there (collections/ansible_collections/wiremesh/multicloud -> ../../..)
    linked = os.path.join(COLLECTIONS, "ansible_collections", "wiremesh", "multicloud")
    assert os.path.realpath(linked) == os.path.realpath(ROOT)
    done = _run([builder, "introspect", "--sanitize", COLLECTIONS])
    data = yaml.safe_load(done.stdout)
    _check_python(_from_collection(data["python"]))
    _check_system(_from_collection(data["system"]))


def test_bindep_parses_the_system_file_and_picks_per_platform():
    bindep = _tool("bindep")
    system_file = os.path.join(ROOT, _meta()["dependencies"]["system"])
    done = subprocess.run([bindep, "-f", system_file, "-b"], capture_output=True, text=True, timeout=60, check=False)
    # 0: nothing missing here, 1: it lists what is missing; anything else (2: parse error) is a broken file
    assert done.returncode in (0, 1), "rc %d\n%s\n%s" % (done.returncode, done.stdout, done.stderr)
    assert "error" not in done.stderr.lower(), done.stderr
    from bindep.depends import Depends  # pylint: disable=import-outside-toplevel  # installed beside the CLI
    with open(system_file, encoding="utf-8") as handle:
        depends = Depends(handle.read())
    rpm = sorted(rule[0] for rule in depends.active_rules(["default", "platform:rpm", "platform:redhat"]))
    dpkg = sorted(rule[0] for rule in depends.active_rules(["default", "platform:dpkg", "platform:debian"]))
    assert rpm == ["graphviz", "openssh-clients"], rpm
    assert dpkg == ["graphviz", "openssh-client"], dpkg


def _installed_ansible_core():
    from ansible.release import __version__  # pylint: disable=import-outside-toplevel
    return __version__


def test_requires_ansible_admits_the_tested_ansible_core_and_no_older_series():
    runtime = _load(os.path.join(ROOT, "meta", "runtime.yml"))
    spec = SpecifierSet(runtime["requires_ansible"])
    tested = _pins(os.path.join(ROOT, "requirements.txt"))["ansible-core"]
    installed = _installed_ansible_core()
    assert spec.contains(tested) and spec.contains(installed), (str(spec), tested, installed)
    oldest = Version(tested)
    # the whole tested minor series is admitted, nothing older
    assert spec.contains("%d.%d.0" % (oldest.major, oldest.minor)), str(spec)
    older = "%d.%d.999" % ((oldest.major, oldest.minor - 1) if oldest.minor else (oldest.major - 1, 999))
    assert not spec.contains(older), (str(spec), older)


@pytest.fixture(scope="module", name="built")
def fixture_built(tmp_path_factory):
    """This collection's tarball (as `make build` makes it), in a copy's .tmp/ beside execution-environment.yml."""
    work = tmp_path_factory.mktemp("ee")
    _run([_tool("ansible-galaxy"), "collection", "build", "--force", "--output-path", str(work / ".tmp"), ROOT])
    version = _load(os.path.join(ROOT, "galaxy.yml"))["version"]
    tarball = work / ".tmp" / ("wiremesh-multicloud-%s.tar.gz" % version)
    assert tarball.is_file(), sorted(os.listdir(work / ".tmp"))
    shutil.copy(os.path.join(ROOT, "execution-environment.yml"), work / "execution-environment.yml")
    return work, tarball


def test_built_tarball_carries_the_ee_metadata(built):
    _context, tarball = built
    meta = _meta()
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        wanted = {"meta/execution-environment.yml", meta["dependencies"]["python"], meta["dependencies"]["system"]}
        assert wanted <= names, sorted(wanted - names)
        packed = yaml.safe_load(archive.extractfile("meta/execution-environment.yml"))
    assert packed == meta


def _manifest_version(collection):
    namespace, name = collection.split(".")
    path = os.path.join(sysconfig.get_paths()["purelib"], "ansible_collections", namespace, name, "MANIFEST.json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["collection_info"]["version"]


def test_create_makes_a_context_with_ansible_core_the_collections_and_their_needs(built, tmp_path):
    builder = _tool("ansible-builder")
    work, tarball = built
    definition = _load(work / "execution-environment.yml")
    assert definition["version"] == 3
    context = tmp_path / "context"
    _run([builder, "create", "-f", str(work / "execution-environment.yml"), "-c", str(context),
          "--output-filename", "Containerfile"])
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    core = _pins(os.path.join(ROOT, "requirements.txt"))["ansible-core"]
    refs = [line for line in containerfile.splitlines() if line.startswith("ARG ANSIBLE_INSTALL_REFS=")]
    assert len(refs) == 1 and "ansible-core==%s " % core in refs[0] and "ansible-runner==" in refs[0], refs
    for step in ("ansible-galaxy collection install", "introspect.py introspect", "/output/scripts/assemble",
                 "/output/scripts/install-from-bindep", "check_ansible"):
        assert step in containerfile, step

    # the galaxy stage: the called collections at the versions CI tests, and this collection from its tarball,
    # which the build context carries where requirements.yml names it (the stage runs in /build = _build/)
    requested = {entry["name"]: entry for entry in _load(context / "_build" / "requirements.yml")["collections"]}
    for collection in CALLED_COLLECTIONS:
        assert str(requested.pop(collection).get("version")) == _manifest_version(collection), collection
    assert len(requested) == 1, requested
    (path, entry), = requested.items()
    assert entry.get("type") == "file" and os.path.basename(path) == tarball.name, entry
    shipped = context / "_build" / path
    assert shipped.is_file(), "the build context lacks %s (additional_build_files)" % path
    assert shipped.read_bytes() == tarball.read_bytes()

    # the builder stage: introspect (the context's own script) over the collections as the galaxy stage installs
    # them gives this collection's needs to pip and bindep
    galaxy = _tool("ansible-galaxy")
    installed = tmp_path / "usr-share-ansible-collections"
    # (--force and a collections path of its own: the checkout's ansible.cfg would find this collection installed)
    _run([galaxy, "collection", "install", "--force", "--no-deps", "-p", str(installed), str(shipped)],
         env=dict(os.environ, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1", ANSIBLE_COLLECTIONS_PATH=str(installed)),
         cwd=str(tmp_path))
    assert (installed / "ansible_collections" / "wiremesh" / "multicloud" / "MANIFEST.json").is_file()
    pip_out, bindep_out = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    _run([sys.executable, str(context / "_build" / "scripts" / "introspect.py"), "introspect",
          "--write-pip", str(pip_out), "--write-bindep", str(bindep_out), str(installed)])
    _check_python(_from_collection(pip_out.read_text(encoding="utf-8").splitlines()))
    _check_system(_from_collection(bindep_out.read_text(encoding="utf-8").splitlines()))
