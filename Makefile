# Two entry points: `make demo` and `make test` (and `make bench`). Both bootstrap .venv first and are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: demo test bench bench-payment bench-callbacks bench-sync bench-queries bootstrap lint docs messages clean

$(BIN)/python:
	@echo "==> creating $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> upgrading pip inside $(VENV) (dependency groups need pip >= 25.1)"
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "==> installing the project and its dev/test dependency groups"
	$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $@

bootstrap: $(VENV)/.installed

demo: bootstrap
	@echo "==> applying migrations"
	$(BIN)/python manage.py migrate --noinput
	@echo "==> loading demo data"
	$(BIN)/python manage.py seed_demo
	@echo "==> serving http://$(HOST):$(PORT)/ (Ctrl-C to stop)"
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python manage.py runserver $(HOST):$(PORT)

test: bootstrap
	@echo "==> running the test suite on $${DATABASE_URL:-SQLite}"
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Each benchmark on SQLite, and on PostgreSQL too when DATABASE_URL names one; BENCH_ARGS
# (e.g. "--n 200") goes to each. docs/performance.md explains them.
bench: bench-payment bench-callbacks bench-sync bench-queries

bench-payment: bootstrap
	$(BIN)/python -m tests.benchmarks.bench_payment $(BENCH_ARGS)

bench-callbacks: bootstrap
	$(BIN)/python -m tests.benchmarks.bench_callbacks $(BENCH_ARGS)

bench-sync: bootstrap
	$(BIN)/python -m tests.benchmarks.bench_sync $(BENCH_ARGS)

bench-queries: bootstrap
	$(BIN)/python -m tests.benchmarks.bench_queries $(BENCH_ARGS)

lint: bootstrap
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy checkout

docs: bootstrap
	@echo "==> building the documentation into site/ (warnings are errors)"
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

messages: bootstrap
	@echo "==> refreshing the translation catalogues from the code, then compiling them (needs GNU gettext)"
	$(BIN)/python -m merchant_site.catalogues

clean:
	rm -rf $(VENV) build dist site *.egg-info
