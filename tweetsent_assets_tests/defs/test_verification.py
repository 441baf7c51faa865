"""Checks off the path to gold: verify_batches records each hour's checks on its partition, naming failed batches;
the follow-up sensors."""
from __future__ import annotations

import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterEventType,
    DagsterRunStatus,
    RunsFilter,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.test_utils import create_run_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.ingest.sources import read_sentiment140
from tweetsent_assets.lib.lake.delta_tables import sql_table

from ..support import pipeline_resources, shared


@pytest.fixture(scope="module")
def verified(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    resources = pipeline_resources(root, max_objects_per_batch=1)
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=30))
    replay(records, resources["landing"].store(), tweets_per_object=15, objects_per_second=None)
    defs = build_defs(resources)
    with instance_for_test() as instance:
        outcome = runner.process_new_objects(defs, instance, None)
        assert outcome.failed == [] and len(outcome.batches) == 2
        yield {"defs": defs, "instance": instance, "spark": spark, "lake": resources["lake"],
               "batches": outcome.batches, "hours": sorted({hour_of(b) for b in outcome.batches})}


def tick(p, name: str, cursor: str | None):
    sensor = p["defs"].get_repository_def().get_sensor_def(name)
    return sensor(build_sensor_context(instance=p["instance"], cursor=cursor, resources=p["defs"].resources,
                                       sensor_name=name))


# A cursor before every gold materialization; with none at all, the sensors resume after their job's last run.
BEFORE_ALL_GOLD = "0"


def test_without_a_cursor_the_follow_up_sensors_skip_what_the_runner_already_took(verified):
    for name in ("verify_after_gold", "fold_after_gold"):
        result = tick(verified, name, None)
        assert isinstance(result, SkipReason) and result.skip_message.startswith("no gold reported since"), name


def test_verify_sensor_requests_one_run_for_all_new_gold(verified):
    result = tick(verified, "verify_after_gold", BEFORE_ALL_GOLD)
    assert isinstance(result, SensorResult) and len(result.run_requests) == 1
    request = result.run_requests[0]
    assert request.run_config["ops"]["reconcile_batches"]["config"]["hours"] == verified["hours"]
    assert request.tags["tweetsent/nice"] == "10"
    assert isinstance(tick(verified, "verify_after_gold", result.cursor), SkipReason)
    waiting = create_run_for_test(verified["instance"], job_name="verify_batches", status=DagsterRunStatus.NOT_STARTED)
    try:
        held = tick(verified, "verify_after_gold", BEFORE_ALL_GOLD)
        assert isinstance(held, SkipReason) and f"new gold in {len(verified['hours'])} hour(s) waits" in held.skip_message
    finally:
        verified["instance"].delete_run(waiting.run_id)


def test_fold_sensor_leaves_new_gold_to_a_waiting_fold(verified):
    result = tick(verified, "fold_after_gold", BEFORE_ALL_GOLD)
    assert isinstance(result, SensorResult) and len(result.run_requests) == 1
    assert result.run_requests[0].tags["tweetsent/nice"] == "10"
    waiting = create_run_for_test(verified["instance"], job_name="fold_aggregates", status=DagsterRunStatus.NOT_STARTED)
    try:
        held = tick(verified, "fold_after_gold", BEFORE_ALL_GOLD)
        assert held.run_requests == [] and held.cursor == result.cursor
        assert f"it folds the new gold of {len(verified['hours'])} hour(s)" in held.skip_reason.skip_message
    finally:
        verified["instance"].delete_run(waiting.run_id)


def test_a_broken_batch_fails_its_hours_check_which_names_it(verified):
    spark, lake, instance = verified["spark"], verified["lake"], verified["instance"]
    good, broken = verified["batches"]
    hour = hour_of(broken)
    gold = lake.path("gold_tweet_sentiment")
    ids = sorted(r.id for r in spark.read.format("delta").load(gold).where(f"batch_id = '{broken}'").collect())
    dropped = ", ".join(f"'{i}'" for i in ids[:3])
    spark.sql(f"DELETE FROM {sql_table(gold)} WHERE batch_id = '{broken}' AND id IN ({dropped})")

    assert not runner.verify_finished(verified["defs"], instance, verified["hours"])

    run = instance.get_runs(RunsFilter(job_name="verify_batches"))[0]
    assert run.status == DagsterRunStatus.FAILURE
    results = {(e.check_name, e.partition): e for e in (
        event.dagster_event.event_specific_data
        for event in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION))}
    assert len(results) == 4 * len(verified["hours"])
    failed = {key for key, e in results.items() if not e.passed}
    assert failed == {("gold_covers_silver", hour)}
    metadata = results[("gold_covers_silver", hour)].metadata
    assert metadata["failed_batches"].value == broken and good not in metadata["first_failure"].value
    assert "'missing_in_gold': 3" in metadata["first_failure"].value
    assert results[("gold_labels_and_scores_valid", hour)].passed and len(ids) > 3
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [AssetCheckKey(AssetKey("gold_tweet_sentiment"), "gold_covers_silver")],
        partition_filter=PartitionKeyFilter(key=hour))
    assert not list(latest.values())[0].event.dagster_event.event_specific_data.passed
