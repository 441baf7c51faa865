"""Backpressure: while a micro-batch run waits in the queue, new objects wait, and the next batch takes all of them."""
from __future__ import annotations

from dagster import DagsterRunStatus, SensorResult, SkipReason, build_sensor_context, instance_for_test
from dagster._core.test_utils import create_run_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs.backpressure import Room
from tweetsent_assets.defs.resources import MicroBatchResource
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import encode_object
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import pipeline_resources, shared

TWEETS_PER_OBJECT = 10
# As dagster.yaml: one micro-batch run at a time.
ONE_MICRO_BATCH_AT_ONCE = {"run_coordinator": {
    "module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator",
    "config": {"tag_concurrency_limits": [{"key": "tweetsent/kind", "value": "micro-batch", "limit": 1}]}}}


def test_room_counts_waiting_runs_against_the_depth():
    assert Room("j", running=0, waiting=0, slots=1, depth=1).free == 2
    assert Room("j", running=1, waiting=0, slots=1, depth=1).free == 1
    assert Room("j", running=1, waiting=1, slots=1, depth=1).free == 0
    assert Room("j", running=0, waiting=1, slots=1, depth=1).free == 0
    assert Room("j", running=2, waiting=0, slots=2, depth=1).free == 1
    assert Room("j", running=0, waiting=0, slots=1, depth=0).free == 1
    assert Room("j", running=1, waiting=0, slots=1, depth=0).free == 0
    assert "1 j run(s) waiting and 1 running" in Room("j", running=1, waiting=1, slots=1, depth=1).why_full()


def test_objects_landing_while_a_batch_runs_all_join_the_next_batch(spark, tmp_path):
    """With one run allowed to wait (max_queued_runs=1): B waits behind A, and C takes all that landed meanwhile."""
    resources = {**pipeline_resources(tmp_path), "micro_batching": MicroBatchResource(max_queued_runs=1, mode="runs")}
    defs = build_defs(resources)
    sensor_def = defs.get_repository_def().get_sensor_def("new_tweet_objects")
    landing = open_store(str(tmp_path / "landing"))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=9 * TWEETS_PER_OBJECT))
    landed: list[str] = []

    def land(count: int) -> list[str]:
        keys = []
        for _ in range(count):
            index = len(landed)
            key = f"landing-{index:02d}.jsonl"
            landing.put(key, encode_object(records[index * TWEETS_PER_OBJECT:(index + 1) * TWEETS_PER_OBJECT]))
            landed.append(key)
            keys.append(key)
        return keys

    def tick(instance, cursor):
        return sensor_def(build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                               sensor_name="new_tweet_objects"))

    default_defs = build_defs(pipeline_resources(tmp_path))

    def default_tick(instance, cursor):
        sensor = default_defs.get_repository_def().get_sensor_def("new_tweet_objects")
        return sensor(build_sensor_context(instance=instance, cursor=cursor, resources=default_defs.resources,
                                           sensor_name="new_tweet_objects"))

    def objects(request) -> list[str]:
        from tweetsent_assets.lib.ingest.manifests import read_manifest

        return [o["key"] for o in read_manifest(resources["batch_state"].store(), request.tags["tweetsent/batch"])["objects"]]

    with instance_for_test(overrides=ONE_MICRO_BATCH_AT_ONCE) as instance:
        first = land(2)
        planned = tick(instance, None)
        assert isinstance(planned, SensorResult) and [objects(r) for r in planned.run_requests] == [first]
        running = create_run_for_test(instance, job_name="ingest_tweet_batch", status=DagsterRunStatus.STARTED)

        second = land(2)
        held_by_default = default_tick(instance, planned.cursor)
        assert isinstance(held_by_default, SkipReason), "by default no run waits behind the running one"
        assert "2 new objects" in held_by_default.skip_message
        queued = tick(instance, planned.cursor)
        assert [objects(r) for r in queued.run_requests] == [second], "one run may wait behind the running one"
        waiting = create_run_for_test(instance, job_name="ingest_tweet_batch", status=DagsterRunStatus.NOT_STARTED)

        third = land(3)
        held = tick(instance, queued.cursor)
        assert isinstance(held, SkipReason)
        assert "backpressure: 1 ingest_tweet_batch run(s) waiting and 1 running (at most 1 at once and 1 waiting)" \
            in held.skip_message
        assert "3 new objects" in held.skip_message
        third += land(2)
        assert "5 new objects" in tick(instance, queued.cursor).skip_message

        instance.delete_run(running.run_id)
        instance.delete_run(waiting.run_id)
        last = tick(instance, queued.cursor)
        assert [objects(r) for r in last.run_requests] == [third], "the next batch takes every waiting object"
        assert isinstance(tick(instance, last.cursor), SkipReason)

        merged = SensorResult(run_requests=[*planned.run_requests, *queued.run_requests, *last.run_requests])
        outcome = runner.run_batches(defs, instance, merged, runner.QUIET)
        assert outcome.failed == [] and len(outcome.batches) == 3
    gold = spark.read.format("delta").load(resources["lake"].path("gold_tweet_sentiment"))
    per_batch = {r["batch_id"]: r["count"] for r in gold.groupBy("batch_id").count().collect()}
    assert sorted(per_batch.values()) == [20, 20, 50]
    assert per_batch[last.run_requests[0].tags["tweetsent/batch"]] == 50


def test_the_in_process_runner_is_not_held_back_by_other_runs(tmp_path):
    """`tweetsent demo` and the tests run the batches themselves: a stale started run must not block them."""
    resources = pipeline_resources(tmp_path, max_objects_per_batch=1)
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=3 * TWEETS_PER_OBJECT))
    for index in range(3):
        resources["landing"].store().put(f"o{index}.jsonl", encode_object(
            records[index * TWEETS_PER_OBJECT:(index + 1) * TWEETS_PER_OBJECT]))
    with instance_for_test(overrides=ONE_MICRO_BATCH_AT_ONCE) as instance:
        create_run_for_test(instance, job_name="ingest_tweet_batch", status=DagsterRunStatus.STARTED)
        result, _ = runner.tick_sensor(build_defs(resources), instance, None)
    assert len(result.run_requests) == 3
