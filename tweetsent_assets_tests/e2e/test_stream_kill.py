"""The stream run under the real daemon: SIGKILLed in the middle of a batch, retried, and nothing lost or duplicated.

Run by name: `pytest -m slow` (make test-slow). 300 objects land at once; the stream run takes them
50 at a time; once two batches have gold, its process is killed while the next batch runs. Run
monitoring marks the run failed, run retries start it again, and the retry finishes the unfinished
batch first (its manifest is there, its gold is not) before it takes the remaining objects.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.lake.delta_tables import batches_with_prefix
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import PROJECT_ROOT, assert_lake_reconciles, run_pid, shared
from .test_burst import instance_config

pytestmark = pytest.mark.slow

OBJECTS, TWEETS_PER_OBJECT, PER_BATCH = 300, 5, 50
STREAM = "stream_tweet_batches"


def _manifested(state: Path) -> dict[str, int]:
    """Batch id -> objects, from the manifests the stream wrote."""
    return {path.stem: len(json.loads(path.read_text())["objects"]) for path in (state / "batches").glob("*.json")}


def _in_gold(data: Path) -> set[str]:
    """The batches gold holds rows of (the stream reports hours, not batches, to Dagster)."""
    return set(batches_with_prefix(str(data / "lake" / "gold_tweet_sentiment"), "") or [])


def test_a_killed_stream_run_is_retried_and_loses_nothing(spark, tmp_path):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    config = instance_config(home)
    config["run_coordinator"]["config"]["tag_concurrency_limits"][0]["limit"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"),
                                     limit=OBJECTS * TWEETS_PER_OBJECT))
    assert len(replay(records, open_store(str(data / "landing")), tweets_per_object=TWEETS_PER_OBJECT,
                      objects_per_second=None)) == OBJECTS
    env = {**os.environ, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(data),
           "TWEETSENT_BATCH_MODE": "stream", "TWEETSENT_STREAM_IDLE_S": "5",
           "TWEETSENT_MAX_OBJECTS_PER_BATCH": str(PER_BATCH), "TWEETSENT_SENSOR_INTERVAL_S": "2",
           "TWEETSENT_MODEL_KIND": "vader", "TWEETSENT_SPARK_MASTER": "local[1]"}
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", "tweetsent_assets.definitions"], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed, pids, started = None, set(), time.monotonic()
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 20 * 60
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name=STREAM))
                pids |= {pid for run in runs if (pid := run_pid(instance, run.run_id))}
                manifests, gold = _manifested(data / "state"), _in_gold(data)
                if killed is None and len(gold) >= 2 and set(manifests) - gold:
                    running = [r for r in runs if r.status == DagsterRunStatus.STARTED]
                    if len(running) == 1 and run_pid(instance, running[0].run_id):
                        os.kill(run_pid(instance, running[0].run_id), signal.SIGKILL)
                        killed = running[0].run_id
                in_flight = [r for r in runs if r.status not in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE)]
                if killed and sum(manifests.values()) == OBJECTS and set(manifests) == gold and not in_flight:
                    break
                time.sleep(0.05)
            runs = instance.get_runs(RunsFilter(job_name=STREAM))
            manifests, gold = _manifested(data / "state"), _in_gold(data)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        os.environ.pop("DAGSTER_HOME", None)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    by_id = {r.run_id: r for r in runs}
    retries = [r for r in runs if r.tags.get("dagster/parent_run_id") == killed]
    print(f"stream kill: {OBJECTS} objects, {len(manifests)} batches, runs "
          f"{[(r.run_id[:8], r.status.value) for r in runs]}, total {time.monotonic() - started:.0f} s")
    assert killed is not None, "the stream run was never caught in the middle of a batch"
    assert by_id[killed].status == DagsterRunStatus.FAILURE
    assert [r.status for r in retries] == [DagsterRunStatus.SUCCESS]
    assert sum(manifests.values()) == OBJECTS and set(manifests) == gold
    assert all(count <= PER_BATCH for count in manifests.values())

    assert_lake_reconciles(spark, str(data / "lake"), records)
