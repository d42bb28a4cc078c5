# Two commands on a fresh machine with Python 3.11+:  `make run`  and  `make test`.
SHELL := /bin/bash
PYTHON ?= python3

# uv from PATH, or bootstrapped into .tools/ with pip when the machine has none.
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
ifeq ($(UV_ON_PATH),)
UV := $(CURDIR)/.tools/bin/uv
else
UV := $(UV_ON_PATH)
endif

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
# Compile bytecode at install: where PYTHONDONTWRITEBYTECODE is set (CI machines, containers)
# Python would otherwise compile prefect and dbt from source in every process (+1-3 s each).
export UV_COMPILE_BYTECODE := 1

.PHONY: help setup run test test-fast test-lowest coverage lock-lowest bench parity parity-smoke lint format clean image test-image deploy-local deploy-local-stop check-chart

help:
	@echo "make run    - set up, then run full_pipeline on the embedded defaults"
	@echo "make test   - set up, then run the whole test suite"
	@echo "make test-fast - the unit tests: in-process, no server, about a minute"
	@echo "make coverage - the whole suite under coverage.py, every process it starts included"
	@echo "make test-lowest - the quick tests on the lowest versions pyproject.toml allows"
	@echo "make bench  - benchmarks in bench/ (ratios against their targets)"
	@echo "make parity - each piece beside its Dagster equivalent (own env in parity/), one table"
	@echo "make lint   - ruff, import layers (lint-imports), types (mypy), private upstream names"
	@echo "make check-chart   - the worker's Helm chart rendered with our values, validated strictly"
	@echo "make image  - build the Docker image (EMBEDDED=true adds the embedded Airbyte)"
	@echo "make test-image    - build both images and run elt --help / elt run inside them"
	@echo "make deploy-local  - local Prefect server + work pool + blocks + deployments + worker"

$(CURDIR)/.tools/bin/uv:
	@echo "uv not found: installing it into .tools/ with pip"
	@bash scripts/ticking.sh "installing uv" $(PYTHON) -m venv $(CURDIR)/.tools
	@bash scripts/ticking.sh "installing uv" $(CURDIR)/.tools/bin/pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	@bash scripts/ticking.sh "installing the environment" $(UV) sync --frozen
	@touch $@

embedded/.venv/.synced: embedded/pyproject.toml embedded/uv.lock | $(UV)
	@echo "Preparing the embedded Airbyte environment (PyAirbyte, isolated from the app)"
	@bash scripts/ticking.sh "installing PyAirbyte" $(UV) sync --frozen --project embedded
	@touch $@

parity/.venv/.synced: parity/pyproject.toml parity/uv.lock | $(UV)
	@echo "Preparing the Dagster environment for make parity (isolated from the app)"
	@bash scripts/ticking.sh "installing Dagster" $(UV) sync --frozen --project parity
	@touch $@

setup: .venv/.synced embedded/.venv/.synced

# The lowest versions pyproject.toml allows for its direct dependencies (uv's lowest-direct
# resolution, written to .ci/lowest-direct.txt by `make lock-lowest`), in their own environment:
# `make test-lowest` proves the floors pyproject.toml states.
.venv-lowest/.synced: .ci/lowest-direct.txt pyproject.toml | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .venv-lowest
	$(UV) pip sync --quiet --python .venv-lowest/bin/python .ci/lowest-direct.txt
	$(UV) pip install --quiet --python .venv-lowest/bin/python --no-deps -e .
	@touch $@

# --upgrade: resolved afresh, not from the file's own pins (which uv prefers, so a direct
# dependency added later would keep the version the file already had, not its floor).
lock-lowest: | $(UV)
	$(UV) pip compile pyproject.toml --group dev --resolution lowest-direct --universal \
		--upgrade --quiet --no-header -o .ci/lowest-direct.txt

run: setup
	.venv/bin/elt run

test: setup
	.venv/bin/python -m pytest

test-fast: .venv/.synced
	ELT_TEST_TIER=fast .venv/bin/python -m pytest tests/unit

# The whole suite's line coverage of orchestration/, every process it starts included
# (pyproject.toml's [tool.coverage.run]); slower than `make test`, so not part of it.
coverage: setup
	rm -f .coverage .coverage.*
	.venv/bin/coverage run -m pytest $(PYTEST_ARGS); status=$$?; \
		.venv/bin/coverage combine --quiet && .venv/bin/coverage report --sort=cover; \
		exit $$status

test-lowest: .venv-lowest/.synced embedded/.venv/.synced
	.venv-lowest/bin/python -m pytest -m "not slow"

bench: setup
	.venv/bin/python bench/airbyte_concurrency.py
	.venv/bin/python bench/dbt_overhead.py
	.venv/bin/python bench/s3_sensor_scale.py
	.venv/bin/python bench/schema_drift.py
	.venv/bin/python bench/daily_changes.py

parity: setup parity/.venv/.synced
	.venv/bin/python bench/parity.py

# make parity at its smallest (every piece runs, nothing is measured), by hand; `make test` runs
# each piece so (tests/integration/test_bench_smoke.py). The table goes to a temporary file.
parity-smoke: setup parity/.venv/.synced
	.venv/bin/python bench/parity.py --smoke --results "$$(mktemp --suffix=.md)"

# The worker's Helm chart rendered with our values by Helm's own engine, every object validated
# strictly (needs the chart: downloaded from PrefectHQ's Helm repository, or CHART=path.tgz).
CHART ?=
check-chart: setup
	$(UV) run --no-project --with helm-python-sdk --with kubernetes-validate --with pyyaml \
		python scripts/check-worker-chart.py $(CHART)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	.venv/bin/python scripts/check_private_names.py

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

IMAGE ?= elt-orchestration
EMBEDDED ?= false
image:
	@if docker info >/dev/null 2>&1; then \
		docker build --build-arg EMBEDDED=$(EMBEDDED) -t $(IMAGE) . ; \
	else \
		bash scripts/image-base-standin.sh "$$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)" && \
		buildah bud --isolation chroot --network host --layers --build-arg EMBEDDED=$(EMBEDDED) -t $(IMAGE) . ; \
	fi

test-image: setup
	bash scripts/test-image.sh

deploy-local: setup
	bash scripts/deploy-local.sh

deploy-local-stop:
	bash scripts/deploy-local.sh stop

clean:
	-@[ -x .venv/bin/elt ] && .venv/bin/elt server stop
	rm -rf .venv .venv-lowest embedded/.venv parity/.venv .tools .elt dbt_project/target dbt_project/dbt_packages dbt_project/logs
