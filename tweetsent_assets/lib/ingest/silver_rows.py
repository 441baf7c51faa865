"""Bronze rows to silver rows: typed timestamp, cleaned text, mentions, hashtags, stable ids."""
from __future__ import annotations

from typing import Iterator

import pandas as pd

from .dates import parse_tweet_timestamp
from .text_cleaning import clean_text, content_hash_id, extract_hashtags, extract_mentions

SILVER_SCHEMA = (
    "id string, id_from_content boolean, created_at timestamp, date_raw string, user string, "
    "text string, cleaned_text string, mentions array<string>, hashtags array<string>, "
    "lang string, given_sentiment string, batch_id string, record_key string, "
    "source_file string, ingested_at timestamp"
)
BRONZE_INPUT_COLUMNS = ("id", "date", "user", "text", "sentiment", "lang", "batch_id",
                        "record_key", "source_file", "ingested_at")
_GIVEN = {"negative": "negative", "neg": "negative", "0": "negative",
          "neutral": "neutral", "neu": "neutral", "2": "neutral",
          "positive": "positive", "pos": "positive", "4": "positive"}


def normalize_given_sentiment(value: str | None) -> str | None:
    """A source's own label as negative/neutral/positive (Sentiment140's 0/2/4 included), else None."""
    return None if value is None else _GIVEN.get(str(value).strip().lower())


def to_silver(bronze: pd.DataFrame) -> pd.DataFrame:
    """Silver columns for bronze rows that have a non-empty text."""
    ids = [
        (given.strip(), False) if isinstance(given, str) and given.strip()
        else (content_hash_id(user, text), True)
        for given, user, text in zip(bronze["id"], bronze["user"], bronze["text"])
    ]
    created = [parse_tweet_timestamp(d) for d in bronze["date"]]
    return pd.DataFrame({
        "id": [i for i, _ in ids],
        "id_from_content": [c for _, c in ids],
        "created_at": pd.to_datetime(pd.Series(created, dtype="object"), utc=True),
        "date_raw": bronze["date"],
        "user": bronze["user"],
        "text": bronze["text"],
        "cleaned_text": [clean_text(t) for t in bronze["text"]],
        "mentions": [extract_mentions(t) for t in bronze["text"]],
        "hashtags": [extract_hashtags(t) for t in bronze["text"]],
        "lang": bronze["lang"],
        "given_sentiment": [normalize_given_sentiment(s) for s in bronze["sentiment"]],
        "batch_id": bronze["batch_id"],
        "record_key": bronze["record_key"],
        "source_file": bronze["source_file"],
        "ingested_at": pd.to_datetime(bronze["ingested_at"], utc=True),
    })


def silver_partitions(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """mapInPandas entry point."""
    for frame in frames:
        yield to_silver(frame)
