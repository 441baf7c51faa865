"""Gold's scoring path on Spark: distinct texts scored once, repeats across batches served by the cache."""
from __future__ import annotations

import datetime as dt

import pytest

from tweetsent_assets.defs.gold import score_batch
from tweetsent_assets.defs.resources import LakeResource
from tweetsent_assets.lib.lake import delta_tables
from tweetsent_assets.lib.ml import prediction_cache
from tweetsent_assets.lib.ml.models.loader import clear_model_cache
from tweetsent_assets.lib.ml.models.types import ModelSpec

SILVER = ("id string, batch_id string, created_at timestamp, user string, text string, cleaned_text string, "
          "mentions array<string>, hashtags array<string>, lang string, given_sentiment string")
PROBS = ["label", "score", "p_negative", "p_neutral", "p_positive"]


def _silver(spark, path: str, batch_id: str, texts: list[str]) -> None:
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [(f"{batch_id}-{i}", batch_id, when, "u", t, t, [], [], "en", None) for i, t in enumerate(texts)]
    spark.createDataFrame(rows, SILVER).write.format("delta").mode("append").save(path)


@pytest.fixture(scope="module")
def tiny_spec(tmp_path_factory):
    from ..tiny_models import build_tiny_roberta

    folder = build_tiny_roberta(tmp_path_factory.mktemp("tiny") / "tiny-sentiment")
    clear_model_cache()
    yield ModelSpec(kind="hf", model=str(folder), name="tiny", version="t1", batch_size=4)
    clear_model_cache()


def test_repeats_skip_the_model_within_and_across_batches(spark, tmp_path, tiny_spec):
    lake = LakeResource(root=str(tmp_path / "lake"))
    silver = lake.path("silver_tweets")
    first = ["great flight today", "great  flight today ", "worst crew ever", "gate 4 at ten", "lost my bag"]
    second = ["worst crew ever", "new text here", "great flight today", "new text here"]
    _silver(spark, silver, "b1", first)
    _silver(spark, silver, "b2", second)

    one = score_batch(spark, lake, "b1", tiny_spec)
    assert (one.batch_rows, one.texts_scored, one.cache_hits) == (5, 4, 0)
    assert sum(one.labels.values()) == 5 and one.table.rows == 5

    two = score_batch(spark, lake, "b2", tiny_spec)
    assert (two.batch_rows, two.texts_scored, two.cache_hits) == (4, 1, 2)
    assert two.table.rows == 9
    assert spark.read.format("delta").load(lake.path(prediction_cache.TABLE)).count() == 5

    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas().set_index("id")
    assert set(gold["model_version"]) == {"t1"} and set(gold["model_name"]) == {"tiny"}
    assert gold.loc["b1-0", PROBS].tolist() == gold.loc["b1-1", PROBS].tolist()
    assert gold.loc["b2-0", PROBS].tolist() == gold.loc["b1-2", PROBS].tolist()
    assert gold.loc["b2-2", PROBS].tolist() == gold.loc["b1-0", PROBS].tolist()

    fresh = score_batch(spark, lake, "b2", tiny_spec, use_cache=False)
    assert (fresh.texts_scored, fresh.cache_hits, fresh.table.rows) == (3, 0, 9)
    rescored = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas().set_index("id")
    for column in PROBS[1:]:
        assert rescored.loc["b2-0", column] == pytest.approx(gold.loc["b2-0", column], abs=1e-6)
        assert rescored.loc["b2-2", column] == pytest.approx(gold.loc["b2-2", column], abs=1e-6)


def test_vader_batches_bypass_the_cache(spark, tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    _silver(spark, lake.path("silver_tweets"), "v1", ["love it", "love it", "hate it"])
    done = score_batch(spark, lake, "v1", ModelSpec(kind="vader", model=None, name="vader", version="3.3.2"))
    assert (done.batch_rows, done.texts_scored, done.cache_hits) == (3, 2, 0)
    assert done.labels == {"positive": 2, "negative": 1}
    assert not delta_tables.exists(spark, lake.path(prediction_cache.TABLE))


def test_an_empty_batch_scores_nothing_and_writes_no_rows(spark, tmp_path, tiny_spec):
    lake = LakeResource(root=str(tmp_path / "lake"))
    _silver(spark, lake.path("silver_tweets"), "full", ["one text"])
    done = score_batch(spark, lake, "empty", tiny_spec)
    assert (done.batch_rows, done.texts_scored, done.cache_hits, done.labels) == (0, 0, 0, {})
    assert done.table.rows == 0
    assert not delta_tables.exists(spark, lake.path(prediction_cache.TABLE))


def test_one_job_driver_and_spark_paths_write_the_same_gold(spark, tmp_path, tiny_spec):
    from tweetsent_assets.defs.gold import score_batch_in_spark

    texts = ["great flight today", "worst crew ever", "great flight today", "gate 4 at ten", "", "lost my bag"]
    golds = {}
    for way in ("one_job", "driver", "spark"):
        lake = LakeResource(root=str(tmp_path / way))
        _silver(spark, lake.path("silver_tweets"), "b1", texts)
        if way == "spark":
            done = score_batch_in_spark(spark, lake, "b1", tiny_spec, None)
        else:
            done = score_batch(spark, lake, "b1", tiny_spec, use_cache=False, driver_texts=0 if way == "one_job" else 10)
        assert (done.batch_rows, done.texts_scored, done.cache_hits, done.table.rows) == (6, 5, 0, 6)
        assert sum(done.labels.values()) == 6
        assert set(done.seconds) >= ({"read", "score_and_write"} if way == "one_job" else {"inference", "write_gold"})
        golds[way] = spark.read.format("delta").load(lake.path("gold_tweet_sentiment")).toPandas().set_index("id")
    one_job = golds["one_job"].sort_index()
    assert one_job.loc["b1-0", PROBS].tolist() == one_job.loc["b1-2", PROBS].tolist()
    for way in ("driver", "spark"):
        other = golds[way].sort_index()
        assert other.index.tolist() == one_job.index.tolist() and list(other.columns) == list(one_job.columns)
        assert other["label"].tolist() == one_job["label"].tolist()
        assert other["cleaned_text"].tolist() == one_job["cleaned_text"].tolist()
        for column in PROBS[1:]:
            assert other[column].tolist() == pytest.approx(one_job[column].tolist(), abs=1e-5)
