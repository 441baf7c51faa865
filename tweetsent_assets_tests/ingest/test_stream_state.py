"""Holds on the stream: a run rewriting batches holds it; a released or stale hold does not."""
import json
import time

from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.stream_state import HOLD_DIR, hold_stream, holders, release_stream


def test_a_hold_stops_the_stream_until_released_or_stale(tmp_path):
    store = open_store(str(tmp_path / "state"))
    assert holders(store) == []
    hold_stream(store, "run-a")
    hold_stream(store, "run-b")
    assert sorted(holders(store)) == ["run-a", "run-b"]
    release_stream(store, "run-a")
    release_stream(store, "run-a")
    assert holders(store) == ["run-b"]
    store.put(f"{HOLD_DIR}/run-b.json", json.dumps({"at": time.time() - 600}).encode())
    assert holders(store) == [], "a run that died holding it does not stop the stream for good"
    store.put(f"{HOLD_DIR}/garbled.json", b"not json")
    assert holders(store) == []
