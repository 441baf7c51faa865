"""Batch manifests: the exact objects (key and etag) a micro-batch partition stands for.

The sensor writes one before requesting the run, so a re-run, a retry or a backfill of the
partition reads the same objects again.
"""
from __future__ import annotations

import json

from .batching import Batch
from .hours import batch_prefix
from .object_store import ObjectStore

MANIFEST_DIR = "batches"


def write_manifest(store: ObjectStore, batch: Batch) -> str:
    key = f"{MANIFEST_DIR}/{batch.key}.json"
    store.put(key, json.dumps(batch.manifest(), indent=1).encode())
    return key


def manifested_objects(store: ObjectStore) -> dict[str, tuple[str, str]]:
    """Every object that some batch manifest holds, as a listing cursor's `seen`: key -> (etag, last-modified)."""
    seen: dict[str, tuple[str, str]] = {}
    for info in store.list():
        if info.key.startswith(f"{MANIFEST_DIR}/") and info.key.endswith(".json"):
            data, _ = store.get(info.key)
            seen.update({o["key"]: (o["etag"], o["last_modified"]) for o in json.loads(data)["objects"]})
    return seen


def read_manifest(store: ObjectStore, batch_id: str) -> dict:
    key = f"{MANIFEST_DIR}/{batch_id}.json"
    try:
        data, _ = store.get(key)
    except FileNotFoundError as exc:
        raise LookupError(
            f"no manifest for batch {batch_id!r} at {store.uri(key)}: batches are registered by the "
            f"new_tweet_objects sensor (or `tweetsent demo`), which writes this file first") from exc
    return json.loads(data)


def hour_batches(store: ObjectStore, hour: str) -> list[str]:
    """The batches whose manifests say they belong to `hour` (a `YYYY-MM-DD-HH:00` key), oldest first."""
    return _batches(store, batch_prefix(hour))


def _batches(store: ObjectStore, prefix: str) -> list[str]:
    """The ids of the manifests whose batch id starts with `prefix`, in key order."""
    return [info.key[len(MANIFEST_DIR) + 1:-len(".json")] for info in store.list(f"{MANIFEST_DIR}/{prefix}")
            if info.key.endswith(".json")]


def manifested_batches(store: ObjectStore) -> list[str]:
    """Every batch that has a manifest, oldest first."""
    return _batches(store, "")
