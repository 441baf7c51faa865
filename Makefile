# Every target installs what it needs first: a venv with the pinned packages, and Delta's jars.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
export DAGSTER_HOME ?= $(CURDIR)
export TWEETSENT_DATA_DIR ?= $(CURDIR)/data
export TWEETSENT_DAGSTER_DIR ?= $(TWEETSENT_DATA_DIR)/dagster
SPARK_PORT ?= 15002
DEV_PORT ?= 3000
PG_PORT ?= 5433

.PHONY: install demo train mlflow dev serve check-defs test-lifecycle test-serving spark-start spark-stop pg-start pg-stop jars-s3 jars-s3proxy cluster-up cluster-down cluster-dev test \
	test-connect test-slow test-faults test-cluster dashboard clean

# pip's and setuptools' own output goes to a log, shown only if the install fails.
$(VENV)/.installed: pyproject.toml constraints.txt
	@echo "installing the pinned packages into $(VENV) (log: $(VENV)/install.log)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip > $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@$(PY) -m pip install -c constraints.txt -e ".[dev]" >> $(VENV)/install.log 2>&1 || { tail -40 $(VENV)/install.log; exit 1; }
	@touch $@

.jars/.resolved: $(VENV)/.installed
	@$(PY) -m tweetsent_assets.lib.lake.spark_jars
	@touch $@

install: $(VENV)/.installed .jars/.resolved

# Optional: hadoop-aws and its AWS SDK bundle (hundreds of MB) in .jars/s3a/, for a lake on s3a://.
.jars/s3a/.resolved: $(VENV)/.installed
	$(PY) -m tweetsent_assets.lib.lake.spark_jars --s3a
	touch $@

jars-s3: install .jars/s3a/.resolved

# The topology's S3 server: S3Proxy's self-contained jar (41 MB) in .jars/s3proxy/, run on the same Java as Spark.
.jars/s3proxy/.resolved: $(VENV)/.installed
	$(PY) -m tweetsent_assets.lib.cluster.s3proxy
	touch $@

jars-s3proxy: install .jars/s3proxy/.resolved

demo: install
	@$(VENV)/bin/tweetsent demo

# The model assets with the long recipe: stage 1 on the whole TweetEval training split (under 60 min on 2 cores),
# a line per epoch, then every evaluation and the promotion guard. TRAIN_ARGS, e.g. --minutes 20 --seed 1.
train: install
	@$(VENV)/bin/tweetsent train $(TRAIN_ARGS)

# MLflow's own UI on http://127.0.0.1:5000 (TWEETSENT_MLFLOW_UI_PORT) over the project's store and registry.
mlflow: install
	@$(PY) -m tweetsent_assets.cli.mlflow_ui

# The UI (`dg dev`) with runs attached to a Spark Connect server started for it; Ctrl-C stops both.
dev: install
	$(VENV)/bin/tweetsent dev --port $(DEV_PORT) --spark-port $(SPARK_PORT)

# Scores tweets over HTTP with the champion (port $TWEETSENT_SERVE_PORT or 5050), following the alias; Ctrl-C stops it.
serve: install
	$(VENV)/bin/tweetsent serve

# Loads the code location the way `dg dev` does and fails on any definitions error: CI's first step.
check-defs: install
	VIRTUAL_ENV=$(CURDIR)/$(VENV) PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/dg check defs --no-check-yaml

spark-start: install
	$(VENV)/bin/tweetsent spark start --port $(SPARK_PORT)

spark-stop: install
	$(VENV)/bin/tweetsent spark stop --port $(SPARK_PORT)

# PostgreSQL for cluster/dagster.yaml and MLflow (data/postgres); prints the variables to export.
pg-start: install
	$(VENV)/bin/tweetsent postgres start --port $(PG_PORT)

pg-stop: install
	$(VENV)/bin/tweetsent postgres stop

# The scale-out topology (PostgreSQL, S3Proxy's S3, a Spark master with 2 workers, a Connect server on them),
# then the UI on it. cluster-up writes data/cluster/cluster.env with the settings that point everything there,
# and copies the local champion into the topology's registry; cluster-down keeps the data for the next cluster-up.
cluster-up: install jars-s3 jars-s3proxy
	$(VENV)/bin/tweetsent cluster up

cluster-down: install
	$(VENV)/bin/tweetsent cluster down

cluster-dev: cluster-up
	set -a; . data/cluster/cluster.env; set +a; $(VENV)/bin/tweetsent dev --no-spark --port $(DEV_PORT)

test: install
	$(PY) -m pytest

# The end-to-end and Delta suites again, on a real Spark Connect server, plus the server's own tests.
test-connect: install
	TWEETSENT_TEST_SPARK=connect $(PY) -m pytest -m "not slow and not faults" \
		tweetsent_assets_tests/e2e/test_pipeline_e2e.py tweetsent_assets_tests/lake/test_delta_tables.py \
		tweetsent_assets_tests/defs/test_gold_cache.py
	$(PY) -m pytest -m connect

# Servers started and stopped by Ctrl-C, SIGTERM and failures, checked on the process table.
test-lifecycle: install
	$(PY) -m pytest -m lifecycle

# `tweetsent serve` over real HTTP: scoring, bad requests, a moved alias under load, stop signals.
test-serving: install
	$(PY) -m pytest -m serving

test-slow: install
	$(PY) -m pytest -m slow

test-faults: install
	$(PY) -m pytest -m faults

# The scale-out topology's parts on real servers: PostgreSQL, moto's and S3Proxy's S3 (with the s3a jars), standalone Spark.
test-cluster: install jars-s3 jars-s3proxy
	$(PY) -m pytest -m cluster

dashboard: install
	$(VENV)/bin/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $${TWEETSENT_DASHBOARD_PORT:-8501} --server.headless true --browser.gatherUsageStats false

clean:
	rm -rf data .jars $(VENV)
