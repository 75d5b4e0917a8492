# Every target works from a fresh clone on a machine with python3, pip, node/npm and apt.
# Setup steps are stamp files, so a second run costs well under a second.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
NODE_STAMP := node_modules/.stamp-$(shell cat package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup demo test lint contracts typecheck unit bench installer installer-test reliability clean assets cluster

setup: $(STAMP) $(NODE_STAMP) assets

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Bundled map assets and the demo basemap, built from node_modules (never fetched at run time).
assets: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m maps.build_assets

demo: setup
	$(BIN)/workstation --demo

lint: $(STAMP)
	$(BIN)/ruff check .

contracts: $(STAMP)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

unit: setup
	QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox" QTWEBENGINE_DISABLE_SANDBOX=1 $(BIN)/python -m pytest -q

test: setup lint contracts typecheck unit

bench: setup
	QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox" QTWEBENGINE_DISABLE_SANDBOX=1 $(BIN)/python -m bench all --json

# The scaled-out server on this machine (docs/scaling.md, "Running the cluster"): nats-server, 2 receivers,
# 2 rules workers and 2 API workers on PostgreSQL; prints their URLs; Ctrl-C stops everything.
CLUSTER_DB ?= postgresql+psycopg2://postgres:postgres@127.0.0.1:5432/field_cluster
CLUSTER_PASSWORD ?= cluster-demo
cluster: setup
	$(BIN)/python -m sync_server.cluster.launcher --db '$(CLUSTER_DB)' --create-db \
		--seed --officers 2 --caseload 500 --password '$(CLUSTER_PASSWORD)' --device-credentials cluster-devices.csv

reliability: setup
	$(BIN)/python -m tests.reliability.campaigns --all

installer: setup
	bash installer/build_deb.sh

# Tests the newest .deb in dist/, building one first only when there is none (a build takes minutes):
# after changing the code, run `make installer` again.
installer-test: setup
	@ls dist/field-workstation_*.deb >/dev/null 2>&1 || $(MAKE) installer
	bash installer/test_deb.sh

clean:
	rm -rf build dist bench/out
