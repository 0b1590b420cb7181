#!/usr/bin/env bash
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The folder tools/gpu_check.sh installs from on a GPU host that has no package registry, made HERE (with one):
# - the wheels of ansible-core and pytest at the versions requirements.txt / requirements-dev.txt pin, with all
#   their dependencies, for CPython --python-version (default 3.12) on manylinux x86_64 (binary wheels only);
# - pip's own wheel, which runs from the folder where the host's Python has no pip;
# - the YOLO model file in model/, with model/SHA256SUMS: --model FILE, else $WIREMESH_VISION_MODEL, else
#   what `wiremesh-model prepare` makes (the packaged YOLOv3-tiny; --model-cache DIR picks its cache).
# Prints the folder's size. Wheels already in the folder are kept (pip skips them); the model is replaced.
#
#   tools/gpu_check_wheels.sh [--dest DIR] [--python-version 3.12] [--model FILE | --model-cache DIR]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.tmp/gpu-wheels"
PYTHON_VERSION=3.12
MODEL="${WIREMESH_VISION_MODEL:-}"
MODEL_CACHE=""
PY="${PYTHON:-$ROOT/.venv/bin/python}"

usage() { sed -n '5,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) DEST=$2; shift 2 ;;
    --python-version) PYTHON_VERSION=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --model-cache) MODEL_CACHE=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "gpu_check_wheels: unknown argument $1" >&2; usage ;;
  esac
done
[[ "$PYTHON_VERSION" =~ ^3\.[0-9]+$ ]] || { echo "gpu_check_wheels: --python-version is like 3.12" >&2; exit 2; }

pin() {  # the pinned requirement NAME==VERSION from a requirements file
  grep -E -m1 "^$1==" "$2" || { echo "gpu_check_wheels: $2 pins no $1" >&2; exit 1; }
}

mkdir -p "$DEST/model"
abi="cp${PYTHON_VERSION/./}"
"$PY" -m pip download --disable-pip-version-check --quiet --only-binary=:all: --dest "$DEST" \
  --python-version "$PYTHON_VERSION" --implementation cp --abi "$abi" \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
  --platform manylinux_2_34_x86_64 \
  "$(pin ansible-core "$ROOT/requirements.txt")" "$(pin pytest "$ROOT/requirements-dev.txt")" pip

if [ -z "$MODEL" ]; then
  prepared=$(PYTHONPATH="$ROOT/vision" "$PY" -m wiremesh_vision.yolo.prepare prepare \
             ${MODEL_CACHE:+--cache "$MODEL_CACHE"})
  MODEL=$("$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["onnx"])' "$prepared")
fi
[ -f "$MODEL" ] || { echo "gpu_check_wheels: model file $MODEL does not exist" >&2; exit 1; }
name=$(basename "$MODEL")
rm -f "$DEST"/model/*.onnx
cp "$MODEL" "$DEST/model/$name"
(cd "$DEST/model" && sha256sum "$name" > SHA256SUMS)

wheels=$(find "$DEST" -maxdepth 1 -name '*.whl' | wc -l)
echo "gpu_check_wheels: $wheels wheels for CPython $PYTHON_VERSION and the model in $DEST:" \
     "$(du -sb "$DEST" | cut -f1) bytes (wheels $(du -cb "$DEST"/*.whl | tail -1 | cut -f1)," \
     "model $(du -b "$DEST/model/$name" | cut -f1))"
