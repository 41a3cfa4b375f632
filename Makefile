# workcraft developer commands. On a fresh Debian machine (as root):
#
#   make demo    install everything, start a private MariaDB, set it up, verify, run the demo
#   make test    install everything, run the test-suite (it starts its own private MariaDB)
#
# Other targets: install, lint, db-stop, clean, clean-all, help.
# Variables: PYTHON (interpreter that creates .venv, default python3), PYTEST_ARGS.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
WK          := $(PY) -m workcraft
STATE_DIR   := .workcraft
DEMO_DB     := $(STATE_DIR)/db
TEST_DB     := $(STATE_DIR)/testdb
DEMO_ENV    := $(STATE_DIR)/demo.env
PYTEST_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

.PHONY: help install demo test lint db-stop clean clean-all system venv bench bench-quick bench-deps

help:
	@echo "make demo       install, start a private MariaDB, set up + verify workcraft, run the demo"
	@echo "make test       install and run the test-suite (PYTEST_ARGS='-k foo' to narrow)"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make install    system packages (if missing, as root), .venv, pip install -e '.[dev]'"
	@echo "make db-stop    stop the private databases under $(STATE_DIR)/"
	@echo "make bench      benchmark suite vs Celery/Huey/... (~30 min; bench/RESULTS.md); bench-quick: < 2 min"
	@echo "make clean      db-stop, remove $(STATE_DIR)/ and build artifacts (clean-all: also .venv)"

## install: idempotent; fast when nothing changed ------------------------------------

install: system venv $(STAMP)

# Server binary + a Python that can make virtualenvs; apt-get only when something is missing.
system:
	@bash scripts/bootstrap.sh "$(PYTHON)"

# Create .venv when missing, or rebuild it when its interpreter no longer runs (e.g. the
# Python it was made from was removed). A working .venv is never touched.
venv: system
	@if [ -x "$(PY)" ] && "$(PY)" -c "" >/dev/null 2>&1; then exit 0; fi
	if [ -e "$(VENV)" ]; then
	  echo "install: $(VENV) is broken (its python does not run); recreating it"
	  "$(PYTHON)" -m venv --clear "$(VENV)"
	else
	  echo "install: creating $(VENV) with $$("$(PYTHON)" --version 2>&1)"
	  "$(PYTHON)" -m venv "$(VENV)"
	fi

# Reinstall only when pyproject.toml is newer than the stamp (or the stamp is missing).
$(STAMP): pyproject.toml | venv
	@echo "install: pip install -e '.[dev]' into $(VENV) (quiet; errors are shown)"
	log=$$(mktemp); trap 'rm -f "$$log"' EXIT
	if ! "$(PY)" -m pip install -q -e '.[dev]' >"$$log" 2>&1; then
	  cat "$$log" >&2
	  echo "install: pip install failed" >&2
	  exit 1
	fi
	touch "$@"
	echo "install: done"

## demo ---------------------------------------------------------------------------------

demo: install
	@mkdir -p "$(STATE_DIR)"
	echo "demo: starting the private database in $(DEMO_DB)"
	$(WK) devdb start --data_dir=$(DEMO_DB) >/dev/null
	# Settings go to our own file, never to the user's .env; 0600 because it holds a password.
	umask 077
	$(WK) devdb env --data_dir=$(DEMO_DB) >"$(DEMO_ENV).tmp"
	mv -f "$(DEMO_ENV).tmp" "$(DEMO_ENV)"
	set -a; . "$(DEMO_ENV)"; set +a
	echo "demo: setup_database_tables"
	$(WK) setup_database_tables
	echo "demo: verify"
	$(WK) verify
	if [ -f examples/demo.py ]; then
	  echo "demo: running examples/demo.py"
	  $(PY) examples/demo.py
	else
	  echo "demo: examples/demo.py not present yet; stopping after setup + verify"
	fi
	echo
	echo "The private database keeps running. Its settings are in $(DEMO_ENV):"
	echo "  set -a; . $(DEMO_ENV); set +a   # load them into your shell"
	echo "  make db-stop                            # stop it"
	echo "workcraft demo: OK"

## test / lint ----------------------------------------------------------------------------

test: install
	@$(VENV)/bin/pytest tests -q -p no:cacheprovider $(PYTEST_ARGS)

lint: install
	@failed=()
	echo "lint: ruff check"
	$(VENV)/bin/ruff check workcraft tests || failed+=("ruff check")
	echo "lint: ruff format --check"
	$(VENV)/bin/ruff format --check workcraft tests || failed+=("ruff format")
	echo "lint: mypy"
	$(VENV)/bin/mypy workcraft || failed+=("mypy")
	if [ "$${#failed[@]}" -gt 0 ]; then
	  echo "lint: FAILED: $${failed[*]}" >&2
	  exit 1
	fi
	echo "lint: OK"

## bench: the benchmark suite (not part of CI) ----------------------------------------------
# It starts its own MariaDB and Redis and installs each peer into .workcraft/bench-venvs/.
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--only drain --systems workcraft,huey'.

BENCH_STAMP := $(VENV)/.bench-installed
BENCH_ARGS  ?=

bench: install bench-deps
	@$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: install bench-deps
	@$(PY) bench/run.py --quick $(BENCH_ARGS)

# matplotlib for the plot; Debian's redis-server for the peers (apt-get only when missing).
bench-deps: $(BENCH_STAMP)
	@if ! command -v redis-server >/dev/null 2>&1; then
	  if [ "$$(id -u)" -ne 0 ]; then
	    echo "bench: redis-server is missing: apt-get install -y redis-server (as root)" >&2
	    exit 1
	  fi
	  echo "bench: installing Debian's redis-server"
	  apt-get update -qq && apt-get install -y -qq redis-server >/dev/null
	  # the suite runs its own server; the Debian service is not needed
	  systemctl disable --now redis-server >/dev/null 2>&1 || true
	fi

$(BENCH_STAMP): pyproject.toml | venv
	@echo "bench: pip install -e '.[dev,bench]' into $(VENV)"
	"$(PY)" -m pip install -q -e '.[dev,bench]'
	touch "$@"

## housekeeping ---------------------------------------------------------------------------

# Tolerant: nothing to stop (no .venv, no data dir, server not running) is not an error.
db-stop:
	@[ -x "$(PY)" ] || exit 0
	for dir in $(DEMO_DB) $(TEST_DB); do
	  [ -d "$$dir" ] || continue
	  printf 'db-stop: %s: ' "$$dir"
	  $(WK) devdb stop --data_dir="$$dir" || echo "db-stop: could not stop $$dir" >&2
	done

clean: db-stop
	@rm -rf "$(STATE_DIR)" build dist artifacts .pytest_cache .mypy_cache .ruff_cache ./*.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null || true
	echo "clean: done ($(VENV) kept; 'make clean-all' removes it too)"

clean-all: clean
	@rm -rf "$(VENV)"
	echo "clean-all: removed $(VENV)"
