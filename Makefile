# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test chaos bench bench-curves lint typecheck check-migrations ci-checks venv

venv: $(VENV)/.installed

# Reinstall only when requirements.txt changes.
$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

# Serve on http://127.0.0.1:8000 in the mode the environment selects (README, "Configuration").
run: venv
	bin/run

test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The production layout on its own PostgreSQL and Redis through kills, restarts, poison,
# duplicates and crowds (docs/reliability.md). CHAOS_ARGS="--short" for the few-minute run.
chaos: venv
	$(BIN)/python -m chaos $(CHAOS_ARGS)

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy .

check-migrations: venv
	$(BIN)/python manage.py makemigrations --check --dry-run

# The engine against a bare Celery chain on this machine (docs/performance.md). BENCH_ARGS="--help".
bench: venv
	$(BIN)/python -m bench $(BENCH_ARGS)

# Throughput against orchestrator processes and against stored history, as PNG charts (docs/img).
bench-curves: venv
	$(BIN)/python -m bench.curve workers $(CURVE_ARGS)
	$(BIN)/python -m bench.curve history $(CURVE_ARGS)
