"""parse_tweet_timestamp on every date form our sources use, plus the real shared samples."""
from __future__ import annotations

import csv
from datetime import datetime, timezone

import pytest

from tweetsent_assets.lib.ingest.dates import parse_tweet_timestamp

from ..support import shared


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.mark.parametrize("value, expected", [
    ("Mon Apr 06 22:19:45 PDT 2009", utc(2009, 4, 7, 5, 19, 45)),
    ("Tue Jun 16 18:18:12 PDT 2009", utc(2009, 6, 17, 1, 18, 12)),
    ("Mon Jan 05 22:19:45 PST 2009", utc(2009, 1, 6, 6, 19, 45)),
    ("Mon Apr 06 22:19:45 EDT 2009", utc(2009, 4, 7, 2, 19, 45)),
    ("Mon Apr 06 22:19:45 GMT 2009", utc(2009, 4, 6, 22, 19, 45)),
    ("Mon Apr 06 22:19:45 UTC 2009", utc(2009, 4, 6, 22, 19, 45)),
    ("Mon Apr 06 22:19:45 pdt 2009", utc(2009, 4, 7, 5, 19, 45)),
    ("Wed Oct 10 20:19:24 +0000 2018", utc(2018, 10, 10, 20, 19, 24)),
    ("Wed Oct 10 20:19:24 +0530 2018", utc(2018, 10, 10, 14, 49, 24)),
    ("  Mon Apr 06 22:19:45 PDT 2009  ", utc(2009, 4, 7, 5, 19, 45)),
])
def test_twitter_form(value, expected):
    assert parse_tweet_timestamp(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2009-04-06T22:19:45Z", utc(2009, 4, 6, 22, 19, 45)),
    ("2009-04-06T22:19:45+02:00", utc(2009, 4, 6, 20, 19, 45)),
    ("2009-04-06T22:19:45-05:30", utc(2009, 4, 7, 3, 49, 45)),
    ("2009-04-06T22:19:45.123Z", utc(2009, 4, 6, 22, 19, 45, 123000)),
    ("2009-04-06T22:19:45.123456+00:00", utc(2009, 4, 6, 22, 19, 45, 123456)),
    ("2009-04-06T22:19:45", utc(2009, 4, 6, 22, 19, 45)),
    ("2009-04-06 22:19:45", utc(2009, 4, 6, 22, 19, 45)),
    ("2015-02-24 11:35:52 -0800", utc(2015, 2, 24, 19, 35, 52)),
    ("2015-02-24 11:35:52 +0100", utc(2015, 2, 24, 10, 35, 52)),
    ("2015-02-24 23:35:52 -08:00", utc(2015, 2, 25, 7, 35, 52)),
])
def test_iso_and_airline_forms(value, expected):
    assert parse_tweet_timestamp(value) == expected


@pytest.mark.parametrize("value, expected", [
    (1238970000, utc(2009, 4, 5, 22, 20)),
    (1238970000.5, utc(2009, 4, 5, 22, 20, 0, 500000)),
    (1238970000000, utc(2009, 4, 5, 22, 20)),
    (1238970000123, utc(2009, 4, 5, 22, 20, 0, 123000)),
    (0, utc(1970, 1, 1)),
])
def test_epoch_seconds_and_millis(value, expected):
    assert parse_tweet_timestamp(value) == expected


def test_results_are_aware_utc():
    for value in ("Mon Apr 06 22:19:45 PDT 2009", "2009-04-06T22:19:45+02:00", "2009-04-06T22:19:45", 1238970000):
        parsed = parse_tweet_timestamp(value)
        assert parsed.utcoffset().total_seconds() == 0
        assert parsed.tzinfo is timezone.utc


@pytest.mark.parametrize("value", [
    "garbage", "not a date at all", "Mon Apr 06 22:19:45 XYZ 2009", "Mon Foo 06 22:19:45 PDT 2009",
    "", "   ", None, True, False, [], {"date": "2009-04-06"}, b"2009-04-06T22:19:45Z",
    float("nan"), float("inf"), 10**30,
    "Mon Feb 31 22:19:45 PDT 2009", "Mon Apr 06 25:19:45 PDT 2009", "Mon Apr 06 22:19:45 +9999 2009",
    "Mon Jan 01 00:00:00 -0100 0000", "2009-02-30T00:00:00Z", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00",
])
def test_invalid_values_give_none_never_raise(value):
    assert parse_tweet_timestamp(value) is None


def shared_column(relative: str, column: str) -> list[str]:
    with shared(relative).open(newline="", encoding="utf-8", errors="replace") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def test_every_sentiment140_sample_date_parses():
    dates = shared_column("sentiment140/sentiment140_sample_20k.csv", "date")
    assert len(dates) == 20_000
    parsed = [parse_tweet_timestamp(d) for d in dates]
    assert sum(p is not None for p in parsed) == len(dates)
    assert all(datetime(2009, 4, 1, tzinfo=timezone.utc) < p < datetime(2009, 7, 1, tzinfo=timezone.utc)
               for p in parsed)


def test_every_airline_tweet_created_parses():
    dates = shared_column("airline/Tweets.csv", "tweet_created")
    assert len(dates) == 14_640
    parsed = [parse_tweet_timestamp(d) for d in dates]
    assert sum(p is not None for p in parsed) == len(dates)
    assert parse_tweet_timestamp(dates[0]) == utc(2015, 2, 24, 19, 35, 52)
