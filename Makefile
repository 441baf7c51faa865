# Every target installs what it needs first: a venv with the pinned packages, and Delta's jars.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)
export TWEETSENT_DATA_DIR ?= $(CURDIR)/data
SPARK_PORT ?= 15002

.PHONY: install demo dev spark-start spark-stop test test-connect test-slow test-faults dashboard clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

.jars/.resolved: $(VENV)/.installed
	$(PY) -m tweetsent_assets.lib.lake.spark_jars
	touch $@

install: $(VENV)/.installed .jars/.resolved

# Optional: hadoop-aws and its AWS SDK bundle (hundreds of MB) in .jars/s3a/, for a lake on s3a://.
.jars/s3a/.resolved: $(VENV)/.installed
	$(PY) -m tweetsent_assets.lib.lake.spark_jars --s3a
	touch $@

.PHONY: jars-s3 test-cluster
jars-s3: install .jars/s3a/.resolved

# The cluster suite (its recipe comes with the Postgres and standalone-Spark targets) needs the s3a jars.
test-cluster: jars-s3

demo: install
	$(VENV)/bin/tweetsent demo

# The UI with runs attached to a long-lived Spark Connect server: started first, stopped when the UI exits.
dev: install
	$(VENV)/bin/tweetsent spark start --port $(SPARK_PORT)
	trap '$(VENV)/bin/tweetsent spark stop --port $(SPARK_PORT)' EXIT; \
	TWEETSENT_SPARK_MASTER=sc://127.0.0.1:$(SPARK_PORT) $(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000

spark-start: install
	$(VENV)/bin/tweetsent spark start --port $(SPARK_PORT)

spark-stop: install
	$(VENV)/bin/tweetsent spark stop --port $(SPARK_PORT)

test: install
	$(PY) -m pytest

# The end-to-end and Delta suites again, on a real Spark Connect server, plus the server's own tests.
test-connect: install
	TWEETSENT_TEST_SPARK=connect $(PY) -m pytest -m "not slow and not faults" \
		tweetsent_assets_tests/test_pipeline_e2e.py tweetsent_assets_tests/lake/test_delta_tables.py \
		tweetsent_assets_tests/test_gold_cache.py
	$(PY) -m pytest -m connect

test-slow: install
	$(PY) -m pytest -m slow

test-faults: install
	$(PY) -m pytest -m faults

dashboard: install
	$(VENV)/bin/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $${TWEETSENT_DASHBOARD_PORT:-8501} --server.headless true --browser.gatherUsageStats false

clean:
	rm -rf data .jars $(VENV)
