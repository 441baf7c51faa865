"""cluster/dagster.yaml on a real PostgreSQL: the project's micro-batches run on it and their records land there."""
from __future__ import annotations

import time
from contextlib import closing

import pytest
import yaml
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs.resources import MlflowResource
from tweetsent_assets.lib.cluster import postgres
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_demo

from ..support import PROJECT_ROOT, free_port, pipeline_resources

pytestmark = pytest.mark.cluster

CLUSTER_HOME = PROJECT_ROOT / "cluster"
TWEETS_PER_OBJECT = 20


@pytest.fixture
def cluster_instance(database_url, tmp_path, monkeypatch):
    """The instance cluster/dagster.yaml describes, on this test's own database."""
    monkeypatch.setenv("TWEETSENT_DAGSTER_POSTGRES_URL", database_url)
    monkeypatch.setenv("TWEETSENT_DAGSTER_DIR", str(tmp_path / "dagster"))
    instance = DagsterInstance.from_config(str(CLUSTER_HOME))
    try:
        yield instance
    finally:
        instance.dispose()


def test_run_queue_allows_two_micro_batches(cluster_instance):
    queue = cluster_instance.get_concurrency_config().run_queue_config
    limits = {(limit["key"], limit["value"]): limit["limit"] for limit in queue.tag_concurrency_limits}
    assert type(cluster_instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert limits == {("tweetsent/kind", "micro-batch"): 2, ("tweetsent/kind", "aggregates"): 1,
                      ("tweetsent/kind", "verification"): 1, ("tweetsent/kind", "maintenance"): 1}
    assert queue.max_concurrent_runs == 5
    assert cluster_instance.run_monitoring_enabled and cluster_instance.run_retries_max_retries == 2
    single_machine = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert "sqlite" in single_machine["storage"], "the default instance stays on SQLite"


def test_micro_batches_run_on_postgres(cluster_instance, database_url, postgres_server, spark, tmp_path):
    resources = pipeline_resources(tmp_path, max_objects_per_batch=2)
    resources["mlflow"] = MlflowResource(tracking_uri=postgres_server.url("mlflow"),
                                         artifact_root=str(tmp_path / "mlartifacts"))
    records = list(read_demo())
    keys = replay(records, open_store(str(tmp_path / "landing")), tweets_per_object=TWEETS_PER_OBJECT,
                  objects_per_second=None)
    assert len(keys) == 4
    defs = build_defs(resources)

    result, _ = runner.tick_sensor(defs, cluster_instance, None)
    outcome = runner.run_batches(defs, cluster_instance, result)

    assert outcome.failed == [] and len(outcome.batches) == 2
    assert cluster_instance.get_dynamic_partitions("tweet_batches") == [], "no partition per batch"
    runs = cluster_instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.SUCCESS]))
    kinds = sorted(run.tags.get("tweetsent/kind") for run in runs)
    assert kinds == ["aggregates", "micro-batch", "micro-batch", "verification"]
    gold_rows = spark.read.format("delta").load(resources["lake"].path("gold_tweet_sentiment")).count()
    gold_events = cluster_instance.fetch_materializations(AssetKey("gold_tweet_sentiment"), limit=10).records
    assert len(gold_events) == 2 and {r.partition_key for r in gold_events} == {hour_of(b) for b in outcome.batches}
    assert max(r.asset_materialization.metadata["table_rows"].value for r in gold_events) == gold_rows > 0
    events_per_run = [len(cluster_instance.all_logs(run.run_id)) for run in runs]

    with closing(postgres.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")
        assert cursor.fetchone()[0] == 4
        cursor.execute("SELECT count(*) FROM dynamic_partitions WHERE partitions_def_name = 'tweet_batches'")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM event_logs")
        assert cursor.fetchone()[0] == sum(events_per_run) > 4 * 10
        cursor.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION' "
                       "AND asset_key = %s", (AssetKey("gold_tweet_sentiment").to_string(),))
        assert cursor.fetchone()[0] == 2


def test_unreachable_postgres_fails_fast_naming_it(tmp_path, monkeypatch):
    port = free_port()
    monkeypatch.setenv("TWEETSENT_DAGSTER_POSTGRES_URL", f"postgresql://tweetsent@127.0.0.1:{port}/dagster")
    monkeypatch.setenv("TWEETSENT_DAGSTER_DIR", str(tmp_path / "dagster"))
    started = time.monotonic()
    with pytest.raises(postgres.PostgresUnreachable, match=rf"PostgreSQL at 127\.0\.0\.1:{port} is unreachable"):
        DagsterInstance.from_config(str(CLUSTER_HOME))
    assert time.monotonic() - started < 5.0
