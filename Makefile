# Two commands do everything: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_PACKAGES := chromium coturn

.PHONY: demo test test-postgres bench lint venv clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "callbridge needs Python 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[test,bench]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/callbridge demo

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: venv lint
	scripts/install-test-deps.sh $(TEST_PACKAGES)
	$(BIN)/pytest

# The store and webhook tests again, against Debian's PostgreSQL (what CI does too).
test-postgres: venv
	scripts/install-test-deps.sh postgresql
	CALLBRIDGE_TEST_DATABASE_URL=$$(scripts/test-postgres.sh) $(BIN)/pytest -m store

# callbridge against a naive aiortc bridge; writes bench/results/latest.{json,md} (< 10 min on 2 cores).
bench: venv
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
