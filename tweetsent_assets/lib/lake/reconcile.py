"""Cross-layer reconciliation: landed units vs bronze + quarantine, unique silver ids, gold vs silver.

Each takes an optional batch id so asset checks stay proportional to the batch, while the
fault-injection suite runs them over whole tables.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from . import delta_tables


@dataclass(frozen=True)
class LandingReconciliation:
    """`landed` units (per the ledger) against the distinct record keys found in bronze and quarantine."""

    landed: int
    in_bronze: int
    in_quarantine: int
    duplicated_keys: int

    @property
    def missing(self) -> int:
        return self.landed - self.in_bronze - self.in_quarantine

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.duplicated_keys == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "missing": self.missing}


# A batch's object names become a literal IN-list, so Delta skips the other batches' files by
# their statistics; beyond this many names the plain join is used.
_MAX_LISTED_FILES = 1000


def _table(spark, path: str, batch_id: str | None):
    frame = spark.read.format("delta").load(path)
    return frame if batch_id is None else frame.where(delta_tables.batch_predicate(batch_id))


def landing_vs_bronze(spark, ledger_path: str, bronze_path: str, quarantine_path: str,
                      batch_id: str | None = None) -> LandingReconciliation:
    """Every landed unit of the batch's objects is in bronze or quarantine exactly once (any batch)."""
    from pyspark.sql import functions as F

    objects = (_table(spark, ledger_path, batch_id).groupBy("source_file", "source_etag")
               .agg(F.max("landed").alias("landed")).cache())
    landed = objects.agg(F.sum("landed")).first()[0] or 0
    keys = objects.select("source_file", "source_etag")
    files = [] if batch_id is None else [
        r.source_file for r in keys.select("source_file").distinct().limit(_MAX_LISTED_FILES + 1).collect()]
    counts = {}
    for name, path in (("bronze", bronze_path), ("quarantine", quarantine_path)):
        table = spark.read.format("delta").load(path)
        if files and len(files) <= _MAX_LISTED_FILES:
            table = table.where(F.col("source_file").isin(files))
        counts[name] = table.join(keys, ["source_file", "source_etag"], "left_semi").select("record_key")
    both = counts["bronze"].withColumn("layer", F.lit("b")).unionByName(
        counts["quarantine"].withColumn("layer", F.lit("q")))
    per_key = both.groupBy("record_key").agg(F.count("*").alias("n"), F.first("layer").alias("layer")).cache()
    summary = per_key.agg(
        F.sum(F.when(F.col("layer") == "b", 1).otherwise(0)).alias("bronze"),
        F.sum(F.when(F.col("layer") == "q", 1).otherwise(0)).alias("quarantine"),
        F.sum(F.when(F.col("n") > 1, 1).otherwise(0)).alias("dups")).first()
    objects.unpersist()
    per_key.unpersist()
    return LandingReconciliation(landed=int(landed), in_bronze=int(summary["bronze"] or 0),
                                 in_quarantine=int(summary["quarantine"] or 0),
                                 duplicated_keys=int(summary["dups"] or 0))


def duplicate_silver_ids(spark, silver_path: str, batch_id: str | None = None) -> int:
    """Ids of the batch (or the table) that occur more than once in silver."""
    silver = spark.read.format("delta").load(silver_path)
    ids = _table(spark, silver_path, batch_id).select("id").distinct()
    return silver.join(ids, "id", "left_semi").groupBy("id").count().where("count > 1").count()


def gold_vs_silver(spark, gold_path: str, silver_path: str, batch_id: str | None = None) -> dict:
    """Silver ids not yet in gold, and gold ids that silver does not have."""
    silver = _table(spark, silver_path, batch_id).select("id")
    gold = _table(spark, gold_path, batch_id).select("id")
    return {"missing_in_gold": silver.join(gold, "id", "left_anti").count(),
            "not_in_silver": gold.join(spark.read.format("delta").load(silver_path).select("id"),
                                       "id", "left_anti").count()}
