"""Delta cache of predictions keyed by (text_hash, model_name, model_version): repeats skip the model.

Texts are normalised (whitespace runs collapsed, ends trimmed) and hashed with SHA-256 the same
way in Python and in Spark SQL, so a retweet or a replayed tweet scored by one batch is a hit for
any later batch scored by the same model version within RECENT_DAYS.

The table is partitioned by `cached_on`, the day a prediction was stored, and a lookup reads only
the last RECENT_DAYS partitions, so its cost follows the texts cached in that window, not the whole
history. A text scored again after its window is stored again under the new day, so texts that keep
coming back stay cached. Partitions by hash prefix were not taken: a batch's thousand uniformly
spread hashes touch nearly every prefix, so the lookup would still read almost the whole table.
Measured (local[2], a lookup of 1,000 keys; printed by `benchmarks/inference.py --cache-rows`): a
full scan costs about 0.4 s at 10k cached texts and about 2 s at 1M, while the dated lookup stays at
about 0.4 s with 1M older rows; scoring 1,000 texts with MiniLM costs about 3.3 s, so the cache pays
once a tenth of a batch repeats. A table in the old layout (no `cached_on`) is migrated in place the
first time it is looked up or written: one rewrite, its rows dated that day.
"""
from __future__ import annotations

import hashlib
import re

from .models.types import ModelSpec

TABLE = "prediction_cache"
SCHEMA = ("text_hash string, model_name string, model_version string, label string, score double, "
          "p_negative double, p_neutral double, p_positive double")
PARTITION = "cached_on"
RECENT_DAYS = 7
PREDICTION_COLUMNS = ("label", "score", "p_negative", "p_neutral", "p_positive", "model_name", "model_version")
_SCHEMA_COLUMNS = tuple(part.split()[0] for part in SCHEMA.split(", "))
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


def lookup(spark, path: str, keys, spec: ModelSpec, days: int = RECENT_DAYS):
    """Cached predictions of `spec`'s model for the `text_hash` values of DataFrame `keys`, one row per hash.

    None when the cache table does not exist yet. Only the partitions of the last `days` days are
    read (partition pruning), and the batch's keys are broadcast into a semi-join over them.
    """
    from pyspark.sql import functions as F

    if not migrate(spark, path):
        return None
    cached = (spark.read.format("delta").load(path)
              .where(F.col(PARTITION) >= F.date_sub(F.current_date(), days - 1))
              .where((F.col("model_version") == spec.version) & (F.col("model_name") == spec.name))
              .join(F.broadcast(keys.select("text_hash").distinct()), "text_hash", "left_semi")
              .dropDuplicates(["text_hash"]))
    return cached.select("text_hash", *PREDICTION_COLUMNS)


def store(spark, path: str, predictions, day=None) -> None:
    """Append predictions (SCHEMA's columns) of texts the lookup missed under `day` (default today): no MERGE.

    One file per call. Two runs scoring the same new text at once may both append it; lookup keeps
    one row per key, and either row is that model version's prediction of that text.
    """
    from pyspark.sql import functions as F

    from ..lake.delta_tables import retry_on_conflict

    migrate(spark, path)
    stamp = F.current_date() if day is None else F.lit(day).cast("date")
    rows = (predictions.select(*_SCHEMA_COLUMNS).where("label is not null").withColumn(PARTITION, stamp)
            .coalesce(1))
    retry_on_conflict(lambda: rows.write.format("delta").mode("append").partitionBy(PARTITION).save(path))


def migrate(spark, path: str) -> bool:
    """Whether the table exists; one in the old layout (no `cached_on`) is first rewritten partitioned, dated today."""
    from pyspark.sql import functions as F

    from ..lake.delta_tables import column_names, exists, retry_on_conflict

    if not exists(spark, path):
        return False
    if PARTITION in column_names(spark, path):
        return True

    def rewrite() -> None:
        if PARTITION in column_names(spark, path):
            return
        (spark.read.format("delta").load(path).withColumn(PARTITION, F.current_date()).write.format("delta")
         .mode("overwrite").option("overwriteSchema", "true").partitionBy(PARTITION).save(path))

    retry_on_conflict(rewrite)
    return True
