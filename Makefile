# d2l-lightning. Set-up is automatic: `make train` and `make test` install what they need first.
SHELL := /bin/bash
PY := .venv/bin/python
CONFIG ?= configs/ch03/3.7_softmax.yaml
ARGS ?=
# test processes: the suite is mostly single-threaded work and process start-up, so two halve its time
# on a 2-core machine; `make test WORKERS=0` runs it in this process (for debugging)
WORKERS ?= auto
export D2L_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: help install train test test-fast test-all lint clean

help:  ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## create .venv: this checkout on top of the environment cached by the lock file's hash
	@bash scripts/install.sh

train: install  ## train CONFIG (default: 3.7 softmax regression on Fashion-MNIST); extra CLI flags in ARGS
	$(PY) -m d2l_lightning fit --config $(CONFIG) $(ARGS)

test: install  ## run every tier CI runs (offline; multi-process DDP/SIGTERM tests included, not `slow`)
	$(PY) -m pytest -q -n $(WORKERS) $(ARGS)

test-fast: install  ## the default suite without the multi-process tests (quicker while editing)
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow and not multiprocess" $(ARGS)

test-all: install  ## the default suite plus the slow checks on the real data
	$(PY) -m pytest -q -n $(WORKERS) -m "slow or not slow" $(ARGS)

lint: install  ## ruff
	$(PY) -m ruff check d2l_lightning scripts tests

clean:  ## remove .venv, logs and caches (keeps data/ and the cached environment)
	rm -rf .venv logs lightning_logs wandb .pytest_cache .ruff_cache *.egg-info
