"""End to end on real parts: moto S3 + the sensor + Spark/Delta + a Dagster instance.

Replays Sentiment140 objects (and one dirty object) to S3, ticks the sensor, runs each batch
and reconciles every layer against counts computed here from the source file.
"""
from __future__ import annotations

import csv
import json
from itertools import islice

import boto3
import pytest
from dagster import AssetKey, instance_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs.partitions import BATCH_TAG
from tweetsent_assets.defs.resources import SentimentModelResource
from tweetsent_assets.lib.ingest.batching import ListingCursor
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import pipeline_resources, shared

TWEETS_PER_OBJECT = 150
S140_OBJECTS = 3
TABLES = ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment")
DIRTY_LINES = [
    json.dumps({"id": "dirty-1", "date": "2026-11-20T10:00:00Z", "user": "a", "text": "love it @brand_x"}),
    "{not json at all",
    json.dumps({"id": "dirty-2", "date": "2026-11-20T10:05:00Z", "user": "b", "text": "   "}),
    json.dumps({"date": "2026-11-20T10:06:00Z", "user": "c", "text": "no id here, hashed instead"}),
    json.dumps({"id": {"nested": 1}, "text": "id of the wrong type"}),
]


def s140_rows(n: int) -> list[dict]:
    with shared("sentiment140/sentiment140_sample_20k.csv").open(encoding="utf-8", errors="replace", newline="") as f:
        return list(islice(csv.DictReader(f), n))


@pytest.fixture(scope="module")
def pipeline(spark, s3_endpoint, tmp_path_factory):
    bucket = "e2e-landing"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
    resources = pipeline_resources(tmp_path_factory.mktemp("e2e"), landing_url=f"s3://{bucket}/landing",
                                   state_url=f"s3://{bucket}/_state", endpoint_url=s3_endpoint,
                                   max_objects_per_batch=2)
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"),
                                     limit=TWEETS_PER_OBJECT * S140_OBJECTS))
    landing = open_store(f"s3://{bucket}/landing", endpoint_url=s3_endpoint)
    keys = replay(records, landing, tweets_per_object=TWEETS_PER_OBJECT, objects_per_second=None)
    landing.put("zz-dirty.jsonl", ("\n".join(DIRTY_LINES) + "\n").encode())
    with instance_for_test() as instance:
        yield {"defs": build_defs(resources), "instance": instance, "lake": resources["lake"],
               "spark": spark, "keys": keys, "state": {}}


def counts(p) -> dict[str, int]:
    return {t: p["spark"].read.format("delta").load(p["lake"].path(t)).count() for t in TABLES}


def expected_counts() -> dict[str, int]:
    """Computed from the CSV and the dirty lines alone, without the pipeline's code."""
    rows = s140_rows(TWEETS_PER_OBJECT * S140_OBJECTS)
    s140_ids = {r["ids"] for r in rows if r["text"].strip()}
    dirty_valid = [json.loads(l) for l in DIRTY_LINES if l.startswith("{\"")]
    dirty_valid = [d for d in dirty_valid if not isinstance(d.get("id"), dict)]
    dirty_with_text = [d for d in dirty_valid if d["text"].strip()]
    silver = len(s140_ids | {d["id"] for d in dirty_with_text if "id" in d}) + sum("id" not in d for d in dirty_with_text)
    return {"bronze_tweets": len(rows) + len(dirty_valid), "bronze_quarantine": 2,
            "silver_tweets": silver, "gold_tweet_sentiment": silver}


def test_sensor_batches_and_runs_reconcile(pipeline):
    defs, instance = pipeline["defs"], pipeline["instance"]
    result, cursor = runner.tick_sensor(defs, instance, None)
    assert result is not None
    partitions = [r.tags[BATCH_TAG] for r in result.run_requests]
    assert len(partitions) == 2, "4 objects in batches of at most 2"
    assert [r.run_key for r in result.run_requests] == partitions
    assert [r.partition_key for r in result.run_requests] == [hour_of(b) for b in partitions]
    outcome = runner.run_batches(defs, instance, result)
    assert outcome.failed == [] and outcome.batches == partitions
    assert instance.get_dynamic_partitions("tweet_batches") == [], "no partition per batch"
    tags = [instance.get_run_by_id(run_id).tags for run_id in outcome.run_ids]
    assert [(t["tweetsent/kind"], t["dagster/priority"]) for t in tags] == [("micro-batch", "10")] * 2
    assert counts(pipeline) == expected_counts()
    pipeline["state"].update(cursor=cursor, partitions=partitions)

    spark, lake = pipeline["spark"], pipeline["lake"]
    silver = spark.read.format("delta").load(lake.path("silver_tweets"))
    first = s140_rows(1)[0]
    row = silver.where(f"id = '{first['ids']}'").first()
    assert row.date_raw == "Tue Jun 16 18:18:12 PDT 2009"
    assert row.created_at.isoformat() == "2009-06-17T01:18:12"
    assert row.given_sentiment == "negative" and row.mentions == ["chrishasboobs"]
    assert row.cleaned_text.startswith("@user AHHH")
    quarantine = spark.read.format("delta").load(lake.path("bronze_quarantine")).collect()
    reasons = sorted(q.reason.split(":")[0] for q in quarantine)
    assert reasons == ["field 'id' has type object, expected string or number", "malformed JSON"]
    assert all(q.source_file.endswith("landing/zz-dirty.jsonl") for q in quarantine)

    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment"))
    assert {r.id for r in gold.select("id").collect()} == {r.id for r in silver.select("id").collect()}
    assert {r.label for r in gold.select("label").distinct().collect()} <= {"negative", "neutral", "positive"}
    assert gold.where("model_name != 'vader' or score is null").count() == 0

    event = instance.get_latest_materialization_event(AssetKey("silver_tweets"))
    metadata = event.asset_materialization.metadata
    assert metadata["table_rows"].value == expected_counts()["silver_tweets"]
    assert metadata["delta_version"].value >= 1
    for step_asset in ("bronze_tweets", "silver_tweets", "gold_tweet_sentiment", "aggregate_ledger"):
        recorded = instance.get_latest_materialization_event(AssetKey(step_asset)).asset_materialization.metadata
        stages = recorded["spark_stages"].value["stages"]
        assert recorded["spill_memory_bytes"].value == 0 and recorded["spill_disk_bytes"].value == 0, step_asset
        assert len(stages) >= 1 and recorded["task_skew"].value == max(s["skew"] for s in stages), step_asset


def test_rerun_and_retick_change_nothing(pipeline):
    defs, instance, state = pipeline["defs"], pipeline["instance"], pipeline["state"]
    before = counts(pipeline)
    job = defs.resolve_job_def("ingest_tweet_batch")
    for partition in state["partitions"]:
        assert job.execute_in_process(instance=instance, partition_key=hour_of(partition),
                                      tags={BATCH_TAG: partition}).success
    assert counts(pipeline) == before
    for hour in {hour_of(p) for p in state["partitions"]}:
        assert job.execute_in_process(instance=instance, partition_key=hour).success, "every batch of the hour"
    assert counts(pipeline) == before
    empty = job.execute_in_process(instance=instance, partition_key="2025-01-01-00:00")
    assert empty.success and counts(pipeline) == before
    said = [e.user_message for e in instance.all_logs(empty.run_id)]
    assert any("hour 2025-01-01-00:00 has no batches" in m for m in said)
    with pytest.raises(Exception, match="2025-01-01-00:30"):
        job.execute_in_process(instance=instance, partition_key="2025-01-01-00:30")
    result, _ = runner.tick_sensor(defs, instance, state["cursor"])
    assert result is None, "a re-tick must not request any run"


def test_relisting_without_cursor_adds_no_bronze_rows(pipeline):
    """A lost cursor redoes no batch (the manifests hold its objects); objects re-batched anyway (a cursor that
    forgot them) are not ingested twice."""
    defs, instance = pipeline["defs"], pipeline["instance"]
    before = counts(pipeline)
    assert runner.tick_sensor(defs, instance, None)[0] is None
    result, _ = runner.tick_sensor(defs, instance, ListingCursor().encode())
    assert result is not None
    result = type(result)(run_requests=result.run_requests[:1], cursor=result.cursor)
    assert runner.run_batches(defs, instance, result).failed == []
    assert counts(pipeline) == before


def test_independent_reader_sees_same_counts(pipeline):
    from deltalake import DeltaTable

    spark_counts = counts(pipeline)
    for table in TABLES:
        assert DeltaTable(pipeline["lake"].path(table)).to_pyarrow_table().num_rows == spark_counts[table], table


@pytest.mark.parametrize("rebuilt", [False, True], ids=["incremental", "rebuilt"])
def test_aggregates_match_gold(pipeline, rebuilt):
    """Each batch's run (and its re-runs) updated the aggregates; a full rebuild gives the same."""
    if rebuilt:
        assert runner.refresh_aggregates(pipeline["defs"], pipeline["instance"])
    spark, lake = pipeline["spark"], pipeline["lake"]
    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas()
    mentions = spark.read.format("delta").load(lake.path("mention_sentiment")).toPandas()
    exploded = gold.explode("mentions").dropna(subset=["mentions"])
    assert mentions["total"].sum() == len(exploded)
    top = exploded["mentions"].value_counts()
    row = mentions.set_index("mention").loc[top.index[0]]
    assert row["total"] == top.iloc[0]
    assert row["negative"] + row["neutral"] + row["positive"] == row["total"]
    trends = spark.read.format("delta").load(lake.path("sentiment_trends")).toPandas()
    assert trends["total"].sum() == gold["created_at"].notna().sum()
    assert (trends[["negative", "neutral", "positive"]].sum(axis=1) == trends["total"]).all()


def test_gold_rescored_by_hf_model_loaded_in_executors(pipeline, tmp_path_factory):
    """A Hugging Face classifier from a local folder scores one batch inside Spark; MERGE replaces rows."""
    from ..tiny_models import build_tiny_roberta

    model_dir = build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta") / "tiny-sentiment")
    defs, instance = pipeline["defs"], pipeline["instance"]
    resources = {**defs.resources, "sentiment_model": SentimentModelResource(kind="hf", model=str(model_dir))}
    hf_defs = build_defs(resources)
    partition = pipeline["state"]["partitions"][0]
    before = counts(pipeline)
    gold_only = hf_defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={AssetKey("gold_tweet_sentiment")})
    assert gold_only.execute_in_process(instance=instance, partition_key=hour_of(partition),
                                        tags={BATCH_TAG: partition}).success
    assert counts(pipeline) == before
    gold = pipeline["spark"].read.format("delta").load(pipeline["lake"].path("gold_tweet_sentiment"))
    rescored = gold.where(f"batch_id = '{partition}'").toPandas()
    assert len(rescored) > 0
    assert set(rescored["model_name"]) == {"tiny-sentiment"}
    assert set(rescored["label"]) <= {"negative", "neutral", "positive"}
    sums = rescored[["p_negative", "p_neutral", "p_positive"]].sum(axis=1)
    assert ((sums - 1).abs() < 1e-4).all()
    others = gold.where(f"batch_id != '{partition}'").select("model_name").distinct().collect()
    assert [r.model_name for r in others] == ["vader"]


def test_checks_run_in_one_verification_run_per_hour(pipeline):
    """The micro-batch runs hold no checks; one verify_batches run records each hour's four checks on its partition,
    with the figures of its batches added up; one fold records each hour's aggregates."""
    from dagster import AssetCheckKey, DagsterEventType, RunsFilter

    instance = pipeline["instance"]
    partitions = sorted({hour_of(b) for b in pipeline["state"]["partitions"]})
    for run in instance.get_runs(RunsFilter(job_name="ingest_tweet_batch")):
        kinds = {e.dagster_event.event_type for e in instance.all_logs(run.run_id) if e.dagster_event}
        assert DagsterEventType.ASSET_CHECK_EVALUATION not in kinds
    first = instance.get_runs(RunsFilter(job_name="verify_batches"), ascending=True)[0]
    assert first.tags["dagster/priority"] == "0"
    assert first.run_config["ops"]["reconcile_batches"]["config"]["hours"] == partitions
    checks = [e.dagster_event.event_specific_data
              for e in instance.all_logs(first.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)]
    assert sorted((c.check_name, c.partition) for c in checks) == sorted(
        (name, p) for p in partitions for name in ("landed_equals_bronze_plus_quarantine", "silver_ids_unique",
                                                   "gold_covers_silver", "gold_labels_and_scores_valid"))
    assert all(c.passed for c in checks)
    landed = {c.partition: c.metadata for c in checks if c.check_name == "landed_equals_bronze_plus_quarantine"}
    assert sum(m["landed"].value for m in landed.values()) == expected_counts()["bronze_tweets"] + 2
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("bronze_tweets"), "landed_equals_bronze_plus_quarantine")])
    assert list(latest.values())[0].event.dagster_event.event_specific_data.passed
    first_fold = instance.get_runs(RunsFilter(job_name="fold_aggregates"), ascending=True)[0]
    folded = [e.dagster_event.partition
              for e in instance.all_logs(first_fold.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
              if e.dagster_event.asset_key == AssetKey("aggregate_ledger")]
    assert sorted(folded) == sorted(partitions)


def test_rescoring_by_hour_rewrites_gold_and_refolds_every_batch_of_the_hour(pipeline):
    """`rescore_gold` runs once per hour; gold says it rewrote the whole hour, and the aggregates, folded again from
    every batch of the hour, equal what they were (the same model scored the same rows)."""
    from dagster import DagsterEventType, RunsFilter

    defs, instance, spark, lake = pipeline["defs"], pipeline["instance"], pipeline["spark"], pipeline["lake"]
    hours = sorted({hour_of(b) for b in pipeline["state"]["partitions"]})
    def mention_rows():
        frame = spark.read.format("delta").load(lake.path("mention_sentiment"))
        return sorted(tuple(r) for r in frame.select([c for c in frame.columns if "version" not in c]).collect())

    mentions = mention_rows()
    before = counts(pipeline)
    assert runner.rescore_gold(defs, instance, runner.QUIET) == []
    runs = instance.get_runs(RunsFilter(job_name="rescore_gold"))
    assert sorted(r.tags["dagster/partition"] for r in runs) == hours
    def in_hour(hour: str) -> int:
        return sum(hour_of(b) == hour for b in pipeline["state"]["partitions"])

    gold = instance.get_latest_materialization_event(AssetKey("gold_tweet_sentiment")).asset_materialization
    assert gold.metadata["whole_hour"].value and gold.metadata["batches"].value == in_hour(gold.partition)
    ledger = [e.dagster_event.step_materialization_data.materialization for e in instance.all_logs(
        runs[0].run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        if e.dagster_event.asset_key == AssetKey("aggregate_ledger")]
    assert [m.metadata["batches"].value for m in ledger] == [in_hour(runs[0].tags["dagster/partition"])]
    assert counts(pipeline) == before
    assert mention_rows() == mentions and len(mentions) > 0
