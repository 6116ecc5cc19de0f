# The two commands:  make run  (set-up + the whole default pipeline)  and  make test.
# `make help` lists every target.
VENV   ?= .venv
PYTHON ?= python3
CORES  ?= all
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: help setup debs run claims smoke test paper-check bench lint clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 10

setup: $(STAMP) debs  ## create .venv with the pinned packages and install the Debian data packages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

debs:  ## install the Debian packages the default data comes from (when apt is usable)
	@bash scripts/install-debs.sh

run: setup  ## the whole default-scale pipeline, then the claims summary
	snakemake --cores $(CORES)
	@python -m pipeline.cli summary --tag default

claims:  ## print the claims summary of the last default-scale run
	@$(BIN)/python -m pipeline.cli summary --tag default

smoke: setup  ## the workflow at smoke scale (minutes)
	snakemake --cores $(CORES) --configfile config/smoke.yaml
	@python -m pipeline.cli summary --tag smoke

test: setup  ## the test suite (unit, theory, workflow smoke run, DVC round trip)
	pytest

paper-check: setup  ## every paper-scale run kind for 2 steps on CPU, synthetic data (an estimated 1-2 hours on 2 cores)
	pytest -m paper_kinds tests/test_paper_scale.py

bench: setup  ## benchmarks: speed ratios measured side by side (results/bench.json)
	python -m pipeline.bench

lint: setup  ## ruff check, ruff format --check, snakemake --lint
	ruff check .
	ruff format --check .
	snakemake --lint

clean:  ## delete every output (results, figures, report, logs)
	rm -rf results figures report logs .snakemake
