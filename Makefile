# Atelier — the two commands first: `make up` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test test-unit chaos lint format bench venv clean

up: $(STAMP)  ## run the whole stack on embedded NATS, Postgres and S3
	$(PY) -m atelier.stack up

test: $(STAMP)  ## the whole suite: unit, integration, e2e
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest -m "not integration and not e2e"

chaos: $(STAMP)  ## only the fault-injection suite (also part of `make test`), with its figures
	$(PY) -m pytest tests/chaos -m chaos

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

venv: $(STAMP)

$(STAMP): requirements-dev.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) .data .pytest_cache
