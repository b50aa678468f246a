# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Written by `make lock` from pyproject.toml; pyproject.toml keeps the ranges, the locks the exact versions.
COMPILE := $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" --quiet
LOCK := $(COMPILE) pyproject.toml

.PHONY: demo test lint typecheck unit bench schema lock hooks clean

$(STAMP): pyproject.toml requirements-dev.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# `make demo PORT=9000 SANDBOX_PORT=9100` when 8000 or 8100 is taken.
PORT ?= 8000
SANDBOX_PORT ?= 8100

demo: $(STAMP)
	$(BIN)/learngraph demo --open-browser --port $(PORT) --sandbox-port $(SANDBOX_PORT)

lint: $(STAMP)
	$(BIN)/ruff check gateway resolvers sandbox tests bench
	$(BIN)/ruff format --check gateway resolvers sandbox tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# Takes a few minutes; `make bench BENCH_ARGS=--quick` for a shortened run (python -m bench.run --help).
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

schema: $(STAMP)
	$(BIN)/learngraph export-schema > schema.graphql

# After changing dependencies in pyproject.toml; `make lock LOCK_ARGS=--upgrade` moves every pin to the newest
# version its range allows (`LOCK_ARGS="--upgrade-package httpx"` moves one).
lock: $(STAMP)
	$(LOCK) $(LOCK_ARGS) -o requirements.lock
	$(COMPILE) $(LOCK_ARGS) deploy/build-requirements.in -o deploy/build-requirements.lock  # the image's build backend
	$(LOCK) $(LOCK_ARGS) --extra dev --constraint requirements.lock --constraint deploy/build-requirements.lock \
		-o requirements-dev.lock

# ruff and mypy before each commit, the tests before each push (.pre-commit-config.yaml).
hooks: $(STAMP)
	$(BIN)/pre-commit install

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
