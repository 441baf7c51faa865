"""Trends and spike detection: unit checks on the window maths, then a replay with one planted spike.

The replay lands 48 hours of synthetic tweets (about a quarter negative) with one hour at 80%
negative, all of it mentioning @planted, as four micro-batches; the real sensor, bronze, silver,
gold (VADER) and the incremental aggregates run, and sentiment_spikes must flag exactly that hour
with its top mention; the checks against a rebuild from gold must pass.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, instance_for_test

from tweetsent_assets import runner
from tweetsent_assets.definitions import build_defs
from tweetsent_assets.lib.ingest.replay import replay
from tweetsent_assets.lib.insights.spikes import detect_spikes, score_windows, with_shares

from ..support import pipeline_resources

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOURS, PER_HOUR, SPIKE_HOUR = 48, 20, 36
TEXTS = {
    "negative": "@brandx awful delay {i}, worst trip ever #travel",
    "neutral": "@brandx flight {i} departs from gate 4 #travel",
    "positive": "@brandx love the crew {i}, great service #travel",
    "spike": "@planted outage {i} again, this is terrible and I hate it #outage",
}


def hourly(negatives: list[int], total: int = 20) -> pd.DataFrame:
    starts = pd.date_range("2026-03-01", periods=len(negatives), freq="h")
    return pd.DataFrame({"window_start": starts, "window_end": starts + pd.Timedelta("1h"),
                         "negative": negatives, "neutral": [total - n for n in negatives], "positive": 0,
                         "total": total})


def test_shares_and_rolling_share_pool_the_trailing_span():
    trends = with_shares(hourly([2, 4, 6, 8]), "2 hours")
    assert list(trends.share_negative) == [0.1, 0.2, 0.3, 0.4]
    assert np.allclose(trends[["share_negative", "share_neutral", "share_positive"]].sum(axis=1), 1.0)
    assert list(trends.rolling_share_negative.round(6)) == [0.1, 0.15, 0.25, 0.35]


def test_spike_is_flagged_against_the_earlier_windows_only():
    negatives = [5, 4, 6, 5, 4, 6, 5, 4, 16, 5, 4, 6]
    spikes = detect_spikes(hourly(negatives), z=3.0, baseline="8 hours", min_baseline_windows=6)
    assert list(spikes.window_start) == [pd.Timestamp("2026-03-01 08:00")]
    row = spikes.iloc[0]
    assert row.share_negative == 0.8 and row.baseline_share_negative == pytest.approx(39 / 160)
    assert row.direction == "up" and row.z_score > 3
    scored = score_windows(hourly(negatives), "8 hours")
    assert scored.baseline_windows.tolist()[:3] == [0, 1, 2]


def test_small_windows_and_short_histories_are_not_flagged():
    negatives = [5, 4, 6, 5, 4, 6, 5, 4, 16]
    assert detect_spikes(hourly(negatives), z=3.0, baseline="8 hours", min_baseline_windows=9).empty
    assert detect_spikes(hourly(negatives), z=3.0, baseline="8 hours", min_tweets=21).empty
    small = hourly([1] * 8 + [3], total=3)
    assert detect_spikes(small, z=3.0, baseline="8 hours", min_tweets=3).empty, "3 of 3 is within a third's noise"
    large = hourly([10] * 8 + [30], total=30)
    assert len(detect_spikes(large, z=3.0, baseline="8 hours")) == 1, "30 of 30 is not"


def synthetic_tweets() -> list[dict]:
    """48 hours, 20 tweets each: 4-6 negative, 6 neutral, the rest positive; hour 36 is 16 @planted negatives."""
    records = []
    for hour in range(HOURS):
        if hour == SPIKE_HOUR:
            kinds = ["spike"] * 16 + ["neutral"] * 2 + ["positive"] * 2
        else:
            negatives = (4, 5, 6, 5)[hour % 4]
            kinds = ["negative"] * negatives + ["neutral"] * 6 + ["positive"] * (PER_HOUR - 6 - negatives)
        for n, kind in enumerate(kinds):
            i = hour * PER_HOUR + n
            moment = START + timedelta(hours=hour, minutes=n * 2, seconds=7)
            records.append({"id": f"syn-{i}", "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "user": f"user{i % 37}", "text": TEXTS[kind].format(i=i), "sentiment": None})
    return records


@pytest.fixture(scope="module")
def replayed(spark, tmp_path_factory):
    """Batches of 240 tweets each update the aggregates in their own run (rolling share over 6 hours)."""
    root = tmp_path_factory.mktemp("spikes")
    resources = pipeline_resources(root, max_objects_per_batch=1)
    replay(synthetic_tweets(), resources["landing"].store(), tweets_per_object=240, objects_per_second=None)
    with instance_for_test() as instance:
        defs = build_defs(resources)
        config = {"ops": {"aggregates": {"config": {"rolling": "6 hours"}}}}
        outcome = runner.process_new_objects(defs, instance, None, config)
        assert outcome.failed == [] and len(outcome.batches) == 4
        event = instance.get_latest_materialization_event(AssetKey("sentiment_spikes"))
        checked = defs.resolve_job_def("verify_aggregates").execute_in_process(instance=instance, raise_on_error=False)
        yield {"lake": resources["lake"], "spark": spark, "metadata": event.asset_materialization.metadata,
               "checks": checked}


def table(p, name: str) -> pd.DataFrame:
    return p["spark"].read.format("delta").load(p["lake"].path(name)).toPandas()


def test_replayed_trends_count_and_share_each_window(replayed):
    trends = table(replayed, "sentiment_trends").sort_values("window_start").reset_index(drop=True)
    assert len(trends) == HOURS and (trends.total == PER_HOUR).all()
    assert (trends[["negative", "neutral", "positive"]].sum(axis=1) == trends.total).all()
    spike = trends.iloc[SPIKE_HOUR]
    assert spike.negative == 16 and spike.share_negative == 0.8
    last6 = trends.iloc[SPIKE_HOUR - 5:SPIKE_HOUR + 1]
    assert spike.rolling_share_negative == pytest.approx(last6.negative.sum() / last6.total.sum())


def test_replayed_spike_is_exactly_the_planted_window(replayed):
    spikes = table(replayed, "sentiment_spikes")
    planted = pd.Timestamp(START + timedelta(hours=SPIKE_HOUR)).tz_localize(None)
    assert list(spikes.window_start) == [planted]
    row = spikes.iloc[0]
    assert list(row.top_mentions)[0] == "planted" and list(row.top_hashtags)[0] == "outage"
    assert row.direction == "up" and row.z_score > 3 and row.negative == 16
    metadata = replayed["metadata"]
    assert metadata["spikes"].value == 1 and "planted" in metadata["spike_windows"].value


def test_incremental_tables_pass_the_rebuild_checks(replayed):
    evaluations = replayed["checks"].get_asset_check_evaluations()
    assert sorted(e.check_name for e in evaluations) == ["mention_sentiment_matches_rebuild",
                                                          "sentiment_spikes_matches_rebuild",
                                                          "sentiment_trends_matches_rebuild"]
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations]
