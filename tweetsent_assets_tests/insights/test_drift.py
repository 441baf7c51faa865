"""Drift metrics against hand-computed values, statistics that add up over batches, and the issue's replay.

The replay: a baseline from half of TweetEval val scored by VADER (as the champion's evaluation
would store it); airline tweets (mostly negative, longer, with URLs) replayed in batches flag
every daily window, while the other half of TweetEval, replayed the same way, flags none.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tweetsent_assets.lib.ingest.dates import parse_tweet_timestamp
from tweetsent_assets.lib.ingest.sources import read_airline, read_tweeteval
from tweetsent_assets.lib.ingest.text_cleaning import clean_text
from tweetsent_assets.lib.insights import drift
from tweetsent_assets.lib.ml.models.loader import load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec

from ..support import shared

WINDOW = "1 day"
BATCH_SIZE = 500


def test_psi_of_a_label_mix_equals_the_hand_computed_value():
    # shares (.5, .3, .2) against (.4, .4, .2): .1 ln(.5/.4) + (-.1) ln(.3/.4) + 0
    assert drift.psi([50, 30, 20], [40, 40, 20]) == pytest.approx(0.1 * np.log(1.25) + 0.1 * np.log(4 / 3))
    assert drift.psi([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0)
    assert np.isfinite(drift.psi([10, 0, 0], [0, 5, 5]))


def test_jensen_shannon_distance_equals_the_hand_computed_value():
    # m = (.5, .25, .25): each KL is .5 log2(.5/.25) = .5 bit, so the distance is sqrt(.5)
    assert drift.js_distance([1, 1, 0], [1, 0, 1]) == pytest.approx(np.sqrt(0.5))
    assert drift.js_distance([3, 0], [0, 7]) == pytest.approx(1.0)
    assert drift.js_distance([2, 4, 6], [1, 2, 3]) == pytest.approx(0.0, abs=1e-7)


def test_ks_statistic_and_share_below_come_from_the_binned_cdfs():
    # CDFs (.5, 1, 1, 1) and (0, .5, 1, 1): the largest gap is .5
    assert drift.ks_statistic([2, 2, 0, 0], [0, 2, 2, 0]) == pytest.approx(0.5)
    assert drift.ks_statistic([1, 1], [3, 3]) == pytest.approx(0.0)
    confidence = np.zeros(drift.CONFIDENCE_BINS, dtype=int)
    confidence[[34, 49, 50, 90]] = [2, 1, 1, 1]
    assert drift.share_below(confidence, 0.5) == pytest.approx(3 / 5)


def test_summarise_counts_labels_confidence_lengths_and_features():
    tweets = drift.scored_tweets(["I love it 😀", "see https://t.co/x #deal", "meh"],
                                 ["positive", "neutral", "negative"], [0.95, 0.40, 0.501])
    stats = drift.summarise(tweets)
    assert (stats["negative"], stats["neutral"], stats["positive"], stats["total"]) == (1, 1, 1, 3)
    assert (stats["with_emoji"], stats["with_url"], stats["with_hashtag"]) == (1, 1, 1)
    assert np.flatnonzero(stats["confidence_hist"]).tolist() == [40, 50, 95]
    # cleaned lengths: 11, 15 ("see http #deal" is 14: URL -> http), 3
    assert tweets["cleaned_text"].str.len().tolist() == [11, 14, 3]
    assert np.flatnonzero(stats["length_hist"]).tolist() == [0, 1]


def test_batch_statistics_summed_per_window_equal_the_window_summarised_at_once():
    tweets = _timed(drift.scored_tweets([f"tweet number {i}" + " x" * (i % 7) for i in range(40)],
                                        ["negative", "neutral", "positive", "positive"] * 10,
                                        np.linspace(0.34, 0.99, 40)), pd.Timestamp("2026-01-01"), "2 days")
    tweets["batch_id"] = ["b1", "b2"] * 20
    windows = drift.summed(drift.batch_stats(tweets, WINDOW))
    assert len(windows) == 2
    for window in windows.to_dict("records"):
        inside = tweets[tweets["created_at"].dt.floor(pd.Timedelta(WINDOW)) == window["window_start"]]
        assert {k: window[k] for k in drift.STATS} == drift.summarise(inside)


def test_windows_with_too_few_tweets_or_without_a_baseline_are_not_flagged():
    far = drift.summarise(drift.scored_tweets(["awful"] * 5, ["negative"] * 5, [0.9] * 5))
    near = drift.summarise(drift.scored_tweets(["fine"] * 5, ["positive"] * 5, [0.9] * 5))
    baseline = drift.Baseline("7", near)
    judged = drift.compare(far, near, drift.Thresholds(min_tweets=5))
    assert judged["flagged"] and {"label_psi", "label_js"} <= set(judged["flagged_metrics"])
    assert not drift.compare(far, near, drift.Thresholds(min_tweets=6))["flagged"]
    windows = pd.DataFrame([{"window_start": pd.Timestamp("2026-01-01"), "window_end": pd.Timestamp("2026-01-02"),
                             **far}])
    assert drift.window_metrics(windows, baseline, drift.Thresholds(min_tweets=5))["baseline_version"].tolist() == ["7"]
    unjudged = drift.window_metrics(windows, None, drift.Thresholds(min_tweets=5))
    assert not unjudged["flagged"].any() and unjudged["label_psi"].isna().all()
    assert unjudged[["share_negative", "share_low_confidence"]].iloc[0].tolist() == [1.0, 0.0]
    assert drift.Baseline.from_dict(baseline.to_dict()) == baseline


def _timed(tweets: pd.DataFrame, start: pd.Timestamp, span: str) -> pd.DataFrame:
    """Tweets spread evenly over `span` from `start`."""
    step = pd.Timedelta(span) / len(tweets)
    return tweets.assign(created_at=[start + i * step for i in range(len(tweets))])


@pytest.fixture(scope="module")
def replay():
    """VADER's baseline on even TweetEval val lines, and the window metrics of two replays against it."""
    vader = load_model(ModelSpec(kind="vader", model=None, name="vader"))

    def scored(records: list[dict]) -> pd.DataFrame:
        texts = [r["text"] for r in records]
        cleaned = [clean_text(t) for t in texts]
        predicted = vader.predict(cleaned)
        return drift.scored_tweets(texts, predicted.labels, predicted.scores, cleaned)

    def replayed(tweets: pd.DataFrame) -> pd.DataFrame:
        batches = tweets.assign(batch_id=[f"b{i // BATCH_SIZE:03d}" for i in range(len(tweets))])
        return drift.window_metrics(drift.summed(drift.batch_stats(batches, WINDOW)), baseline, drift.Thresholds())

    tweeteval = list(read_tweeteval(shared("tweeteval_sentiment"), split="val"))
    baseline = drift.Baseline.of("1", scored(tweeteval[::2]))
    airline_records = list(read_airline(shared("airline/Tweets.csv")))
    airline = scored(airline_records).assign(created_at=pd.to_datetime(
        [parse_tweet_timestamp(r["date"]) for r in airline_records], utc=True).tz_convert(None))
    like_baseline = _timed(scored(tweeteval[1::2]), pd.Timestamp("2026-01-01"), "4 days")
    return {"airline": replayed(airline), "like_baseline": replayed(like_baseline)}


def test_replaying_airline_tweets_flags_every_window(replay):
    airline = replay["airline"].set_index(replay["airline"]["window_start"].dt.strftime("%m-%d"))
    assert len(airline) == 8 and airline["flagged"].all() and (airline["total"] >= 200).all()
    crossed = airline["flagged_metrics"].map(set)
    assert crossed.map(lambda m: m <= {"label_psi", "label_js", "length_ks"}).all()
    assert (crossed.map(lambda m: "label_js" in m).sum(), crossed.map(lambda m: "length_ks" in m).sum()) == (5, 7)
    assert airline.loc["02-22", "flagged_metrics"] == ["label_psi", "label_js"]
    assert airline.loc["02-22", ["label_psi", "label_js", "length_ks"]].astype(float).round(3).tolist() == [0.177, 0.178, 0.127]
    assert airline.loc["02-20", ["label_js", "length_ks"]].astype(float).round(3).tolist() == [0.083, 0.197]
    assert (airline["share_negative"] > 0.28).all() and (airline["url_shift"] > 0.05).all()


def test_replaying_tweets_drawn_like_the_baseline_flags_nothing(replay):
    like = replay["like_baseline"]
    assert len(like) == 4 and (like["total"] == 250).all() and not like["flagged"].any()
    limits = drift.Thresholds().limits()
    for metric, limit in limits.items():
        assert like[metric].max() < limit / 1.4, metric
