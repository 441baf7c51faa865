"""Cross-layer reconciliation: landed units vs bronze + quarantine, unique silver ids, gold vs silver.

The plain forms read whole tables (the fault and burst suites). The `*_by_batch` forms answer for
the batches that verify_batches checks, in one pass each grouped by batch_id, so a check stays
proportional to its batches; on local and S3 tables they read with `deltalake` (reconcile_log.py),
so verification sends the Spark server no job.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from . import delta_tables, reconcile_log


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


def landing_vs_bronze(spark, ledger_path: str, bronze_path: str, quarantine_path: str) -> LandingReconciliation:
    """Every landed unit of every ledgered object is in bronze or quarantine exactly once."""
    from pyspark.sql import functions as F

    objects = (spark.read.format("delta").load(ledger_path).groupBy("source_file", "source_etag")
               .agg(F.max("landed").alias("landed")).cache())
    landed = objects.agg(F.sum("landed")).first()[0] or 0
    keys = objects.select("source_file", "source_etag")
    found = {name: spark.read.format("delta").load(path).join(keys, ["source_file", "source_etag"], "left_semi")
             .select("record_key") for name, path in (("bronze", bronze_path), ("quarantine", quarantine_path))}
    both = found["bronze"].withColumn("layer", F.lit("b")).unionByName(
        found["quarantine"].withColumn("layer", F.lit("q")))
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


def duplicate_silver_ids(spark, silver_path: str) -> int:
    """Ids that occur more than once in silver."""
    return spark.read.format("delta").load(silver_path).groupBy("id").count().where("count > 1").count()


def gold_vs_silver(spark, gold_path: str, silver_path: str) -> dict:
    """Silver ids not yet in gold, and gold ids that silver does not have."""
    silver = spark.read.format("delta").load(silver_path).select("id")
    gold = spark.read.format("delta").load(gold_path).select("id")
    return {"missing_in_gold": silver.join(gold, "id", "left_anti").count(),
            "not_in_silver": gold.join(silver, "id", "left_anti").count()}


def _counts_by_batch(frame) -> dict[str, int]:
    return {row["batch_id"]: int(row["count"]) for row in frame.groupBy("batch_id").count().collect()}


def landing_vs_bronze_by_batch(spark, ledger_path: str, bronze_path: str, quarantine_path: str,
                               batch_ids: list[str]) -> dict[str, LandingReconciliation]:
    """landing_vs_bronze for each of `batch_ids`, each object counted for the batches whose ledger lists it."""
    from pyspark.sql import functions as F

    counted = reconcile_log.landing_counts(ledger_path, bronze_path, quarantine_path, batch_ids, _MAX_LISTED_FILES)
    if counted is not None:
        return {b: LandingReconciliation(landed=c["landed"], in_bronze=c["bronze"], in_quarantine=c["quarantine"],
                                         duplicated_keys=c["dups"]) for b, c in counted.items()}

    objects = (delta_tables.read_batches(spark, ledger_path, batch_ids)
               .groupBy("batch_id", "source_file", "source_etag").agg(F.max("landed").alias("landed")).cache())
    landed = {r["batch_id"]: int(r["landed"] or 0)
              for r in objects.groupBy("batch_id").agg(F.sum("landed").alias("landed")).collect()}
    keys = objects.select("batch_id", "source_file", "source_etag")
    files = [r.source_file for r in keys.select("source_file").distinct().limit(_MAX_LISTED_FILES + 1).collect()]
    found = None
    for layer, path in (("b", bronze_path), ("q", quarantine_path)):
        table = spark.read.format("delta").load(path)
        if len(files) <= _MAX_LISTED_FILES:
            table = table.where(F.col("source_file").isin(files))
        rows = (table.select("source_file", "source_etag", "record_key").join(keys, ["source_file", "source_etag"])
                .select("batch_id", "record_key", F.lit(layer).alias("layer")))
        found = rows if found is None else found.unionByName(rows)
    per_key = found.groupBy("batch_id", "record_key").agg(F.count("*").alias("n"), F.first("layer").alias("layer"))
    summary = {r["batch_id"]: r for r in per_key.groupBy("batch_id").agg(
        F.sum(F.when(F.col("layer") == "b", 1).otherwise(0)).alias("bronze"),
        F.sum(F.when(F.col("layer") == "q", 1).otherwise(0)).alias("quarantine"),
        F.sum(F.when(F.col("n") > 1, 1).otherwise(0)).alias("dups")).collect()}
    objects.unpersist()
    empty = {"bronze": 0, "quarantine": 0, "dups": 0}
    return {b: LandingReconciliation(landed=landed.get(b, 0), in_bronze=int(summary.get(b, empty)["bronze"] or 0),
                                     in_quarantine=int(summary.get(b, empty)["quarantine"] or 0),
                                     duplicated_keys=int(summary.get(b, empty)["dups"] or 0))
            for b in batch_ids}


def duplicate_silver_ids_by_batch(spark, silver_path: str, batch_ids: list[str]) -> dict[str, int]:
    """duplicate_silver_ids for each of `batch_ids`."""
    counted = reconcile_log.duplicate_silver_ids(silver_path, batch_ids)
    if counted is not None:
        return counted
    ids = delta_tables.read_batches(spark, silver_path, batch_ids).select("id", "batch_id").distinct()
    repeated = (spark.read.format("delta").load(silver_path).join(ids.select("id"), "id", "left_semi")
                .groupBy("id").count().where("count > 1").select("id"))
    found = _counts_by_batch(ids.join(repeated, "id", "left_semi"))
    return {b: found.get(b, 0) for b in batch_ids}


def gold_vs_silver_by_batch(spark, gold_path: str, silver_path: str, batch_ids: list[str]) -> dict[str, dict]:
    """gold_vs_silver for each of `batch_ids`."""
    counted = reconcile_log.gold_vs_silver(gold_path, silver_path, batch_ids)
    if counted is not None:
        return counted
    silver = delta_tables.read_batches(spark, silver_path, batch_ids).select("id", "batch_id")
    gold = delta_tables.read_batches(spark, gold_path, batch_ids).select("id", "batch_id")
    missing = _counts_by_batch(silver.join(gold.select("id"), "id", "left_anti"))
    extra = _counts_by_batch(gold.join(spark.read.format("delta").load(silver_path).select("id"), "id", "left_anti"))
    return {b: {"missing_in_gold": missing.get(b, 0), "not_in_silver": extra.get(b, 0)} for b in batch_ids}


def invalid_gold_rows_by_batch(spark, gold_path: str, batch_ids: list[str], labels: tuple[str, ...]) -> dict[str, int]:
    """Gold rows of each batch with an unknown label, a null score or probability, or no model version."""
    counted = reconcile_log.invalid_gold_rows(gold_path, batch_ids, labels)
    if counted is not None:
        return counted
    label_list = ", ".join(f"'{label}'" for label in labels)
    bad = delta_tables.read_batches(spark, gold_path, batch_ids).where(
        f"label IS NULL OR label NOT IN ({label_list}) OR score IS NULL OR p_negative IS NULL "
        "OR p_neutral IS NULL OR p_positive IS NULL OR model_version IS NULL")
    found = _counts_by_batch(bad)
    return {b: found.get(b, 0) for b in batch_ids}
