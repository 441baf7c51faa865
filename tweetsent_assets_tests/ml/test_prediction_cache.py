"""Prediction-cache keys: normalisation and hashing agree between Python and Spark; what gets cached."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from pyspark.sql import functions as F

from tweetsent_assets.lib.lake.compaction import compact
from tweetsent_assets.lib.ml import prediction_cache
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.prediction_cache import cacheable, normalize_text, text_hash

TEXTS = ["  great\tflight \n today ", "great flight today", "Great flight today", "", None, "café ☕  ok"]


def test_normalize_collapses_whitespace_and_trims():
    assert [normalize_text(t) for t in TEXTS] == [
        "great flight today", "great flight today", "Great flight today", "", "", "café ☕ ok"]


def test_hash_is_sha256_of_normalised_text():
    assert text_hash(TEXTS[0]) == text_hash(TEXTS[1]) == hashlib.sha256(b"great flight today").hexdigest()
    assert text_hash(TEXTS[2]) != text_hash(TEXTS[1])
    assert text_hash(None) == text_hash("")


@pytest.mark.parametrize(("spec", "expected"), [
    (ModelSpec(kind="vader", model=None, name="vader", version="3.3.2"), False),
    (ModelSpec(kind="hf", model="/m", name="m"), False),
    (ModelSpec(kind="hf", model="/m", name="m", version="abc"), True),
    (ModelSpec(kind="mlflow", model="models:/tweet-sentiment/3", name="minilm", version="3"), True),
])
def test_only_pinned_transformer_models_are_cached(spec, expected):
    assert cacheable(spec) is expected


def test_spark_key_matches_python_key(spark):
    frame = spark.createDataFrame([(i, t) for i, t in enumerate(TEXTS)], "i int, cleaned_text string")
    rows = prediction_cache.with_text_key(frame).orderBy("i").collect()
    assert [r.norm_text for r in rows] == [normalize_text(t) for t in TEXTS]
    assert [r.text_hash for r in rows] == [text_hash(t) for t in TEXTS]


def test_lookup_returns_one_row_per_key_of_the_model_version(spark, tmp_path):
    path = str(tmp_path / "prediction_cache")
    spec = ModelSpec(kind="hf", model="/m", name="m", version="v1")
    hashes = [text_hash(t) for t in ("a", "b", "c")]
    keys = hashes[:2] + [hashes[0]]
    assert prediction_cache.lookup(spark, path, keys, spec) is None

    def rows(pairs, version="v1"):
        data = [(h, "m", version, "positive", p, 1 - p, 0.0, p) for h, p in pairs]
        return spark.createDataFrame(data, prediction_cache.SCHEMA)

    prediction_cache.store(spark, path, rows([(hashes[0], 0.9), (hashes[2], 0.7)]))
    prediction_cache.store(spark, path, rows([(hashes[0], 0.9), (hashes[1], 0.8)]))
    prediction_cache.store(spark, path, rows([(hashes[0], 0.5)], version="v2"))
    prediction_cache.store(spark, path, rows([(hashes[1], 0.6)]).withColumn("label", F.lit(None).cast("string")))
    found = prediction_cache.lookup(spark, path, keys, spec)
    assert sorted(zip(found["text_hash"], found["score"])) == sorted([(hashes[0], 0.9), (hashes[1], 0.8)])
    assert list(found.columns) == ["text_hash", *prediction_cache.PREDICTION_COLUMNS]
    v2 = ModelSpec(kind="hf", model="/m", name="m", version="v2")
    assert prediction_cache.lookup(spark, path, keys, v2)["score"].tolist() == [0.5]
    assert spark.read.format("delta").load(path).count() == 5
    done = compact(spark, path, min_files=2)
    assert (done.files_before, done.files_after) == (3, 1), "compact_lake compacts the cache's day partition"
    again = prediction_cache.lookup(spark, path, keys, spec)
    assert sorted(zip(again["text_hash"], again["score"])) == sorted(zip(found["text_hash"], found["score"]))


def _cache_rows(spark, hashes, score=0.9):
    return spark.createDataFrame([(h, "m", "v1", "positive", score, 0.05, 0.05, score) for h in hashes],
                                 prediction_cache.SCHEMA)


def test_lookup_reads_only_the_recent_partitions_as_the_cache_grows(spark, tmp_path):
    path = str(tmp_path / "prediction_cache")
    spec = ModelSpec(kind="hf", model="/m", name="m", version="v1")
    recent, old = [text_hash(f"recent {i}") for i in range(3)], [text_hash(f"old {i}") for i in range(3)]
    keys = recent + old
    prediction_cache.store(spark, path, _cache_rows(spark, recent))
    for age in range(1, 4):
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=prediction_cache.RECENT_DAYS * age)
        prediction_cache.store(spark, path, _cache_rows(spark, old), day=day)
        table_files = spark.read.format("delta").load(path).inputFiles()
        assert len(table_files) == 1 + age
        assert len(prediction_cache.recent_files(path)) == 1
        assert len(prediction_cache.recent_files(path, days=36500)) == 1 + age
        assert len(prediction_cache.cached_rows(spark, path, keys, spec).inputFiles()) == 1
        assert len(prediction_cache.cached_rows(spark, path, keys, spec, days=36500).inputFiles()) == 1 + age
    assert sorted(prediction_cache.lookup(spark, path, keys, spec)["text_hash"]) == sorted(recent)
    everything = prediction_cache.lookup(spark, path, keys, spec, days=36500)
    assert sorted(everything["text_hash"]) == sorted(recent + old)
    through_spark = prediction_cache.cached_rows(spark, path, keys, spec).collect()
    assert sorted(r.text_hash for r in through_spark) == sorted(recent)


def test_a_cache_in_the_old_layout_is_migrated_and_still_hits(spark, tmp_path):
    from tweetsent_assets.lib.lake.delta_tables import sql_table

    path = str(tmp_path / "prediction_cache")
    spec = ModelSpec(kind="hf", model="/m", name="m", version="v1")
    hashes = [text_hash(t) for t in ("a", "b", "c")]
    _cache_rows(spark, hashes[:2]).write.format("delta").save(path)
    assert sorted(prediction_cache.lookup(spark, path, hashes, spec)["text_hash"]) == sorted(hashes[:2])
    detail = spark.sql(f"DESCRIBE DETAIL {sql_table(path)}").first()
    assert list(detail["partitionColumns"]) == [prediction_cache.PARTITION]
    rows = spark.read.format("delta").load(path).collect()
    assert len(rows) == 2 and {r.cached_on for r in rows} == {dt.datetime.now(dt.timezone.utc).date()}
    prediction_cache.store(spark, path, _cache_rows(spark, hashes[2:]))
    assert spark.read.format("delta").load(path).count() == 3
