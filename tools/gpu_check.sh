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

# One Python program for the bookkeeping, run by the host's Python (standard library only, except `flags`, which
# imports the collection's own GPU readers): `host` describes the host, `flags` says which -e flags gpu.yml needs
# here, `action` reads the plan from an ansible-playbook JSON log, `assemble` writes OUT/gpu_check.json.
read -r -d '' HELPER <<'PYTHON'
import hashlib, json, os, platform, re, shutil, sys, time
import xml.etree.ElementTree as ET

def read(path, default=None):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return default

def load_json(path):
    """The first JSON object in a file (after a "host | SUCCESS =>" prefix, before any trailing text)."""
    text = read(path)
    if not text:
        return None, "no output" if text is not None else "not run"
    try:
        return json.JSONDecoder().raw_decode(text, max(text.find("{"), 0))[0], None
    except ValueError as exc:
        return None, "output is not JSON (%s): %s" % (exc, text.strip()[-500:])

def try_import(name, describe):
    try:
        module = __import__(name)
        return describe(module)
    except Exception as exc:  # broad: a broken install is a finding too
        return "not usable: %s: %s" % (type(exc).__name__, exc)

def host(model, expected):
    def torch_facts(torch):
        found = {"version": torch.__version__, "built_for_cuda": torch.version.cuda,
                 "cuda_available": torch.cuda.is_available()}
        if found["cuda_available"]:
            found.update(device=torch.cuda.get_device_name(0), device_count=torch.cuda.device_count(),
                         capability="%d.%d" % torch.cuda.get_device_capability(0),
                         cudnn=torch.backends.cudnn.version())
        return found
    def classic(_cv2):
        from wiremesh_vision import backends
        try:
            backends.create("opencv-classic", "cpu")
            return "loads"
        except backends.BackendError as exc:
            return "unavailable: %s" % exc
    digest = None
    if model and os.path.isfile(model):
        with open(model, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    smi = shutil.which("nvidia-smi")
    return {
        "python": sys.version.split()[0], "python_executable": sys.executable, "platform": platform.platform(),
        "cpu_count": os.cpu_count(), "torch": try_import("torch", torch_facts),
        "onnxruntime": try_import("onnxruntime", lambda m: {"version": m.__version__,
                                                             "providers": m.get_available_providers()}),
        "onnx": try_import("onnx", lambda m: m.__version__), "numpy": try_import("numpy", lambda m: m.__version__),
        "aiohttp": try_import("aiohttp", lambda m: m.__version__), "opencv": try_import("cv2", lambda m: m.__version__),
        "opencv_classic_backend": try_import("cv2", classic),
        "proc_driver_nvidia_version": (read("/proc/driver/nvidia/version") or "absent").strip().splitlines()[0],
        "nvidia_smi": smi, "systemd": os.path.isdir("/run/systemd/system"),
        "model": {"path": model or None, "sha256": digest, "expected_sha256": expected or None,
                  "matches": None if not (digest and expected) else digest == expected},
    }

def flags(root):
    """The -e flags playbooks/gpu.yml needs on this host to take the role's keep path, and why each one."""
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu.driver import loaded_driver
    from ansible_collections.wiremesh.multicloud.plugins.module_utils.gpu.plan import RUNTIME_PROGRAMS
    chosen, reasons = [], []
    default = re.search(r'^nvidia_driver_branch:\s*"?(\d+)', read(os.path.join(
        root, "roles", "nvidia_driver", "defaults", "main.yml"), ""), re.M)
    major = loaded_driver("/")["major"]
    if major and default and major != default.group(1):
        chosen.append("nvidia_driver_branch=%s" % major)
        reasons.append("the loaded driver is branch %s, the role's default %s" % (major, default.group(1)))
    search = os.pathsep.join([os.environ.get("PATH", ""), "/sbin", "/usr/sbin", "/usr/local/sbin"])
    runtimes = {name: shutil.which(program, path=search) for name, program in RUNTIME_PROGRAMS.items()
                if name != "nvidia-ctk"}
    present = sorted(name for name, path in runtimes.items() if path)
    if present:
        chosen.append("nvidia_driver_container_toolkit=never")
        reasons.append("%s installed here: the check does not install the container toolkit or reconfigure "
                       "runtimes on a borrowed host" % ", ".join(present))
    else:
        reasons.append("no container runtime (containerd, dockerd, podman) here: the role's default "
                       "nvidia_driver_container_toolkit=auto leaves the toolkit alone")
    return {"flags": chosen, "reasons": reasons, "loaded_driver_major": major, "runtimes": runtimes}

EVENT = re.compile(r"^TASK \[(?:.*? : )?(?P<task>[^\]]*)\]|^(?P<state>ok|changed|fatal|failed): \[localhost\].*?=> ",
                   re.M)

def playbook_run(path):
    """From ansible-playbook's default output (results as JSON): the role's plan (its "Say what the plan is"
    line), the play's one line, failed tasks and the recap counts; ansible-core has no JSON stdout callback."""
    text = read(path)
    if not text:
        return {"error": "no output" if text is not None else "not run"}
    found, task = {}, None
    for match in EVENT.finditer(text):
        if match.group("task") is not None:
            task = match.group("task")
            continue
        try:
            body = json.JSONDecoder().raw_decode(text, match.end())[0]
        except ValueError:
            continue
        plan = re.match(r"^localhost: (skip|keep|install) - (.*)$", str(body.get("msg")), re.S)
        if task == "Say what the plan is" and plan:
            found.update(action=plan.group(1), reason=plan.group(2))
        elif task == "One line per host":
            found["line"] = body.get("msg")
        if match.group("state") in ("fatal", "failed"):
            found.setdefault("failed_tasks", []).append({"task": task, "msg": str(body.get("msg"))[:500]})
    recap = re.search(r"^localhost\s+:\s+(.*)$", text, re.M)
    found["stats"] = None if not recap else {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recap.group(1))}
    return found

def part_meta(parts, name):
    meta = {"rc": None, "seconds": None}
    if read(os.path.join(parts, name + ".rc")) is not None:
        meta["rc"] = int(read(os.path.join(parts, name + ".rc")).strip())
        meta["seconds"] = int(read(os.path.join(parts, name + ".seconds"), "0").strip() or 0)
    skipped = read(os.path.join(parts, name + ".skipped"))
    if skipped:
        meta.update(status="skipped", reason=skipped.strip())
    elif meta["rc"] is None:
        meta.update(status="skipped", reason="not in --parts")
    elif meta["rc"] in (124, 137):
        meta.update(status="failed", error="timed out after %s s (its share of --budget)" % meta["seconds"])
    return meta

def log_tail(parts, name):
    return (read(os.path.join(parts, name + ".err"), "") or "").strip()[-1500:] or None

def assemble(parts, out):
    result = {"gpu_check": {"root": os.environ["GPU_CHECK_ROOT"], "out": os.path.dirname(out),
                            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            "seconds": int(time.time()) - int(os.environ["GPU_CHECK_START"]),
                            "budget_s": int(os.environ["GPU_CHECK_BUDGET"]), "parts": os.environ["GPU_CHECK_PARTS"],
                            "python": os.environ["GPU_CHECK_PYTHON_REAL"], "wheels": os.environ["GPU_CHECK_WHEELS"],
                            "work": os.environ["GPU_CHECK_WORK"]}}
    # host
    meta = part_meta(parts, "host")
    data, error = load_json(os.path.join(parts, "host.out"))
    if data:
        result["model"] = data.pop("model", None)
        meta.update(data)
        meta.setdefault("status", "ok")
    else:
        meta.setdefault("status", "failed")
        meta.setdefault("error", error)
    result["host"] = meta
    # install
    meta = part_meta(parts, "install")
    data, error = load_json(os.path.join(parts, "install_check.out"))
    result["install"] = dict(meta, **(data or {}))
    if "status" not in meta:
        good = meta["rc"] == 0 and data and str(data.get("ansible_from", "")).startswith(os.environ["GPU_CHECK_SITE"])
        result["install"].update(status="ok" if good else "failed")
        if not good:
            result["install"]["error"] = (log_tail(parts, "install") or error
                                          or "ansible is not imported from the --target folder")
    # gpu_facts
    meta = part_meta(parts, "gpu_facts")
    result["gpu_facts"] = meta
    if "status" not in meta:
        facts, error = load_json(os.path.join(parts, "gpu_facts.out"))
        if facts is None or facts.get("failed") or meta["rc"] != 0:
            meta.update(status="failed", error=(facts or {}).get("msg") or error or log_tail(parts, "gpu_facts"))
        else:
            smi = facts.get("nvidia_smi") or {}
            meta.update(status="ok", gpu_present=facts.get("gpu_present"), gpu_count=facts.get("gpu_count"),
                        gpus=[{k: g.get(k) for k in ("name", "pci_name", "address", "device_id", "driver",
                                                      "memory_total_mib", "compute_capability", "index", "source")}
                              for g in facts.get("gpus", [])],
                        driver=facts.get("driver"), cuda_version=facts.get("cuda_version"),
                        nouveau_loaded=facts.get("nouveau_loaded"), kernel_modules=facts.get("kernel_modules"),
                        nvidia_smi={k: smi.get(k) for k in ("present", "path", "works", "error", "driver_version",
                                                              "cuda_version")})
    # playbook
    meta = part_meta(parts, "playbook_check")
    data, _error = load_json(os.path.join(parts, "flags.out"))
    play = {"flags": (data or {}).get("flags"), "flag_reasons": (data or {}).get("reasons"),
            "runtimes": (data or {}).get("runtimes"), "check_mode": meta}
    if "status" in meta:
        play.update(status=meta["status"], reason=meta.get("reason"), error=meta.get("error"))
    else:
        meta.update(playbook_run(os.path.join(parts, "playbook_check.out")))
        real = part_meta(parts, "playbook_real")
        if "status" not in real:
            real.update(playbook_run(os.path.join(parts, "playbook_real.out")))
        elif real.get("reason") == "not in --parts":
            real["reason"] = (read(os.path.join(parts, "playbook_real.why"), "") or "").strip() or real["reason"]
        play["real"] = real
        runs = [meta] + ([real] if "status" not in real else [])
        clean = all(r["rc"] == 0 and (r.get("stats") or {}).get("changed") == 0 and not r.get("failed_tasks")
                    for r in runs)
        action = meta.get("action")
        if clean and action == "keep" and len(runs) == 2:
            play.update(status="ok", keep_path="kept the working driver, changed=0 in check mode and for real")
        elif clean and action == "skip":
            play.update(status="skipped", reason="the role skipped: %s (changed=0 in both runs); its keep path "
                        "needs a host with an NVIDIA GPU" % meta.get("reason"))
        else:
            runs_said = "; ".join("%s rc %s changed %s" % (which, r["rc"], (r.get("stats") or {}).get("changed"))
                                  for which, r in zip(("check mode", "real run"), runs))
            why = meta.get("reason") or meta.get("error") or log_tail(parts, "playbook_check")
            play.update(status="failed", error="action %s: %s; %s" % (action, runs_said, why))
    result["playbook"] = play
    # detector and bench: bench/gpu.py's own JSON
    for name in ("detector", "bench"):
        meta = part_meta(parts, name)
        data, error = load_json(os.path.join(parts, name + ".json"))
        meta["figures"] = data
        if "status" not in meta:
            errors = {k: v for k, v in (data or {}).items() if k.endswith("_error")}
            if meta["rc"] != 0 or data is None or errors:
                meta.update(status="failed", error=errors or error or log_tail(parts, name))
            elif name == "detector" and not (data.get("gpu_service_cuda_on_cuda")):
                reason = data.get("gpu_service_cuda_skipped") or data.get("gpu_cuda_skipped")
                if reason:
                    meta.update(status="skipped", reason=reason)
                else:
                    meta.update(status="failed", error="the service on --device cuda does not report a CUDA engine")
            else:
                meta["status"] = "ok"
                if data.get("gpu_cuda_skipped"):
                    meta["cuda_skipped"] = data["gpu_cuda_skipped"]
        result[name] = meta
    # tests
    meta = part_meta(parts, "tests")
    if "status" not in meta:
        cases = []
        try:
            for case in ET.parse(os.path.join(parts, "tests.xml")).iter("testcase"):
                outcome, message = "passed", None
                for tag in ("failure", "error", "skipped"):
                    found = case.find(tag)
                    if found is not None:
                        outcome = {"failure": "failed"}.get(tag, tag)
                        message = found.get("message")
                        if not message or message == "collection skipped":  # the reason is in the text
                            text = found.text or ""
                            message = re.sub(r"^\(.*?'Skipped: (.*)'\)$", r"\1", text, flags=re.S)
                        message = (message or "")[:1000]
                        break
                cases.append({"test": "%s::%s" % (case.get("classname"), case.get("name")), "outcome": outcome,
                              "seconds": float(case.get("time") or 0), "message": message})
        except (OSError, ET.ParseError) as exc:
            meta.update(status="failed", error="no pytest report (%s): %s" % (exc, log_tail(parts, "tests")))
        counts = {o: sum(1 for c in cases if c["outcome"] == o) for o in ("passed", "failed", "error", "skipped")}
        meta.update(counts=counts, cases=cases)
        if "status" not in meta:
            meta["status"] = ("failed" if counts["failed"] or counts["error"] or meta["rc"] not in (0, 5)
                              else "ok" if counts["passed"] else "skipped")
            if meta["status"] == "skipped":
                meta["reason"] = "every test skipped: " + "; ".join(sorted({c["message"] or "" for c in cases}))
    result["tests"] = meta
    result["summary"] = {name: result[name].get("status") for name in
                         ("host", "install", "gpu_facts", "playbook", "detector", "tests", "bench")}
    with open(out + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(out + ".tmp", out)
    print(json.dumps(result["summary"], sort_keys=True))

command = sys.argv[1]
if command == "host":
    print(json.dumps(host(sys.argv[2], sys.argv[3]), indent=2, sort_keys=True))
elif command == "flags":
    print(json.dumps(flags(sys.argv[2]), indent=2, sort_keys=True))
elif command == "action":
    print(playbook_run(sys.argv[2]).get("action") or "")
elif command == "assemble":
    assemble(sys.argv[2], sys.argv[3])
PYTHON

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
if wanted host; then run_part host 120 "$BIN/python3" -c "$HELPER" host "$MODEL" "$EXPECTED"; fi

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
  run_part flags 60 env PYTHONPATH="$COLLECTIONS:$PYTHONPATH" "$BIN/python3" -c "$HELPER" flags "$ROOT"
  extra=()
  while read -r flag; do [ -n "$flag" ] && extra+=(-e "$flag"); done < <(
    "$BIN/python3" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1])).get("flags", [])))' \
      "$PARTS_DIR/flags.out" 2>/dev/null)
  printf 'all:\n  children:\n    gpu:\n      hosts:\n        localhost:\n%s\n%s\n' \
    "          ansible_connection: local" "          ansible_python_interpreter: $BIN/python3" > "$WORK/hosts.yml"
  playbook=("$BIN/ansible-playbook" -i "$WORK/hosts.yml" "$ROOT/playbooks/gpu.yml"
            ${extra[@]+"${extra[@]}"})
  run_part playbook_check 240 "${playbook[@]}" --check
  action=$("$BIN/python3" -c "$HELPER" action "$PARTS_DIR/playbook_check.out" 2>/dev/null)
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

"$BIN/python3" -c "$HELPER" assemble "$PARTS_DIR" "$JSON" 2>> "$LOG" | tee -a "$LOG" || {
  echo "gpu_check: could not write $JSON (see $LOG)" >&2; exit 1; }
echo "gpu_check: $JSON, $LOG ($(( $(date +%s) - START )) s)"
