# Two commands set everything up on a fresh machine:
#   make run    creates .venv from the lock (if needed) and runs the pipeline on the embedded digits
#   make test   creates .venv from the lock (if needed) and runs every test, end to end included
#   make test-image   builds the image (make image) and runs every task of pipeline.yaml in it
#   make test-kfp-local  runs pipeline.yaml with Kubeflow's own kfp.local executor in that image
#   make test-faults  stops runs during every component (SIGTERM, SIGKILL) and resumes them
PYTHON ?= python3.10
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock
OUTPUT_DIR ?= tiedflow_output
BENCH_OUT ?= bench_out/pipeline.json
PIPELINE_YAML ?= pipeline.yaml

.PHONY: docs-knobs setup browser run run-portable lint test test-unit test-faults test-image test-kfp-local image bench bench-trainer bench-scale bench-history fuzz compile clean
# Empty: the compiled spec names tiedflow:<project version>, as the committed pipeline.yaml does.
IMAGE ?=

# The lock holds every package at an exact version; --no-deps means pip installs
# exactly that list and never backtracks.
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/tiedflow run --output-dir $(OUTPUT_DIR)

# The same run through Beam's portable runner: starts a job service and an SDK
# worker pool, runs the pipeline against them, stops them.
run-portable: setup
	$(BIN)/python -m pipeline.local.portable_beam run --output-dir $(OUTPUT_DIR)

# Debian's Chromium, for the report's headless-browser test. apt-get waits for
# the dpkg lock (another apt-get may hold it) instead of failing at once.
APT_GET := apt-get -o DPkg::Lock::Timeout=600
browser:
	command -v chromium >/dev/null || { $(APT_GET) update -qq && $(APT_GET) install -y -qq chromium >/dev/null; }

# ruff (lint and format check), mypy, and the layers contracts in pyproject.toml
# (pipeline -> components -> libraries -> names; inside pipeline/ by job). Zero findings.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup browser lint
	$(BIN)/python -m pytest

test-unit: setup lint
	$(BIN)/python -m pytest -m "not e2e"

# Runs stopped by SIGTERM and SIGKILL during each component and resumed; each
# component's artifacts deleted between runs; two runs at once (a sample is in `make test`).
test-faults: setup
	$(BIN)/python -m pytest -m faults tests/test_faults_e2e.py

# The image pipeline.yaml names (IMAGE=... for another tag), built with podman
# or docker; podman is installed from Debian when neither is there. On the TFX
# base where gcr.io answers, else on a stand-in base (container/build-base.sh).
# Engine settings: container/containers.conf (CONTAINERS_CONF), not /etc.
export CONTAINERS_CONF ?= $(CURDIR)/container/containers.conf
image:
	container/image.sh

# Every task of pipeline.yaml in that image, as the open-source KFP launcher
# runs it: DAG order, non-root, no network, a bind-mounted pipeline root.
test-image: setup image
	$(BIN)/python -m pytest -m image -s tests/test_image.py

# kfp.local's venv: kfp 2.15 from a lock of its own (protobuf 6; the project's
# stack needs protobuf 3, so the two never share a venv). No TFX: tasks run in the image.
KFP_VENV ?= .venv-kfp
KFP_STAMP := $(KFP_VENV)/.installed-from-lock
$(KFP_STAMP): kfp-local.lock
	test -x $(KFP_VENV)/bin/python || $(PYTHON) -m venv $(KFP_VENV)
	$(KFP_VENV)/bin/pip install --quiet --no-deps -r kfp-local.lock
	touch $(KFP_STAMP)

# pipeline.yaml as committed (but the image tag the engine lists) run by
# kfp.local's DockerRunner against podman's Docker-compatible API, started for
# the target only (container/kfp-local.sh): the digits through every task to a
# pushed model, then a missing data folder that must stop at ImageExampleGen.
test-kfp-local: setup image $(KFP_STAMP)
	KFP_PYTHON=$(abspath $(KFP_VENV))/bin/python container/kfp-local.sh \
	    $(BIN)/python -m pytest -m kfp_local -s tests/test_kfp_local.py

bench: setup
	$(BIN)/python benchmarks/bench_pipeline.py --out $(BENCH_OUT)

# The pipeline at N = 1.8k, 18k, 180k per DirectRunner mode: table, JSON and a log-log plot.
# e.g. BENCH_SCALE_ARGS="--image-size 28 --n 180000 1800000 --modes multi_processing_2
#      --set train_steps=200 --set accuracy_threshold=0"
BENCH_SCALE_ARGS ?=
bench-scale: setup
	$(BIN)/python benchmarks/bench_scale.py --out bench_out/scale.json $(BENCH_SCALE_ARGS)

bench-history: setup
	$(BIN)/python benchmarks/bench_history.py --out bench_out/history.json

bench-trainer: setup
	BENCH_OUT=$${BENCH_OUT:-bench_out/trainer.json} $(BIN)/python benchmarks/bench_trainer.py

# Damaged images and tf.Examples (FUZZ_CASES, half of each) through ingestion and
# `tiedflow predict` (FUZZ_MODEL: a serving dir; empty: a small model is trained first).
FUZZ_CASES ?= 400
FUZZ_SEED ?= 12
FUZZ_MODEL ?=
fuzz: setup
	$(BIN)/python tests/fuzz.py --cases $(FUZZ_CASES) --seed $(FUZZ_SEED) $(if $(FUZZ_MODEL),--model $(FUZZ_MODEL))

# docs/knobs.md from the knob registry (names/knobs.py); a test checks it is current.
docs-knobs: setup
	$(BIN)/python -m pipeline.config > docs/knobs.md

compile: setup
	$(BIN)/tiedflow compile $(if $(IMAGE),--image $(IMAGE)) --output $(PIPELINE_YAML)

clean:
	rm -rf $(OUTPUT_DIR) bench_out
