# keyledger: one-command set-up. Everything installs into ./.venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check bench clean screenshots

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Serve the API on 127.0.0.1:8000 with gunicorn on the embedded SQLite store.
run: $(STAMP)
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## The whole test suite (PostgreSQL cases skip unless a server is reachable).
test: $(STAMP)
	$(BIN)/pytest

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
