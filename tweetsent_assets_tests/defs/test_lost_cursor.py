"""A landing sensor without its cursor (new instance, lost or reset) never redoes a batch that a manifest holds."""
from __future__ import annotations

from dagster import SensorResult, build_sensor_context, instance_for_test

from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.manifests import read_manifest
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import encode_object
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import pipeline_resources, shared


def test_a_lost_cursor_requests_no_run_for_manifested_objects_and_says_so(tmp_path):
    defs = build_defs(pipeline_resources(tmp_path))
    sensor_def = defs.get_repository_def().get_sensor_def("new_tweet_objects")
    landing = open_store(str(tmp_path / "landing"))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=30))
    for index in range(3):
        landing.put(f"landing-{index}.jsonl", encode_object(records[index * 10:(index + 1) * 10]))

    def tick(instance, cursor):
        return sensor_def(build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                               sensor_name="new_tweet_objects"))

    with instance_for_test() as instance:
        first = tick(instance, None)
        assert isinstance(first, SensorResult) and len(first.run_requests) == 1

        lost = tick(instance, None)
        assert isinstance(lost, SensorResult) and not lost.run_requests
        assert lost.skip_reason.skip_message.startswith(
            "no cursor, so 3 objects already in batch manifests"), lost.skip_reason.skip_message
        assert "no new objects among 3" in lost.skip_reason.skip_message
        assert lost.cursor, "the rebuilt cursor is kept, so the next tick reads no manifest"

        landing.put("landing-3.jsonl", encode_object(records[:5]))
        again = tick(instance, None)
        assert isinstance(again, SensorResult) and len(again.run_requests) == 1
        batch = read_manifest(defs.resources["batch_state"].store(), again.run_requests[0].partition_key)
        assert [o["key"] for o in batch["objects"]] == ["landing-3.jsonl"]

        after = tick(instance, again.cursor)
        assert not isinstance(after, SensorResult) or not after.run_requests
