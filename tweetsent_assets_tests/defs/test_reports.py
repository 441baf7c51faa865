"""Hour reports: one materialization per asset and hour, at most once per interval, with the batches' figures summed."""
from dagster import MetadataValue

from tweetsent_assets.defs.reports import HourReports


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _written(rows: int, seconds: float, labels: dict) -> dict:
    return {"bronze_tweets": {"batch_rows": rows, "duration_s": seconds, "table_version": rows},
            "gold_tweet_sentiment": {"batch_rows": rows, "duration_s": seconds, "model_name": "vader",
                                     "labels": MetadataValue.json(labels)}}


def test_batches_within_the_interval_make_one_report_per_asset_with_summed_figures():
    clock = Clock()
    reports = HourReports(300, clock)
    assert reports.add("2026-12-07-10:00", "20261207T100000Z-a", _written(10, 1.0, {"positive": 10})) == []
    clock.now = 100
    assert reports.add("2026-12-07-10:00", "20261207T100100Z-b", _written(30, 3.0, {"positive": 5, "negative": 25})) == []
    clock.now = 301
    events = reports.add("2026-12-07-10:00", "20261207T100500Z-c", _written(20, 2.0, {"neutral": 20}))
    assert [(e.asset_key.to_user_string(), e.partition) for e in events] == [
        ("bronze_tweets", "2026-12-07-10:00"), ("gold_tweet_sentiment", "2026-12-07-10:00")]
    gold = {k: v.value for k, v in events[1].metadata.items()}
    assert gold["batches"] == 3 and gold["batch_rows"] == 60
    assert gold["labels"] == {"positive": 15, "negative": 25, "neutral": 20}
    assert gold["batch_seconds_p50"] == 2.0 and gold["batch_seconds_p95"] == 3.0
    assert (gold["first_batch"], gold["last_batch"]) == ("20261207T100000Z-a", "20261207T100500Z-c")
    assert events[0].metadata["table_version"].value == 20, "non-count metadata is the last batch's"
    assert reports.flush() == []


def test_a_batch_of_a_new_hour_reports_the_ended_hour_at_once_and_layers_keep_their_order():
    reports = HourReports(300, Clock())
    reports.add("2026-12-07-10:00", "20261207T105959Z-a", _written(10, 1.0, {}))
    events = reports.add("2026-12-07-11:00", "20261207T110001Z-b", _written(5, 1.0, {}))
    assert [(e.partition, e.asset_key.to_user_string(), e.metadata["batches"].value) for e in events] == [
        ("2026-12-07-10:00", "bronze_tweets", 1), ("2026-12-07-10:00", "gold_tweet_sentiment", 1),
        ("2026-12-07-11:00", "bronze_tweets", 1), ("2026-12-07-11:00", "gold_tweet_sentiment", 1)]


def test_an_idle_stream_reports_when_the_hour_ends_or_the_interval_passes():
    clock = Clock()
    reports = HourReports(300, clock)
    reports.add("2026-12-07-10:00", "20261207T105000Z-a", _written(10, 1.0, {}))
    assert reports.due("2026-12-07-10:00") == []
    assert len(reports.due("2026-12-07-11:00")) == 2
    reports.add("2026-12-07-11:00", "20261207T110500Z-b", _written(10, 1.0, {}))
    clock.now = 299
    assert reports.due("2026-12-07-11:00") == []
    clock.now = 600
    assert len(reports.due("2026-12-07-11:00")) == 2
