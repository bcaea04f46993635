# The two commands of the README:  `make demo` (set up, then run the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

export LAKESIDE_HOME ?= $(CURDIR)/.lakeside
export PYSPARK_PYTHON := $(BIN)/python
export PATH := $(BIN):$(PATH)

.PHONY: setup demo ui ui-stop test test-fast clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet -p $(BIN)/python -r requirements.txt -e .
	touch $@

demo: setup
	$(BIN)/python -m lakeside.local.demo

ui: setup
	$(BIN)/python -m lakeside.local.ui

ui-stop: setup
	$(BIN)/python -m lakeside.local.ui --stop

test: setup
	$(BIN)/pytest --durations=25

test-fast: setup
	$(BIN)/pytest -m "not slow and not postgres" --durations=15

clean:
	rm -rf $(LAKESIDE_HOME)
