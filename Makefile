# The two commands:  make run  (set-up + the whole default pipeline)  and  make test.
# Everything else: make bench, make lint, make smoke, make clean.
VENV   ?= .venv
PYTHON ?= python3
CORES  ?= all
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed
export PATH := $(BIN):$(PATH)

.PHONY: setup debs run smoke test bench lint clean

setup: $(STAMP) debs

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

debs:
	@bash scripts/install-debs.sh

run: setup
	snakemake --cores $(CORES)

smoke: setup
	snakemake --cores $(CORES) --configfile config/smoke.yaml

test: setup
	pytest

bench: setup
	python -m pipeline.bench

lint: setup
	ruff check .
	ruff format --check .
	snakemake --lint

clean:
	rm -rf results figures report logs .snakemake
