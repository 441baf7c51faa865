"""The burst (1,000 objects) on the whole scale-out topology, with an executor, a worker JVM and a run SIGKILLed.

PostgreSQL holds Dagster's instance (cluster/dagster.yaml: 2 micro-batch runs at once), S3Proxy's S3
holds landing, state and the s3a:// lake, and a Connect server runs on a standalone master with
2 workers. The real daemon absorbs the burst while the test kills an executor JVM, a worker JVM
(then starts it again, as a process supervisor would) and one run's process while its gold write runs
on the cluster; run retries finish that batch. Run by name: `pytest -m cluster`.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from tweetsent_assets.lib.cluster import standalone
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140
from tweetsent_assets.lib.lake import connect_server, connect_session, proc_stats, stage_metrics

from ..support import PROJECT_ROOT, assert_lake_reconciles, run_pid, shared

pytestmark = pytest.mark.cluster

OBJECTS, TWEETS_PER_OBJECT, PER_BATCH = 1000, 5, 250
GOLD_STEP = "gold_tweet_sentiment"
DONE = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def _pids(pattern: str, inside: Path) -> list[int]:
    """Pids of processes whose command line matches `pattern` and whose command line or environment
    mentions the folder `inside` (an executor names its worker's folder only in its environment)."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    mine = []
    for pid in found:
        try:
            text = Path(f"/proc/{pid}/cmdline").read_bytes() + Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if str(inside).encode() in text:
            mine.append(int(pid))
    return mine


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _writing_gold(instance, running: list, ui: str) -> tuple[str, int] | None:
    """(run id, pid) of the one running run inside its gold step while a gold job runs on the Connect server."""
    in_gold = []
    for run in running:
        steps = {e.step_key: e.dagster_event.event_type for e in instance.all_logs(
            run.run_id, of_type={DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS})}
        if steps.get(GOLD_STEP) == DagsterEventType.STEP_START:
            in_gold.append(run.run_id)
    if len(in_gold) != 1 or "gold" not in stage_metrics.running_steps(ui):
        return None
    pid = run_pid(instance, in_gold[0])
    return (in_gold[0], pid) if pid else None


def test_burst_with_killed_executor_worker_and_run_loses_and_duplicates_nothing(cluster):
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"),
                                     limit=OBJECTS * TWEETS_PER_OBJECT))
    env = {**os.environ, **cluster.environment(), "TWEETSENT_MAX_OBJECTS_PER_BATCH": str(PER_BATCH),
           "TWEETSENT_SENSOR_INTERVAL_S": "2", "TWEETSENT_MODEL_KIND": "vader",
           "TWEETSENT_BATCH_MODE": "runs"}
    landing = open_store(env["TWEETSENT_LANDING_URL"])
    started = time.monotonic()
    assert len(replay(records, landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None)) == OBJECTS
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run",
                               "-m", "tweetsent_assets.definitions"], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    spark_dir, kills, peak, expected = cluster.spark.state_dir, [], 0, OBJECTS // PER_BATCH
    ui, killed_run = f"http://127.0.0.1:{connect_server.status(cluster.connect)['ui_port']}", None
    try:
        os.environ.update(cluster.environment())
        with DagsterInstance.get() as instance:
            deadline = time.monotonic() + 40 * 60
            while time.monotonic() < deadline:
                runs = instance.get_runs(RunsFilter(job_name="ingest_tweet_batch"))
                running = [r for r in runs if r.status == DagsterRunStatus.STARTED]
                done = sum(r.status == DagsterRunStatus.SUCCESS for r in runs)
                peak = max(peak, len(running))
                if running and "executor" not in kills and (
                        executors := _pids("CoarseGrainedExecutorBackend", spark_dir)):
                    _kill(random.choice(executors))
                    kills.append("executor")
                elif running and "worker" not in kills and "executor" in kills and done >= 1:
                    _kill(standalone.read_state(cluster.spark)["pids"]["worker-2"])
                    kills.append("worker")
                    time.sleep(5)
                    standalone.start(cluster.spark)
                elif running and "run" not in kills and (target := _writing_gold(instance, running, ui)):
                    killed_run, pid = target
                    _kill(pid)
                    kills.append("run")
                partitions = {r.tags.get("tweetsent/batch") for r in runs}
                finished = [r for r in runs if r.status in DONE]
                retried = {r.tags.get("dagster/parent_run_id") for r in runs}
                if len(partitions) >= expected and len(finished) == len(runs) and all(
                        r.status == DagsterRunStatus.SUCCESS or r.run_id in retried for r in runs):
                    break
                time.sleep(1 if "run" in kills else 0.2)  # a gold write lasts seconds: look often until one is hit
            runs = instance.get_runs(RunsFilter(job_name="ingest_tweet_batch"))
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
    elapsed = time.monotonic() - started
    partitions = {r.tags.get("tweetsent/batch") for r in runs}
    print(f"cluster burst: {OBJECTS} objects, {len(records)} tweets, {len(runs)} runs for {len(partitions)} batches, "
          f"peak in flight {peak}, kills {kills}, total {elapsed:.0f} s")
    assert sorted(kills) == ["executor", "run", "worker"]
    assert len(partitions) == expected and 2 >= peak >= 1
    assert {r.run_id: r.status for r in runs}[killed_run] == DagsterRunStatus.FAILURE
    assert any(r.tags.get("dagster/parent_run_id") == killed_run for r in runs), "the killed run is retried"
    succeeded = {r.tags.get("tweetsent/batch") for r in runs if r.status == DagsterRunStatus.SUCCESS}
    assert succeeded == partitions

    spark, lease = connect_session.connect(cluster.connect.url, cluster.root / "slots", 1)
    try:
        lake = cluster.environment()["TWEETSENT_LAKE_ROOT"]
        assert_lake_reconciles(spark, lake, records)
    finally:
        spark.release_session_on_close = False
        spark.stop()
        lease.release()
    assert proc_stats.alive(standalone.read_state(cluster.spark)["pids"]["worker-2"])
