"""Helpers the test modules share: the real data sets in ../shared/data and a local S3 server."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tweetsent_assets.lib.lake.services import free_port  # noqa: F401 (the tests import it from here)

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """`../shared/data` next to the project, or $TWEETSENT_SHARED_DATA."""
    override = os.environ.get("TWEETSENT_SHARED_DATA")
    return Path(override) if override else PROJECT_ROOT.parent / "shared" / "data"


def shared(relative: str) -> Path:
    """A file or folder of the shared data. If absent the test is skipped, saying where it looked;
    under CI (where the data must be there) it fails instead, so a missing folder cannot pass green.
    """
    path = shared_data_dir() / relative
    if not path.exists():
        message = f"shared data {path} not found (set TWEETSENT_SHARED_DATA to the data folder)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@contextmanager
def moto_s3_server():
    """moto's S3 API served on 127.0.0.1 (a free port); yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass(frozen=True)
class SuiteSpark:
    """The Spark the suite runs on; pipeline_resources points SparkResource at it."""

    master: str
    state_dir: str | None = None

    def resource(self):
        from tweetsent_assets.defs.resources import SparkResource

        return SparkResource(master=self.master, **({"state_dir": self.state_dir} if self.state_dir else {}))


_CURRENT = {"spark": SuiteSpark(master="local[2]")}


def use_test_spark(spark: SuiteSpark) -> None:
    _CURRENT["spark"] = spark


def suite_spark_resource():
    """SparkResource for the Spark this test session runs on (the `spark` fixture chooses it)."""
    return _CURRENT["spark"].resource()


@contextmanager
def connect_server_running(state_dir: Path, master: str = "local[2]", conf: dict | None = None):
    """A real Spark Connect server (with its supervisor) on a free 127.0.0.1 port; stopped afterwards,
    and by its supervisor if this process dies first."""
    from tweetsent_assets.lib.lake import connect_server

    server = connect_server.ConnectServer(state_dir=Path(state_dir), port=free_port(), master=master, conf=conf or {},
                                          owner_pid=os.getpid())
    with connect_server.running(server):
        yield server


FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-key-id",
    "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def pipeline_resources(root: Path, *, landing_url: str | None = None, state_url: str | None = None,
                       endpoint_url: str | None = None, max_objects_per_batch: int = 100,
                       model_kind: str = "vader", mode: str = "runs") -> dict:
    """Every resource the definitions need, on folders under `root` (landing may be s3:// on moto).

    `mode` is micro_batching's: the tests drive one run per batch unless they ask for the stream run.
    """
    from tweetsent_assets.defs.resources import (
        LakeResource,
        MicroBatchResource,
        MlflowResource,
        ObjectStoreResource,
        SentimentModelResource,
    )

    return {
        "spark": suite_spark_resource(),
        "landing": ObjectStoreResource(url=landing_url or str(root / "landing"), endpoint_url=endpoint_url),
        "batch_state": ObjectStoreResource(url=state_url or str(root / "state"), endpoint_url=endpoint_url),
        "micro_batching": MicroBatchResource(max_objects_per_batch=max_objects_per_batch, mode=mode),
        "lake": LakeResource(root=str(root / "lake")),
        "sentiment_model": SentimentModelResource(kind=model_kind),
        "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "mlartifacts")),
    }


def run_pid(instance, run_id: str) -> int | None:
    """The pid of a run's process, from the engine event its code server's child logs on start
    (a `multiprocessing` child, so its command line does not name the run)."""
    from dagster import DagsterEventType

    for record in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        pid = record.dagster_event.engine_event_data.metadata.get("pid")
        if pid is not None and "Started process for run" in (record.dagster_event.message or ""):
            return int(pid.value)
    return None


def kill_unfinished_runs(instance) -> None:
    """Kills the process of every run of `instance` still going (a standing stream, a fold or verification run
    launched late), so that a daemon test leaves no work behind for the next test."""
    import signal

    from dagster import DagsterRunStatus, RunsFilter

    for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED])):
        pid = run_pid(instance, run.run_id)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def assert_lake_reconciles(spark, lake: str, records: list[dict]) -> None:
    """Every landed record is in bronze exactly once, silver holds each id with a text once, gold covers silver."""
    from tweetsent_assets.lib.lake import reconcile
    from tweetsent_assets.lib.lake.delta_tables import table_path

    result = reconcile.landing_vs_bronze(spark, table_path(lake, "landing_ledger"), table_path(lake, "bronze_tweets"),
                                         table_path(lake, "bronze_quarantine"))
    assert result.as_dict() == {"landed": len(records), "in_bronze": len(records), "in_quarantine": 0,
                                "duplicated_keys": 0, "missing": 0}
    assert spark.read.format("delta").load(table_path(lake, "bronze_tweets")).count() == len(records)
    silver = table_path(lake, "silver_tweets")
    assert reconcile.duplicate_silver_ids(spark, silver) == 0
    assert spark.read.format("delta").load(silver).count() == len({r["id"] for r in records if r["text"].strip()})
    assert reconcile.gold_vs_silver(spark, table_path(lake, "gold_tweet_sentiment"), silver) == {
        "missing_in_gold": 0, "not_in_silver": 0}
