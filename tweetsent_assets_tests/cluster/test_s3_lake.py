"""The lake on S3: Delta tables under s3a:// on moto's S3 server, written through one real Spark Connect server.

delta-rs reads the same tables (describe, batch_is_new, batch_rows_in_log, the dashboard) with
storage options from the AWS chain; two concurrent runs write through the one driver; bad bucket
and credential settings fail within seconds, naming the bucket.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest

from tweetsent_assets.lib.lake import connect_server, delta_tables, s3a, spark_jars
from tweetsent_assets.lib.lake.connect_session import connect

from ..support import connect_server_running

pytestmark = pytest.mark.cluster
SCHEMA = "id string, batch_id string, text string"


@pytest.fixture(scope="module")
def s3_lake_endpoint(s3_endpoint):
    """AWS_ENDPOINT_URL pointing at moto for this module (Spark's s3a and delta-rs both read it)."""
    saved = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = s3_endpoint
    yield s3_endpoint
    if saved is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = saved


@pytest.fixture(scope="module")
def s3a_server(s3_lake_endpoint, tmp_path_factory):
    """One Spark Connect server with the s3a jars and settings: the only JVM that writes the lake."""
    if not spark_jars.s3a_jar_paths():
        pytest.fail(f"the s3a jars are not installed in {spark_jars.S3A_JAR_DIR}; run `make jars-s3`")
    os.environ["TWEETSENT_S3A"] = "on"
    try:
        running = connect_server_running(tmp_path_factory.mktemp("s3a-connect"))
        server = running.__enter__()
    finally:
        os.environ.pop("TWEETSENT_S3A")
    try:
        yield server
    finally:
        running.__exit__(None, None, None)


@contextmanager
def run_session(server):
    """A Connect session on its own pool slot, as one Dagster run holds it."""
    session, lease = connect(server.url, server.state_dir / "slots", 4, server=server)
    try:
        yield session
    finally:
        session.release_session_on_close = False
        session.stop()
        lease.release()


@pytest.fixture(scope="module")
def spark_s3(s3a_server):
    with run_session(s3a_server) as session:
        yield session


def rows(session, batch_id: str, n: int, tag: str = ""):
    return session.createDataFrame([(f"{batch_id}-{i}", batch_id, f"tweet {i}{tag}") for i in range(n)], SCHEMA)


def counts_by_batch(session, path: str) -> dict[str, int]:
    frame = session.read.format("delta").load(path).groupBy("batch_id").count().collect()
    return {r.batch_id: r["count"] for r in frame}


def test_server_runs_with_s3a_settings_and_jars(s3a_server, s3_lake_endpoint):
    """The running server's own command line (its supervisor restarts it with the same one)."""
    pid = connect_server.read_state(s3a_server)["server_pid"]
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    settings = dict(a.split("=", 1) for a in argv if a.startswith("spark.") and "=" in a)
    assert "hadoop-aws-" in settings["spark.jars"] and "bundle-" in settings["spark.jars"]
    assert "delta-spark_" in settings["spark.jars"]
    assert settings["spark.hadoop.fs.s3a.endpoint"] == s3_lake_endpoint
    assert settings["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert settings["spark.hadoop.fs.s3a.aws.credentials.provider"] == s3a.CREDENTIALS_PROVIDER
    assert not any("SECRET" in value or "testing-secret-key" in value for value in settings.values())


def test_local_sessions_get_no_s3a_jars(monkeypatch):
    base = {"spark.jars": "/x/delta.jar"}
    monkeypatch.delenv("TWEETSENT_S3A", raising=False)
    monkeypatch.delenv("TWEETSENT_LAKE_ROOT", raising=False)
    monkeypatch.setattr(s3a, "_requested", set())
    assert s3a.add_to(base, lake_root="/tmp/lake") == base
    monkeypatch.setenv("TWEETSENT_S3A", "off")
    assert s3a.add_to(base, lake_root="s3a://b/lake") == base
    monkeypatch.setenv("TWEETSENT_S3A", "auto")
    with_s3a = s3a.add_to(base, lake_root="s3a://b/lake")
    assert with_s3a["spark.jars"].startswith("/x/delta.jar,") and "hadoop-aws-" in with_s3a["spark.jars"]
    monkeypatch.setattr(s3a, "S3A_JAR_DIR", spark_jars.S3A_JAR_DIR.parent / "not-installed")
    with pytest.raises(s3a.LakeStorageError, match="make jars-s3"):
        s3a.add_to(base, lake_root="s3a://b/lake")


def test_batch_written_to_s3a_is_read_by_spark_and_delta_rs(spark_s3, s3_bucket, caplog):
    path = f"s3a://{s3_bucket}/lake/silver_tweets"
    caplog.set_level(logging.WARNING)
    assert delta_tables.batch_is_new(path, "b1") is True
    assert delta_tables.exists(spark_s3, path) is False

    delta_tables.replace_batch(rows(spark_s3, "b1", 120), path, "b1")
    assert counts_by_batch(spark_s3, path) == {"b1": 120}
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert "lake/silver_tweets/_delta_log/00000000000000000000.json" in keys

    # spark=None: any fallback to Spark would fail, so these answers come from delta-rs.
    assert delta_tables.describe(None, path) == delta_tables.TableState(path=path, version=0, rows=120)
    assert delta_tables.exists(None, path) is True
    assert delta_tables.batch_is_new(path, "b1") is False
    assert delta_tables.batch_is_new(path, "b2") is True
    assert delta_tables.batch_rows_in_log(path, "b1") == 120

    delta_tables.replace_batch(rows(spark_s3, "b2", 30), path, "b2")
    delta_tables.replace_batch(rows(spark_s3, "b1", 75, tag=" again"), path, "b1")
    assert counts_by_batch(spark_s3, path) == {"b1": 75, "b2": 30}
    assert delta_tables.describe(None, path) == delta_tables.TableState(path=path, version=2, rows=105)
    assert delta_tables.batch_rows_in_log(path, "b2") == 30
    assert [r for r in caplog.records if r.name.startswith("tweetsent")] == []


def test_dashboard_reads_the_s3a_lake(spark_s3, s3_bucket):
    from dashboard import data

    root = f"s3a://{s3_bucket}/lake"
    delta_tables.replace_batch(rows(spark_s3, "d1", 40), f"{root}/gold_tweet_sentiment", "d1")
    frame, version = data.read_table(root, "gold_tweet_sentiment")
    assert (len(frame), version) == (40, 0)
    assert data.open_table(root, "no_such_table") is None


def test_two_concurrent_runs_write_one_s3a_table_through_one_driver(s3a_server, s3_bucket):
    """Each run has its own Connect session; the server's one driver commits both, and nothing is lost."""
    path = f"s3a://{s3_bucket}/lake/bronze_tweets"
    plan = {"run-a": [("a1", 300), ("a2", 120)], "run-b": [("b1", 200), ("b2", 80)]}
    replaced = {"run-a": ("a1", 150), "run-b": ("b1", 90)}
    start, errors = threading.Barrier(2), []

    def run(name: str) -> None:
        try:
            with run_session(s3a_server) as session:
                frames = [(batch, rows(session, batch, n)) for batch, n in plan[name]]
                start.wait(timeout=60)
                for batch, frame in frames:
                    delta_tables.replace_batch(frame, path, batch)
                batch, n = replaced[name]
                delta_tables.replace_batch(rows(session, batch, n, tag=" replaced"), path, batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,)) for name in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []

    with run_session(s3a_server) as session:
        assert counts_by_batch(session, path) == {"a1": 150, "a2": 120, "b1": 90, "b2": 80}
        history = session.sql(f"DESCRIBE HISTORY {delta_tables.sql_table(path)}").collect()
        replaced_text = session.read.format("delta").load(path).where("text LIKE '% replaced'").count()
    writes = [h for h in history if h.operation == "WRITE"]
    assert len(writes) == 6, [(h.version, h.operation, h.operationParameters) for h in history]
    assert sorted(h.version for h in history) == list(range(len(history)))
    assert replaced_text == 150 + 90
    assert delta_tables.describe(None, path).rows == 440


def test_missing_bucket_fails_within_seconds_naming_it(s3_lake_endpoint):
    started = time.monotonic()
    with pytest.raises(s3a.LakeStorageError) as caught:
        s3a.check_bucket("s3a://no-such-lake-bucket/lake")
    assert time.monotonic() - started < 5
    assert "'no-such-lake-bucket'" in str(caught.value) and "does not exist" in str(caught.value)
    assert s3_lake_endpoint in str(caught.value)


def test_lake_resource_checks_its_bucket(s3_lake_endpoint):
    from tweetsent_assets.defs.resources import LakeResource

    started = time.monotonic()
    with pytest.raises(s3a.LakeStorageError, match="'missing-lake' .* does not exist"):
        LakeResource(root="s3a://missing-lake/lake").setup_for_execution(None)
    assert time.monotonic() - started < 5


def test_wrong_credentials_fail_within_seconds_naming_the_bucket(spark_s3, s3_bucket, monkeypatch):
    """moto checks every request's access key against its (empty) IAM: the fake key is unknown, HTTP 403."""
    import moto.settings

    path = f"s3a://{s3_bucket}/lake/t"
    delta_tables.replace_batch(rows(spark_s3, "w1", 5), path, "w1")
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    started = time.monotonic()
    with pytest.raises(s3a.LakeStorageError) as caught:
        s3a.check_bucket(path)
    assert time.monotonic() - started < 5
    assert f"'{s3_bucket}'" in str(caught.value) and "denied (HTTP 403)" in str(caught.value)

    started = time.monotonic()
    with pytest.raises(Exception, match="403|Forbidden|AccessDenied|InvalidAccessKeyId") as caught:
        spark_s3.read.format("delta").load(path).count()
    assert time.monotonic() - started < 10, "Spark's s3a retries are capped"
    assert s3_bucket in str(caught.value)


def test_missing_credentials_fail_within_seconds(s3_lake_endpoint, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    started = time.monotonic()
    with pytest.raises(s3a.LakeStorageError, match="no AWS credentials for bucket 'credless'"):
        s3a.check_bucket("s3a://credless/lake")
    with pytest.raises(s3a.LakeStorageError, match="no AWS credentials"):
        s3a.storage_options()
    assert time.monotonic() - started < 10


def test_spark_itself_fails_fast_on_a_missing_bucket(spark_s3):
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        spark_s3.read.format("delta").load("s3a://no-such-spark-bucket/lake/t").count()
    assert time.monotonic() - started < 10
    assert "no-such-spark-bucket" in str(caught.value)


def test_pipeline_batches_on_the_s3a_lake(s3a_server, s3_lake_endpoint, s3_bucket, tmp_path, monkeypatch, caplog):
    """The end-to-end micro-batches (landing on S3, sensor, Dagster runs) with every Delta table under s3a://."""
    from dagster import AssetKey, instance_for_test

    from tweetsent_assets import runner
    from tweetsent_assets.definitions import build_defs
    from tweetsent_assets.defs.resources import LakeResource
    from tweetsent_assets.lib.ingest.object_store import open_store
    from tweetsent_assets.lib.ingest.replay import replay
    from tweetsent_assets.lib.ingest.sources import read_sentiment140
    from tweetsent_assets.lib.lake.spark_session import get_spark, stop_spark

    from .. import support
    from ..e2e.test_pipeline_e2e import DIRTY_LINES, S140_OBJECTS, TABLES, TWEETS_PER_OBJECT, expected_counts

    monkeypatch.setitem(support._CURRENT, "spark", support.SuiteSpark(master=s3a_server.url,
                                                                      state_dir=str(s3a_server.state_dir)))
    caplog.set_level(logging.WARNING, logger="tweetsent_assets.lib.lake.delta_tables")
    stop_spark()  # an in-process session an earlier test made (without the s3a jars) would serve the runs otherwise
    try:
        lake = LakeResource(root=f"s3a://{s3_bucket}/lake")
        resources = {**support.pipeline_resources(tmp_path, landing_url=f"s3://{s3_bucket}/landing",
                                          state_url=f"s3://{s3_bucket}/_state", endpoint_url=s3_lake_endpoint,
                                          max_objects_per_batch=2), "lake": lake}
        records = list(read_sentiment140(support.shared("sentiment140/sentiment140_sample_20k.csv"),
                                         limit=TWEETS_PER_OBJECT * S140_OBJECTS))
        landing = open_store(f"s3://{s3_bucket}/landing", endpoint_url=s3_lake_endpoint)
        replay(records, landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None)
        landing.put("zz-dirty.jsonl", ("\n".join(DIRTY_LINES) + "\n").encode())
        defs = build_defs(resources)
        with instance_for_test() as instance:
            result, _ = runner.tick_sensor(defs, instance, None)
            assert len(result.run_requests) == 2
            assert runner.run_batches(defs, instance, result).failed == []
            session = get_spark(s3a_server.url, state_dir=str(s3a_server.state_dir))
            spark_counts = {t: session.read.format("delta").load(lake.path(t)).count() for t in TABLES}
            assert spark_counts == expected_counts()
            assert {t: delta_tables.describe(None, lake.path(t)).rows for t in TABLES} == spark_counts
            metadata = instance.get_latest_materialization_event(AssetKey("silver_tweets")).asset_materialization.metadata
            assert metadata["table_path"].value == lake.path("silver_tweets")
            assert metadata["table_rows"].value == spark_counts["silver_tweets"]
    finally:
        stop_spark()
    assert [r.getMessage() for r in caplog.records if "deltalake could not" in r.getMessage()] == []
