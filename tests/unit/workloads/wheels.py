"""Offline fixtures for the wheelhouse tests: hand-made wheels and a package source whose in-tree PEP 517 backend
builds its wheel with the standard library, so pip needs no index and no setuptools."""

import base64
import hashlib
import os
import textwrap
import zipfile


def make_wheel(directory, name, version, tag="py3-none-any", requires=()):
    """Write a minimal valid wheel NAME-VERSION-TAG.whl into directory; return its path."""
    dist = name.replace("-", "_")
    info = "%s-%s.dist-info" % (dist, version)
    files = {
        "%s/__init__.py" % dist: "VERSION = %r\n" % version,
        info + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s" % (
            name, version, "".join("Requires-Dist: %s\n" % r for r in requires)),
        info + "/WHEEL": "Wheel-Version: 1.0\nGenerator: wiremesh-tests\nRoot-Is-Purelib: %s\nTag: %s\n" % (
            "true" if tag.endswith("none-any") else "false", tag),
    }
    record = []
    path = os.path.join(directory, "%s-%s-%s.whl" % (dist, version, tag))
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, text in files.items():
            data = text.encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            archive.writestr(arcname, data)
            record.append("%s,sha256=%s,%d" % (arcname, digest, len(data)))
        record.append(info + "/RECORD,,")
        archive.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return path


BACKEND = textwrap.dedent('''
    """In-tree PEP 517 backend of the test package (standard library only)."""
    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from wheels_impl import make_wheel

    def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "version.txt")) as handle:
            version = handle.read().strip()
        return os.path.basename(make_wheel(wheel_directory, "tiny-vision", version, requires=REQUIRES))

    def get_requires_for_build_wheel(config_settings=None):
        return []
''')


def make_source(directory, version="0.1.0", requires=("dep-pure", "dep-native")):
    """A package source (tiny-vision) with an in-tree backend; pip builds it with no index at all."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "pyproject.toml"), "w", encoding="utf-8") as handle:
        handle.write('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n')
    with open(os.path.join(directory, "backend.py"), "w", encoding="utf-8") as handle:
        handle.write(BACKEND.replace("REQUIRES", repr(list(requires))))
    with open(__file__, encoding="utf-8") as src, \
            open(os.path.join(directory, "wheels_impl.py"), "w", encoding="utf-8") as dst:
        dst.write(src.read())
    with open(os.path.join(directory, "version.txt"), "w", encoding="utf-8") as handle:
        handle.write(version + "\n")
    return directory
