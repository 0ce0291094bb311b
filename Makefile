# VLM2VLA harness. Two commands on a fresh machine: `make demo` and `make test`.
# Every target installs what it needs into .venv first (idempotent: a second run installs nothing).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CLI    := $(BIN)/vlm2vla
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q
# torch is pinned exactly and installed first: on our machines 2.13.0 is a local CPU wheel; anything else pulls
# GBs of CUDA wheels. With it installed, the project's own `torch==2.13.0` is already satisfied.
TORCH  := torch==2.13.0

# User-facing variables (see `make help`).
MODEL    ?= vlm2vla
TASK     ?= pickup
ROBOT    ?= widowx
OPERATOR ?= human
TRIALS   ?=
SUITE    ?= paper
DATA     ?= results/data/dlan
SOURCE   ?= results/data/bridge-fixture
OUT      ?=
DB       ?=
ARGS     ?=

export MUJOCO_GL ?= egl
comma := ,
export PYTHONUNBUFFERED := 1

# ---------------------------------------------------------------- installation
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-base: pyproject.toml | $(BIN)/python
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[dev]"
	touch $@

# One stamp per optional extra: `make` re-installs only when pyproject.toml changes.
$(VENV)/.stamp-%: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -e ".[$*]"
	touch $@

# VLMEvalKit: installed --no-deps after the pinned `vqa-deps` extra; torchvision goes to a private directory that only
# harness.vqa.kit puts on sys.path (pyproject.toml says why). Versions: the pins of the `vqa*` extras.
EXTRA_PIN = $$($(BIN)/python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["$(1)"][0])')
$(VENV)/.stamp-vqa: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -e ".[vqa-deps]"
	$(PIP) install --no-deps --upgrade --target $(VENV)/vqa-torchvision "$(call EXTRA_PIN,vqa-torchvision)"
	$(PIP) install --no-deps "$(call EXTRA_PIN,vqa)"
	touch $@

# openpi-client --no-deps after its real dependencies (pyproject.toml says why).
$(VENV)/.stamp-serve: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -e ".[serve-deps]"
	$(PIP) install --no-deps "$(call EXTRA_PIN,serve)"
	touch $@

# xgrammar --no-deps after its real dependencies (pyproject.toml says why).
$(VENV)/.stamp-peer: pyproject.toml $(VENV)/.stamp-base
	$(PIP) install -e ".[peer-deps]"
	$(PIP) install --no-deps "$(call EXTRA_PIN,peer)"
	touch $@

EXTRAS_ALL := train grammar gemini sim reports vqa robot serve peer

# The simulator renders offscreen through EGL with Mesa's software rasteriser (MUJOCO_GL=egl, no GPU needed).
# Its Debian packages are installed here when missing (a no-op when present; apt needs root).
SIM_DEBS := libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri
$(VENV)/.stamp-sim: pyproject.toml $(VENV)/.stamp-base
	@if command -v dpkg >/dev/null; then \
	  missing=$$(for p in $(SIM_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" != 0 ]; then echo "error: the simulator needs: apt-get install $$missing (run as root)" >&2; exit 1; fi; \
	    echo "installing $$missing (offscreen OpenGL for MuJoCo)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  fi; \
	fi
	$(PIP) install -e ".[sim]"
	touch $@

.PHONY: setup setup-all
setup: $(VENV)/.stamp-base ## create .venv with torch (CPU wheel) and the project
setup-all: $(addprefix $(VENV)/.stamp-,$(EXTRAS_ALL)) ## everything the tests and the demo use

# ---------------------------------------------------------------- tests
.PHONY: test test-slow lint
test: setup-all ## the test suite (fast tests; slow end-to-end tests: make test-slow)
	$(BIN)/python -m pytest -q -m "not slow and not benchmark"

test-slow: setup-all $(VENV)/.stamp-multigpu ## end-to-end tests that take minutes (CI runs them too; DeepSpeed ZeRO-2 on CPU)
	$(BIN)/python -m pytest -q -m "slow" || [ $$? -eq 5 ]  # 5 = no slow test collected

lint: setup
	$(BIN)/python -m ruff check harness tests

# ---------------------------------------------------------------- demo
# Stages run in pipeline order; each issue adds its stage here when it lands.
DEMO_STAGES := demo-specs demo-actions demo-data demo-train demo-logprob demo-policy demo-vqa demo-robot demo-serve \
	demo-sim demo-sim-experiment demo-reports

# The demo measures into results/demo/ and builds its report into results/demo/reports/, both ignored by git:
# `make demo` never changes a tracked file (results/ rows and reports/ are the user's `make reports` inputs/outputs).
DEMO_RESULTS := $(CURDIR)/results/demo
demo $(DEMO_STAGES): export VLM2VLA_RESULTS := $(DEMO_RESULTS)
demo $(DEMO_STAGES): export VLM2VLA_REPORTS := $(DEMO_RESULTS)/reports

.PHONY: demo $(DEMO_STAGES)
demo: $(DEMO_STAGES) ## the whole pipeline end to end on the embedded models (offline, CPU)
	@echo "demo: all stages finished ($(DEMO_STAGES))"

demo-specs: setup
	$(CLI) specs validate

demo-actions: setup
	$(CLI) actions encode '[[0.042, 0.01, -0.035, 0.0], [0.0, 0.0, 0.05, 0.0]]'
	$(CLI) actions decode "1. Move forward by 4.2 centimeters and 10 mm left, close the gripper."
	$(CLI) actions plan '[[0.042, 0.01, -0.035, 0.0], [0.0, 0.0, -0.02, 0.0]]'
	$(CLI) actions merge '[[0.01,0,0,1],[0.01,0,0,1],[0.01,0,0,1],[0,0,-0.01,1],[0,0,0,0]]'

# A scored session on the dry-run robot with the scripted policy (one malformed text, one clipped step): the
# operator's answers come from a pipe (success + note, then failure that reached the carrot); then progress and
# the CSV export.
DEMO_ROBOT_DB := $(DEMO_RESULTS)/robot/demo-trials.sqlite
demo-robot: setup
	rm -f $(DEMO_ROBOT_DB) $(DEMO_ROBOT_DB)-wal $(DEMO_ROBOT_DB)-shm
	printf 's\ngrasped on the first try\nf\nr\n\n' | $(CLI) robot-trials --task pickup --model scripted --robot dry-run \
		--operator human --trials 2 --db $(DEMO_ROBOT_DB)
	$(CLI) trials status --db $(DEMO_ROBOT_DB)
	$(CLI) trials export --db $(DEMO_ROBOT_DB) --out $(DEMO_RESULTS)/robot/demo-trials.csv

# The scripted policy served over openpi's websocket protocol (`vlm2vla serve`, on a free port it picks itself and
# writes to a file: no guessed port can be taken), two dry-run trials through it by URL with piped operator answers,
# then the server is stopped however the stage ends (trap). Everything goes under results/demo/serve/.
DEMO_SERVE := $(DEMO_RESULTS)/serve
demo-serve: setup $(VENV)/.stamp-serve
	rm -rf $(DEMO_SERVE) && mkdir -p $(DEMO_SERVE)
	$(CLI) serve --model scripted --port 0 --port-file $(DEMO_SERVE)/port > $(DEMO_SERVE)/server.log 2>&1 & \
	server=$$!; trap 'kill $$server 2>/dev/null; wait $$server 2>/dev/null || true' EXIT; \
	for _ in $$(seq 600); do \
	  [ -s $(DEMO_SERVE)/port ] && break; \
	  kill -0 $$server 2>/dev/null || { cat $(DEMO_SERVE)/server.log >&2; exit 1; }; sleep 0.1; \
	done; \
	[ -s $(DEMO_SERVE)/port ] || { echo "demo-serve: the policy server did not start in 60 s" >&2; exit 1; }; \
	url=ws://127.0.0.1:$$(cat $(DEMO_SERVE)/port); echo "demo-serve: scripted policy served at $$url"; \
	printf 's\nserved over websocket\nf\nr\n\n' | $(CLI) robot-trials --task pickup --model $$url --robot dry-run \
		--operator human --trials 2 --db $(DEMO_SERVE)/trials.sqlite --out $(DEMO_SERVE)/trials; \
	$(CLI) trials status --db $(DEMO_SERVE)/trials.sqlite

# Last stage: the demo's report (results/demo/reports/) from what the stages before it measured (results/demo/).
demo-reports: $(VENV)/.stamp-reports
	$(CLI) report
# The simulated WidowX 250S: the scripted oracle on 3 seeded trials of every task (GIF per trial), then the speed.
demo-sim: setup-all
	rm -rf $(DEMO_RESULTS)/sim
	$(CLI) sim oracle --trials 3 --require 0.9 --out $(DEMO_RESULTS)/sim
	$(CLI) sim bench --trials 1 --frames 10
# D_lan from a raw-layout BridgeData V2 fixture (22 good + 2 corrupt trajectories), offline rules annotator.
demo-data: setup
	$(CLI) data fixture --out results/data/bridge-fixture --episodes 22 --corrupt 2
	$(CLI) data build --source results/data/bridge-fixture --out results/data/dlan
	$(CLI) data inspect results/data/dlan --episode 0 --stages subtasks,plan,action
# Trains the embedded Gemma-3-270M on the demo's D_lan for one epoch (minutes on a CPU; a re-run resumes or skips),
# then reloads the adapter and generates the first 12 training and all held-out action examples: parse rate and
# translation error are reported as measured (a 270M model after one CPU epoch is far from the paper's 12B; the
# policy never executes text that does not parse). The stage fails if no training example parses.
DEMO_RUN := runs/gemma3-270m-vlm2vla
demo-train: setup-all
	$(CLI) train --model gemma3-270m --recipe lora-cpu --data $(DATA) --out $(DEMO_RUN)
	$(CLI) models actions --model gemma3-270m-vlm2vla --data $(DATA) --split train --limit 12 --show 2 \
		--require-parse-rate 0.05 --no-progress
	$(CLI) models actions --model gemma3-270m-vlm2vla --data $(DATA) --split heldout --no-progress
# Embedded VQA suite on the base model and, once demo-train has made its adapter, on the fine-tuned one: the second
# run prints retention against the first.
demo-vqa: $(VENV)/.stamp-vqa $(VENV)/.stamp-train
	$(CLI) vqa --model gemma3-270m --suite embedded --quiet
	@if $(BIN)/python -c 'import sys; from harness.vqa.scores import adapter_ready; sys.exit(0 if adapter_ready("gemma3-270m-vlm2vla") else 1)'; then \
		$(CLI) vqa --model gemma3-270m-vlm2vla --suite embedded --quiet; \
	else echo "demo-vqa: gemma3-270m-vlm2vla has no trained adapter yet (demo-train makes it); scored gemma3-270m only"; fi

# The trained model as the hierarchical policy: a short benchmark (2 cycles after 1 warm-up; optimized decoding vs
# the naive baseline, same inputs and seeds), then two closed-loop trials in the simulator scored by its success
# detector, exported for the reports. The trial log resumes: a re-run adds nothing once both trials are scored.
demo-policy: setup-all
	$(CLI) bench policy --model gemma3-270m-vlm2vla --cycles 2 --data $(DATA) --no-progress
	$(CLI) robot-trials --task pickup --model gemma3-270m-vlm2vla --robot sim --operator auto --trials 2 \
		--db $(DEMO_RESULTS)/robot/trials.sqlite
	$(CLI) trials export --db $(DEMO_RESULTS)/robot/trials.sqlite

# Fig. 3 on the embedded Gemma-3-270M: how likely the demo's held-out actions are, verbalized vs least-likely tokens
# (CSV + density plot under results/demo/mechanism/; a couple of minutes on a CPU).
demo-logprob: setup-all
	$(CLI) logprob --model gemma3-270m --data $(DATA)

# ---------------------------------------------------------------- user-facing targets
.PHONY: data train vqa robot-trials trials-status trials-export reports bench
data: setup-all ## build D_lan: make data SOURCE=path/to/bridge/raw [OUT=dir]
	$(CLI) data build --source $(SOURCE) $(if $(OUT),--out $(OUT)) $(ARGS)

train: setup-all ## fine-tune: make train MODEL=vlm2vla DATA=results/data/dlan [OUT=runs/...]
	$(CLI) train --model $(MODEL) --data $(DATA) $(if $(OUT),--out $(OUT)) $(ARGS)

vqa: setup-all ## VQA suite through VLMEvalKit: make vqa MODEL=vlm2vla [SUITE=paper|embedded]
	$(CLI) vqa --model $(MODEL) --suite $(SUITE) $(ARGS)

robot-trials: setup-all ## make robot-trials TASK=pickup MODEL=vlm2vla[,vlm2vla-at] ROBOT=widowx|sim|dry-run OPERATOR=human|auto [TRIALS=N] [DB=path]
	$(CLI) robot-trials --task $(TASK) --model $(MODEL) --robot $(ROBOT) --operator $(OPERATOR) $(if $(TRIALS),--trials $(TRIALS)) $(if $(DB),--db $(DB)) $(ARGS)

trials-status: setup ## progress of the trial log per task x model [DB=path]
	$(CLI) trials status $(if $(DB),--db $(DB))

trials-export: setup ## write results/robot/trials.csv from the trial log [DB=path]
	$(CLI) trials export $(if $(DB),--db $(DB))

reports: $(VENV)/.stamp-reports ## regenerate reports/ (tables, figures, README index) from results/
	$(CLI) report $(ARGS)

# The mechanism targets default to the embedded model (MODEL=gemma3-base gives Fig. 3 for the paper's 12B on a GPU).
MECH_MODEL = $(if $(filter command line environment,$(origin MODEL)),$(MODEL),gemma3-270m)
.PHONY: logprob forgetting
logprob: setup-all ## Fig. 3 log-probabilities: make logprob [MODEL=gemma3-270m] [DATA=...]
	$(CLI) logprob --model $(MECH_MODEL) --data $(DATA) $(ARGS)

forgetting: setup-all ## forgetting grid {verbalized, least-likely} x {LoRA, full}: make forgetting [MODEL=gemma3-270m]
	$(CLI) forgetting --model $(MECH_MODEL) --data $(DATA) $(ARGS)

BENCH_MODEL  ?= gemma3-270m
BENCH_CYCLES ?= 100
BENCH_ARGS   ?=
bench: setup-all ## benchmarks (ratios against the naive baseline and the peer in the same run) [BENCH_MODEL= BENCH_CYCLES= BENCH_ARGS=]
	$(BIN)/python -m pytest -q -m benchmark --benchmark-enable tests
	$(CLI) bench policy --model $(BENCH_MODEL) --cycles $(BENCH_CYCLES) --data $(DATA) $(BENCH_ARGS)

# ---------------------------------------------------------------- learning in simulation (issue 20)
# record oracle demonstrations -> D_lan -> train verbalized and AT (same recipe, seed, steps, data order) -> closed-loop
# trials of both models, blind-interleaved, on the tasks' held-out evaluation scenes, validator none and self -> CSVs ->
# reports. Every step skips or resumes what is done: the recorder keeps complete trajectories, `data build` is
# incremental, `train` resumes from its checkpoint, the trial log resumes per (task, model, trial).
# make sim-experiment [EPISODES=400] [STEPS=1500] [TRIALS=<the task's: 30, multilingual 90>] [RECIPE=sim-cpu|sim-cpu-vision]
EPISODES       ?= 400
STEPS          ?= 1500
RECIPE         ?= sim-cpu
SIM_SEED       ?= 0
SIM_EXP        ?= results/sim-experiment
SIM_RECORD     ?= pickup pick-and-place
SIM_TASKS      ?= pickup pick-and-place pickup-multilingual pickup-ash
SIM_VALIDATORS ?= none self
SIM_MODELS     := sim-verbalized sim-at
SIM_REPORT     ?= yes
SIM_RUNS        = $(if $(VLM2VLA_RUNS),$(VLM2VLA_RUNS),runs)
# the trial logs and their CSV exports sit with the other robot trials, where the reports read them (tracked there)
SIM_TRIALS      = $(if $(VLM2VLA_RESULTS),$(VLM2VLA_RESULTS),results)/robot

.PHONY: sim-experiment demo-sim-experiment
sim-experiment: setup-all ## record -> D_lan -> train verbalized+AT -> sim trials -> reports [EPISODES= STEPS= TRIALS= RECIPE=]
	@for task in $(SIM_RECORD); do \
	  $(CLI) sim record --task $$task --episodes $(EPISODES) --seed $(SIM_SEED) --out $(SIM_EXP)/raw; done
	$(CLI) data build --source $(SIM_EXP)/raw --out $(SIM_EXP)/dlan
	$(CLI) train --model sim-verbalized --recipe $(RECIPE) --data $(SIM_EXP)/dlan --out $(SIM_RUNS)/sim-verbalized \
		--max-steps $(STEPS)
	$(CLI) train --model sim-at --recipe $(RECIPE) --data $(SIM_EXP)/dlan --out $(SIM_RUNS)/sim-at \
		--max-steps $(STEPS)
	@for v in $(SIM_VALIDATORS); do for task in $(SIM_TASKS); do \
	  $(CLI) robot-trials --task $$task --model $(subst $(eval) ,$(comma),$(SIM_MODELS)) --robot sim --operator auto \
	    --validator $$v $(if $(TRIALS),--trials $(TRIALS)) --db $(SIM_TRIALS)/trials-sim-$$v.sqlite \
	    --out $(SIM_EXP)/robot-$$v || exit 1; \
	  done; $(CLI) trials export --db $(SIM_TRIALS)/trials-sim-$$v.sqlite --out $(SIM_TRIALS)/trials-sim-$$v.csv; done
	$(if $(filter yes,$(SIM_REPORT)),$(CLI) report)

# The chain of sim-experiment at toy size (2 episodes per task, 2 training steps, 1 trial per model on pickup, no
# validator) under results/demo, with its own runs directory: it proves the steps connect, not that anything learns.
demo-sim-experiment: export VLM2VLA_RUNS := $(DEMO_RESULTS)/runs
demo-sim-experiment: setup-all  # a toy run starts over (its recording resumes): newly recorded scenes change its data
	rm -rf $(DEMO_RESULTS)/runs/sim-verbalized $(DEMO_RESULTS)/runs/sim-at $(DEMO_RESULTS)/robot/trials-sim-*
	$(MAKE) --no-print-directory sim-experiment SIM_EXP=$(DEMO_RESULTS)/sim-experiment EPISODES=2 STEPS=2 TRIALS=1 \
		SIM_TASKS=pickup SIM_VALIDATORS=none SIM_REPORT=no  # demo-reports builds the report

# ---------------------------------------------------------------- baselines in their own environments (issue 18)
# OpenVLA / ECoT need transformers 4.40.1 (the harness: 5.x), so each gets .venvs/NAME: the torch pin first, then the
# `baseline` extra's pins (pyproject.toml), not the project. Their server (harness/baselines/openvla_server.py, which
# imports nothing from harness) speaks OpenVLA's deploy.py REST protocol; the harness reaches it with `openvla-rest`.
BASELINE_VENVS ?= .venvs
BASELINES      := openvla ecot
NAME           ?= openvla
BASELINE_PORT  ?= 8010
BASELINE_PINS   = $$($(PYTHON) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["baseline"]))')
BASELINE_PIP    = $(BASELINE_VENVS)/$*/bin/python -m pip --disable-pip-version-check -q

$(BASELINE_VENVS)/%/.stamp: pyproject.toml
	@case " $(BASELINES) " in *" $* "*) ;; *) echo "error: NAME=$* is not a baseline (one of: $(BASELINES))" >&2; exit 2;; esac
	$(PYTHON) -m venv $(BASELINE_VENVS)/$*
	$(BASELINE_PIP) install "$(TORCH)"
	$(BASELINE_PIP) install $(BASELINE_PINS)
	touch $@

.PHONY: baseline-env serve-baseline
baseline-env: $(BASELINE_VENVS)/$(NAME)/.stamp ## the baseline's own venv: make baseline-env NAME=openvla|ecot (.venvs/NAME)

serve-baseline: baseline-env ## serve a baseline (deploy.py's REST protocol): make serve-baseline NAME=openvla [BASELINE_PORT=8010] [ARGS=--checkpoint DIR]
	$(BASELINE_VENVS)/$(NAME)/bin/python harness/baselines/openvla_server.py --kind $(NAME) --port $(BASELINE_PORT) $(ARGS)

# ---------------------------------------------------------------- GPU check (not part of make test)
# gpu-wheels runs here (it needs the embedded 270M's tokenizer in the cache); gpu-check runs on the offline GPU
# machine from the checkout + .whl/, with its own python3 (torch, transformers, peft, accelerate already there).
WHL ?= .whl
GPU_PYTHON ?= python3
.PHONY: gpu-wheels gpu-check
gpu-wheels: setup-all ## wheels + Gemma-3 tokenizer that gpu-check brings to an offline GPU machine (.whl/, < 60 MB)
	$(BIN)/python -m harness.gpucheck.wheels $(WHL)

gpu-check: ## on the GPU machine: install .whl/ under .whl/site, then one table, rewritten after each row (ARGS=--skip ROW ...; ~9 min on an H100)
	$(GPU_PYTHON) -m pip install -q --no-index --no-deps --target $(WHL)/site $(WHL)/*.whl
	-[ -z "$$(ls $(WHL)/deepspeed-*.tar.gz 2>/dev/null)" ] || $(GPU_PYTHON) -m pip install -q --no-index --no-deps \
		--no-build-isolation --target $(WHL)/site $(WHL)/deepspeed-*.tar.gz
	PYTHONPATH=$(abspath $(WHL))/site:$(CURDIR) $(GPU_PYTHON) -m harness.gpucheck $(ARGS)

# ---------------------------------------------------------------- housekeeping
.PHONY: clean help
clean: ## remove the virtual environment and caches (results/ and runs/ are kept)
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks

help:
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16
