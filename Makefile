# dbkit: `make scenario-pool` and `make test` set everything up in .venv on first use.

PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	$$p -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null && { echo $$p; break; }; done)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.dbkit-installed
DBKIT := $(BIN)/dbkit

.DEFAULT_GOAL := help
.PHONY: help venv test test-fast lint format scenario-pool scenario-storm scenario-compare \
	scenario-sleep scenario-pgbouncer scenario-fleet sweep bench plan-example server clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "dbkit needs Python 3.11 or newer (python3 is older or missing)"; exit 1; }
	@echo "setting up $(VENV) with $(PYTHON)"
	@if $(PYTHON) -m venv $(VENV) 2>/dev/null; then \
		$(BIN)/python -m pip install -q -e '.[dev]'; \
	else \
		echo "python -m venv has no pip here; using the system pip"; \
		$(PYTHON) -m venv --without-pip $(VENV) && \
		$(PYTHON) -m pip --python $(BIN)/python install -q -e '.[dev]'; \
	fi
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install dbkit with its test tools

test: $(STAMP) ## Run the tests (embedded PostgreSQL; Docker and PostgreSQL 15 where present)
	$(BIN)/pytest $(PYTEST_ARGS)

test-fast: $(STAMP) ## Run the tests that need no server
	$(BIN)/pytest tests/model tests/strategies tests/engine tests/store tests/present tests/servers \
		tests/test_imports.py tests/test_layout.py tests/test_constants.py

lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check dbkit tests bench
	$(BIN)/ruff format --check dbkit tests bench
	$(BIN)/mypy

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format dbkit tests bench
	$(BIN)/ruff check --fix dbkit tests bench

scenario-pool: $(STAMP) ## The 100-connection failure next to asyncpg and SQLAlchemy pools
	$(DBKIT) scenario pool

scenario-storm: $(STAMP) ## Reproduce the failure: 1000 tasks, one connection each
	$(DBKIT) scenario storm

scenario-compare: $(STAMP) ## Every strategy side by side on one workload
	$(DBKIT) scenario compare

scenario-sleep: $(STAMP) ## The background post's asyncio.sleep baseline at 1k/10k/100k
	$(DBKIT) scenario sleep

scenario-pgbouncer: $(STAMP) ## The storm direct (53300) and through PgBouncer; the statement cache
	$(DBKIT) scenario pgbouncer

scenario-fleet: $(STAMP) ## A fitting fleet (runs clean) next to an overcommitted one (53300)
	$(DBKIT) fleet scenarios/deploys/fits.toml --duration 5 --plot
	-$(DBKIT) fleet scenarios/deploys/overcommitted.toml --duration 5 --plot

sweep: $(STAMP) ## Pool sizes 1..64 on a CPU-bound statement: the knee, as a table and a PNG
	$(DBKIT) sweep pool --sizes 1,2,4,8,16,32,64 --repeat 2 --tasks 300 --queries 1 \
		--sql "SELECT count(*) FROM generate_series(1, 200000)" --plot

bench: $(STAMP) ## Kit vs its references (ideal, pgbench, the post's script): ratios + bench/results/*.json
	$(BIN)/python bench/run.py $(BENCH_ARGS)

plan-example: $(STAMP) ## dbkit plan on the two example deploy files (exit 1: one does not fit)
	-$(DBKIT) plan scenarios/deploys/fits.toml
	-$(DBKIT) plan scenarios/deploys/overcommitted.toml

server: $(STAMP) ## Start a throwaway PostgreSQL and print its DSNs (Ctrl-C stops it)
	$(DBKIT) server up

clean: ## Remove .venv and caches (results/ is kept)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
