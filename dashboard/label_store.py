"""The labeling page's files: the active-learning queue to label and the CSV the labels are appended to.

Each append holds an exclusive lock on the labels file while it checks and writes, so two browser
tabs never lose a label or write one twice; the file is one of the `<folder>/labeled/*.csv` files
that `labeled_tweets` reads as training data.
"""
from __future__ import annotations

import csv
import fcntl
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tweetsent_assets.lib.insights.active_learning import QUEUE_COLUMNS, labeled_ids
from tweetsent_assets.lib.ml.models.labels import LABELS

LABELS_FILE = "dashboard.csv"
COLUMNS = ("id", "label", "text", "champion_label", "champion_score", "labeled_at")


def active_learning_dir() -> Path:
    """<TWEETSENT_DATA_DIR>/active_learning: the active_learning_queue asset's default folder."""
    from tweetsent_assets import settings

    return Path(settings.DATA_DIR, "active_learning")


def labels_path(folder: str | Path) -> Path:
    """The file the dashboard appends labels to, in the folder the next `labeled_tweets` reads."""
    return Path(folder, "labeled", LABELS_FILE)


def read_queue(folder: str | Path) -> pd.DataFrame:
    """`<folder>/queue.csv` in its rank order, every value as text; no rows before the first queue."""
    path = Path(folder, "queue.csv")
    if not path.exists():
        return pd.DataFrame(columns=list(QUEUE_COLUMNS))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("id", "text", "champion_label", "champion_score") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks the queue columns {missing}; it has {list(frame.columns)}")
    return frame


def next_tweet(queue: pd.DataFrame, done: set[str]) -> dict | None:
    """The first queue row whose id is not in `done` (labeled or skipped), or None when none is left."""
    left = queue[~queue["id"].isin(done)]
    return None if left.empty else left.iloc[0].to_dict()


def append_label(folder: str | Path, tweet: Mapping[str, str], label: str) -> bool:
    """Append `tweet` with `label` to the labels file unless a labeled file of `folder` has its id; True if written.

    The check and the append hold an exclusive flock (on a lock file beside it, which no reader
    globs) and the row is fsynced before it is released, so concurrent writers (tabs, processes)
    neither lose nor repeat a label. The file is created whole, header and first row, by a rename,
    so a reader never sees it empty.
    """
    tweet_id = str(tweet.get("id") or "").strip()
    if not tweet_id:
        raise ValueError(f"cannot label a tweet without an id: {dict(tweet)!r}")
    if label not in LABELS:
        raise ValueError(f"label {label!r} for tweet {tweet_id} must be one of {LABELS}")
    path = labels_path(folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            _check_header(path)
        if tweet_id in labeled_ids(folder):
            return False
        row = (tweet_id, label, tweet.get("text", ""), tweet.get("champion_label", ""),
               tweet.get("champion_score", ""), datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if path.exists():
            _write(path, "a", [row])
        else:
            scratch = path.with_name(f".{path.name}.tmp")
            _write(scratch, "w", [COLUMNS, row])
            os.replace(scratch, path)
    return True


def _write(path: Path, mode: str, rows: list) -> None:
    with open(path, mode, newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())


def _check_header(path: Path) -> None:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if tuple(header) != COLUMNS:
        raise ValueError(f"{path} has the columns {header}, not {list(COLUMNS)}; move it aside to label on")
