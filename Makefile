# visionflow: `make demo` runs the sample pipeline, `make test` runs the checks.
# Both install what they need (apt packages, venv, pip packages, sample clip,
# model weights) and are idempotent: a second run skips finished steps.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ASSETS := $(CURDIR)/data
APT_PACKAGES := ffmpeg opencv-doc redis-server mosquitto openssl

export VISIONFLOW_ASSETS := $(ASSETS)
export VISIONFLOW_CACHE := $(ASSETS)/cache

.PHONY: all setup system assets demo test lint bench clean

all: demo

system: $(VENV)/.system-stamp
$(VENV)/.system-stamp: scripts/install-system-deps.sh Makefile
	@bash scripts/install-system-deps.sh $(APT_PACKAGES)
	@mkdir -p $(VENV) && touch $@

setup: $(VENV)/.pip-stamp
$(VENV)/.pip-stamp: pyproject.toml $(VENV)/.system-stamp
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The ByteTrack authors' tracker, the reference of tests/quality; --no-deps because it pins
	# torch/scipy/lap versions it does not need (it imports none of torch).
	$(BIN)/python -m pip install --quiet --no-deps bytetracker==0.3.2
	@touch $@

assets: $(ASSETS)/vtest.mp4 $(ASSETS)/models/yolov3-tiny.weights
$(ASSETS)/vtest.mp4 $(ASSETS)/models/yolov3-tiny.weights &: $(VENV)/.pip-stamp
	$(BIN)/python -m visionflow.assets $(ASSETS)

demo: setup assets
	$(BIN)/visionflow demo --output out/demo

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

test: setup assets lint
	$(BIN)/python -m pytest -q

bench: setup assets
	$(BIN)/python benchmarks/cpu_e2e.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
