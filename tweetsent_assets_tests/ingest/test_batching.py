"""Sensor cursor bookkeeping and micro-batch planning."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tweetsent_assets.lib.ingest.batching import ListingCursor, advance_cursor, find_new_objects, plan_batches
from tweetsent_assets.lib.ingest.object_store import ObjectInfo

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LOOKBACK = timedelta(minutes=10)


def obj(key: str, minutes: float, etag: str | None = None, size: int = 10) -> ObjectInfo:
    return ObjectInfo(key=key, etag=etag or f"etag-{key}", last_modified=T0 + timedelta(minutes=minutes), size=size)


def tick(listing, cursor, lookback=LOOKBACK):
    new = find_new_objects(listing, cursor, lookback)
    return new, advance_cursor(cursor, new, lookback)


def test_cursor_round_trip():
    cursor = ListingCursor(T0, {"a.json": ("e1", T0.isoformat()), "b/c.json": ("e2", (T0 - LOOKBACK).isoformat())})
    decoded = ListingCursor.decode(cursor.encode())
    assert decoded == cursor
    assert decoded.watermark.tzinfo is not None
    assert decoded.encode() == cursor.encode()


def test_cursor_decode_empty():
    for text in (None, ""):
        cursor = ListingCursor.decode(text)
        assert cursor.watermark is None and cursor.seen == {}
    assert ListingCursor.decode(ListingCursor().encode()) == ListingCursor(None, {})


def test_empty_cursor_returns_all_sorted_by_time_then_key():
    listing = [obj("c", 2), obj("b", 1), obj("a", 2), obj("z", 0)]
    new = find_new_objects(listing, ListingCursor.decode(None), LOOKBACK)
    assert [o.key for o in new] == ["z", "b", "a", "c"]


def test_retick_after_advance_requests_nothing():
    listing = [obj("a", 0), obj("b", 1), obj("c", 2)]
    new, cursor = tick(listing, ListingCursor())
    assert len(new) == 3
    assert cursor.watermark == T0 + timedelta(minutes=2)
    assert set(cursor.seen) == {"a", "b", "c"}
    again, after = tick(listing, ListingCursor.decode(cursor.encode()))
    assert again == []
    assert after == ListingCursor.decode(cursor.encode())


def test_late_key_with_older_timestamp_within_lookback_found_once():
    listing = [obj("a", 0), obj("b", 5)]
    _, cursor = tick(listing, ListingCursor())
    listing.append(obj("late", 1))
    new, cursor = tick(listing, cursor)
    assert [o.key for o in new] == ["late"]
    assert cursor.watermark == T0 + timedelta(minutes=5)
    again, _ = tick(listing, cursor)
    assert again == []


def test_object_older_than_lookback_horizon_ignored():
    _, cursor = tick([obj("a", 20)], ListingCursor())
    new = find_new_objects([obj("a", 20), obj("ancient", 5), obj("edge", 10), obj("inside", 10.5)], cursor, LOOKBACK)
    assert [o.key for o in new] == ["inside"]


def test_same_key_with_new_etag_found_again():
    _, cursor = tick([obj("a", 0, etag="v1"), obj("b", 1)], ListingCursor())
    new, cursor = tick([obj("a", 2, etag="v2"), obj("b", 1)], cursor)
    assert [(o.key, o.etag) for o in new] == [("a", "v2")]
    assert cursor.seen["a"][0] == "v2"
    new, _ = tick([obj("a", 0.5, etag="v3"), obj("b", 1)], cursor)
    assert [(o.key, o.etag) for o in new] == [("a", "v3")]


def test_advance_prunes_seen_entries_older_than_horizon():
    _, cursor = tick([obj("old", 0), obj("mid", 5)], ListingCursor())
    assert set(cursor.seen) == {"old", "mid"}
    _, cursor = tick([obj("new", 12)], cursor)
    assert cursor.watermark == T0 + timedelta(minutes=12)
    assert set(cursor.seen) == {"mid", "new"}
    _, cursor = tick([obj("newer", 30)], cursor)
    assert set(cursor.seen) == {"newer"}


def test_advance_with_nothing_keeps_cursor():
    cursor = ListingCursor(T0, {"a": ("e", T0.isoformat())})
    assert advance_cursor(cursor, [], LOOKBACK) is cursor


def test_watermark_never_moves_back():
    _, cursor = tick([obj("a", 5)], ListingCursor())
    _, cursor = tick([obj("a", 5), obj("late", 1)], cursor)
    assert cursor.watermark == T0 + timedelta(minutes=5)


def test_plan_batches_chunks_in_order():
    objects = [obj(f"k{i:02d}", i) for i in range(7)]
    batches = plan_batches(objects, 3)
    assert [len(b.objects) for b in batches] == [3, 3, 1]
    assert [o for b in batches for o in b.objects] == objects
    assert batches[0].key.startswith("20240501T120000Z-")
    assert batches[1].key.startswith("20240501T120300Z-")
    assert len({b.key for b in batches}) == 3
    assert plan_batches([], 3) == []
    assert len(plan_batches(objects, 100)) == 1
    assert [len(b.objects) for b in plan_batches(objects, 1)] == [1] * 7


def test_plan_batches_keys_deterministic_and_content_sensitive():
    objects = [obj(f"k{i}", i) for i in range(4)]
    first = plan_batches(objects, 2)
    again = plan_batches([obj(f"k{i}", i) for i in range(4)], 2)
    assert [b.key for b in first] == [b.key for b in again]
    changed = list(objects)
    changed[1] = obj("k1", 1, etag="different")
    other = plan_batches(changed, 2)
    assert other[0].key != first[0].key
    assert other[0].key.split("-")[0] == first[0].key.split("-")[0]
    assert other[1].key == first[1].key


def test_batch_manifest():
    batch = plan_batches([obj("a.json", 0, size=42)], 5)[0]
    assert batch.manifest() == {"batch_id": batch.key, "objects": [
        {"key": "a.json", "etag": "etag-a.json", "last_modified": T0.isoformat(), "size": 42}]}


@pytest.mark.parametrize("n", [0, -1])
def test_plan_batches_rejects_n_below_one(n):
    with pytest.raises(ValueError, match="at least 1"):
        plan_batches([obj("a", 0)], n)


def test_plan_batches_caps_bytes_and_groups():
    objects = [obj(f"k{i}", i, size=size) for i, size in enumerate([40, 40, 30, 100, 5, 5])]
    batches = plan_batches(objects, 10, max_bytes=80)
    assert [[o.key for o in b.objects] for b in batches] == [["k0", "k1"], ["k2"], ["k3"], ["k4", "k5"]]
    assert [len(b.objects) for b in plan_batches(objects, 10, max_bytes=80, limit=2)] == [2, 1]
    assert [len(b.objects) for b in plan_batches(objects, 2, max_bytes=1000)] == [2, 2, 2]
    with pytest.raises(ValueError, match="max_batch_bytes"):
        plan_batches(objects, 10, max_bytes=0)
