"""Fault injection: SIGKILL the run process at named and random points, retry, then reconcile every layer.

Run by name: `pytest -m faults` (make test-faults). Each trial is a real run process (a
subprocess with its own Spark driver and the shared on-disk Dagster instance) killed with
SIGKILL; the retry re-executes the partitions as Dagster's run retries would.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs.partitions import BATCH_TAG
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140
from tweetsent_assets.lib.lake import connect_server, reconcile

from ..support import connect_server_running, shared
from .fault_worker import resources

pytestmark = pytest.mark.faults

OBJECTS, TWEETS_PER_OBJECT = 8, 60
# Model-load points come first: a batch whose tweet ids another batch already owns scores nothing,
# so later trials could skip the model entirely.
NAMED_POINTS = [
    "model_load",                    # in a Spark Python worker, loading the model
    "model_load:0.05",
    "write:bronze_tweets:0.3",       # during the bronze write
    "write:bronze_tweets",
    "write:bronze_quarantine",
    "write:landing_ledger",
    "bronze_committed",              # after the Delta commits, before Dagster records the materialization
    "merge:silver_tweets:0.4",
    "merged:silver_tweets",
    "write:gold_tweet_sentiment:0.3",  # during the gold write of the batch
    "write:gold_tweet_sentiment:0.6",
    "written:gold_tweet_sentiment",  # gold committed, materialization not yet recorded
]
RANDOM_KILLS = 10
# The Spark Connect server (not the run) is SIGKILLed 0.2 s after these points, while the write is in flight.
SERVER_KILL_POINTS = ["write:bronze_tweets:0.2", "merge:silver_tweets:0.2", "write:gold_tweet_sentiment:0.2"]
DIRTY_LINES = ["{broken json", json.dumps({"id": "x-1", "text": "fine tweet @brand"}),
               json.dumps({"id": {"bad": 1}, "text": "wrong id type"}), json.dumps({"id": "x-2", "text": ""})]


def worker(root: Path, partitions: list[str], fault: str | None = None, kill_after: float | None = None,
           env: dict | None = None, output: Path | None = None) -> int:
    """Run the partitions in a fresh run process; its stdout and stderr go to `output` when given."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    env.pop("TWEETSENT_FAULT", None)
    if fault:
        env["TWEETSENT_FAULT"] = fault
    sink = output.open("w") if output else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "tweetsent_assets_tests.e2e.fault_worker", str(root), *partitions],
                            env=env, stdout=sink, stderr=subprocess.STDOUT if output else subprocess.DEVNULL,
                            cwd=Path(__file__).resolve().parents[2], start_new_session=True)
    try:
        return proc.wait(timeout=kill_after) if kill_after else proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        return proc.wait()
    finally:
        _kill_leftovers(proc.pid)
        if output:
            sink.close()


def _kill_leftovers(group: int) -> None:
    """What a dead run leaves behind in its session (log tailers, a Spark JVM), as a host would reap it."""
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def landed_lines(landing: Path) -> int:
    return sum(sum(1 for line in p.read_bytes().splitlines() if line.strip()) for p in landing.rglob("*") if p.is_file())


def land_and_plan(root: Path, monkeypatch) -> tuple[list[dict], list[str]]:
    """Land the Sentiment140 objects (one of them twice) and a dirty one; plan one batch per object."""
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=OBJECTS * TWEETS_PER_OBJECT))
    landing = open_store(str(root / "landing"))
    replay(records, landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None)
    replay(records[:TWEETS_PER_OBJECT], landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None,
           key_prefix="again")
    landing.put("dirty.jsonl", "\n".join(DIRTY_LINES).encode())
    (root / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
    defs = build_defs(resources(root))
    with DagsterInstance.get() as instance:
        result, _ = runner.tick_sensor(defs, instance, None)
        batches = [r.tags[BATCH_TAG] for r in result.run_requests]
    return records, batches


def assert_nothing_lost_or_duplicated(spark, root: Path, records: list[dict]) -> None:
    """Every landed unit is in bronze or quarantine once; silver holds each id once; gold covers silver."""
    lake = resources(root)["lake"]
    landing_total = landed_lines(root / "landing")
    result = reconcile.landing_vs_bronze(spark, lake.path("landing_ledger"), lake.path("bronze_tweets"),
                                         lake.path("bronze_quarantine"))
    print("reconciliation:", result.as_dict())
    assert result.landed == landing_total
    assert result.missing == 0 and result.duplicated_keys == 0
    bronze = spark.read.format("delta").load(lake.path("bronze_tweets"))
    quarantine = spark.read.format("delta").load(lake.path("bronze_quarantine"))
    assert bronze.count() + quarantine.count() == landing_total
    assert quarantine.count() == 2
    assert reconcile.duplicate_silver_ids(spark, lake.path("silver_tweets")) == 0
    expected_ids = {r["id"] for r in records if r["text"].strip()} | {"x-1"}
    silver_ids = {r.id for r in spark.read.format("delta").load(lake.path("silver_tweets")).select("id").collect()}
    assert silver_ids == expected_ids
    assert reconcile.gold_vs_silver(spark, lake.path("gold_tweet_sentiment"), lake.path("silver_tweets")) == {
        "missing_in_gold": 0, "not_in_silver": 0}


def test_sigkill_at_named_and_random_points_loses_and_duplicates_nothing(spark, tmp_path, monkeypatch):
    root = tmp_path
    records, partitions = land_and_plan(root, monkeypatch)

    rng = random.Random(20261122)
    trials = [(p, None) for p in NAMED_POINTS] + [(None, rng.uniform(8.0, 40.0)) for _ in range(RANDOM_KILLS)]
    outcomes = []
    for index, (fault, kill_after) in enumerate(trials):
        partition = partitions[index % len(partitions)]
        started = time.monotonic()
        code = worker(root, [partition], fault=fault, kill_after=kill_after)
        outcomes.append({"partition": partition, "fault": fault or f"random@{kill_after:.1f}s",
                         "killed": code == -signal.SIGKILL, "seconds": round(time.monotonic() - started, 1)})
    print(json.dumps(outcomes, indent=1))
    killed = [o for o in outcomes if o["killed"]]
    assert len(outcomes) >= 20
    named_killed = [o for o in killed if not o["fault"].startswith("random")]
    assert len(named_killed) == len(NAMED_POINTS), "every named point must be reached and kill the run"

    assert worker(root, partitions) == 0, "the retry of every partition must succeed"
    print("kills:", len(killed))
    assert_nothing_lost_or_duplicated(spark, root, records)


def test_sigkilled_connect_server_fails_the_run_naming_it_and_retries_lose_nothing(spark, tmp_path, monkeypatch):
    """The server dies during a bronze, silver and gold write; its supervisor restarts it and the retries finish."""
    root = tmp_path
    records, partitions = land_and_plan(root, monkeypatch)
    with connect_server_running(root / "spark-connect", master="local[2]") as server:
        spark_env = {"TWEETSENT_TEST_SPARK_MASTER": server.url, "TWEETSENT_TEST_SPARK_STATE_DIR": str(server.state_dir)}
        for index, point in enumerate(SERVER_KILL_POINTS):
            before = connect_server.wait_until_answering(server, 180)
            log = root / f"server-kill-{index}.log"
            code = worker(root, [partitions[index]], fault=point, output=log,
                          env={**spark_env, "TWEETSENT_FAULT_PID": str(before["server_pid"])})
            output = log.read_text()
            print(point, "->", code, output[-600:])
            assert code == 1, "the run fails (it is not killed itself)"
            assert f"Spark Connect server at {server.url} stopped answering" in output
            after = connect_server.wait_until_answering(server, 180)
            assert after["server_pid"] != before["server_pid"] and after["restarts"] == index + 1
        assert worker(root, partitions, env=spark_env) == 0, "the retries of every partition succeed"
    assert_nothing_lost_or_duplicated(spark, root, records)
