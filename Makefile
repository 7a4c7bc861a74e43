# Covered — `make run` starts everything on one machine; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
export FLASK_APP := app
export PORT
export COVERED_PORT := $(PORT)
# Links in emails: one address for every process (honcho gives each its own PORT).
export PUBLIC_URL ?= http://127.0.0.1:$(PORT)

.PHONY: run try-production test lint format bench install system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Procfile processes `make run` starts: all, less the embedded Redis when REDIS_URL is set
# and less localstripe when the app talks to another payments server (STRIPE_API_BASE, or
# Stripe itself once STRIPE_API_KEY is set).
LOCALSTRIPE_URL := http://127.0.0.1:8420
PAYMENTS_BASE = $(or $(STRIPE_API_BASE),$(if $(STRIPE_API_KEY),https://api.stripe.com,$(LOCALSTRIPE_URL)))
SKIPPED = $(if $(REDIS_URL),redis) $(if $(filter $(LOCALSTRIPE_URL) $(LOCALSTRIPE_URL)/,$(PAYMENTS_BASE)),,payments)
PROCESSES = $(filter-out $(SKIPPED),$(shell sed -n 's/^\([A-Za-z0-9_-]*\):.*/\1/p' Procfile))

## run: migrate, seed the demo into the default development database when it is empty, start
## web + worker + cron + embedded Redis + localstripe (honcho: one process ending stops all)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo --if-empty
	@echo ""
	@echo "  Covered is starting at http://127.0.0.1:$(PORT)"
	@echo "  Press Ctrl-C to stop everything."
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start $(PROCESSES)

## try-production: the README's Production section on this machine (throwaway PostgreSQL,
## redis-server, gunicorn, two workers, cron, localstripe); prints the admin's link
try-production: install system-deps
	$(BIN)/python -m tests.topology

## system-deps: Debian's chromium (browser tests) and PostgreSQL server binaries, when missing
system-deps:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql; }

## test: install everything and run the whole suite (SQLite and PostgreSQL, Redis, browser)
test: install system-deps
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench: issue 14's figures beside their floors and goals (README, Benchmarks); about 1.5 h.
## BENCH_ARGS selects parts and knobs, e.g. BENCH_ARGS="--only holds --holds 200"
bench: install system-deps
	$(BIN)/python -m tests.bench --postgres $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
