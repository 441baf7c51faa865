"""The by-batch reconciliations give the same answers read by `deltalake` as through Spark, broken batches included."""
from __future__ import annotations

import pytest

from tweetsent_assets.lib.lake import delta_tables, reconcile
from tweetsent_assets.lib.ml.models.labels import LABELS

LEDGER = "batch_id string, source_file string, source_etag string, landed long"
BRONZE = "batch_id string, source_file string, source_etag string, record_key string"
SILVER = "id string, batch_id string"
GOLD = ("id string, batch_id string, label string, score double, p_negative double, p_neutral double, "
        "p_positive double, model_version string")


@pytest.fixture
def lake(spark, tmp_path):
    """Three batches: b1 clean; b2 with a lost unit, a duplicated key, a duplicated silver id and a gold gap; b3 with
    a gold row silver lacks and an invalid label."""
    def write(name: str, schema: str, rows: list[tuple]) -> str:
        path = str(tmp_path / name)
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(path)
        return path

    good = (0.7, 0.1, 0.2, 0.7)
    return {
        "ledger": write("ledger", LEDGER, [("b1", "o1", "e1", 3), ("b2", "o2", "e2", 4), ("b3", "o3", "e3", 2)]),
        "bronze": write("bronze", BRONZE, [("b1", "o1", "e1", "k1"), ("b1", "o1", "e1", "k2"), ("b2", "o2", "e2", "k4"),
                                           ("b2", "o2", "e2", "k5"), ("b2", "o2", "e2", "k5"), ("b3", "o3", "e3", "k7"),
                                           ("b3", "o3", "e3", "k8")]),
        "quarantine": write("quarantine", BRONZE, [("b1", "o1", "e1", "k3")]),
        "silver": write("silver", SILVER, [("t1", "b1"), ("t2", "b1"), ("t4", "b2"), ("t5", "b2"), ("t4", "b2"),
                                           ("t7", "b3")]),
        "gold": write("gold", GOLD, [("t1", "b1", "positive", *good, "1"), ("t2", "b1", "neutral", *good, "1"),
                                     ("t4", "b2", "negative", *good, "1"), ("t7", "b3", "angry", *good, "1"),
                                     ("t9", "b3", "positive", None, *good[1:], "1")]),
    }


def _answers(spark, paths) -> dict:
    batches = ["b1", "b2", "b3", "b4"]
    landing = reconcile.landing_vs_bronze_by_batch(spark, paths["ledger"], paths["bronze"], paths["quarantine"], batches)
    return {
        "landing": {b: r.as_dict() for b, r in landing.items()},
        "silver": reconcile.duplicate_silver_ids_by_batch(spark, paths["silver"], batches),
        "coverage": reconcile.gold_vs_silver_by_batch(spark, paths["gold"], paths["silver"], batches),
        "values": reconcile.invalid_gold_rows_by_batch(spark, paths["gold"], batches, LABELS),
    }


def test_deltalake_and_spark_reconcile_alike(spark, lake, monkeypatch):
    read_by_deltalake = _answers(None, lake)  # spark=None: a fallback to Spark would fail
    assert read_by_deltalake == {
        "landing": {"b1": {"landed": 3, "in_bronze": 2, "in_quarantine": 1, "duplicated_keys": 0, "missing": 0},
                    "b2": {"landed": 4, "in_bronze": 2, "in_quarantine": 0, "duplicated_keys": 1, "missing": 2},
                    "b3": {"landed": 2, "in_bronze": 2, "in_quarantine": 0, "duplicated_keys": 0, "missing": 0},
                    "b4": {"landed": 0, "in_bronze": 0, "in_quarantine": 0, "duplicated_keys": 0, "missing": 0}},
        "silver": {"b1": 0, "b2": 1, "b3": 0, "b4": 0},
        "coverage": {"b1": {"missing_in_gold": 0, "not_in_silver": 0},
                     "b2": {"missing_in_gold": 1, "not_in_silver": 0},
                     "b3": {"missing_in_gold": 0, "not_in_silver": 1},
                     "b4": {"missing_in_gold": 0, "not_in_silver": 0}},
        "values": {"b1": 0, "b2": 0, "b3": 2, "b4": 0},
    }
    monkeypatch.setattr(delta_tables, "delta_rs_reads", lambda path: False)
    assert _answers(spark, lake) == read_by_deltalake
