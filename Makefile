# mlgov: `make run` starts everything locally, `make test` runs the whole suite.
# Only Python 3.11+ is needed on the machine: the rest comes from requirements*.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test lint install install-dev bench clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): requirements.txt | $(BIN)/python
	@echo "Installing mlgov's dependencies into $(VENV)…"
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt | $(BIN)/python
	@echo "Installing mlgov's test dependencies into $(VENV)…"
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@ $(STAMP_RUN)

install: $(STAMP_RUN)
install-dev: $(STAMP_DEV)

## run: migrate, seed the demo tenant, start web (gunicorn), worker and beat; Ctrl-C stops all.
run: $(STAMP_RUN)
	MLGOV_ENV=$${MLGOV_ENV:-development} $(BIN)/python manage.py serve_all

## lint: ruff over everything, mypy over services, selectors and the kernel.
lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	MLGOV_ENV=test $(BIN)/mypy mlgov/env.py mlgov/crypto mlgov/identity/services.py \
		mlgov/identity/selectors.py tenants/services.py

## test: lint, then the whole pytest suite (embedded PostgreSQL unless DATABASE_URL is set).
test: $(STAMP_DEV)
	$(BIN)/ruff check .
	MLGOV_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP_DEV)
	MLGOV_ENV=development $(BIN)/python bench/tenants.py

clean-data:
	@echo "Stops the embedded PostgreSQL and deletes .data/ (local database, keys, artifacts)."
	-$(BIN)/python -c "import pgserver; pgserver.get_server('.data/pg', cleanup_mode='stop')" 2>/dev/null
	rm -rf .data
