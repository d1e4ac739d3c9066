# referral_app — everything a newcomer needs is `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
DEMO_MODE ?= true
export PORT DEMO_MODE
# Reflex builds the front end with the Node.js that requirements.txt puts in .venv/bin (no bun download).
export PATH := $(CURDIR)/$(BIN):$(PATH)
export REFLEX_USE_NPM := 1
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: run test test-fast lint format migrate clean help

help:
	@echo "make run    - install, migrate and serve the app on http://localhost:$(PORT) (demo mode)"
	@echo "make test   - install test tools and run the whole test suite"
	@echo "make lint   - ruff checks"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-dev: requirements-dev.txt $(VENV)/.requirements
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Migrations are applied by the server itself before it serves (see referral_app/lifespan.py).
run: $(VENV)/.requirements
	$(BIN)/reflex run --env prod --loglevel info

test: $(VENV)/.requirements-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.requirements-dev
	$(BIN)/python -m pytest -m "not server" $(PYTEST_ARGS)

lint: $(VENV)/.requirements-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.requirements-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(VENV)/.requirements
	$(BIN)/alembic upgrade head

clean:
	rm -rf .web .states .pytest_cache

# Build ./Dockerfile with podman/buildah (no Docker engine needed; as root) and test the image against this
# machine's PostgreSQL and Redis: see scripts/docker-test.sh.
.PHONY: docker-test
docker-test:
	bash scripts/docker-test.sh
