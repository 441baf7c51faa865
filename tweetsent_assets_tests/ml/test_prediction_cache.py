"""Prediction-cache keys: normalisation and hashing agree between Python and Spark; what gets cached."""
from __future__ import annotations

import hashlib

import pytest
from pyspark.sql import functions as F

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
    keys = spark.createDataFrame([(h,) for h in hashes[:2]] + [(hashes[0],)], "text_hash string")
    assert prediction_cache.lookup(spark, path, keys, spec) is None

    def rows(pairs, version="v1"):
        data = [(h, "m", version, "positive", p, 1 - p, 0.0, p) for h, p in pairs]
        return spark.createDataFrame(data, prediction_cache.SCHEMA)

    prediction_cache.store(spark, path, rows([(hashes[0], 0.9), (hashes[2], 0.7)]))
    prediction_cache.store(spark, path, rows([(hashes[0], 0.9), (hashes[1], 0.8)]))
    prediction_cache.store(spark, path, rows([(hashes[0], 0.5)], version="v2"))
    prediction_cache.store(spark, path, rows([(hashes[1], 0.6)]).withColumn("label", F.lit(None).cast("string")))
    found = [(r.text_hash, r.score) for r in prediction_cache.lookup(spark, path, keys, spec).collect()]
    assert sorted(found) == sorted([(hashes[0], 0.9), (hashes[1], 0.8)])
    v2 = ModelSpec(kind="hf", model="/m", name="m", version="v2")
    assert [r.score for r in prediction_cache.lookup(spark, path, keys, v2).collect()] == [0.5]
    assert spark.read.format("delta").load(path).count() == 5
