"""The stream run: objects that land while a batch runs all join the next batch; an unfinished batch is finished first."""
from __future__ import annotations

import threading
from pathlib import Path
import time
from datetime import datetime, timedelta, timezone

from dagster import (
    AssetKey,
    DagsterRunStatus,
    RunRequest,
    SensorResult,
    SkipReason,
    build_sensor_context,
    instance_for_test,
)
from dagster._core.test_utils import create_run_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs.stream import WARM_UP_TABLE
from tweetsent_assets.lib.ingest.batching import ListingCursor, advance_cursor, find_new_objects, plan_batches
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.manifests import MANIFEST_DIR, manifested_batches, read_manifest, write_manifest
from tweetsent_assets.lib.ingest.replay import encode_object
from tweetsent_assets.lib.ingest.sources import read_sentiment140
from tweetsent_assets.lib.ingest.stream_state import read_cursor, write_cursor

from ..support import pipeline_resources, shared

TWEETS_PER_OBJECT = 10
QUICK = {"ops": {"stream_micro_batches": {"config": {"idle_seconds": 1.0, "poll_seconds": 0.1}}},
         "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
LAYERS = ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment")


def _records(count: int) -> list[dict]:
    return list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=count * TWEETS_PER_OBJECT))


def _land(store, records: list[dict], first: int, count: int) -> list[str]:
    keys = []
    for index in range(first, first + count):
        keys.append(f"landing-{index:02d}.jsonl")
        store.put(keys[-1], encode_object(records[index * TWEETS_PER_OBJECT:(index + 1) * TWEETS_PER_OBJECT]))
    return keys


def cursor_lookback(resources) -> timedelta:
    return timedelta(seconds=resources["micro_batching"].lookback_seconds)


def _gold_per_batch(spark, resources) -> dict[str, int]:
    gold = spark.read.format("delta").load(resources["lake"].path("gold_tweet_sentiment"))
    return {r["batch_id"]: r["count"] for r in gold.groupBy("batch_id").count().collect()}


def test_objects_landing_while_a_batch_runs_all_join_the_next_batch(spark, tmp_path, capfd):
    resources = pipeline_resources(tmp_path, mode="stream")
    defs = build_defs(resources)
    landing, state = resources["landing"].store(), resources["batch_state"].store()
    records = _records(6)
    first = _land(landing, records, 0, 2)
    meanwhile: list[str] = []

    def land_during_the_first_batch():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if any(o.key.startswith(f"{MANIFEST_DIR}/") for o in state.list()):
                meanwhile.extend(_land(landing, records, 2, 4))
                return
            time.sleep(0.01)

    lander = threading.Thread(target=land_during_the_first_batch)
    with instance_for_test() as instance:
        lander.start()
        result = defs.get_job_def("stream_tweet_batches").execute_in_process(instance=instance, run_config=QUICK)
        lander.join()
        assert result.success and result.output_for_node("stream_micro_batches") == 2
        batches = manifested_batches(state)
        assert len(batches) == 2
        assert [[o["key"] for o in read_manifest(state, b)["objects"]] for b in batches] == [first, meanwhile]
        hours = {hour_of(b) for b in batches}
        for layer in LAYERS:
            assert instance.get_materialized_partitions(AssetKey(layer)) == hours, layer
        gold_events = [e.event_specific_data.materialization for e in result.get_asset_materialization_events()
                       if e.asset_key == AssetKey("gold_tweet_sentiment")]
        assert len(gold_events) == len(hours), "one report per hour: both batches came within the report interval"
        assert sum(m.metadata["batch_rows"].value for m in gold_events) == 60
        assert sum(m.metadata["batches"].value for m in gold_events) == 2
        lines = [line for line in capfd.readouterr().err.splitlines() if "tweets to gold" in line]
        assert [line.split("batch ")[1].split(" ")[0] for line in lines] == batches, "each batch's line in the run log"
    assert _gold_per_batch(spark, resources) == {batches[0]: 20, batches[1]: 40}
    warm_up_log = Path(resources["lake"].path(WARM_UP_TABLE)) / "_delta_log"
    assert list(warm_up_log.glob("*.checkpoint.parquet")), "the warm-up wrote a checkpoint"
    cursor = read_cursor(state)
    assert find_new_objects(landing.list(), cursor, cursor_lookback(resources)) == []


def test_a_batch_left_unfinished_is_finished_first_and_not_planned_again(spark, tmp_path):
    """A run that died after writing a manifest (and maybe not its cursor): the next run finishes that batch."""
    resources = pipeline_resources(tmp_path, mode="stream")
    defs = build_defs(resources)
    landing, state = resources["landing"].store(), resources["batch_state"].store()
    records = _records(3)
    _land(landing, records, 0, 2)
    lookback = cursor_lookback(resources)
    new = find_new_objects(landing.list(), ListingCursor(None, {}), lookback)
    earlier = plan_batches(new[:1], 100)[0]
    write_manifest(state, earlier)
    write_cursor(state, advance_cursor(ListingCursor(None, {}), list(earlier.objects), lookback))
    died = plan_batches(new[1:], 100)[0]
    write_manifest(state, died)  # the cursor was never advanced past it
    with instance_for_test() as instance:
        result = defs.get_job_def("stream_tweet_batches").execute_in_process(instance=instance, run_config=QUICK)
        assert result.success
        assert instance.get_materialized_partitions(AssetKey("gold_tweet_sentiment")) == {hour_of(earlier.key),
                                                                                          hour_of(died.key)}
    assert _gold_per_batch(spark, resources) == {earlier.key: 10, died.key: 10}
    assert len([o for o in state.list() if o.key.startswith(f"{MANIFEST_DIR}/")]) == 2


def test_the_sensor_keeps_one_stream_run_going(tmp_path):
    """A standing stream starts before objects land; while it runs, or just after it failed, no second one starts."""
    resources = pipeline_resources(tmp_path, mode="stream")
    defs = build_defs(resources)
    sensor = defs.get_repository_def().get_sensor_def("new_tweet_objects")

    def tick(instance):
        return sensor(build_sensor_context(instance=instance, resources=defs.resources,
                                           sensor_name="new_tweet_objects"))

    with instance_for_test() as instance:
        request = tick(instance)
        assert isinstance(request, RunRequest) and request.job_name == "stream_tweet_batches"
        assert request.run_key == "stream-1"
        running = create_run_for_test(instance, job_name="stream_tweet_batches", status=DagsterRunStatus.STARTED)
        held = tick(instance)
        assert isinstance(held, SkipReason) and "(1 running, 0 queued) takes new objects" in held.skip_message
        instance.report_run_failed(running)
        held = tick(instance)
        assert isinstance(held, SkipReason) and f"stream run {running.run_id} failed" in held.skip_message


def _tables(spark, resources) -> dict[str, list[tuple]]:
    """Silver and gold rows, without the columns that say when (and so in which batch key) they were written."""
    out = {}
    for table, drop in (("silver_tweets", "ingested_at"), ("gold_tweet_sentiment", "scored_at")):
        frame = spark.read.format("delta").load(resources["lake"].path(table)).drop(drop, "batch_id", "source_file",
                                                                                      "record_key")
        out[table] = sorted(tuple(row) for row in frame.select(sorted(frame.columns)).collect())
    return out


def test_the_stream_writes_what_micro_batch_runs_write(spark, tmp_path):
    """Rows handed from layer to layer on the driver give the same silver and gold as rows read back from Delta.

    The second object repeats an id of the first (silver keeps the first), repeats a text (scored once, counted
    twice), and has a blank text and a line twice; both ways run the same two batches. (Of two different rows with
    one id in one batch, silver keeps the first by record key, a hash of the object's path and etag, which differ
    between the two landings.)
    """
    first = [{"id": "a1", "user": "u", "text": "I love this #happy @you", "date": "2024-01-01T00:00:00Z"},
             {"id": "a2", "user": "v", "text": "this is awful", "date": "2024-01-01T00:00:01Z"}]
    second = [{"id": "a2", "user": "v", "text": "this is awful again", "date": "2024-01-01T00:00:02Z"},
              {"id": "b1", "user": "w", "text": "I love this #happy @you", "date": "2024-01-01T00:00:03Z"},
              {"id": "b2", "user": "w", "text": "   ", "date": "2024-01-01T00:00:04Z"},
              {"id": "b3", "user": "x", "text": "meh  \t ok", "sentiment": "neutral"},
              {"id": "b3", "user": "x", "text": "meh  \t ok", "sentiment": "neutral"}]
    tables = {}
    for mode in ("runs", "stream"):
        resources = pipeline_resources(tmp_path / mode, mode=mode)
        defs = build_defs(resources)
        landing = resources["landing"].store()
        with instance_for_test() as instance:
            cursor = None
            for index, records in enumerate((first, second)):
                landing.put(f"object-{index}.jsonl", encode_object(records))
                if mode == "runs":
                    planned, cursor = runner.tick_sensor(defs, instance, cursor)
                    assert runner.run_batches(defs, instance, planned, runner.QUIET).failed == []
                else:
                    run = defs.get_job_def("stream_tweet_batches").execute_in_process(instance=instance,
                                                                                     run_config=QUICK)
                    assert run.output_for_node("stream_micro_batches") == 1
        assert len(_gold_per_batch(spark, resources)) == 2
        tables[mode] = _tables(spark, resources)
    assert [len(rows) for rows in tables["stream"].values()] == [4, 4]
    assert tables["stream"] == tables["runs"]


def test_the_landing_sensor_names_the_job_of_every_request(tmp_path):
    """It targets two jobs, so the daemon rejects a RunRequest without a job name; each mode names its own."""
    for mode, job_name in (("runs", "ingest_tweet_batch"), ("stream", "stream_tweet_batches")):
        resources = pipeline_resources(tmp_path / mode, mode=mode)
        _land(resources["landing"].store(), _records(1), 0, 1)
        defs = build_defs(resources)
        sensor = defs.get_repository_def().get_sensor_def("new_tweet_objects")
        with instance_for_test() as instance:
            result = sensor(build_sensor_context(instance=instance, resources=defs.resources,
                                                 sensor_name="new_tweet_objects"))
        requests = result.run_requests if isinstance(result, SensorResult) else [result]
        assert [r.job_name for r in requests] == [job_name], mode


def test_a_manifest_whose_hour_cannot_be_read_is_skipped_naming_it_and_the_stream_goes_on(spark, tmp_path):
    resources = pipeline_resources(tmp_path, mode="stream")
    defs = build_defs(resources)
    landing, state = resources["landing"].store(), resources["batch_state"].store()
    _land(landing, _records(1), 0, 1)
    write_cursor(state, ListingCursor(datetime.now(timezone.utc) - timedelta(seconds=1), {}))
    state.put(f"{MANIFEST_DIR}/zz-by-hand.json", b'{"batch_id": "zz-by-hand", "objects": []}')
    with instance_for_test() as instance:
        result = defs.get_job_def("stream_tweet_batches").execute_in_process(instance=instance, run_config=QUICK)
        assert result.success and result.output_for_node("stream_micro_batches") == 1
        errors = [e.user_message for e in instance.all_logs(result.run_id) if e.level >= 40]
    assert any("zz-by-hand.json skipped" in m and "hour cannot be read" in m for m in errors), errors
    assert sum(_gold_per_batch(spark, resources).values()) == TWEETS_PER_OBJECT


def test_a_full_listing_interval_over_two_thirds_of_the_lookback_is_lowered_with_a_warning(capfd):
    from dagster import build_op_context

    from tweetsent_assets.defs.resources import MicroBatchResource
    from tweetsent_assets.defs.stream import StreamConfig, _full_list_seconds

    context = build_op_context()
    lookback = MicroBatchResource(lookback_seconds=900)
    assert _full_list_seconds(context, StreamConfig(full_list_seconds=600), lookback) == 600
    assert _full_list_seconds(context, StreamConfig(full_list_seconds=0), lookback) == 0
    assert _full_list_seconds(context, StreamConfig(full_list_seconds=3600), lookback) == 600
    assert "full_list_seconds 3600 is over two thirds of micro_batching.lookback_seconds (900 s): using 600" in \
        capfd.readouterr().err
