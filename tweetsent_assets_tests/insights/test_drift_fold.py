"""Folding batches into prediction_drift: a re-fold replaces a batch's contribution, a re-score moves it.

Gold is written here directly (no model): two batches over three hours, b2 sharing hour 1 with b1.
After each fold, the prediction_drift table equals the metrics computed from all of gold at once.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest

from tweetsent_assets.lib.insights import drift, drift_tables
from tweetsent_assets.lib.lake import delta_tables

WINDOW = "1 hour"
THRESHOLDS = drift.Thresholds(min_tweets=5)
START = datetime(2026, 3, 1)
GOLD_SCHEMA = "batch_id string, created_at timestamp, text string, cleaned_text string, label string, score double"
GOLD_COLUMNS = [part.split()[0] for part in GOLD_SCHEMA.split(", ")]


def gold_rows(batch: str, hours: list[int], label: str) -> pd.DataFrame:
    """Ten tweets per hour, every other one with a hashtag, all `label` but one."""
    rows = [{"batch_id": batch, "created_at": START + timedelta(hours=hour, minutes=5 * n),
             "text": f"tweet {n}" + (" #tag" if n % 2 else ""), "label": "neutral" if n == 0 else label,
             "score": 0.4 + n / 20} for hour in hours for n in range(10)]
    frame = pd.DataFrame(rows)
    return frame.assign(cleaned_text=frame["text"])[GOLD_COLUMNS]



@pytest.fixture()
def lake(spark, tmp_path):
    paths = drift_tables.Paths.under(lambda name: str(tmp_path / name))
    baseline = drift.scored_tweets(["fine #day", "ok", "good"] * 10, ["positive", "neutral", "negative"] * 10,
                                   [0.9, 0.6, 0.45] * 10)
    drift_tables.write_baseline(paths.baseline, drift.Baseline.of("3", baseline), "run-3")
    return {"spark": spark, "paths": paths}


def write_gold(lake, frame: pd.DataFrame, batch: str) -> None:
    delta_tables.replace_batch(lake["spark"].createDataFrame(frame, GOLD_SCHEMA), lake["paths"].gold, batch)


def fold(lake, batches: list[str]) -> dict:
    return drift_tables.update_batches(lake["spark"], lake["paths"], batches, WINDOW, THRESHOLDS)


def table(lake) -> pd.DataFrame:
    rows = lake["spark"].read.format("delta").load(lake["paths"].drift).toPandas()
    return rows[drift.DRIFT_COLUMNS].sort_values("window_start").reset_index(drop=True)


def expected(gold: pd.DataFrame, baseline: drift.Baseline) -> pd.DataFrame:
    return drift.window_metrics(drift.summed(drift.batch_stats(gold, WINDOW)), baseline, THRESHOLDS)


def assert_same(actual: pd.DataFrame, wanted: pd.DataFrame) -> None:
    for frame in (actual, wanted):
        frame["flagged_metrics"] = frame["flagged_metrics"].map(list)
    pd.testing.assert_frame_equal(actual, wanted[drift.DRIFT_COLUMNS], check_dtype=False)


def test_refolds_replace_a_batch_and_a_new_baseline_resets_the_comparison(lake):
    b1, b2 = gold_rows("b1", [0, 1], "positive"), gold_rows("b2", [1, 2], "negative")
    write_gold(lake, b1, "b1")
    write_gold(lake, b2, "b2")
    baseline = drift_tables.read_baseline(lake["spark"], lake["paths"].baseline)
    done = fold(lake, ["b1", "b2"])
    assert done["windows_touched"] == 3 and done["baseline_version"] == "3"
    assert_same(table(lake), expected(pd.concat([b1, b2]), baseline))
    assert table(lake)["total"].tolist() == [10, 20, 10]

    fold(lake, ["b1"])
    assert_same(table(lake), expected(pd.concat([b1, b2]), baseline))
    assert lake["spark"].read.format("delta").load(lake["paths"].stats).count() == 4

    rescored = gold_rows("b2", [3], "positive")
    write_gold(lake, rescored, "b2")
    assert fold(lake, ["b2"])["windows_touched"] == 3
    assert_same(table(lake), expected(pd.concat([b1, rescored]), baseline))
    assert table(lake)["window_start"].dt.hour.tolist() == [0, 1, 3]

    newer = drift.Baseline.of("4", drift.scored_tweets(["tweet 1 #tag", "tweet 2"] * 5, ["positive"] * 10, [0.7] * 10))
    drift_tables.write_baseline(lake["paths"].baseline, newer, "run-4")
    assert fold(lake, ["b1", "b2"])["baseline_version"] == "4"
    assert_same(table(lake), expected(pd.concat([b1, rescored]), newer))
    assert set(table(lake)["baseline_version"]) == {"4"}
