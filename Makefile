# Two commands matter: `make demo` (end to end on synthetic data) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins

UV_VERSION := 0.13.8

.PHONY: demo test test-unit lint ui stack env lock bench bench-logs bench-stack bench-requests clean-demo browser

# Every version is locked (requirements-dev.lock: the runtime's requirements.lock plus the test tools);
# uv installs the lock into .venv. `make lock` re-resolves after a pin in requirements*.txt changed.
# --system-certs: trust the machine's certificate store (a proxy's CA), as pip does, not only uv's bundled roots.
$(BIN)/.installed: requirements.lock requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --system-certs --python $(BIN)/python -r requirements-dev.lock
	touch $@

lock: $(BIN)/.installed
	$(BIN)/uv pip compile --quiet --system-certs --universal --python-version 3.11 requirements.txt -o requirements.lock
	$(BIN)/uv pip compile --quiet --system-certs --universal --python-version 3.11 requirements-dev.txt -c requirements.lock -o requirements-dev.lock
	$(BIN)/uv pip install --quiet --system-certs --python $(BIN)/python -r requirements-dev.lock
	touch $(BIN)/.installed

## Seed synthetic data, run one real nightly run through Airflow, print the report.
demo: $(BIN)/.installed
	$(BIN)/python -m retention.demo $(DEMO_ARGS)

# The Retention page's browser test drives Debian's Chromium; install it when the machine allows.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || \
	  { if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	    else echo "note: chromium/chromedriver not installed and not installable here: the browser test will be skipped"; fi; }

## Run the whole suite (unit + integration on real PostgreSQL, started if none is running).
test: $(BIN)/.installed browser
	$(BIN)/ruff check dags plugins tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(BIN)/.installed
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

## The deployment's settings file (.env, random secrets, read by `make stack` and docker compose).
env: $(BIN)/.installed
	$(BIN)/python -m retention.deployenv

## The production topology without Docker: metadata PostgreSQL, Redis, api-server, scheduler, dag processor,
## triggerer and a Celery worker, on 127.0.0.1 (Ctrl-C stops it all). Settings in .env (made on first use).
stack: $(BIN)/.installed
	$(BIN)/python -m retention.stack --mode stack $(if $(PORT),--port $(PORT)) $(if $(WORKERS),--workers $(WORKERS))

## The Airflow UI on the demo's runs (run `make demo` first): the same services, LocalExecutor, SQLite.
ui: $(BIN)/.installed
	$(BIN)/python -m retention.stack --mode ui $(if $(PORT),--port $(PORT))

## Benchmarks (sizes as options: make bench BENCH_ARGS="--sizes 100000,1000000").
bench: $(BIN)/.installed
	$(BIN)/python bench/bench_pipeline.py $(BENCH_ARGS)

## The connection-log purge in both layouts against one plain DELETE (make bench-logs BENCH_ARGS="--rows 2000000").
bench-logs: $(BIN)/.installed
	$(BIN)/python bench/bench_log_purge.py $(BENCH_ARGS)

## Data-subject requests at 1,000,000 accounts: one erasure, one access package, a backlog of 1,000 in one run.
bench-requests: $(BIN)/.installed
	$(BIN)/python bench/bench_requests.py $(BENCH_ARGS)

clean-demo:
	rm -rf var/airflow var/documents var/demo-run.log

## One night through make stack's Celery topology (1 and 2 task processes) against airflow dags test.
bench-stack: $(BIN)/.installed
	$(BIN)/python bench/bench_stack.py $(BENCH_ARGS)
