"""The driver and the executors clean and deduplicate a bronze batch into the same silver rows."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tweetsent_assets.lib.ingest import silver_batch

BRONZE_SCHEMA = ("id string, date string, user string, text string, sentiment string, lang string, batch_id string, "
                 "record_key string, source_file string, ingested_at timestamp")


def _at(second: int) -> datetime:
    return datetime(2024, 5, 1, 12, 0, second, tzinfo=timezone.utc)


ROWS = [
    ("1", "2024-05-01T10:00:00Z", "ann", "Hello @Delta #fly http://x.co", "positive", "en", "b1", "k1", "o1", _at(3)),
    ("1", "2024-05-01T10:00:00Z", "ann", "a later copy of id 1", "neg", "en", "b1", "k2", "o2", _at(9)),
    ("1", "2024-05-01T10:00:00Z", "ann", "an earlier copy of id 1", "4", "en", "b1", "k0", "o0", _at(1)),
    ("2", "Mon May 11 03:17:40 UTC 2009", "bob", "same second, key b wins over c", None, None, "b1", "kb", "o1", _at(5)),
    ("2", "Mon May 11 03:17:40 UTC 2009", "bob", "loses to kb", None, None, "b1", "kc", "o1", _at(5)),
    (None, None, "cy", "no id: one from the content", "2", "en", "b1", "k3", "o1", _at(4)),
    (None, None, "cy", "no id: one from the content", "2", "en", "b1", "k4", "o1", _at(6)),
    ("3", None, "dee", "   ", None, None, "b1", "k5", "o1", _at(7)),
    ("4", None, "eve", None, None, None, "b1", "k6", "o1", _at(8)),
    ("5", "bad date", None, "@united thanks!! 😀", "pos", "en", "b1", "k7", "o1", _at(2)),
]


def _collected(batch) -> list[tuple]:
    return sorted(tuple(row) for row in batch.rows.collect())


@pytest.fixture
def bronze(spark):
    return spark.createDataFrame(ROWS, BRONZE_SCHEMA)


def test_driver_and_executors_agree(spark, bronze):
    driver = silver_batch.on_driver(spark, bronze)
    executors = silver_batch.on_executors(bronze)
    try:
        assert (driver.on_driver, executors.on_driver) == (True, False)
        assert driver.with_text == executors.with_text == 8
        assert sorted(driver.ids) == sorted(executors.ids)
        assert len(driver.ids) == 4
        assert _collected(driver) == _collected(executors)
        kept = {row.id: row for row in driver.rows.collect()}
        assert kept["1"].record_key == "k0" and kept["1"].given_sentiment == "positive"
        assert kept["2"].record_key == "kb"
        assert kept["5"].mentions == ["united"] and kept["5"].created_at is None
        assert [row.id_from_content for row in kept.values()].count(True) == 1
    finally:
        executors.release()


def test_clean_picks_the_way_by_rows(spark, bronze):
    assert silver_batch.clean(spark, bronze, batch_rows=10, driver_rows=10).on_driver
    on_executors = silver_batch.clean(spark, bronze, batch_rows=11, driver_rows=10)
    on_executors.release()
    assert not on_executors.on_driver


def test_empty_batch_on_driver(spark, bronze):
    empty = silver_batch.on_driver(spark, bronze.where("false"))
    assert (empty.ids, empty.with_text, empty.rows.count()) == ([], 0, 0)
