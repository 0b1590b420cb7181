#!/usr/bin/env bash
# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Issue 13, step 1: what this collection can check on one bare GPU host, written as ONE JSON file
# (OUT/gpu_check.json) and a log (OUT/gpu_check.log), with each part's raw output in OUT/parts/.
#
# The host brings Python 3 with torch (a CUDA build), onnx, onnxruntime, numpy, aiohttp and OpenCV, and the NVIDIA
# driver; no Ansible, no systemd, no package registry. What is missing (ansible-core, pytest) comes from the wheel
# folder tools/gpu_check_wheels.sh made beforehand: installed with `pip install --no-index --target WORK/site` and
# put first on PYTHONPATH (the host's pip, else the pip wheel in the folder); without an ansible-core wheel there the
# install part is skipped and an ansible-core the Python already has is used. The model is the ONNX file in the
# folder's model/ (checked against its SHA256SUMS), or --model.
#
# Parts, in this order; each records its outcome or its error and the next one runs:
#   host       Python, torch and CUDA, onnxruntime providers, OpenCV, the loaded driver, the model's sha256
#   install    the wheels into WORK/site
#   gpu_facts  ansible localhost -c local -m wiremesh.multicloud.gpu_facts: GPUs, driver, CUDA version, nouveau
#   playbook   playbooks/gpu.yml on localhost (local connection) in check mode, then for real only when check mode
#              planned keep or skip (this never installs a driver): the nvidia_driver role must keep the working
#              driver with changed=0; the -e flags the host needed are recorded
#   detector   wiremesh-detector --device cuda on 127.0.0.1: its /v1/model and answers (bench/gpu.py --parts service)
#   tests      pytest tests/unit/gpu/test_on_hardware.py tests/unit/vision/test_yolo_cuda.py
#   bench      bench/gpu.py: engines on CPU and CUDA at batch 1/8/32, and the 25 fps streams one service sustains
# Where there is no GPU or no CUDA those parts say why and the script still exits 0; it exits non-zero only when it
# is called wrongly or cannot write OUT. --budget (default 360 s) bounds the whole run: a part gets what is left.
#
#   tools/gpu_check.sh [--out DIR (default $OUT)] [--wheels DIR (default .tmp/gpu-wheels)] [--model FILE]
#                      [--python PY (default python3)] [--work DIR (default .tmp/gpu-check)]
#                      [--parts host,install,gpu_facts,playbook,detector,tests,bench] [--bench-seconds 4]
#                      [--budget 360]
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${OUT:-}"
WHEELS="$ROOT/.tmp/gpu-wheels"
MODEL=""
PY="${GPU_CHECK_PYTHON:-python3}"
WORK="$ROOT/.tmp/gpu-check"
PARTS="host,install,gpu_facts,playbook,detector,tests,bench"
BENCH_SECONDS=4
BUDGET=360

usage() { sed -n '5,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT_DIR=$2; shift 2 ;;
    --wheels) WHEELS=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --parts) PARTS=$2; shift 2 ;;
    --bench-seconds) BENCH_SECONDS=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "gpu_check: unknown argument $1" >&2; usage ;;
  esac
done
[ -n "$OUT_DIR" ] || { echo "gpu_check: give --out DIR or set \$OUT" >&2; usage; }
[[ "$BUDGET" =~ ^[0-9]+$ && "$BENCH_SECONDS" =~ ^[0-9]+([.][0-9]+)?$ ]] || {
  echo "gpu_check: --budget is whole seconds and --bench-seconds a number" >&2; exit 2; }
PY_REAL=$(command -v "$PY") || { echo "gpu_check: no Python $PY here" >&2; exit 2; }
mkdir -p "$OUT_DIR/parts" "$WORK" || exit 1
OUT_DIR=$(cd "$OUT_DIR" && pwd); WORK=$(cd "$WORK" && pwd)
PARTS_DIR="$OUT_DIR/parts"; LOG="$OUT_DIR/gpu_check.log"; JSON="$OUT_DIR/gpu_check.json"
rm -f "$PARTS_DIR"/* "$JSON"
: > "$LOG" || exit 1
START=$(date +%s)
TIMEOUT=$(command -v timeout || true)

HELPER="$ROOT/tools/gpu_check_report.py"  # the bookkeeping: host, flags, action, assemble

wanted() { [[ ",$PARTS," == *",$1,"* ]]; }
skip() { echo "$2" > "$PARTS_DIR/$1.skipped"; echo "=== $1: skipped: $2" >> "$LOG"; }

# run_part NAME CAP COMMAND...: stdout into parts/NAME.out, stderr into parts/NAME.err, both into the log; at most
# CAP seconds and never past the --budget.
run_part() {
  local name=$1 cap=$2 left begun rc=0
  shift 2
  left=$(( BUDGET - ($(date +%s) - START) ))
  if (( left < 20 )); then skip "$name" "out of the --budget of $BUDGET s"; return 0; fi
  (( cap > left - 10 )) && cap=$(( left - 10 ))
  echo "=== $name (at most $cap s): $*" >> "$LOG"
  begun=$(date +%s)
  if [ -n "$TIMEOUT" ]; then
    "$TIMEOUT" -k 10 "$cap" "$@" > "$PARTS_DIR/$name.out" 2> "$PARTS_DIR/$name.err" || rc=$?
  else
    "$@" > "$PARTS_DIR/$name.out" 2> "$PARTS_DIR/$name.err" || rc=$?
  fi
  echo "$rc" > "$PARTS_DIR/$name.rc"
  echo $(( $(date +%s) - begun )) > "$PARTS_DIR/$name.seconds"
  { cat "$PARTS_DIR/$name.err" "$PARTS_DIR/$name.out"
    echo "=== $name: rc $rc after $(cat "$PARTS_DIR/$name.seconds") s"; } >> "$LOG"
  return 0
}

# --- where things are ------------------------------------------------------------------------------------------
SITE="$WORK/site"       # the wheels, installed
BIN="$WORK/bin"         # python3 (the host's, by another name), ansible, ansible-playbook
mkdir -p "$BIN" "$WORK/ansible"
[ -d "$WHEELS" ] && WHEELS=$(cd "$WHEELS" && pwd)
if [ -z "$MODEL" ]; then
  for found in "$WHEELS"/model/*.onnx; do [ -f "$found" ] && MODEL=$found && break; done
fi
[ -n "$MODEL" ] || MODEL="${WIREMESH_VISION_MODEL:-}"
[ -n "$MODEL" ] && [ -f "$MODEL" ] && MODEL="$(cd "$(dirname "$MODEL")" && pwd)/$(basename "$MODEL")"
EXPECTED=""
if [ -n "$MODEL" ] && [ -f "$(dirname "$MODEL")/SHA256SUMS" ]; then
  EXPECTED=$(awk -v f="$(basename "$MODEL")" '$2 == f || $2 == "*" f {print $1}' "$(dirname "$MODEL")/SHA256SUMS")
fi
COLLECTIONS="$ROOT/collections"
if [ ! -f "$COLLECTIONS/ansible_collections/wiremesh/multicloud/galaxy.yml" ]; then
  COLLECTIONS="$WORK/collections"          # the checkout's own link did not survive the copy: make one
  mkdir -p "$COLLECTIONS/ansible_collections/wiremesh"
  ln -sfn "$ROOT" "$COLLECTIONS/ansible_collections/wiremesh/multicloud"
fi
# The host's site-packages stay importable behind the installed wheels, also from the python3 in $BIN: a link to
# the real executable, so that sys.executable is $BIN/python3 and ansible-playbook sits beside it (what
# tests/unit/gpu/test_on_hardware.py looks for).
HOST_PATHS=$("$PY_REAL" -c 'import sys; print(":".join(p for p in sys.path if p.endswith(("-packages",))))')
ln -sfn "$(readlink -f "$PY_REAL")" "$BIN/python3"
for tool in adhoc:ansible playbook:ansible-playbook; do  # python -m ansible NAME: ansible-core's own entry point
  printf '#!/bin/sh\nexec "%s" -m ansible %s "$@"\n' "$BIN/python3" "${tool%%:*}" > "$BIN/${tool#*:}"
  chmod +x "$BIN/${tool#*:}"
done
export GPU_CHECK_ROOT="$ROOT" GPU_CHECK_START="$START" GPU_CHECK_BUDGET="$BUDGET" GPU_CHECK_PARTS="$PARTS" \
  GPU_CHECK_PYTHON_REAL="$PY_REAL" GPU_CHECK_WHEELS="$WHEELS" GPU_CHECK_WORK="$WORK" GPU_CHECK_SITE="$SITE" \
  GPU_CHECK_COLLECTIONS="$COLLECTIONS"
export PYTHONPATH="$SITE:$ROOT/vision${HOST_PATHS:+:$HOST_PATHS}"
export PATH="$BIN:$PATH" LC_ALL=C.UTF-8 LANG=C.UTF-8 PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1
export ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$COLLECTIONS" \
  ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False ANSIBLE_HOME="$WORK/ansible" ANSIBLE_LOCAL_TEMP="$WORK/ansible/tmp" \
  ANSIBLE_REMOTE_TEMP="$WORK/ansible/tmp" ANSIBLE_NOCOLOR=1 ANSIBLE_CALLBACK_RESULT_FORMAT=json \
  ANSIBLE_RETRY_FILES_ENABLED=False ANSIBLE_PYTHON_INTERPRETER="$BIN/python3"
[ -n "$MODEL" ] && export WIREMESH_VISION_MODEL="$MODEL"
echo "gpu_check: root $ROOT, python $PY_REAL, wheels $WHEELS, model ${MODEL:-none}, work $WORK, out $OUT_DIR" >> "$LOG"
cd "$ROOT" || exit 1

# --- the parts ---------------------------------------------------------------------------------------------------
if wanted host; then run_part host 120 "$BIN/python3" "$HELPER" host "$MODEL" "$EXPECTED"; fi

if wanted install; then
  rm -rf "$SITE"
  pip_wheel=$(ls "$WHEELS"/pip-*.whl 2>/dev/null | head -1)
  if ! ls "$WHEELS"/ansible_core-*.whl > /dev/null 2>&1; then
    skip install "no ansible-core wheel in $WHEELS: make the folder with tools/gpu_check_wheels.sh"
  elif env -u PYTHONPATH "$PY_REAL" -m pip --version > /dev/null 2>&1; then
    run_part install 240 env -u PYTHONPATH "$PY_REAL" -m pip install --no-index --find-links "$WHEELS" \
      --target "$SITE" --no-compile --no-warn-script-location --quiet ansible-core pytest
  elif [ -n "$pip_wheel" ]; then
    run_part install 240 env -u PYTHONPATH "$PY_REAL" "$pip_wheel/pip" install --no-index --find-links "$WHEELS" \
      --target "$SITE" --no-compile --no-warn-script-location --quiet ansible-core pytest
  else
    skip install "$PY_REAL has no pip and $WHEELS has no pip wheel"
  fi
  run_part install_check 60 "$BIN/python3" -c 'import importlib, importlib.metadata as metadata, json, sys
found = {"pip": sys.argv[1]}
for module, dist in (("ansible", "ansible-core"), ("pytest", "pytest")):
    try:
        found.update({dist.replace("-", "_"): metadata.version(dist),
                      module + "_from": importlib.import_module(module).__file__})
    except Exception as exc:  # recorded: the parts that need it say so too
        found[dist.replace("-", "_")] = "not importable: %s" % exc
print(json.dumps(found))' "$( (env -u PYTHONPATH "$PY_REAL" -m pip --version 2>/dev/null \
                              || echo "the pip wheel in $WHEELS") | head -1)"
fi

if wanted gpu_facts; then
  run_part gpu_facts 120 "$BIN/ansible" localhost -i localhost, -c local -m wiremesh.multicloud.gpu_facts
fi

if wanted playbook; then
  run_part flags 60 env PYTHONPATH="$COLLECTIONS:$PYTHONPATH" "$BIN/python3" "$HELPER" flags "$ROOT"
  extra=()
  while read -r flag; do [ -n "$flag" ] && extra+=(-e "$flag"); done < <(
    "$BIN/python3" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1])).get("flags", [])))' \
      "$PARTS_DIR/flags.out" 2>/dev/null)
  printf 'all:\n  children:\n    gpu:\n      hosts:\n        localhost:\n%s\n%s\n' \
    "          ansible_connection: local" "          ansible_python_interpreter: $BIN/python3" > "$WORK/hosts.yml"
  playbook=("$BIN/ansible-playbook" -i "$WORK/hosts.yml" "$ROOT/playbooks/gpu.yml"
            ${extra[@]+"${extra[@]}"})
  run_part playbook_check 240 "${playbook[@]}" --check
  action=$("$BIN/python3" "$HELPER" action "$PARTS_DIR/playbook_check.out" 2>/dev/null)
  if [ "$action" = keep ] || [ "$action" = skip ]; then
    run_part playbook_real 240 "${playbook[@]}"
  else
    echo "not run for real: check mode planned '${action:-nothing readable}'; this check never installs a driver" \
      > "$PARTS_DIR/playbook_real.why"
  fi
fi

if wanted detector; then
  run_part detector 180 "$BIN/python3" "$ROOT/bench/gpu.py" --parts service --devices cuda --service-args "" \
    --frames 4 --out "$PARTS_DIR/detector.json"
fi

if wanted tests; then
  run_part tests 300 "$BIN/python3" -m pytest -p no:cacheprovider --rootdir "$ROOT" -q -rA \
    --junitxml "$PARTS_DIR/tests.xml" \
    "$ROOT/tests/unit/gpu/test_on_hardware.py" "$ROOT/tests/unit/vision/test_yolo_cuda.py"
fi

if wanted bench; then
  left=$(( BUDGET - ($(date +%s) - START) - 30 ))
  run_part bench 600 "$BIN/python3" "$ROOT/bench/gpu.py" --parts engines,streams --devices cuda,cpu \
    --seconds "$BENCH_SECONDS" \
    --budget "$(( left > 1 ? left : 1 ))" --out "$PARTS_DIR/bench.json"
fi

"$BIN/python3" "$HELPER" assemble "$PARTS_DIR" "$JSON" 2>> "$LOG" | tee -a "$LOG" || {
  echo "gpu_check: could not write $JSON (see $LOG)" >&2; exit 1; }
echo "gpu_check: $JSON, $LOG ($(( $(date +%s) - START )) s)"
