# d2l-lightning. Set-up is automatic: `make train` and `make test` install what they need first.
SHELL := /bin/bash
PY := .venv/bin/python
CONFIG ?= configs/ch03/3.7_softmax.yaml
ARGS ?=
# test processes: the suite is mostly single-threaded work and process start-up, so two halve its time
# on a 2-core machine; `make test WORKERS=0` runs it in this process (for debugging)
WORKERS ?= auto
export D2L_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: help install train data test test-fast test-all lint gpu-check clean clean-runs

help:  ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## create .venv: this checkout on top of the environment cached by the lock file's hash
	@bash scripts/install.sh

train: install  ## train CONFIG (default: 3.7 softmax regression on Fashion-MNIST); extra CLI flags in ARGS
	$(PY) -m d2l_lightning fit --config $(CONFIG) $(ARGS)

data: install  ## fetch and verify the datasets of CONFIG (several: CONFIG="a.yaml b.yaml") for offline nodes; ARGS=--check only verifies
	$(PY) -m d2l_lightning data $(foreach c,$(CONFIG),--config $(c)) $(ARGS)

test: install  ## run every tier CI runs (offline; multi-process DDP/SIGTERM tests included, not `slow`)
	$(PY) -m pytest -q -n $(WORKERS) $(ARGS)

test-fast: install  ## the default suite without the multi-process tests (quicker while editing)
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow and not multiprocess" $(ARGS)

test-all: install  ## the default suite plus the slow checks on the real data
	$(PY) -m pytest -q -n $(WORKERS) -m "slow or not slow" $(ARGS)

lint: install  ## ruff
	$(PY) -m ruff check d2l_lightning scripts tests

gpu-check:  ## chapter 5's book table (+ ch09/10) on one GPU in ~8 min (scripts/gpu_check.sh); options in ARGS
	bash scripts/gpu_check.sh $(ARGS)

clean:  ## remove build output and caches: .venv, caches, egg-info (keeps runs in logs/, data/ and the cached environment)
	rm -rf .venv .pytest_cache .ruff_cache *.egg-info build
	find . -name __pycache__ -type d -not -path "./.git/*" -not -path "./logs/*" -prune -exec rm -rf {} +

clean-runs:  ## delete every run, checkpoint and W&B offline run under logs/ (asks first; FORCE=1 skips asking)
	@if [ -d logs ] || [ -d lightning_logs ] || [ -d wandb ]; then \
	  if [ "$(FORCE)" != "1" ]; then \
	    read -r -p "delete logs/ ($$(du -sh logs 2>/dev/null | cut -f1)): every run and checkpoint? [y/N] " ok; \
	    [ "$$ok" = "y" ] || { echo "nothing deleted"; exit 1; }; \
	  fi; \
	  rm -rf logs lightning_logs wandb; echo "deleted logs/"; \
	else echo "no runs to delete"; fi
