# Atelier — the two commands first: `make up` and `make test`.
PYTHON ?= python3.11
#: Where pip may also look for torch, e.g. https://download.pytorch.org/whl/cpu for the
#: CPU build (PyPI's Linux wheel is the CUDA one); empty: PyPI (and pip's own settings).
TORCH_INDEX_URL ?=
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: up test test-unit chaos chaos-cluster lint format bench venv clean

#: `make up CLUSTER=3`: NATS as a three-node JetStream cluster (data in .data/cluster);
#: `REPLICAS=2`: two processes of every service.
CLUSTER  ?=
REPLICAS ?=

up: $(STAMP)  ## run the whole stack on embedded NATS, Postgres and S3
	$(PY) -m atelier.platform up $(if $(CLUSTER),--nats-nodes $(CLUSTER)) \
		$(if $(REPLICAS),--replicas $(REPLICAS))

test: $(STAMP)  ## the whole suite: unit, integration, e2e
	$(PY) -m pytest

test-unit: $(STAMP)
	$(PY) -m pytest -m "not integration and not e2e"

chaos: $(STAMP)  ## only the fault-injection suite (also part of `make test`), with its figures
	$(PY) -m pytest tests/chaos -m chaos

chaos-cluster: $(STAMP)  ## faults of a 3-node NATS cluster under load (also part of `make test`)
	$(PY) -m pytest tests/chaos -m chaos_cluster

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench

venv: $(STAMP)

$(STAMP): requirements-dev.txt $(wildcard libs/*/pyproject.toml services/*/pyproject.toml apps/*/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL)) \
		-r requirements-dev.txt
	$(NPM_CI)
	touch $(STAMP)

# The ecosystem's own contract tools (the AsyncAPI parser, Redocly), pinned by their lock
# file, for tests/contracts; without npm those tests skip (and fail under CI=true).
CHECKS := tools/contract-checks
NPM_CI := if command -v npm >/dev/null; then npm ci --prefix $(CHECKS) --ignore-scripts \
	--no-audit --no-fund --loglevel=error; else echo "npm not found: tests/contracts skips"; fi
$(STAMP): $(CHECKS)/package-lock.json

clean:
	rm -rf $(VENV) .data .pytest_cache
