# Tenure: the two commands are `make run` and `make test`; everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

export TENURE_API_KEY ?= tenure_dev_key
export TENURE_DATABASE_URL ?= sqlite:///./tenure.db

.PHONY: run test lint unit clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

## Serve API + worker on http://127.0.0.1:8000 with an embedded SQLite file.
run: export TENURE_WEBHOOKS_ALLOW_PRIVATE ?= true
run: $(STAMP)
	$(BIN)/tenure serve --host 127.0.0.1 --port 8000

## The whole suite: lint, types, module layering, then tests (SQLite; PostgreSQL when
## TENURE_TEST_POSTGRES_URL is set).
test: $(STAMP) lint
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tenure.db*

## Benchmark (not part of `make test`): each result next to a baseline measured in the same run
## (pgbench, a raw ASGI app), written to docs/performance.md. ARGS=--full: 1,000,000 renewals.
.PHONY: bench
bench: $(STAMP)
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet py-spy || true
	BENCH_COMMAND="make bench$(if $(ARGS), ARGS=$(ARGS))" PYTHONPATH=. $(BIN)/python -m bench $(ARGS)
