# Two commands do everything: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_PACKAGES := chromium coturn ffmpeg nginx

.PHONY: demo test test-postgres bench bench-cluster soak lint venv clean

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
	scripts/install-test-deps.sh postgresql nginx
	CALLBRIDGE_TEST_DATABASE_URL=$$(scripts/test-postgres.sh) $(BIN)/pytest -m store

# callbridge against a naive aiortc bridge; writes bench/results/latest.{json,md} (~17 min on 2 cores). uvloop
# is installed first so that the media paths are measured on both event loops.
bench: venv
	$(BIN)/pip install -q -e ".[uvloop]"
	$(BIN)/python -m bench.run

# `serve --workers 2` against one process on PostgreSQL (a fresh database each, dropped after): calls per node
# process, CPU per call, how calls spread over the workers, forwarding overhead; bench/results/cluster.{json,md}.
bench-cluster: venv
	scripts/install-test-deps.sh postgresql
	CALLBRIDGE_TEST_DATABASE_URL=$$(scripts/test-postgres.sh) $(BIN)/python -m bench.cluster

# Bridged calls with playback and recording in cycles; fails if the gateway's memory, open files, tasks or peer
# connections grow after warm-up. SOAK_MINUTES=5 make soak for a shorter run; results in bench/results/soak.*.
SOAK_MINUTES ?= 30
soak: venv
	$(BIN)/python -m bench.soak --minutes $(SOAK_MINUTES)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
