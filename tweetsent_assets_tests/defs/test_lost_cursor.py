"""A landing sensor without its cursor (new instance, lost or reset) never redoes a batch that reached bronze, and
never loses one whose manifest was written by a tick that failed before its run was requested."""
from __future__ import annotations

import pandas as pd
import pytest
from dagster import SensorResult, build_sensor_context, instance_for_test
from deltalake import write_deltalake

from tweetsent_assets.definitions import build_defs
from tweetsent_assets.defs import sensors
from tweetsent_assets.defs.partitions import BATCH_TAG
from tweetsent_assets.lib.ingest.hours import hour_of
from tweetsent_assets.lib.ingest.manifests import manifested_batches, read_manifest
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import encode_object
from tweetsent_assets.lib.ingest.sources import read_sentiment140

from ..support import pipeline_resources, shared


@pytest.fixture
def landed(tmp_path):
    resources = pipeline_resources(tmp_path)
    defs = build_defs(resources)
    sensor_def = defs.get_repository_def().get_sensor_def("new_tweet_objects")
    landing = open_store(str(tmp_path / "landing"))
    records = list(read_sentiment140(shared("sentiment140/sentiment140_sample_20k.csv"), limit=30))
    for index in range(3):
        landing.put(f"landing-{index}.jsonl", encode_object(records[index * 10:(index + 1) * 10]))

    def tick(instance, cursor):
        return sensor_def(build_sensor_context(instance=instance, cursor=cursor, resources=defs.resources,
                                               sensor_name="new_tweet_objects"))

    return {"resources": resources, "defs": defs, "landing": landing, "records": records, "tick": tick}


def _reached_bronze(resources, batches: list[str]) -> None:
    """What a batch's run leaves in bronze's landing ledger, as far as the sensor reads it."""
    write_deltalake(resources["lake"].path("landing_ledger"), pd.DataFrame({"batch_id": batches}), mode="append")


def test_a_lost_cursor_requests_no_run_for_batches_that_reached_bronze_and_says_so(landed):
    tick, resources = landed["tick"], landed["resources"]
    with instance_for_test() as instance:
        first = tick(instance, None)
        assert isinstance(first, SensorResult) and len(first.run_requests) == 1
        batch = first.run_requests[0].tags[BATCH_TAG]
        assert first.run_requests[0].partition_key == hour_of(batch)
        _reached_bronze(resources, [batch])

        lost = tick(instance, None)
        assert isinstance(lost, SensorResult) and not lost.run_requests
        assert lost.skip_reason.skip_message.startswith(
            "no cursor, so 3 objects already in batch manifests"), lost.skip_reason.skip_message
        assert "no new objects among 3" in lost.skip_reason.skip_message
        assert lost.cursor, "the rebuilt cursor is kept, so the next tick reads no manifest"

        landed["landing"].put("landing-3.jsonl", encode_object(landed["records"][:5]))
        again = tick(instance, None)
        assert isinstance(again, SensorResult) and len(again.run_requests) == 1
        manifest = read_manifest(resources["batch_state"].store(), again.run_requests[0].tags[BATCH_TAG])
        assert [o["key"] for o in manifest["objects"]] == ["landing-3.jsonl"]

        after = tick(instance, again.cursor)
        assert not isinstance(after, SensorResult) or not after.run_requests


def test_ticks_that_fail_after_writing_manifests_lose_no_object(landed, monkeypatch):
    """The first tick writes its manifest and then fails, so no cursor is stored and no run requested: the next tick
    must still request every landed object's batch (it used to count manifested objects as done, and lose them)."""
    tick, resources = landed["tick"], landed["resources"]

    def fail(*args, **kwargs):
        raise RuntimeError("the tick dies after writing its manifests")

    with instance_for_test() as instance:
        with monkeypatch.context() as patch:
            patch.setattr(sensors, "advance_cursor", fail)
            with pytest.raises(Exception, match="dies after writing"):
                tick(instance, None)
        manifested = manifested_batches(resources["batch_state"].store())
        assert len(manifested) == 1

        recovered = tick(instance, None)
        assert isinstance(recovered, SensorResult)
        requested = [r.tags[BATCH_TAG] for r in recovered.run_requests]
        assert requested == manifested
        objects = [o["key"] for b in requested for o in read_manifest(resources["batch_state"].store(), b)["objects"]]
        assert objects == ["landing-0.jsonl", "landing-1.jsonl", "landing-2.jsonl"]
        assert [r.partition_key for r in recovered.run_requests] == [hour_of(b) for b in requested]
