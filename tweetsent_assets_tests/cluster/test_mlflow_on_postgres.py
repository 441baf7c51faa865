"""MLflow's tracking store and registry on a real PostgreSQL, artifacts in moto's S3: register, promote, load back."""
from __future__ import annotations

import time
from contextlib import closing

import boto3
import pytest

from tweetsent_assets.defs.resources import MlflowResource, SentimentModelResource
from tweetsent_assets.lib.cluster import postgres
from tweetsent_assets.lib.ml.model_runs import EVALUATION_EXPERIMENT
from tweetsent_assets.lib.ml.models.loader import clear_model_cache, load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec, ModelUnavailableError
from tweetsent_assets.lib.ml.registry import CHAMPION, PREVIOUS_CHAMPION, get_alias_version, log_and_register, promote
from tweetsent_assets_tests.tiny_models import TEXTS

from ..support import free_port

pytestmark = pytest.mark.cluster

VADER = ModelSpec(kind="vader", model=None, name="vader")


def test_registry_on_postgres_with_artifacts_on_s3(database_url, s3_endpoint, s3_bucket, monkeypatch):
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint)
    mlflow = MlflowResource(tracking_uri=database_url, artifact_root=f"s3://{s3_bucket}/mlflow")
    client = mlflow.client()
    experiment = mlflow.experiment_id(EVALUATION_EXPERIMENT)
    assert mlflow.experiment_id(EVALUATION_EXPERIMENT) == experiment
    assert client.get_experiment(experiment).artifact_location == f"s3://{s3_bucket}/mlflow/{EVALUATION_EXPERIMENT}"

    versions = []
    for f1 in (0.58, 0.61):
        run_id = client.create_run(experiment, tags={"candidate": "vader"}).info.run_id
        client.log_metric(run_id, "macro_f1", f1)
        client.log_dict(run_id, {"macro_f1": f1, "rows": len(TEXTS)}, "evaluation.json")
        versions.append(log_and_register(client, run_id, VADER))
        client.set_terminated(run_id)
        promote(client, versions[-1])
    assert versions == ["1", "2"]
    assert (get_alias_version(client, CHAMPION), get_alias_version(client, PREVIOUS_CHAMPION)) == ("2", "1")

    clear_model_cache()
    try:
        spec = SentimentModelResource(kind="champion").spec(mlflow)
        assert (spec.kind, spec.model, spec.version) == ("mlflow", "models:/tweet-sentiment/2", "2")
        assert load_model(spec).predict(TEXTS).labels == load_model(VADER).predict(TEXTS).labels
    finally:
        clear_model_cache()

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="mlflow/")
            for o in page.get("Contents", [])]
    prefix = f"mlflow/{EVALUATION_EXPERIMENT}/"
    assert sum(k.startswith(prefix) and k.endswith("/artifacts/evaluation.json") for k in keys) == 2
    assert sum(k.startswith(prefix) and k.endswith("/MLmodel") for k in keys) == 2
    with closing(postgres.connect(database_url)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'")
        assert cursor.fetchone()[0] == 2
        cursor.execute("SELECT alias, version FROM registered_model_aliases ORDER BY alias")
        assert cursor.fetchall() == [(CHAMPION, 2), (PREVIOUS_CHAMPION, 1)]
        cursor.execute("SELECT count(*) FROM model_versions WHERE source LIKE %s", (f"s3://{s3_bucket}/mlflow/%",))
        assert cursor.fetchone()[0] == 2


def test_bare_postgresql_scheme_gets_the_psycopg2_driver(database_url, tmp_path):
    bare = database_url.replace("postgresql+psycopg2://", "postgresql://")
    mlflow = MlflowResource(tracking_uri=bare, artifact_root=str(tmp_path / "artifacts"))
    experiment = mlflow.experiment_id("bare-scheme")
    assert mlflow.client().get_experiment_by_name("bare-scheme").experiment_id == experiment


def test_unreachable_store_fails_fast_naming_it(tmp_path):
    port = free_port()
    url = f"postgresql://tweetsent@127.0.0.1:{port}/mlflow"
    mlflow = MlflowResource(tracking_uri=url, artifact_root=str(tmp_path / "artifacts"))
    started = time.monotonic()
    with pytest.raises(postgres.PostgresUnreachable, match=rf"PostgreSQL at 127\.0\.0\.1:{port} is unreachable"):
        mlflow.client()
    assert time.monotonic() - started < 5.0

    started = time.monotonic()
    spec = ModelSpec(kind="mlflow", model="models:/tweet-sentiment/1", name="champion", tracking_uri=url)
    with pytest.raises(ModelUnavailableError, match=rf"127\.0\.0\.1:{port} is unreachable"):
        load_model(spec)
    assert time.monotonic() - started < 5.0
