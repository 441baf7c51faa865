"""A catalogue of bad landing input: each kind alone (through S3 and the bronze reader), then all mixed
through the whole pipeline. Every unit is ingested or quarantined with a reason; counts reconcile.
"""
from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from dagster import AssetCheckKey, AssetKey, instance_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.batching import ListingCursor, find_new_objects, plan_batches
from tweetsent_assets.lib.ingest.bronze_batch import read_batch_objects
from tweetsent_assets.lib.ingest.object_store import open_store

from ..support import pipeline_resources


def line(**fields) -> str:
    return json.dumps(fields)


GOOD = line(id="g1", date="2026-11-20T10:00:00Z", user="u", text="a perfectly normal tweet @brand")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)

# kind -> (objects, records, quarantined, reason fragment, silver rows)
CATALOGUE = {
    "malformed_json_line": ([("a.jsonl", f"{GOOD}\n{{oops\n".encode())], 1, 1, "malformed JSON", 1),
    "truncated_object": ([("b.jsonl", (GOOD + "\n" + line(id="t2", text="cut off here")[:-9]).encode())], 1, 1,
                         "malformed JSON", 1),
    "empty_object": ([("c.jsonl", b"")], 0, 1, "empty object", 0),
    "non_utf8_bytes": ([("d.jsonl", GOOD.encode() + b"\n" + b'{"id": "n1", "text": "caf\xe9 \xff"}\n')], 1, 1,
                       "invalid UTF-8", 1),
    "json_array": ([("e.json", json.dumps([{"id": "a1", "text": "one"}, {"id": "a2", "text": "two"}]).encode())],
                   2, 0, None, 2),
    "missing_text": ([("f.jsonl", line(id="m1", user="u").encode())], 1, 0, None, 0),
    "null_text": ([("g.jsonl", line(id="m2", text=None).encode())], 1, 0, None, 0),
    "wrong_types": ([("h.jsonl", (line(id={"x": 1}, text="id is an object") + "\n" + line(id="w2", text=["a"])).encode())],
                    0, 2, "has type", 0),
    "one_megabyte_text": ([("i.jsonl", line(id="big", text="x" * 1_000_000).encode())], 0, 1, "limit", 0),
    "deeply_nested_junk": ([("j.jsonl", ("[" * 100_000 + "]" * 100_000).encode())], 0, 1, "nested too deeply", 0),
    "unknown_extra_fields": ([("k.jsonl", line(id="e1", text="has extras", geo={"lat": 1.5}, Retweet_Count=3).encode())],
                             1, 0, None, 1),
    "same_object_other_key": ([("l1.jsonl", GOOD.encode()), ("l2.jsonl", GOOD.encode())], 2, 0, None, 1),
    "non_json_png": ([("m.png", PNG)], 0, 1, "binary content", 0),
    "gzip_object": ([("n.jsonl.gz", gzip.compress((GOOD.replace("g1", "z1") + "\n").encode()))], 1, 0, None, 1),
}


def manifest_for(store, cursor=None):
    new = find_new_objects(store.list(), cursor or ListingCursor(), timedelta(minutes=15))
    return plan_batches(new, 100)[0].manifest()


@pytest.mark.parametrize("kind", sorted(CATALOGUE))
def test_each_kind_alone(kind, s3_endpoint, s3_bucket):
    objects, records, quarantined, reason, _ = CATALOGUE[kind]
    store = open_store(f"s3://{s3_bucket}/landing", endpoint_url=s3_endpoint)
    for key, data in objects:
        store.put(key, data)
    batch = read_batch_objects(store, manifest_for(store))
    assert (len(batch.records), len(batch.quarantined)) == (records, quarantined)
    assert sum(batch.landed_per_object.values()) == records + quarantined
    if reason:
        assert all(reason in q["reason"] for q in batch.quarantined), [q["reason"] for q in batch.quarantined]
    assert all(q["source_file"].startswith(f"s3://{s3_bucket}/landing/") for q in batch.quarantined)


def test_overwritten_key_is_a_new_version_and_the_old_listing_is_superseded(s3_endpoint, s3_bucket):
    store = open_store(f"s3://{s3_bucket}/landing", endpoint_url=s3_endpoint)
    store.put("o.jsonl", GOOD.encode())
    first = manifest_for(store)
    store.put("o.jsonl", (GOOD + "\n" + line(id="o2", text="second version adds a tweet")).encode())
    second = manifest_for(store, ListingCursor.decode(None))
    assert first["objects"][0]["etag"] != second["objects"][0]["etag"]
    stale = read_batch_objects(store, first)
    assert stale.records == [] and stale.superseded == [f"s3://{s3_bucket}/landing/o.jsonl"]
    fresh = read_batch_objects(store, second)
    assert [r["id"] for r in fresh.records] == ["g1", "o2"]


def test_all_kinds_mixed_through_the_pipeline(spark, s3_endpoint, s3_bucket, tmp_path):
    landing_url = f"s3://{s3_bucket}/landing"
    store = open_store(landing_url, endpoint_url=s3_endpoint)
    for objects, *_ in CATALOGUE.values():
        for key, data in objects:
            store.put(key, data)
    resources = pipeline_resources(tmp_path, landing_url=landing_url, state_url=str(tmp_path / "state"),
                                   endpoint_url=s3_endpoint)
    defs = build_defs(resources)
    with instance_for_test() as instance:
        outcome = runner.process_new_objects(defs, instance, None)
        assert outcome.failed == [] and len(outcome.batches) == 1
        partition = outcome.batches[0]
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [AssetCheckKey(AssetKey("bronze_tweets"), "landed_equals_bronze_plus_quarantine")])
        evaluation = list(check.values())[0].event.dagster_event.event_specific_data
        assert evaluation.passed, evaluation.metadata

    lake = resources["lake"]
    counts = {t: spark.read.format("delta").load(lake.path(t)).where(f"batch_id = '{partition}'").count()
              for t in ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment")}
    expected_records = sum(v[1] for v in CATALOGUE.values())
    expected_quarantined = sum(v[2] for v in CATALOGUE.values())
    assert counts["bronze_tweets"] == expected_records
    assert counts["bronze_quarantine"] == expected_quarantined
    silver_ids = {r.id for r in spark.read.format("delta").load(lake.path("silver_tweets")).select("id").collect()}
    assert silver_ids == {"g1", "a1", "a2", "e1", "z1"}
    assert counts["gold_tweet_sentiment"] == len(silver_ids)
    bronze = spark.read.format("delta").load(lake.path("bronze_tweets"))
    assert {"x_geo", "x_retweet_count"} <= set(bronze.columns)
    extras = bronze.where("id = 'e1'").select("x_geo", "x_retweet_count").first()
    assert (extras.x_geo, extras.x_retweet_count) == ('{"lat":1.5}', "3")
