"""Incremental aggregates: batches folded one by one equal a full rebuild from gold, after re-runs and re-scores.

Gold is written here directly (no model): 30 hours of tweets in three batches, one of them late
(tweets in hours another batch already filled), with one negative spike. Each step folds a batch
the way the assets do and compares every aggregate table with the rebuild computed from gold.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from tweetsent_assets.lib.insights import ledger as ledgers
from tweetsent_assets.lib.insights import pipeline, tables, verify
from tweetsent_assets.lib.lake import delta_tables

WINDOW, ROLLING = "1 hour", "6 hours"
RULE = tables.SpikeRule(z=3.0, baseline="8 hours", min_baseline_windows=6, min_tweets=10)
SETTINGS = pipeline.Settings(window=WINDOW, rolling=ROLLING, rule=RULE)
START = datetime(2026, 3, 1)
GOLD_SCHEMA = "id string, batch_id string, created_at timestamp, mentions array<string>, hashtags array<string>, label string"
SPIKE_HOUR = 20


def tweets(batch: str, hours: range, per_hour: int = 20, offset: int = 0) -> pd.DataFrame:
    """`per_hour` tweets per hour: a quarter-ish negative, all @brand, every third also @other; hour 20 spikes."""
    rows = []
    for hour in hours:
        negatives = 16 if hour == SPIKE_HOUR else (4, 5, 6, 5)[hour % 4]
        for n in range(per_hour):
            label = "negative" if n < negatives else ("neutral" if n < negatives + 6 else "positive")
            mentions = ["brand"] + (["other"] if n % 3 == 0 else []) + (["planted"] if hour == SPIKE_HOUR else [])
            rows.append({"id": f"{batch}-{hour}-{n + offset}", "batch_id": batch,
                         "created_at": START + timedelta(hours=hour, minutes=2 * n + offset),
                         "mentions": mentions, "hashtags": ["outage"] if hour == SPIKE_HOUR else ["travel"],
                         "label": label})
    return pd.DataFrame(rows)


@pytest.fixture
def lake(spark, tmp_path):
    paths = pipeline.Paths.under(lambda name: str(tmp_path / name))

    def write(frame: pd.DataFrame) -> None:
        batch = frame["batch_id"].iloc[0]
        delta_tables.replace_batch(spark.createDataFrame(frame, GOLD_SCHEMA), paths.gold, batch)

    def fold(batch: str) -> None:
        pipeline.update_batches(spark, paths, [batch], SETTINGS)

    return {"paths": paths, "write": write, "fold": fold, "spark": spark}


def read(lake, path: str) -> pd.DataFrame:
    """A table's rows without the ledger version each was computed from."""
    return lake["spark"].read.format("delta").load(path).toPandas().drop(columns=[tables.VERSION], errors="ignore")


def assert_matches_rebuild(lake) -> dict[str, pd.DataFrame]:
    """Every aggregate table equals what a full rebuild from gold gives; returns the tables."""
    paths, spark = lake["paths"], lake["spark"]
    gold = spark.read.format("delta").load(paths.gold)
    mentions, trends, spikes = read(lake, paths.mentions), read(lake, paths.trends), read(lake, paths.spikes)
    clean = {"missing": 0, "extra": 0, "different": 0, "examples": []}
    assert verify.differences(mentions, verify.expected_mentions(gold), "mention",
                               [*ledgers.COUNTS, *ledgers.EXTREMES]) == clean
    shares = [c for c in trends.columns if "share" in c]
    expected_trends = verify.expected_trends(gold, WINDOW, ROLLING)
    assert verify.differences(trends, expected_trends, "window_start", ["window_end", *ledgers.COUNTS],
                               shares) == clean
    expected_spikes = tables.spikes_of(spark, expected_trends, gold, RULE).toPandas()
    for frame in (spikes, expected_spikes):
        for column in ("top_mentions", "top_hashtags"):
            frame[column] = frame[column].map(tuple)
    assert verify.differences(spikes, expected_spikes, "window_start",
                               ["negative", "total", "top_mentions", "top_hashtags"],
                               ["z_score", "baseline_share_negative"]) == clean
    totals = ledgers.read(spark, paths.ledger, f"batch_id = '{ledgers.TOTAL}' AND kind = 'window'")
    assert totals["total"].sum() == gold.count(), "the window totals cover every gold row"
    return {"mentions": mentions.set_index("mention"), "trends": trends, "spikes": spikes}


@pytest.mark.slow
def test_batches_reruns_and_rescores_fold_to_the_full_rebuild(lake):
    write, fold = lake["write"], lake["fold"]
    first, second = tweets("b1", range(0, 16)), tweets("b2", range(16, 30))
    late = tweets("b3", range(10, 21), per_hour=4, offset=1)
    for frame in (first, second, late):
        write(frame)
        fold(frame["batch_id"].iloc[0])
        assert_matches_rebuild(lake)

    result = assert_matches_rebuild(lake)
    assert result["mentions"].loc["brand", "total"] == 16 * 20 + 14 * 20 + 11 * 4
    assert result["mentions"].loc["planted", "total"] == 20 + 4
    planted = START + timedelta(hours=SPIKE_HOUR)
    assert list(result["spikes"]["window_start"]) == [pd.Timestamp(planted)]
    assert result["spikes"]["top_mentions"].iloc[0][:2] == ("brand", "planted")
    assert len(result["trends"]) == 30 and result["trends"]["total"].sum() == 16 * 20 + 14 * 20 + 44

    fold("b2")
    fold("b3")
    again = assert_matches_rebuild(lake)
    assert again["mentions"].equals(result["mentions"]), "a re-run adds nothing"

    write(second.assign(label="positive"))
    fold("b2")
    rescored = assert_matches_rebuild(lake)
    assert rescored["mentions"].loc["brand", "positive"] == result["mentions"].loc["brand", "positive"] + 14 * 20 - \
        second["label"].eq("positive").sum()
    assert pd.Timestamp(planted) not in set(rescored["spikes"]["window_start"]), "b2's planted tweets are positive now"

    kept = late[late["created_at"] >= START + timedelta(hours=15)]
    write(kept.assign(mentions=[["brand"]] * len(kept)))
    fold("b3")
    shrunk = assert_matches_rebuild(lake)
    assert len(kept) == 24 and shrunk["mentions"].loc["planted", "total"] == 20
    assert shrunk["mentions"].loc["brand", "total"] == 16 * 20 + 14 * 20 + 24
    assert shrunk["mentions"].loc["brand", "first_seen"] == pd.Timestamp(START)
    assert len(shrunk["trends"]) == 30

    write(tweets("b1", range(0, 2)))
    fold("b1")
    moved = assert_matches_rebuild(lake)
    assert moved["mentions"].loc["other", "first_seen"] == pd.Timestamp(START)
    assert len(moved["trends"]) == 2 + 15 and moved["trends"]["window_start"].min() == pd.Timestamp(START)
    partials = read(lake, lake["paths"].ledger)
    assert set(partials["batch_id"]) == {"b1", "b2", "b3", ledgers.TOTAL}


@pytest.mark.slow
def test_batches_folded_together_equal_the_full_rebuild(lake):
    """New batches folded in one ledger MERGE, then a re-scored batch and a new one in one fold."""
    write = lake["write"]
    first, second, late = tweets("b1", range(0, 16)), tweets("b2", range(16, 30)), tweets("b3", range(10, 21), 4, 1)
    for frame in (first, second):
        write(frame)
    pipeline.update_batches(lake["spark"], lake["paths"], ["b1", "b2"], SETTINGS)
    together = assert_matches_rebuild(lake)
    assert together["mentions"].loc["brand", "total"] == 16 * 20 + 14 * 20
    write(second.assign(label="positive"))
    write(late)
    pipeline.update_batches(lake["spark"], lake["paths"], ["b2", "b3"], SETTINGS)
    mixed = assert_matches_rebuild(lake)
    assert mixed["mentions"].loc["brand", "total"] == 16 * 20 + 14 * 20 + 11 * 4
    assert mixed["mentions"].loc["brand", "positive"] >= 14 * 20
    assert set(read(lake, lake["paths"].ledger)["batch_id"]) == {"b1", "b2", "b3", ledgers.TOTAL}


@pytest.mark.slow
def test_full_rebuild_equals_the_incremental_tables(lake):
    for frame in (tweets("b1", range(0, 12)), tweets("b2", range(12, 24)), tweets("b3", range(6, 18), per_hour=3)):
        lake["write"](frame)
        lake["fold"](frame["batch_id"].iloc[0])
    incremental = assert_matches_rebuild(lake)
    pipeline.rebuild_all(lake["spark"], lake["paths"], SETTINGS)
    rebuilt = assert_matches_rebuild(lake)
    assert rebuilt["mentions"].sort_index().equals(incremental["mentions"].sort_index())
    totals = ledgers.mentions_of(ledgers.read(lake["spark"], lake["paths"].ledger, f"batch_id = '{ledgers.TOTAL}'"))
    totals = totals.set_index("mention")
    assert totals.loc["brand", "total"] == 24 * 20 + 12 * 3


def test_a_row_from_an_older_ledger_version_never_replaces_a_newer_one(spark, tmp_path):
    target = str(tmp_path / "mention_sentiment")

    def row(mention: str, total: int) -> pd.DataFrame:
        return pd.DataFrame({"mention": [mention], "negative": [total], "neutral": [0], "positive": [0],
                             "total": [total], "first_seen": [pd.Timestamp("2026-03-01")],
                             "last_seen": [pd.Timestamp("2026-03-02")]})

    def table() -> dict:
        rows = spark.read.format("delta").load(target).collect()
        return {r.mention: (r.total, r.ledger_version) for r in rows}

    tables.merge_rows(spark, pd.concat([row("a", 5), row("b", 1)]), tables.MENTION_SCHEMA, target, ["mention"], 5)
    tables.merge_rows(spark, row("a", 4), tables.MENTION_SCHEMA, target, ["mention"], 4,
                      pd.DataFrame({"mention": ["b"]}))
    assert table() == {"a": (5, 5), "b": (1, 5)}
    tables.merge_rows(spark, row("a", 6), tables.MENTION_SCHEMA, target, ["mention"], 6,
                      pd.DataFrame({"mention": ["b"]}))
    assert table() == {"a": (6, 6)}


def test_a_table_written_before_rows_carried_their_version_gets_the_column(spark, tmp_path):
    target = str(tmp_path / "mention_sentiment")
    spark.createDataFrame([("old", 1, 0, 0, 1, None, None)], tables.MENTION_SCHEMA).write.format("delta").save(target)
    row = pd.DataFrame({"mention": ["new"], "negative": [2], "neutral": [0], "positive": [0], "total": [2],
                        "first_seen": [pd.Timestamp("2026-03-01")], "last_seen": [pd.Timestamp("2026-03-02")]})
    tables.merge_rows(spark, row, tables.MENTION_SCHEMA, target, ["mention"], 7)
    rows = {r.mention: (r.total, r.ledger_version) for r in spark.read.format("delta").load(target).collect()}
    assert rows == {"old": (1, None), "new": (2, 7)}
