# Two commands for a newcomer: `make serve` (install what serving needs, start on SQLite) and
# `make test` (add the dev tools; lint, types, tests). Installs come from the hashed lock files
# (requirements.lock ⊂ requirements-dev.lock); `make lock` refreshes them on purpose. The server
# depends on the SDK's own distribution, fluide-client, which is this repository's clients/python:
# it is installed from there (editable, like the server), never from an index, so the locks leave
# it out and hold its dependencies.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_STAMP := $(VENV)/.installed-serve
DEV_STAMP := $(VENV)/.installed-dev
UV_VERSION := 0.13.9
# One lock for every platform and Python from 3.11 (markers, not a second lock), with hashes.
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes --quiet \
	--no-emit-package fluide-client --custom-compile-command 'make lock'

.PHONY: serve test lint install install-serve lock bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

LOCAL := -e ./clients/python -e .

$(SERVE_STAMP): requirements.lock pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	@echo "Installing what the service needs into $(VENV) (requirements.lock)"
	$(BIN)/pip install --require-hashes -r requirements.lock
	$(BIN)/pip install -q --no-deps $(LOCAL)
	touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml clients/python/pyproject.toml | $(BIN)/python
	@echo "Installing the service and the dev tools into $(VENV) (requirements-dev.lock)"
	$(BIN)/pip install --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps $(LOCAL)
	touch $@ $(SERVE_STAMP)

install-serve: $(SERVE_STAMP)

install: $(DEV_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/fluide serve --host $(HOST) --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

# Re-resolve every dependency within pyproject.toml's ranges (run it on purpose, then test).
# The dev set first: its tools narrow shared dependencies (openapi-python-client caps typer), and
# the serving lock then takes the same versions, so requirements.lock ⊂ requirements-dev.lock.
lock: | $(BIN)/python
	$(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml -c requirements-dev.lock $(LOCK_FLAGS) \
		-o requirements.lock

clean:
	rm -rf $(VENV) .fluide .pytest_cache .mypy_cache .ruff_cache
