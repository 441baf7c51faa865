"""A burst: 1,000 objects land at once and the real daemon (sensor + queued run coordinator) absorbs them.

Run by name: `pytest -m slow` (make test-slow). Bounded micro-batches, at most K runs in flight
through the tag concurrency limit, every object processed once, concurrent Delta writers retried.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import PROJECT_ROOT, assert_lake_reconciles, kill_unfinished_runs, shared

pytestmark = pytest.mark.slow

OBJECTS, TWEETS_PER_OBJECT, PER_BATCH, IN_FLIGHT = 1000, 5, 250, 2
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def instance_config(home: Path) -> dict:
    """The project's dagster.yaml with storage under `home` and K micro-batch runs in flight."""
    config = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    config["storage"]["sqlite"]["base_dir"] = str(home / "storage")
    config["local_artifact_storage"]["config"]["base_dir"] = str(home)
    config["compute_logs"]["config"]["base_dir"] = str(home / "logs")
    config["run_coordinator"]["config"]["max_concurrent_runs"] = IN_FLIGHT + 1
    config["run_coordinator"]["config"]["tag_concurrency_limits"][0]["limit"] = IN_FLIGHT
    return config


def test_burst_of_1000_objects_is_absorbed_in_bounded_runs(spark, tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(home)))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"),
                                     limit=OBJECTS * TWEETS_PER_OBJECT))
    landing = open_store(str(data / "landing"))
    started = time.monotonic()
    assert len(replay(records, landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None)) == OBJECTS
    env = {**os.environ, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(data),
           "TWEETSENT_MAX_OBJECTS_PER_BATCH": str(PER_BATCH), "TWEETSENT_SENSOR_INTERVAL_S": "2",
           "TWEETSENT_MODEL_KIND": "vader", "TWEETSENT_SPARK_MASTER": "local[1]", "TWEETSENT_BATCH_MODE": "runs"}
    daemon_log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", "tweetsent_assets.definitions"], env=env, cwd=PROJECT_ROOT,
                              stdout=daemon_log, stderr=subprocess.STDOUT)
    peak, expected_runs = 0, OBJECTS // PER_BATCH
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 15 * 60
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name="ingest_tweet_batch"))
                peak = max(peak, sum(r.status == DagsterRunStatus.STARTED for r in runs))
                finished = [r for r in runs if r.status in DONE]
                if len({r.tags.get("tweetsent/batch") for r in runs}) >= expected_runs and len(finished) == len(runs):
                    break
                time.sleep(1)
            runs = instance.get_runs(RunsFilter(job_name="ingest_tweet_batch"))
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        daemon_log.close()
        with DagsterInstance.get() as instance:
            kill_unfinished_runs(instance)
        os.environ.pop("DAGSTER_HOME", None)
    elapsed = time.monotonic() - started
    partitions = {r.tags.get("tweetsent/batch") for r in runs}
    print(f"burst: {OBJECTS} objects, {len(records)} tweets, {len(runs)} runs for {len(partitions)} batches, "
          f"peak in flight {peak}, total {elapsed:.0f} s")
    assert len(partitions) == expected_runs, (tmp_path / "daemon.log").read_text()[-4000:]
    assert peak <= IN_FLIGHT
    assert {r.status for r in runs if not any(o.tags.get("dagster/parent_run_id") == r.run_id for o in runs)} == {
        DagsterRunStatus.SUCCESS}

    assert_lake_reconciles(spark, str(data / "lake"), records)
