"""The topology keeps its data across `cluster down` and `cluster up`, and `up` brings the local champion.

S3Proxy keeps the lake, landing objects and MLflow artifacts as files and PostgreSQL keeps the
registry, so a stopped and restarted topology reads the same rows; the champion copied from a
local sqlite registry resolves on the topology to the same model, predicting the same labels.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tweetsent_assets.defs.resources import MlflowResource, SentimentModelResource
from tweetsent_assets.lib.cluster import postgres, s3_server
from tweetsent_assets.lib.cluster import topology as topologies
from tweetsent_assets.lib.lake import connect_session, delta_tables
from tweetsent_assets.lib.ml.champion_copy import SOURCE_VERSION_TAG
from tweetsent_assets.lib.ml.model_runs import EVALUATION_EXPERIMENT
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.registry import CHAMPION, REGISTERED_MODEL, champion_spec, get_alias_version
from tweetsent_assets_tests.registries import registry_with_champion
from tweetsent_assets_tests.tiny_models import TEXTS

pytestmark = pytest.mark.cluster
SCHEMA = "id string, batch_id string, text string"


def _target(cluster) -> tuple[str, MlflowClient]:
    uri = postgres.store_uri(cluster.environment()["MLFLOW_TRACKING_URI"])
    return uri, MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_up_copies_the_local_champion_once(cluster, tmp_path):
    lines: list[str] = []
    source_uri, source = registry_with_champion(tmp_path / "local")
    environment = topologies.up(cluster, progress=lines.append, champion_from=source_uri)
    assert lines[-1] == "champion: vader (source version 2) copied as version 1, alias champion"

    uri, target = _target(cluster)
    copied = target.get_model_version(REGISTERED_MODEL, "1")
    assert get_alias_version(target, CHAMPION) == "1"
    assert {k: copied.tags[k] for k in ("candidate", "kind", SOURCE_VERSION_TAG)} == {
        "candidate": "vader", "kind": "vader", SOURCE_VERSION_TAG: "2"}
    assert copied.source.startswith(f"s3://{cluster.bucket}/mlflow/{EVALUATION_EXPERIMENT}/models/")
    assert target.get_run(copied.run_id).data.metrics == {"macro_f1": 0.51}

    clear_model_cache()
    try:
        mlflow = MlflowResource(tracking_uri=environment["MLFLOW_TRACKING_URI"],
                                artifact_root=environment["TWEETSENT_MLFLOW_ARTIFACTS"])
        spec = SentimentModelResource(kind="champion").spec(mlflow)
        assert (spec.kind, spec.model, spec.version, spec.name) == ("mlflow", "models:/tweet-sentiment/1", "1", "vader")
        local = load_model(champion_spec(source, source_uri)).predict(TEXTS)
        assert load_model(spec).predict(TEXTS).labels == local.labels and len(local.labels) == len(TEXTS)
    finally:
        clear_model_cache()

    topologies.up(cluster, progress=lines.append, champion_from=source_uri)
    assert lines[-1] == "champion: vader (source version 2) already there as version 1, alias champion"
    assert len(target.search_model_versions(f"name = '{REGISTERED_MODEL}'")) == 1


def test_lake_landing_and_artifacts_survive_down_and_up(cluster):
    os.environ.update(cluster.environment())
    bucket, endpoint = cluster.bucket, cluster.s3.endpoint
    table = f"s3a://{bucket}/restart-check/lake/tweets"
    s3 = s3_server.client(endpoint)
    landed = {f"restart-check/landing/{i:03d}.json": json.dumps({"id": str(i)}).encode() for i in range(5)}
    for key, body in landed.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    _, mlflow = _target(cluster)
    experiment = mlflow.create_experiment("restart-check", artifact_location=f"s3://{bucket}/mlflow/restart-check")
    run_id = mlflow.create_run(experiment).info.run_id
    mlflow.log_dict(run_id, {"rows": 150}, "kept.json")
    spark, lease = connect_session.connect(cluster.connect.url, cluster.root / "slots", 1)
    try:
        for batch, n in (("b1", 100), ("b2", 50)):
            rows = [(f"{batch}-{i}", batch, f"tweet {i}") for i in range(n)]
            delta_tables.replace_batch(spark.createDataFrame(rows, SCHEMA), table, batch)
        before = delta_tables.describe(spark, table)
    finally:
        spark.release_session_on_close = False
        spark.stop()
        lease.release()
    champion_before = get_alias_version(mlflow, CHAMPION)

    topologies.down(cluster, progress=lambda line: None)
    assert not s3_server.status(cluster.s3)["answering"]
    assert sorted(p.name for p in (cluster.s3.objects_dir / bucket / "restart-check" / "landing").iterdir()) == [
        f"{i:03d}.json" for i in range(5)]
    topologies.up(cluster, progress=lambda line: None)

    s3 = s3_server.client(endpoint)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="restart-check/landing/")["Contents"]
    assert {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed} == landed
    _, mlflow = _target(cluster)
    with tempfile.TemporaryDirectory() as scratch:
        assert json.loads(Path(mlflow.download_artifacts(run_id, "kept.json", scratch)).read_text()) == {"rows": 150}
    assert get_alias_version(mlflow, CHAMPION) == champion_before
    assert (delta_tables.batch_rows_in_log(table, "b1"), delta_tables.batch_rows_in_log(table, "b2")) == (100, 50)
    spark, lease = connect_session.connect(cluster.connect.url, cluster.root / "slots", 1)
    try:
        frame = spark.read.format("delta").load(table)
        assert {r.batch_id: r["count"] for r in frame.groupBy("batch_id").count().collect()} == {"b1": 100, "b2": 50}
        assert delta_tables.describe(spark, table) == before and (before.version, before.rows) == (1, 150)
    finally:
        spark.release_session_on_close = False
        spark.stop()
        lease.release()
