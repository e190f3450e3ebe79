# Tenure: the two commands are `make run` and `make test`; everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Installs come from the lock files (exact versions and hashes); a change to either lock or to
# pyproject.toml reinstalls.
LOCK := requirements/dev.lock
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements/*.lock | cksum | cut -d' ' -f1)

export TENURE_API_KEY ?= tenure_dev_key
export TENURE_DATABASE_URL ?= sqlite:///./tenure.db

.PHONY: run test lint unit clean lock tools

$(STAMP): pyproject.toml requirements/runtime.lock requirements/dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	@$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-* && touch $@

## Serve API + worker on http://127.0.0.1:8000 with an embedded SQLite file.
run: export TENURE_WEBHOOKS_ALLOW_PRIVATE ?= true
run: export TENURE_LOG_FORMAT ?= json
run: $(STAMP)
	$(BIN)/tenure serve --host 127.0.0.1 --port 8000

## The whole suite: lint, types, module layering, then tests (SQLite; PostgreSQL when
## TENURE_TEST_POSTGRES_URL is set). promtool (Debian's `prometheus` package) checks the alert
## rules; `make tools` installs it where apt-get is allowed (CI does this itself).
test: $(STAMP) lint
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests deploy
	$(BIN)/ruff format --check src tests deploy
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest tests/unit

## Tools from Debian's registry that some tests use (promtool); needs root.
tools:
	@command -v promtool >/dev/null || bash .ci/install-tools

## Re-resolve the lock files after a change to pyproject.toml, keeping every other pin;
## `make lock UPGRADE=1` moves everything to the newest versions allowed (docs/deploy.md).
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes -q $(if $(UPGRADE),--upgrade)
## The dev lock is resolved first; the runtime lock is constrained by it, so the image runs the
## very versions the tests ran.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -c requirements/dev.lock \
		-o requirements/runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tenure.db*

## Benchmark (not part of `make test`): each result next to a baseline measured in the same run
## (pgbench, a raw ASGI app), written to docs/performance.md. ARGS=--full: 1,000,000 renewals.
.PHONY: bench
bench: $(STAMP)
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet py-spy || true
	BENCH_COMMAND="make bench$(if $(ARGS), ARGS=$(ARGS))" PYTHONPATH=. $(BIN)/python -m bench $(ARGS)
