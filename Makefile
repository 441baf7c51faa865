# Every target installs what it needs first: a venv with the pinned packages, and Delta's jars.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)
export TWEETSENT_DATA_DIR ?= $(CURDIR)/data

.PHONY: install demo dev test test-slow test-faults dashboard clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

.jars/.resolved: $(VENV)/.installed
	$(PY) -m tweetsent_assets.lib.lake.spark_jars
	touch $@

install: $(VENV)/.installed .jars/.resolved

demo: install
	$(VENV)/bin/tweetsent demo

dev: install
	$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

test-faults: install
	$(PY) -m pytest -m faults

dashboard: install
	$(VENV)/bin/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $${TWEETSENT_DASHBOARD_PORT:-8501} --server.headless true --browser.gatherUsageStats false

clean:
	rm -rf data .jars $(VENV)
