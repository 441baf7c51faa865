"""Delta cache of predictions keyed by (text_hash, model_name, model_version): repeats skip the model.

Texts are normalised (whitespace runs collapsed, ends trimmed) and hashed with SHA-256 the same
way in Python and in Spark SQL, so a retweet or a replayed tweet scored by one batch is a hit for
any later batch scored by the same model version.
"""
from __future__ import annotations

import hashlib
import re

from .models.types import ModelSpec

TABLE = "prediction_cache"
SCHEMA = ("text_hash string, model_name string, model_version string, label string, score double, "
          "p_negative double, p_neutral double, p_positive double")
PREDICTION_COLUMNS = ("label", "score", "p_negative", "p_neutral", "p_positive", "model_name", "model_version")
_SPACES = "[ \\t\\n\\x0B\\f\\r]+"
_SPACES_RE = re.compile(_SPACES)


def normalize_text(text: str | None) -> str:
    """Whitespace runs as one space, ends trimmed; None as ''. Same result as `normalized_text_column`."""
    return _SPACES_RE.sub(" ", text or "").strip(" ")


def text_hash(text: str | None) -> str:
    """SHA-256 hex of the normalised text; equals Spark's sha2(normalized_text_column(...), 256)."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


def cacheable(spec: ModelSpec) -> bool:
    """Only pinned transformer models: VADER is cheaper than a lookup, and an unversioned model has no key."""
    return spec.kind != "vader" and bool(spec.version)


def normalized_text_column(column: str):
    """Spark expression of normalize_text over `column`."""
    from pyspark.sql import functions as F

    return F.trim(F.regexp_replace(F.coalesce(F.col(column), F.lit("")), _SPACES, " "))


def with_text_key(df, text_column: str = "cleaned_text"):
    """`df` plus `norm_text` (what the model scores) and `text_hash` (the cache key)."""
    from pyspark.sql import functions as F

    return (df.withColumn("norm_text", normalized_text_column(text_column))
              .withColumn("text_hash", F.sha2(F.col("norm_text"), 256)))


def lookup(spark, path: str, keys, spec: ModelSpec):
    """Cached predictions of `spec`'s model for the `text_hash` values of DataFrame `keys`, one row per hash.

    None when the cache table does not exist yet. The batch's keys are broadcast into a semi-join,
    so the lookup is one pass over the cache's key and prediction columns.
    """
    from pyspark.sql import functions as F

    from ..lake.delta_tables import exists

    if not exists(spark, path):
        return None
    cached = (spark.read.format("delta").load(path)
              .where((F.col("model_version") == spec.version) & (F.col("model_name") == spec.name))
              .join(F.broadcast(keys.select("text_hash").distinct()), "text_hash", "left_semi")
              .dropDuplicates(["text_hash"]))
    return cached.select("text_hash", *PREDICTION_COLUMNS)


def store(spark, path: str, predictions) -> None:
    """Append predictions (SCHEMA's columns) of texts the lookup missed: a blind append, no MERGE.

    Two runs scoring the same new text at once may both append it; lookup keeps one row per key,
    and either row is that model version's prediction of that text.
    """
    from ..lake.delta_tables import retry_on_conflict

    rows = predictions.select(*[part.split()[0] for part in SCHEMA.split(", ")]).where("label is not null")
    retry_on_conflict(lambda: rows.write.format("delta").mode("append").save(path))
