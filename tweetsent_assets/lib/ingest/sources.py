"""Readers for labeled tweet data sets, all yielding the same plain record dicts.

A record is `{"id", "date", "user", "text", "sentiment"}`: strings or None, dates in the
source's raw form, sentiment one of SENTIMENTS or None.
"""
from __future__ import annotations

import csv
import json
import sys
from importlib import resources
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator, Mapping

SENTIMENTS = ("negative", "neutral", "positive")
RECORD_FIELDS = ("id", "date", "user", "text", "sentiment")
SOURCE_KINDS = ("demo", "tweeteval", "sentiment140", "airline", "csv", "jsonl")
SENTIMENT140_HEADER = ("target", "ids", "date", "flag", "user", "text")
AIRLINE_COLUMNS = ("tweet_id", "airline_sentiment", "name", "text", "tweet_created")
ACCEPTED_FORMS = (
    "'demo' (built-in sample); a TweetEval folder with mapping.txt and val_* or train_* "
    "text and label files; a Sentiment140 CSV (target,ids,date,flag,user,text); the airline Tweets.csv "
    "(tweet_id, airline_sentiment, name, text, tweet_created); a CSV with text and sentiment "
    "columns; a .jsonl/.json file of objects with text and sentiment"
)

_LABEL_ALIASES = {
    "negative": "negative", "neg": "negative",
    "neutral": "neutral", "neu": "neutral",
    "positive": "positive", "pos": "positive",
}
_SENTIMENT140_TARGETS = {"0": "negative", "2": "neutral", "4": "positive"}
_ENCODING = {"encoding": "utf-8-sig", "errors": "replace"}

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def normalize_sentiment(value: object) -> str | None:
    """`negative`/`neutral`/`positive` for a text label in any case or short form, None if blank.

    Raises ValueError for anything else: numeric codes mean different things per data set,
    so they are mapped by each reader (or an explicit label_map), never guessed here.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    label = _LABEL_ALIASES.get(text.lower())
    if label is None:
        raise ValueError(f"unrecognised sentiment label {value!r}; expected one of "
                         f"{', '.join(sorted(_LABEL_ALIASES))}")
    return label


def read_tweeteval(folder: str | Path, split: str = "val", limit: int | None = None) -> Iterator[dict]:
    """TweetEval `{split}_text.txt` + `{split}_labels.txt`, labels named by `mapping.txt`.

    Fails before the first record on a missing or empty file, or text and label files of different
    lengths; an unknown label fails at its record. Every message names the file and line.
    """
    folder = Path(folder)
    missing = missing_tweeteval_files(folder, split)
    if missing:
        raise FileNotFoundError(f"TweetEval folder {str(folder)!r} lacks {', '.join(missing)}")
    mapping = _read_tweeteval_mapping(folder / "mapping.txt")
    text_path, labels_path = folder / f"{split}_text.txt", folder / f"{split}_labels.txt"
    texts = _non_empty_lines(text_path)
    labels = _non_empty_lines(labels_path)
    if len(texts) != len(labels):
        shorter, longer = (text_path, labels_path) if len(texts) < len(labels) else (labels_path, text_path)
        raise ValueError(f"{longer}:{min(len(texts), len(labels)) + 1}: no matching line in {shorter} "
                         f"({text_path.name} has {len(texts)} lines, {labels_path.name} has {len(labels)})")
    records = (
        _record(f"tweeteval-{split}-{line_no}", None, None,
                text[:-1] if text.endswith(" ") else text, _tweeteval_label(mapping, label, labels_path, line_no))
        for line_no, (text, label) in enumerate(zip(texts, labels), start=1)
    )
    yield from _limited(records, limit)


def tweeteval_files(split: str) -> tuple[str, str]:
    """The text and label file names of a TweetEval split."""
    return f"{split}_text.txt", f"{split}_labels.txt"


def missing_tweeteval_files(folder: str | Path, split: str) -> list[str]:
    """Which of mapping.txt and the split's two files a local TweetEval folder lacks (empty: none)."""
    folder = Path(folder)
    return [name for name in ("mapping.txt", *tweeteval_files(split)) if not (folder / name).is_file()]


def read_sentiment140(path: str | Path, limit: int | None = None) -> Iterator[dict]:
    """Sentiment140 CSV, with or without its header; target 0/2/4 becomes negative/neutral/positive."""
    with open(path, newline="", **_ENCODING) as handle:
        rows = csv.reader(handle)
        first = next(rows, None)
        if first is None:
            return
        if tuple(first) != SENTIMENT140_HEADER:
            rows = _chain_one(first, rows)
        records = (
            _record(row[1], row[2], row[4], row[5], _SENTIMENT140_TARGETS.get(row[0].strip()))
            for row in (_pad(r, 6) for r in rows if r)
        )
        yield from _limited(records, limit)


def read_airline(path: str | Path, limit: int | None = None) -> Iterator[dict]:
    """Twitter US Airline Sentiment `Tweets.csv`; `name` is the user, `tweet_created` the date."""
    with open(path, newline="", **_ENCODING) as handle:
        rows = csv.DictReader(handle)
        _require_columns(path, rows.fieldnames, AIRLINE_COLUMNS)
        records = (
            _record(row["tweet_id"], row["tweet_created"], row["name"], row["text"] or "",
                    normalize_sentiment(row["airline_sentiment"]))
            for row in rows
        )
        yield from _limited(records, limit)


def read_csv(path: str | Path, text_column: str = "text", label_column: str = "sentiment", *,
             id_column: str = "id", date_column: str = "date", user_column: str = "user",
             label_map: Mapping[str, str] | None = None, limit: int | None = None) -> Iterator[dict]:
    """A CSV with a header; id/date/user columns are optional, text and label columns are required."""
    with open(path, newline="", **_ENCODING) as handle:
        rows = csv.DictReader(handle)
        _require_columns(path, rows.fieldnames, (text_column, label_column))
        records = (
            _generic_record(row, path, row_no, text_column, label_column, id_column, date_column,
                            user_column, label_map)
            for row_no, row in enumerate(rows, start=2)
        )
        yield from _limited(records, limit)


def read_jsonl(path: str | Path, text_column: str = "text", label_column: str = "sentiment", *,
               id_column: str = "id", date_column: str = "date", user_column: str = "user",
               label_map: Mapping[str, str] | None = None, limit: int | None = None) -> Iterator[dict]:
    """JSON lines (or one JSON array) of objects; blank lines are skipped, bad JSON names its line."""
    with open(path, newline="", **_ENCODING) as handle:
        yield from _limited(_generic_records(_json_objects(handle, path), path, text_column, label_column,
                                             id_column, date_column, user_column, label_map), limit)


def read_demo(limit: int | None = None) -> Iterator[dict]:
    """The built-in demo sample shipped in `tweetsent_assets/demo_data/demo_tweets.jsonl`."""
    resource = demo_data_file()
    with resource.open("r", newline="", **_ENCODING) as handle:
        yield from _limited(_generic_records(_json_objects(handle, "demo_tweets.jsonl"), "demo",
                                             "text", "sentiment", "id", "date", "user", None), limit)


def demo_data_file():
    """The packaged demo sample as an importlib.resources Traversable."""
    return resources.files("tweetsent_assets") / "demo_data" / "demo_tweets.jsonl"


def detect_source(source: str | Path) -> str:
    """Which of SOURCE_KINDS `source` is; FileNotFoundError or ValueError naming the path otherwise."""
    if str(source) == "demo":
        return "demo"
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"source {str(path)!r} does not exist; accepted: {ACCEPTED_FORMS}")
    if path.is_dir():
        if (path / "val_text.txt").is_file() or (path / "train_text.txt").is_file():
            return "tweeteval"
        raise ValueError(f"folder {str(path)!r} has no val_text.txt or train_text.txt, so it is not TweetEval; "
                         f"accepted: {ACCEPTED_FORMS}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        kind = _csv_kind(path)
        if kind:
            return kind
        raise ValueError(f"CSV {str(path)!r} has a header that matches no known layout; "
                         f"accepted: {ACCEPTED_FORMS}")
    raise ValueError(f"cannot tell the format of {str(path)!r}; accepted: {ACCEPTED_FORMS}")


def read_source(source: str | Path, limit: int | None = None, tweeteval_split: str = "val") -> Iterator[dict]:
    """Records from `demo`, a TweetEval folder (its `tweeteval_split`), a Sentiment140/airline/generic CSV or JSONL.

    Detection happens here, before the first record is read, so bad inputs fail fast.
    """
    _check_limit(limit)
    kind = detect_source(source)
    if kind == "demo":
        return read_demo(limit)
    if kind == "tweeteval":
        return read_tweeteval(source, split=tweeteval_split, limit=limit)
    return {
        "tweeteval": read_tweeteval, "sentiment140": read_sentiment140, "airline": read_airline,
        "csv": read_csv, "jsonl": read_jsonl,
    }[kind](source, limit=limit)


def _csv_kind(path: Path) -> str | None:
    with open(path, newline="", **_ENCODING) as handle:
        header = next(csv.reader(handle), None) or []
    columns = [column.strip() for column in header]
    if tuple(columns) == SENTIMENT140_HEADER or (
            len(columns) == 6 and columns[0] in _SENTIMENT140_TARGETS and columns[1].isdigit()):
        return "sentiment140"
    if set(AIRLINE_COLUMNS) <= set(columns):
        return "airline"
    if {"text", "sentiment"} <= set(columns):
        return "csv"
    return None


def _read_tweeteval_mapping(path: Path) -> dict[str, str]:
    mapping = {}
    for line_no, line in enumerate(_non_empty_lines(path), start=1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise ValueError(f"{path}:{line_no}: expected '<number> <label>', got {line!r}")
        mapping[parts[0]] = normalize_sentiment(parts[1])
    return mapping


def _tweeteval_label(mapping: dict[str, str], label: str, path: Path, line_no: int) -> str:
    try:
        return mapping[label.strip()]
    except KeyError:
        raise ValueError(f"{path}:{line_no}: label {label!r} is not in mapping.txt "
                         f"(known: {', '.join(sorted(mapping))})") from None


def _non_empty_lines(path: Path) -> list[str]:
    """`_lines(path)`; ValueError naming the file when it has none."""
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path}:1: the file is empty; expected one line per tweet")
    return lines


def _lines(path: Path) -> list[str]:
    """Lines split on newline only (tweets may hold other Unicode line separators)."""
    with open(path, newline="", **_ENCODING) as handle:
        content = handle.read()
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _json_objects(handle, path) -> Iterator[tuple[int, object]]:
    """(line number, value) for each JSON line, or (index, item) when the file is one JSON array."""
    first = handle.read(1)
    while first and first.isspace():
        first = handle.read(1)
    if first == "[":
        try:
            items = json.loads(first + handle.read())
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from None
        yield from enumerate(items, start=1)
        return
    handle.seek(0)
    for line_no, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}:{line_no}: not valid JSON: {exc}") from None


def _generic_records(items: Iterable[tuple[int, object]], path, text_column: str, label_column: str,
                     id_column: str, date_column: str, user_column: str,
                     label_map: Mapping[str, str] | None) -> Iterator[dict]:
    for line_no, item in items:
        if not isinstance(item, dict):
            raise ValueError(f"{path}:{line_no}: expected a JSON object, got {type(item).__name__}")
        yield _generic_record(item, path, line_no, text_column, label_column, id_column, date_column,
                              user_column, label_map)


def _generic_record(row: Mapping, path, row_no: int, text_column: str, label_column: str,
                    id_column: str, date_column: str, user_column: str,
                    label_map: Mapping[str, str] | None) -> dict:
    label = row.get(label_column)
    if label_map is not None and label is not None and str(label).strip() in label_map:
        label = label_map[str(label).strip()]
    try:
        sentiment = normalize_sentiment(label)
    except ValueError as exc:
        raise ValueError(f"{path}:{row_no}: {exc} (pass label_map to translate codes)") from None
    text = row.get(text_column)
    return _record(row.get(id_column), row.get(date_column), row.get(user_column),
                   "" if text is None else str(text), sentiment)


def _record(id_: object, date: object, user: object, text: str, sentiment: str | None) -> dict:
    return {"id": _optional(id_), "date": _optional(date), "user": _optional(user), "text": text,
            "sentiment": sentiment}


def _optional(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value)
    return text if text.strip() else None


def _require_columns(path, fieldnames, required: Iterable[str]) -> None:
    missing = [column for column in required if column not in (fieldnames or [])]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; header is {fieldnames}")


def _pad(row: list[str], width: int) -> list[str]:
    return row + [""] * (width - len(row)) if len(row) < width else row


def _chain_one(first, rest):
    yield first
    yield from rest


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be zero or more, got {limit}")


def _limited(records: Iterator[dict], limit: int | None) -> Iterator[dict]:
    _check_limit(limit)
    return records if limit is None else islice(records, limit)
