# The two commands of the README:  `make demo` (set up, then run the main job) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin

export LAKESIDE_HOME ?= $(CURDIR)/.lakeside
export PYSPARK_PYTHON := $(BIN)/python
export PATH := $(BIN):$(PATH)
# The Delta Lake Spark connector's jars, fetched by `make setup` with mvn; lakeside.config finds
# them here when LAKESIDE_DELTA_JARS is unset.
DELTA_JARS := $(CURDIR)/.cache/delta-jars

.PHONY: setup demo ui ui-stop test test-fast clean

setup: $(VENV)/.installed $(VENV)/.torch $(DELTA_JARS)/COORDINATE

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet -p $(BIN)/python -r requirements.txt -e .
	touch $@

# torch (the energy LSTM) in a step of its own: PyPI's Linux torch brings ~2 GB of CUDA runtime
# libraries, so the core install above does not wait for them and they are fetched once.
$(VENV)/.torch: requirements-torch.txt torch-overrides.txt $(VENV)/.installed
	$(BIN)/uv pip install --quiet -p $(BIN)/python -r requirements-torch.txt --override torch-overrides.txt
	touch $@

# Offline, setup still succeeds: the spark-delta backend and its tests are then unavailable.
$(DELTA_JARS)/COORDINATE: $(VENV)/.installed docker/fetch_delta_jars.py
	$(BIN)/python docker/fetch_delta_jars.py $(DELTA_JARS) || true

demo: setup
	$(BIN)/python -m lakeside.local.demo

ui: setup
	$(BIN)/python -m lakeside.local.ui

ui-stop: setup
	$(BIN)/python -m lakeside.local.ui --stop

# The quick tiers, then the slow end-to-end tests, each on two pytest workers (a file's tests stay
# on one worker, so module fixtures are shared). Slow tests mostly wait on their servers and
# jobs: two at once took 24 min here where one at a time took 50 in CI.
test: setup
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile --durations=15; quick=$$?; \
	$(BIN)/pytest -m slow -n 2 --dist loadfile --durations=25; slow=$$?; \
	test $$quick -eq 0 -a $$slow -eq 0

test-fast: setup
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile --durations=15

clean:
	rm -rf $(LAKESIDE_HOME)
