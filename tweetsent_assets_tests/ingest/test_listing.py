"""IncrementalListing: the keys after the last one between full listings, objects kept for later, late keys taken."""
from __future__ import annotations

from tweetsent_assets.lib.ingest.listing import IncrementalListing
from tweetsent_assets.lib.ingest.object_store import LocalObjectStore


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStore(LocalObjectStore):
    """A folder store that records each listing's start_after (None for a full listing)."""

    def __init__(self, root):
        super().__init__(root)
        self.calls: list[str | None] = []

    def list(self, prefix: str = "", start_after: str | None = None):
        self.calls.append(start_after)
        return super().list(prefix, start_after)


def keys(objects) -> list[str]:
    return [o.key for o in objects]


def test_polls_list_after_the_last_key_and_the_whole_prefix_every_interval(tmp_path):
    store, clock = CountingStore(tmp_path), Clock()
    for key in ("20261207T100000Z-1.jsonl", "20261207T100001Z-2.jsonl"):
        store.put(key, b"{}")
    listing = IncrementalListing(store, full_every_s=600, clock=clock)
    assert keys(listing.poll()) == ["20261207T100000Z-1.jsonl", "20261207T100001Z-2.jsonl"]
    assert keys(listing.poll()) == []
    store.put("20261207T100002Z-3.jsonl", b"{}")
    store.put("20261207T095959Z-late.jsonl", b"{}")
    clock.now = 10
    assert keys(listing.poll()) == ["20261207T100002Z-3.jsonl"], "a key that sorts earlier waits for the full listing"
    clock.now = 600
    assert "20261207T095959Z-late.jsonl" in keys(listing.poll())
    assert store.calls == [None, "20261207T100001Z-2.jsonl", "20261207T100001Z-2.jsonl", None]
    assert listing.full_listings == 2


def test_objects_kept_for_later_come_back_on_incremental_polls_only_once_each(tmp_path):
    store, clock = CountingStore(tmp_path), Clock()
    for i in range(3):
        store.put(f"k{i}.jsonl", b"{}")
    listing = IncrementalListing(store, full_every_s=600, clock=clock)
    first = listing.poll()
    listing.keep(first[1:])
    clock.now = 1
    store.put("k3.jsonl", b"{}")
    assert keys(listing.poll()) == ["k1.jsonl", "k2.jsonl", "k3.jsonl"]
    listing.keep([])
    clock.now = 2
    assert keys(listing.poll()) == []


def test_skipped_prefix_and_zero_interval_list_whole_every_time(tmp_path):
    store, clock = CountingStore(tmp_path), Clock()
    store.put("a.jsonl", b"{}")
    store.put("batches/x.json", b"{}")
    listing = IncrementalListing(store, full_every_s=0, skip_prefix="batches/", clock=clock)
    assert keys(listing.poll()) == ["a.jsonl"]
    assert keys(listing.poll()) == ["a.jsonl"]
    assert store.calls == [None, None]
    assert "listed whole on every poll" in listing.describe()


def test_an_idle_poll_stats_no_old_object(tmp_path, monkeypatch):
    store, clock = LocalObjectStore(tmp_path), Clock()
    for i in range(200):
        store.put(f"2026/12/07/{i:05d}.jsonl", b"{}")
    listing = IncrementalListing(store, full_every_s=600, clock=clock)
    assert len(listing.poll()) == 200
    stats = []
    original = type(tmp_path).stat

    def counting(path, *args, **kwargs):
        stats.append(path)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(type(tmp_path), "stat", counting)
    clock.now = 1
    assert listing.poll() == []
    assert [p for p in stats if p.suffix == ".jsonl"] == []
