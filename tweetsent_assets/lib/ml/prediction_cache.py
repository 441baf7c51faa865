"""Delta cache of predictions keyed by (text_hash, model_name, model_version): repeats skip the model.

Texts are normalised (whitespace runs collapsed, ends trimmed) and hashed with SHA-256 the same
way in Python and in Spark SQL, so a retweet or a replayed tweet scored by one batch is a hit for
any later batch scored by the same model version within RECENT_DAYS.

The table is partitioned by `cached_on`, the day a prediction was stored (UTC), and a lookup reads
only the last RECENT_DAYS partitions, so its cost follows the texts cached in that window, not the
whole history. A text scored again after its window is stored again under the new day, so texts
that keep coming back stay cached. Partitions by hash prefix were not taken: a batch's thousand
uniformly spread hashes touch nearly every prefix, so a lookup would still read almost the whole
table. Local and S3 tables are read on the driver with `deltalake`: Spark's snapshot of a table
appended by every batch cost about a second of jobs per lookup, more than the model time that 30%
repeats save. Measured with `benchmarks/inference.py --tweets 1000 --cache-rows 10000,100000,300000,1000000`
(local, 2 cores at load 4, one file per 1,000 cached rows): 0.01 to 0.02 s per lookup of 1,000
hashes with up to 1M older rows, against 0.02, 0.12, 0.34 and 1.11 s for reading the whole table.
A 1,000-text gold batch with 30% repeats took 2.2 s of inference with the cache, 2.9 s without.

A table in the old layout (no `cached_on`) is migrated in place the first time it is looked up
or written (migrate): one rewrite, partitioned, its rows dated that day.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import TYPE_CHECKING, Sequence

from ..lake.delta_tables import delta_rs_reads, open_log
from .models.types import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

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
    return normalized_hash(normalize_text(text))


def normalized_hash(normalized: str) -> str:
    """text_hash of a text normalize_text already normalised (without normalising it again)."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


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


def lookup(spark, path: str, hashes: Sequence[str], spec: ModelSpec, days: int = RECENT_DAYS) -> pd.DataFrame | None:
    """Cached predictions of `spec`'s model for `hashes`, one row per hash (text_hash and PREDICTION_COLUMNS).

    None when the cache table does not exist yet. A local or S3 table is read on the driver by
    `deltalake` (recent_files' files only, milliseconds, no Spark job); others through Spark
    (cached_rows). Duplicate rows that two concurrent runs may have appended are dropped here.
    """
    if not migrate(spark, path):
        return None
    if delta_rs_reads(path):
        found = _read_recent(path, hashes, spec, days)
    else:
        found = cached_rows(spark, path, hashes, spec, days).toPandas()
    return found.drop_duplicates("text_hash", ignore_index=True)


def recent_files(path: str, days: int = RECENT_DAYS) -> list[str]:
    """The files of the last `days` days' partitions: all that a lookup reads of a local or S3 table."""
    return open_log(path).file_uris(file_pruning_predicate=_window(days))


def _read_recent(path: str, hashes: Sequence[str], spec: ModelSpec, days: int) -> pd.DataFrame:
    import pyarrow.dataset as ds

    wanted = ((ds.field("model_name") == spec.name) & (ds.field("model_version") == spec.version)
              & ds.field("text_hash").isin(list(hashes)))
    dataset = open_log(path).to_pyarrow_dataset(file_pruning_predicate=_window(days))
    return dataset.to_table(columns=["text_hash", *PREDICTION_COLUMNS], filter=wanted).to_pandas()


def _window(days: int) -> list[tuple[str, str, str]]:
    """The partition filter of the last `days` days."""
    return [(PARTITION, ">=", (_today() - dt.timedelta(days=days - 1)).isoformat())]


def _today() -> dt.date:
    """Today in UTC: the day predictions are stored under and the windows count back from."""
    return dt.datetime.now(dt.timezone.utc).date()


def cached_rows(spark, path: str, hashes: Sequence[str], spec: ModelSpec, days: int = RECENT_DAYS):
    """The cache's rows of `spec` for `hashes` (a DataFrame), or None without a table.

    Only the partitions of the last `days` days are read (partition pruning), filtered by the
    hashes as literals: no join, so no shuffle or broadcast job. Spark's Delta snapshot of a table
    appended every batch costs a few jobs per read, so lookup prefers `deltalake` where it reads.
    """
    from pyspark.sql import functions as F

    if not migrate(spark, path):
        return None
    return (spark.read.format("delta").load(path)
            .where(F.col(PARTITION) >= F.lit(_today() - dt.timedelta(days=days - 1)))
            .where((F.col("model_version") == spec.version) & (F.col("model_name") == spec.name))
            .where(F.col("text_hash").isin(list(hashes)))
            .select("text_hash", *PREDICTION_COLUMNS))


def store(spark, path: str, predictions, day=None) -> None:
    """Append predictions (SCHEMA's columns) of texts the lookup missed under `day` (default today, UTC): no MERGE.

    One file per call. Two runs scoring the same new text at once may both append it; lookup keeps
    one row per key, and either row is that model version's prediction of that text.
    """
    from pyspark.sql import functions as F

    from ..lake.delta_tables import retry_on_conflict

    migrate(spark, path)
    stamp = F.lit(day or _today()).cast("date")
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
        (spark.read.format("delta").load(path).withColumn(PARTITION, F.lit(_today())).write.format("delta")
         .mode("overwrite").option("overwriteSchema", "true").partitionBy(PARTITION).save(path))

    retry_on_conflict(rewrite)
    return True
