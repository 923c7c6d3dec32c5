# Two commands matter: `make demo` (end to end on synthetic data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins

.PHONY: demo test test-unit lint ui bench clean-demo

$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

## Seed synthetic data, run one real nightly run through Airflow, print the report.
demo: $(BIN)/.installed
	$(BIN)/python -m retention.demo $(DEMO_ARGS)

## Run the whole suite (unit + integration on real PostgreSQL, started if none is running).
test: $(BIN)/.installed
	$(BIN)/ruff check dags plugins tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(BIN)/.installed
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## The Airflow UI on the demo's metadata database (run `make demo` first).
ui: $(BIN)/.installed
	$(BIN)/python -m retention.ui

## Benchmarks (sizes as options: make bench BENCH_ARGS="--accounts 100000").
bench: $(BIN)/.installed
	$(BIN)/python bench/bench_log_purge.py $(BENCH_ARGS)

clean-demo:
	rm -rf var/airflow var/documents var/demo-run.log
