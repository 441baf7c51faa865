"""Batch manifests: the exact objects (key and etag) a micro-batch partition stands for.

The sensor writes one before requesting the run, so a re-run, a retry or a backfill of the
partition reads the same objects again.
"""
from __future__ import annotations

import json

from .batching import Batch
from .object_store import ObjectStore

MANIFEST_DIR = "batches"


def write_manifest(store: ObjectStore, batch: Batch) -> str:
    key = f"{MANIFEST_DIR}/{batch.key}.json"
    store.put(key, json.dumps(batch.manifest(), indent=1).encode())
    return key


def read_manifest(store: ObjectStore, batch_id: str) -> dict:
    key = f"{MANIFEST_DIR}/{batch_id}.json"
    try:
        data, _ = store.get(key)
    except FileNotFoundError as exc:
        raise LookupError(
            f"no manifest for batch {batch_id!r} at {store.uri(key)}: batches are registered by the "
            f"new_tweet_objects sensor (or `tweetsent demo`), which writes this file first") from exc
    return json.loads(data)
