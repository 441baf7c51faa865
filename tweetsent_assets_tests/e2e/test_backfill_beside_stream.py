"""A backfill of three hours, launched through GraphQL while the standing stream takes objects at 1 object/s.

Run by name: `pytest -m slow` (make test-slow). Under the real daemon: three objects landed in three
past hours are the history; the backfill of bronze, silver and gold for those hours starts beside
the stream run (it carries no micro-batch tag, so it does not wait for the stream), re-materializes
every hour, and the stream goes on: every object is in gold exactly once.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import ModuleTarget
from dagster_graphql.client.query import LAUNCH_PARTITION_BACKFILL_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import encode_object
from tweetsent_assets.lib.ingest.sources import read_sentiment140
from tweetsent_assets.lib.lake.delta_tables import batches_with_prefix

from ..support import PROJECT_ROOT, assert_lake_reconciles, kill_unfinished_runs, shared
from .test_burst import instance_config

pytestmark = pytest.mark.slow

PAST, LIVE, TWEETS_PER_OBJECT = 3, 30, 5
BACKFILLED = ["bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment"]
GOLD = AssetKey("gold_tweet_sentiment")


def _land_past(landing, records: list[dict]) -> list[str]:
    """One object in each of the PAST hours before this one (its last-modified time set back)."""
    now = time.time()
    keys = []
    for index in range(PAST):
        key = f"0-past-{index}.jsonl"
        landing.put(key, encode_object(records[index * TWEETS_PER_OBJECT:(index + 1) * TWEETS_PER_OBJECT]))
        stamp = now - (PAST - index) * 3600
        os.utime(Path(landing.url) / key, (stamp, stamp))
        keys.append(key)
    return keys


def _land_live(landing, records: list[dict]) -> None:
    for index in range(LIVE):
        chunk = records[(PAST + index) * TWEETS_PER_OBJECT:(PAST + index + 1) * TWEETS_PER_OBJECT]
        landing.put(f"1-live-{index:03d}.jsonl", encode_object(chunk))
        time.sleep(1.0)


def _launch_backfill(instance, hours: list[str]) -> str:
    """The mutation the UI's 'Materialize selected' on a partition range sends."""
    target = ModuleTarget(module_name="tweetsent_assets.definitions", attribute=None,
                          working_directory=str(PROJECT_ROOT), location_name="tweetsent")
    with WorkspaceProcessContext(instance, target) as process:
        result = execute_dagster_graphql(process.create_request_context(), LAUNCH_PARTITION_BACKFILL_MUTATION, {
            "backfillParams": {"partitionNames": hours, "assetSelection": [{"path": [a]} for a in BACKFILLED]}})
    answer = result.data["launchPartitionBackfill"]
    assert answer["__typename"] == "LaunchBackfillSuccess", answer
    return answer["backfillId"]


def test_a_backfill_of_three_hours_starts_beside_the_stream_and_loses_nothing(spark, tmp_path, monkeypatch):
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    config = instance_config(home)
    config["run_coordinator"]["config"]["max_concurrent_runs"] = 4
    config["run_coordinator"]["config"]["tag_concurrency_limits"][0]["limit"] = 1
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"),
                                     limit=(PAST + LIVE) * TWEETS_PER_OBJECT))
    landing = open_store(str(data / "landing"))
    _land_past(landing, records)
    env = {"DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(data), "TWEETSENT_BATCH_MODE": "stream",
           "TWEETSENT_STREAM_REPORT_S": "5", "TWEETSENT_SENSOR_INTERVAL_S": "2", "TWEETSENT_MODEL_KIND": "vader",
           "TWEETSENT_SPARK_MASTER": "local[1]", "TWEETSENT_MAX_OBJECTS_PER_BATCH": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", "tweetsent_assets.definitions"], env=dict(os.environ), cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gold_path = str(data / "lake" / "gold_tweet_sentiment")
    lander = threading.Thread(target=_land_live, args=(landing, records))
    with DagsterInstance.get() as instance:
        try:
            deadline = time.monotonic() + 10 * 60
            while len(batches_with_prefix(gold_path, "") or []) < PAST and time.monotonic() < deadline:
                time.sleep(1)
            history = sorted(batches_with_prefix(gold_path, "") or [])
            hours = sorted({hour_of(b) for b in history})
            assert len(hours) == PAST, history
            lander.start()
            time.sleep(3)
            launched = time.time()
            backfill_id = _launch_backfill(instance, hours)
            while time.monotonic() < deadline:
                backfill = instance.get_backfill(backfill_id)
                in_gold = batches_with_prefix(gold_path, "") or []
                if (backfill.status != BulkActionStatus.REQUESTED and not lander.is_alive()
                        and len(in_gold) == PAST + LIVE):
                    break
                time.sleep(1)
            runs = instance.get_run_records(RunsFilter(tags={"dagster/backfill": backfill_id}))
            stream_runs = instance.get_runs(RunsFilter(job_name="stream_tweet_batches"))
            rescored = {r.partition_key for r in instance.fetch_materializations(
                AssetRecordsFilter(asset_key=GOLD, asset_partitions=hours, after_timestamp=launched), limit=100).records
                if r.asset_materialization.metadata["whole_hour"].value}
        finally:
            if lander.ident is not None:
                lander.join()
            daemon.terminate()
            daemon.wait(timeout=60)
            kill_unfinished_runs(instance)
    first_start = min(r.start_time for r in runs if r.start_time)
    print(f"backfill beside the stream: {len(runs)} runs, first started {first_start - launched:.1f} s after "
          f"launch, status {backfill.status.value}; stream runs {[r.status.value for r in stream_runs]}")
    assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS
    assert first_start - launched <= 40, "Dagster's backfill daemon looks for new backfills every 30 s"
    assert {r.dagster_run.status for r in runs} == {DagsterRunStatus.SUCCESS}
    assert rescored == set(hours), "every backfilled hour re-materialized gold"
    assert [r.status for r in stream_runs] == [DagsterRunStatus.STARTED], "the stream went on, one run"
    assert_lake_reconciles(spark, str(data / "lake"), records)
