# chainlake: `make up` runs the platform on its embedded defaults; `make test` runs the suite.
.PHONY: bootstrap up down status test lint bench schema

VENV := .venv/bin
PYTEST_ARGS ?= -n auto

bootstrap:
	@scripts/bootstrap.sh

up: bootstrap
	@$(VENV)/chainlake up

down:
	@if [ -x $(VENV)/chainlake ]; then $(VENV)/chainlake down; else echo "nothing to stop"; fi

status: bootstrap
	@$(VENV)/chainlake status

test: bootstrap
	$(VENV)/pytest $(PYTEST_ARGS)

lint: bootstrap
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

# The normalized schema dump a fresh migration builds (tests/integration/test_schema_dump.py
# diffs it): run after changing migrations/, sql/ or rls_policies/, and commit schema/.
schema: bootstrap
	@$(VENV)/python -m chainlake.local.schema

bench: bootstrap
	$(VENV)/python -m bench $(BENCH)
