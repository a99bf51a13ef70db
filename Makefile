# Two commands for a newcomer: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run run-tiny test lint browser-deps clean

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-scale.txt
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed  ## set up and run the app (real checkpoints from the Hub)
	$(PY) app.py $(ARGS)

run-tiny: $(VENV)/.installed  ## run on small random checkpoints, offline
	$(PY) app.py --tiny $(ARGS)

browser-deps:  ## Debian's Chromium for the browser tests (skipped when already there)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q chromium; \
	  else sudo apt-get update -q && sudo apt-get install -y -q chromium; fi; }

test: $(VENV)/.installed browser-deps  ## set up and run the whole test suite (lint included)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
