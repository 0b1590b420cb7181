# Copyright: contributors to wiremesh.multicloud
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bookkeeping of tools/gpu_check.sh, run by the GPU host's own Python (standard library only, except `flags`,
which imports the collection's own GPU readers):

    gpu_check_report.py host MODEL EXPECTED_SHA256    describe the host (Python, torch, CUDA, driver, the model)
    gpu_check_report.py flags ROOT                    the -e flags playbooks/gpu.yml needs here
    gpu_check_report.py action PLAYBOOK_OUTPUT        the plan the nvidia_driver role reported
    gpu_check_report.py assemble PARTS_DIR JSON       write the one JSON file of the run
"""
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
import xml.etree.ElementTree as ET

GPU_KEYS = ("name", "pci_name", "address", "device_id", "driver", "memory_total_mib", "compute_capability", "index",
            "source")
SMI_KEYS = ("present", "path", "works", "error", "driver_version", "cuda_version")


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
        "onnxruntime": try_import("onnxruntime",
                                  lambda m: {"version": m.__version__, "providers": m.get_available_providers()}),
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
                        gpus=[{k: g.get(k) for k in GPU_KEYS} for g in facts.get("gpus", [])],
                        driver=facts.get("driver"), cuda_version=facts.get("cuda_version"),
                        nouveau_loaded=facts.get("nouveau_loaded"), kernel_modules=facts.get("kernel_modules"),
                        nvidia_smi={k: smi.get(k) for k in SMI_KEYS})
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
