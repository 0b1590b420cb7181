# wiremesh.multicloud — the two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ANSIBLE_ENV := ANSIBLE_CONFIG=$(CURDIR)/ansible.cfg
PLAYBOOK := $(ANSIBLE_ENV) $(BIN)/ansible-playbook
STAMP := $(VENV)/.installed
APT_STAMP := .lab/.apt-installed

.PHONY: help deps demo demo-clouds test test-clouds unit integration sanity lint molecule bench chaos clean lab mesh \
	report build bench-gpu gpu-check demo-scale

help:
	@echo "make demo   - the lab (network namespaces), its WireGuard mesh and the video-detection demo on it (needs root)"
	@echo "make test   - unit tests, ansible-test sanity, ansible-lint, molecule, lab integration"
	@echo "make demo-scale N=100 - a lab of N hosts (N/5 locations, one behind NAT), built and meshed (needs root)"
	@echo "make demo-clouds - the same site.yml against emulated AWS + DigitalOcean, lab hosts attached (needs root)"
	@echo "make test-clouds - provision, inventory, rerun, teardown and bad input against the emulators"
	@echo "make bench  - planner and lab benchmarks (JSON in bench/results.json)"
	@echo "make chaos  - fault scenarios on the lab: recovery time and lost pings (needs root)"
	@echo "make bench-gpu - yolo detector CPU vs CUDA: frames/s, latency at batch 1/8/32, 25 fps streams per GPU (gpu_* in bench/results.json)"
	@echo "make gpu-check - on a bare GPU host: gpu_facts, gpu.yml, detector on CUDA, GPU tests, bench-gpu as one JSON (tools/gpu_check.sh)"
	@echo "make clean  - remove every namespace, process and file the lab made"

# --- dependencies ------------------------------------------------------------------------------------------
$(APT_STAMP): apt-packages.txt
	@mkdir -p .lab
	@missing=$$(grep -v '^#' apt-packages.txt | xargs -n1 | while read -r p; do \
	  dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

$(STAMP): requirements.txt requirements-dev.txt | $(APT_STAMP)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@

# PyTorch (CPU) for the detector's torch engine tests, where a CPU build is at hand (this machine's pip finds
# one in its find-links); elsewhere those tests say why they cannot run.
TORCH_CPU ?= torch==2.13.0+cpu
MODEL_CACHE := .cache/models

deps: $(APT_STAMP) $(STAMP)
	@$(BIN)/python -c 'import wiremesh_cli' 2>/dev/null || $(BIN)/pip install -q -e cli/
	@$(BIN)/python -c 'import wiremesh_vision.yolo' 2>/dev/null || $(BIN)/pip install -q -e vision/
	@$(BIN)/python -c 'import torch' 2>/dev/null || $(BIN)/pip install -q "$(TORCH_CPU)" 2>/dev/null \
	  || echo "deps: $(TORCH_CPU) is not installable here; the torch engine tests will say so" >&2
	@$(BIN)/wiremesh-model prepare --cache $(MODEL_CACHE) >/dev/null

# --- the demo ----------------------------------------------------------------------------------------------
demo: deps
	@start=$$(date +%s); \
	$(PLAYBOOK) site.yml; \
	$(MAKE) --no-print-directory report; \
	echo "converged in $$(( $$(date +%s) - start )) s (lab + mesh + workloads + report)"; \
	$(BIN)/python tools/demo_status.py

# The Terraform-less demo with no cloud account: moto_server + our DigitalOcean emulator on 127.0.0.1, the real
# provisioning and inventory plugin (inventories/cloud-lab), one lab host per emulated instance with the addresses
# the emulator returned, the same site.yml, the ping matrix, then teardown (nothing left in either emulator).
CLOUDS := .lab/clouds
CLOUD_LAB := $(PLAYBOOK) -i inventories/cloud-lab
demo-clouds: deps
	@$(BIN)/python tools/cloud_emulators.py start $(CLOUDS)
	@set -a; . $(CLOUDS)/env; set +a; rc=0; start=$$(date +%s); \
	$(CLOUD_LAB) site.yml && \
	$(CLOUD_LAB) playbooks/report.yml -e report_path=$(CURDIR)/$(CLOUDS)/report.json >/dev/null && \
	$(BIN)/wiremesh status -i inventories/cloud-lab --report $(CLOUDS)/report.json && \
	echo "emulated clouds meshed in $$(( $$(date +%s) - start )) s; tearing down" || rc=$$?; \
	$(PLAYBOOK) -i inventories/cloud-lab/hosts.yml playbooks/lab_destroy.yml >/dev/null || rc=$$?; \
	$(CLOUD_LAB) playbooks/teardown.yml | grep -E 'left|RECAP|localhost' || rc=$$?; \
	$(BIN)/python tools/cloud_emulators.py resources $(CLOUDS); \
	$(BIN)/python tools/cloud_emulators.py stop $(CLOUDS); exit $$rc

# A lab of any size (tools/scale_lab.py): N hosts s001.. in N/5 locations (at least 2), the last one behind a NAT
# router, its inventory and mesh state in .lab/scale-N/; built (playbooks/lab.yml), meshed (playbooks/mesh.yml,
# location granularity), then the NAT'd host and the first host ping each other over the mesh and the hosts'
# memory is shown. One scale lab at a time (every size is lab `scale`); `make clean` removes it.
N ?= 10
SCALE_DIR = .lab/scale-$(N)
demo-scale: deps
	@start=$$(date +%s); \
	$(BIN)/python tools/scale_lab.py inventory $(N) --out $(SCALE_DIR) >/dev/null; \
	$(PLAYBOOK) -i $(SCALE_DIR) playbooks/lab.yml playbooks/mesh.yml; \
	$(BIN)/python tools/scale_lab.py ping $(SCALE_DIR); \
	$(BIN)/python tools/scale_lab.py memory --brief $(SCALE_DIR); \
	echo "$(N) lab hosts built and meshed in $$(( $$(date +%s) - start )) s; inventory $(SCALE_DIR); make clean removes it"

test-clouds: deps
	$(call run_pytest,-q tests/integration/test_clouds.py)

lab: deps
	$(PLAYBOOK) playbooks/lab.yml

mesh: deps
	$(PLAYBOOK) playbooks/mesh.yml

report: deps
	@$(PLAYBOOK) playbooks/report.yml >/dev/null
	@$(BIN)/wiremesh status --report .lab/report.json
	@$(BIN)/wiremesh graph --flows --format svg -o .lab/mesh.svg

# --- tests -------------------------------------------------------------------------------------------------
# pytest exits 5 when it collects nothing: that is a broken suite here, never a pass.
define run_pytest
	@rc=0; $(BIN)/python -m pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests in $(1)" >&2; exit 1; fi; exit $$rc
endef

test: deps unit sanity lint molecule integration

unit: deps
	$(call run_pytest,-q tests/unit)

integration: deps
	$(call run_pytest,-q tests/integration)

sanity: deps
	tools/ansible-test-sanity.sh

lint: deps
	$(ANSIBLE_ENV) ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/collections $(BIN)/ansible-lint --offline --profile production

# A failed scenario's failing tasks are printed again at the end, where a CI log's tail shows them.
molecule: deps
	@mkdir -p .lab
	@for role in lab wireguard cloud nvidia_driver vision_common; do \
	  log=$(CURDIR)/.lab/molecule-$$role.log; \
	  if ! (cd roles/$$role && $(ANSIBLE_ENV) PATH=$(CURDIR)/$(BIN):$$PATH $(CURDIR)/$(BIN)/molecule test) 2>&1 | tee "$$log"; then \
	    echo "=== molecule $$role failed; its failing tasks (whole log: $$log):"; \
	    sed 's/\x1b\[[0-9;]*m//g' "$$log" | grep -a -E -B4 -A12 '(fatal|failed):|FAILED!' | tail -80; \
	    exit 1; \
	  fi; \
	done

# Planner figures always; lab figures (lost pings, throughput ratios) on the lab, which this brings up first.
# One run, one results file (bench/runs/): the planner and the scale labs first, on a quiet machine (a running demo's
# workloads are stopped), then site.yml brings the demo lab up for the workload, lab and rotation scenarios.
bench: deps
	@rc=0; $(BIN)/python bench/run.py || rc=$$?; $(BIN)/python tools/bench_readme.py; exit $$rc

# Faults under pings every 10 ms, no Ansible run: on the demo lab (wireguard-go killed, wg0 deleted, a host
# restarted, sshd stopped during a run, a leader down, a flaky leader), then on clab (the demo lab's shape plus a
# second NAT'd location: the relay scenario, which the demo lab has no pair of mesh hosts for). Figures go into
# bench/results.json (chaos_*) and the README's failover table; every scenario runs even when one fails.
CLAB := tests/integration/chaos/inventory
chaos: deps
	@if [ "$$(id -u)" = 0 ]; then $(PLAYBOOK) site.yml >/dev/null; fi
	@rc=0; $(BIN)/python bench/chaos.py || rc=$$?; \
	  if $(PLAYBOOK) -i $(CLAB) playbooks/lab.yml playbooks/mesh.yml >/dev/null; then \
	    $(BIN)/python bench/chaos.py -i $(CLAB) -s relay_down || rc=$$?; else rc=1; fi; \
	  $(PLAYBOOK) -i $(CLAB) playbooks/lab_destroy.yml >/dev/null || rc=$$?; rm -rf $(CLAB)/.wiremesh; \
	  $(BIN)/python tools/bench_readme.py; exit $$rc

build: deps
	$(BIN)/ansible-galaxy collection build --force --output-path .tmp/

# The yolo detector on the CPU and on a GPU, same model and frames (bench/gpu.py): each engine at batch 1/8/32, and
# the 25 fps streams one detector service sustains. No `deps`: a GPU host may have PyTorch system-wide and no
# package registry, so this takes the first Python that imports numpy, cv2, aiohttp and onnxruntime or torch.
# Extra arguments: make bench-gpu BENCH_GPU_ARGS="--seconds 10 --model FILE.onnx".
bench-gpu:
	@py=""; for candidate in $(BIN)/python python3; do \
	  if command -v "$$candidate" >/dev/null 2>&1 && "$$candidate" -c 'import numpy, cv2, aiohttp, importlib.util as u; \
	     assert u.find_spec("onnxruntime") or u.find_spec("torch")' >/dev/null 2>&1; then py=$$candidate; break; fi; \
	done; \
	if [ -z "$$py" ]; then echo "bench-gpu: no Python here imports numpy, cv2, aiohttp and onnxruntime or torch" \
	  "(tried $(BIN)/python, python3)" >&2; exit 1; fi; \
	"$$py" bench/gpu.py $(BENCH_GPU_ARGS)

# Issue 13, step 1, on a bare GPU host (no Ansible, no systemd, no package registry; so no `deps`): gpu_facts,
# playbooks/gpu.yml (check mode, then for real), the detector on CUDA, the GPU tests and bench/gpu.py, written as one
# JSON file and a log into GPU_CHECK_OUT. Its wheel folder (ansible-core, pytest, the model) is made beforehand where
# a registry answers: tools/gpu_check_wheels.sh. Extra arguments: GPU_CHECK_ARGS="--python python3.12 --budget 300".
GPU_CHECK_OUT ?= .tmp/gpu-check-out
gpu-check:
	bash tools/gpu_check.sh --out $(GPU_CHECK_OUT) $(GPU_CHECK_ARGS)

# --- cleanup -----------------------------------------------------------------------------------------------
clean:
	@if [ -x $(BIN)/python ] && [ -d $(CLOUDS) ]; then $(BIN)/python tools/cloud_emulators.py stop $(CLOUDS); fi
	@if [ -x $(BIN)/ansible-playbook ]; then \
	  for inv in inventories/lab inventories/cloud-lab/hosts.yml roles/*/molecule/default/inventory tests/integration/*/inventory \
	    .lab/scale-*; do \
	    if [ -e "$$inv" ]; then $(PLAYBOOK) -i $$inv playbooks/lab_destroy.yml >/dev/null; echo "lab of $$inv: gone"; fi; \
	  done; \
	fi
	@if [ -d .lab ]; then $(PYTHON) tools/lab_forward.py stop --all .lab >/dev/null; fi
	rm -rf .lab .tmp tests/output
	find inventories roles tests -type d -name .wiremesh -prune -exec rm -rf {} +
