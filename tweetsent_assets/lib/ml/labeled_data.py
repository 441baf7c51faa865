"""Labeled evaluation and training tweets from configured sources, local or s3://."""
from __future__ import annotations

import hashlib
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..ingest.object_store import open_store, safe_key
from ..ingest.sources import missing_tweeteval_files, read_csv, read_jsonl, read_source
from .models.labels import LABELS

SPLITS = ("train", "val", "eval")
TWEETEVAL_SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LabeledSource:
    """One labeled data set: a path or s3:// URL, the split its rows go to, and an optional row cap.

    `text_column`/`label_column` apply to generic CSV/JSONL files; the known formats are detected.
    `tweeteval_split` is the split a TweetEval folder is read from. An `optional` source whose files
    are missing is skipped (see `missing_files`) instead of failing.
    """

    path: str
    split: str
    limit: int | None = None
    text_column: str = "text"
    label_column: str = "sentiment"
    tweeteval_split: str = "val"
    optional: bool = False

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split of {self.path!r} must be one of {SPLITS}, got {self.split!r}")
        if self.tweeteval_split not in TWEETEVAL_SPLITS:
            raise ValueError(f"tweeteval_split of {self.path!r} must be one of {TWEETEVAL_SPLITS}, "
                             f"got {self.tweeteval_split!r}")


def missing_files(source: LabeledSource) -> list[str]:
    """The files a local source lacks: the path itself, or a (TweetEval) folder's split files; s3:// is not checked."""
    if source.path.startswith(("s3://", "s3a://")):
        return []
    path = Path(source.path)
    if not path.exists():
        return [str(path)]
    if path.is_dir():
        return [str(path / name) for name in missing_tweeteval_files(path, source.tweeteval_split)]
    return []


def read_labeled(source: LabeledSource, endpoint_url: str | None = None) -> Iterator[dict]:
    """Rows `{text, label, source, split}` with a known label; unlabeled rows are skipped."""
    with _local_copy(source.path, endpoint_url) as local:
        for record in _records(local, source):
            label, text = record.get("sentiment"), record.get("text")
            if label in LABELS and text and text.strip():
                yield {"text": text, "label": label, "source": source.path, "split": source.split}


def hold_out(rows: list[dict], fraction: float, salt: str = "tweetsent") -> list[dict]:
    """Move a deterministic `fraction` of train rows to `val` (by text hash), for early stopping."""
    cutoff = int(fraction * 10_000)
    moved = []
    for row in rows:
        if row["split"] == "train":
            bucket = int(hashlib.sha1(f"{salt}:{row['text']}".encode()).hexdigest()[:8], 16) % 10_000
            row = {**row, "split": "val"} if bucket < cutoff else row
        moved.append(row)
    return moved


def _records(local: Path, source: LabeledSource) -> Iterator[dict]:
    kind = local.suffix.lower()
    if local.is_file() and (source.text_column, source.label_column) != ("text", "sentiment"):
        reader = read_jsonl if kind in (".jsonl", ".json") else read_csv
        return reader(local, source.text_column, source.label_column, limit=source.limit)
    return read_source(local, limit=source.limit, tweeteval_split=source.tweeteval_split)


@contextmanager
def _local_copy(path: str, endpoint_url: str | None) -> Iterator[Path]:
    """The path itself when local; for s3:// a temporary download of the object or prefix."""
    if not path.startswith(("s3://", "s3a://")):
        yield Path(path)
        return
    parent, _, name = path.split("://", 1)[1].rstrip("/").rpartition("/")
    store = open_store(f"s3://{parent}", endpoint_url=endpoint_url)
    keys = [o.key for o in store.list() if o.key == name or o.key.startswith(name + "/")]
    if not keys:
        raise FileNotFoundError(f"no objects at {path}")
    with tempfile.TemporaryDirectory(prefix="tweetsent-labeled-") as tmp:
        for key in keys:
            target = Path(tmp, safe_key(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get(key)[0])
        yield Path(tmp, name)
