# Two commands do everything on a fresh machine with Python 3.11: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
UV_VERSION := 0.13.9
BATF_DIR ?= ../shared/data/dunnhumby_breakfast_at_the_frat
BATF_LANDING ?= landing/batf
FRN_DIR ?= ../shared/data/freshretailnet_50k
FRN_LANDING ?= landing/freshretailnet
PYTEST_ARGS ?=
# Test processes: most tests use one core, so two workers halve the suite's time on 2 cores.
# --dist loadfile keeps a module's tests on one worker, so its module-scoped builds run once.
PYTEST_WORKERS ?= 2

export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup run run-real run-freshretailnet test ui seeds lint clean

$(VENV)/.synced: pyproject.toml uv.lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(VENV)/bin/uv || $(VENV)/bin/python -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv sync --frozen --python $(VENV)/bin/python
	touch $@

setup: $(VENV)/.synced

## make run: the main job on the embedded default (seeds/ -> warehouse/retail.duckdb -> outbound/)
run: setup
	$(VENV)/bin/retailops run

## make test: the whole test suite (pytest's "no tests collected", exit 5, counts as a pass)
test: setup
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) || [ $$? -eq 5 ]

## make run-real: Breakfast at the Frat from BATF_DIR, adapted into BATF_LANDING, then the main job
run-real: setup
	$(VENV)/bin/retailops adapt batf --source $(BATF_DIR) --out $(BATF_LANDING)
	RETAILOPS_BI_DIR=bi/batf $(VENV)/bin/retailops run --landing $(BATF_LANDING) --warehouse warehouse/batf.duckdb --outbound outbound/batf

## make run-freshretailnet: FreshRetailNet-50K from FRN_DIR, adapted into FRN_LANDING, then the main job
run-freshretailnet: setup
	$(VENV)/bin/retailops adapt freshretailnet --source $(FRN_DIR) --out $(FRN_LANDING)
	RETAILOPS_BI_DIR=bi/freshretailnet $(VENV)/bin/retailops run --landing $(FRN_LANDING) --warehouse warehouse/freshretailnet.duckdb --outbound outbound/freshretailnet

ui: setup
	$(VENV)/bin/retailops ui

seeds: setup
	$(VENV)/bin/retailops seeds --out seeds

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf warehouse outbound landing bi .dagster_home dbt_project/target dbt_project/logs
