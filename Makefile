# keyledger: one-command set-up. Everything installs into ./.venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench clean screenshots fuzz

$(STAMP): setup.cfg pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./clients/python
	touch $(STAMP)

install: $(STAMP)

## Serve the API on 127.0.0.1:8000 with gunicorn on the embedded SQLite store.
run: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## The whole test suite (PostgreSQL cases skip unless a server is reachable).
test: $(STAMP)
	$(BIN)/pytest

## The long fuzzing run: schemathesis with ~20x the suite's examples, then the
## HTTP state machine with more examples (see docs/hardening.md).
fuzz: $(STAMP)
	KEYLEDGER_FUZZ_EXAMPLES=$${KEYLEDGER_FUZZ_EXAMPLES:-1500} \
	KEYLEDGER_FUZZ_SEED=$${KEYLEDGER_FUZZ_SEED:-$$(date +%s)} \
	KEYLEDGER_STATEFUL_EXAMPLES=$${KEYLEDGER_STATEFUL_EXAMPLES:-200} \
	$(BIN)/pytest -s -p no:cacheprovider -o addopts= --timeout 3600 tests/fuzz

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy bench/*.py

## Re-take the console screenshots in docs/screenshots/ (needs Chromium).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots/capture.py

check: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache
