"""Secrets stay out of logs, metadata, MLflow and exceptions; odd object keys never escape their folders;
services bind to 127.0.0.1.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from dagster import AssetKey, instance_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.bronze_batch import read_batch_objects
from tweetsent_assets.lib.ingest.object_store import LocalObjectStore, open_store
from tweetsent_assets.lib.lake import stage_metrics
from tweetsent_assets.lib.lake.connect_server import ConnectServer

from ..support import PROJECT_ROOT, pipeline_resources, shared

PLANTED = "planted-SECRET-7f3c9e1d2b4a6f80"
ODD_KEYS = ["../escape.jsonl", "a/../../up.jsonl", "/leading-slash.jsonl", "odd name ✓ %20 #?.jsonl", "C:\\win.jsonl"]


def files_containing(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_planted_secret_never_written_anywhere(spark, s3_endpoint, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", PLANTED)
    bucket = "secret-test"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    landing_url = f"s3://{bucket}/landing"
    store = open_store(landing_url, endpoint_url=s3_endpoint)
    for number, key in enumerate(ODD_KEYS):
        store.put(key, f'{{"id": "odd-{number}", "text": "tweet under an odd key @brand"}}\n'.encode())
    store.put("broken.jsonl", b"{not json")
    resources = pipeline_resources(tmp_path, landing_url=landing_url, state_url=str(tmp_path / "state"),
                                   endpoint_url=s3_endpoint)
    mlflow = resources["mlflow"]
    defs = build_defs(resources)
    data = shared("")
    labeled_config = {"ops": {"labeled_tweets": {"config": {"sources": [
        {"path": str(data / "tweeteval_sentiment"), "split": "eval", "limit": 50}]}}}}
    with instance_for_test() as instance:
        home = Path(instance.root_directory)
        outcome = runner.process_new_objects(defs, instance, None)
        assert outcome.failed == []
        job = defs.resolve_implicit_global_asset_job_def()
        assert job.get_subset(asset_selection={AssetKey("labeled_tweets")}).execute_in_process(
            instance=instance, run_config=labeled_config).success
        assert job.get_subset(asset_selection={AssetKey("model_evaluations")}).execute_in_process(
            instance=instance, partition_key="vader").success
        with pytest.raises(Exception) as failure:
            open_store("s3://no-such-bucket-here/x", endpoint_url=s3_endpoint).put("k", b"v")
        assert PLANTED not in str(failure.value) and PLANTED not in repr(failure.value.__dict__)
        metadata = [str(e.asset_materialization.metadata) for key in instance.get_asset_keys()
                    for e in [instance.get_latest_materialization_event(key)] if e is not None]
        assert metadata and not any(PLANTED in m for m in metadata)
        assert files_containing(home, PLANTED.encode()) == []

    bronze = spark.read.format("delta").load(resources["lake"].path("bronze_tweets"))
    assert bronze.count() == len(ODD_KEYS)
    sources = {r.source_file for r in bronze.select("source_file").collect()}
    assert all(s.startswith(f"s3://{bucket}/landing/") for s in sources)
    assert files_containing(tmp_path, PLANTED.encode()) == []
    run = mlflow.client().search_runs([mlflow.experiment_id("tweetsent-evaluations")])[0]
    assert PLANTED not in str(run.data.params) + str(run.data.tags)
    captured = capfd.readouterr()
    assert PLANTED not in captured.out + captured.err
    assert not (tmp_path.parent / "escape.jsonl").exists() and not (tmp_path.parent / "up.jsonl").exists()


def test_local_landing_rejects_keys_and_links_that_escape(tmp_path):
    root = tmp_path / "landing"
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"id": "o", "text": "should not be read through a link"}\n')
    root.mkdir()
    (root / "ok.jsonl").write_text('{"id": "k", "text": "fine"}\n')
    (root / "link.jsonl").symlink_to(outside)
    store = LocalObjectStore(root)
    manifest = {"batch_id": "b1", "objects": [{"key": o.key, "etag": o.etag} for o in store.list()]}
    manifest["objects"].append({"key": "../outside.jsonl", "etag": "x"})
    batch = read_batch_objects(store, manifest)
    assert [r["id"] for r in batch.records] == ["k"]
    reasons = sorted(q["reason"] for q in batch.quarantined)
    assert len(reasons) == 2 and all("UnsafeKeyError" in r for r in reasons)
    for key in ODD_KEYS[:3]:
        with pytest.raises(ValueError):
            store.put(key, b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landing", "outside.jsonl"]


def test_services_bind_to_loopback(spark):
    assert spark.conf.get("spark.driver.bindAddress") == "127.0.0.1"
    ui = urlsplit(stage_metrics.ui_url(spark))
    assert ui.hostname == "127.0.0.1" and ui.port
    assert spark.conf.get("spark.ui.killEnabled") == "false"
    from tweetsent_assets.cli.main import build_parser

    assert {command: build_parser().parse_args([command]).host for command in ("dev", "serve")} == {
        "dev": "127.0.0.1", "serve": "127.0.0.1"}
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "tweetsent dev" in makefile and "--host" not in makefile and "0.0.0.0" not in makefile
    server = ConnectServer(state_dir=PROJECT_ROOT / "data" / "spark-connect")
    assert server.settings()["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert server.settings()["spark.driver.bindAddress"] == "127.0.0.1"
