"""Read the objects of one batch manifest and split them into bronze rows and quarantine rows."""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .landing_records import KNOWN_FIELDS, MAX_TEXT_CHARS, parse_object
from .object_store import ObjectStore

BRONZE_COLUMNS = ("batch_id", "source_file", "source_etag", "record_index", "record_key",
                  *KNOWN_FIELDS, "raw", "ingested_at")
QUARANTINE_COLUMNS = ("batch_id", "source_file", "source_etag", "record_index", "record_key",
                      "raw", "reason", "ingested_at")
LEDGER_COLUMNS = ("batch_id", "source_file", "source_etag", "landed", "ingested_at")


@dataclass
class BronzeBatch:
    """Rows for bronze and quarantine, plus per-object counts for reconciliation."""

    records: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)
    landed_per_object: dict[tuple[str, str], int] = field(default_factory=dict)
    superseded: list[str] = field(default_factory=list)

    @property
    def extra_columns(self) -> list[str]:
        return sorted({k for r in self.records for k in r} - set(BRONZE_COLUMNS))


def record_key(source_file: str, etag: str, index: int) -> str:
    """Identity of one landed unit: the same line of the same object version always maps here."""
    return hashlib.sha1(f"{source_file}\x1f{etag}\x1f{index}".encode()).hexdigest()


def _fetch(store: ObjectStore, key: str) -> tuple[tuple[bytes, str] | None, Exception | None]:
    """The object's bytes and etag, or the error reading it (reported per object, never raised)."""
    try:
        return store.get(key), None
    except Exception as exc:
        return None, exc


def read_batch_objects(store: ObjectStore, manifest: dict,
                       max_text_chars: int = MAX_TEXT_CHARS, fetch_threads: int = 8) -> BronzeBatch:
    """Fetch and parse every object of the manifest; a missing object is quarantined, not fatal.

    An object whose etag no longer matches the manifest was overwritten after listing: the new
    version belongs to a later batch, so it is skipped here and reported in `superseded`. Objects
    are fetched `fetch_threads` at a time (a batch under backpressure may hold hundreds).
    """
    batch_id = manifest["batch_id"]
    ingested_at = datetime.now(timezone.utc)
    out = BronzeBatch()
    entries = manifest["objects"]
    with ThreadPoolExecutor(max_workers=max(1, min(fetch_threads, len(entries)))) as pool:
        fetched = list(pool.map(lambda entry: _fetch(store, entry["key"]), entries))
    for entry, (got, error) in zip(entries, fetched):
        key, listed_etag = entry["key"], entry["etag"]
        try:
            source_file = store.uri(key)
        except ValueError:
            source_file = key
        if error is not None:
            etag = listed_etag
            parsed_records = []
            parsed_quarantine = [{"record_index": 0, "raw": "",
                                  "reason": f"object unreadable: {type(error).__name__}: {error}"}]
        else:
            data, etag = got
            if etag != listed_etag:
                out.superseded.append(source_file)
                continue
            parsed = parse_object(data, key, max_text_chars)
            parsed_records, parsed_quarantine = parsed.records, parsed.quarantined
        provenance = {"batch_id": batch_id, "source_file": source_file, "source_etag": etag,
                      "ingested_at": ingested_at}
        for row in parsed_records:
            out.records.append({**row, **provenance,
                                "record_key": record_key(source_file, etag, row["record_index"])})
        for row in parsed_quarantine:
            out.quarantined.append({**row, **provenance,
                                    "record_key": record_key(source_file, etag, row["record_index"])})
        out.landed_per_object[(source_file, etag)] = len(parsed_records) + len(parsed_quarantine)
    return out


def ledger_rows(manifest: dict, batch: BronzeBatch) -> list[dict]:
    """One row per object version read: how many units it landed, for reconciliation."""
    ingested_at = datetime.now(timezone.utc)
    return [{"batch_id": manifest["batch_id"], "source_file": source, "source_etag": etag, "landed": landed,
             "ingested_at": ingested_at} for (source, etag), landed in batch.landed_per_object.items()]
