"""A batch's hour comes from its key's stamp, so it never changes, whenever the batch runs."""
import pytest

from tweetsent_assets.lib.ingest.hours import BadBatchKey, batch_prefix, by_hour, hour_of, hour_start, in_hour


def test_a_batch_belongs_to_the_hour_of_its_stamp_even_when_it_ends_in_the_next():
    assert hour_of("20261207T105959Z-abc123") == "2026-12-07-10:00"
    assert hour_of("20261207T110002Z-abc123") == "2026-12-07-11:00"
    assert in_hour("20261207T105959Z-abc123", "2026-12-07-10:00")
    assert not in_hour("20261207T105959Z-abc123", "2026-12-07-11:00")


def test_an_hour_key_gives_the_prefix_of_its_batches():
    assert batch_prefix("2026-12-07-09:00") == "20261207T09"
    assert hour_start("2026-12-07-09:00").isoformat() == "2026-12-07T09:00:00+00:00"


def test_batches_group_by_hour_in_order():
    groups = by_hour(["20261207T110002Z-b", "20261207T105959Z-a", "20261207T101500Z-c"])
    assert groups == {"2026-12-07-10:00": ["20261207T105959Z-a", "20261207T101500Z-c"],
                      "2026-12-07-11:00": ["20261207T110002Z-b"]}


@pytest.mark.parametrize("key", ["notes", "2026-12-07-batch", "20261307T000000Z-x"])
def test_a_key_without_a_stamp_is_refused_naming_it(key):
    with pytest.raises(BadBatchKey, match=key):
        hour_of(key)


@pytest.mark.parametrize("hour", ["2026-12-07-09:30", "2026-12-07", "yesterday"])
def test_a_key_that_is_not_an_hour_is_refused(hour):
    with pytest.raises(ValueError, match="not an hour partition key"):
        hour_start(hour)
