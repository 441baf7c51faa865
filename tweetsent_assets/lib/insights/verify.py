"""The aggregates recomputed from the whole gold table with Spark alone, and the comparison with the tables.

Independent of the ledger code on purpose (Spark's window(), groupBy over all of gold): the
checks and tests hold the incremental tables against it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from ..ml.models.labels import LABELS
from . import ledger as ledgers
from .spikes import with_shares


def _label_counts():
    return [*(F.sum(F.when(F.col("label") == label, 1).otherwise(0)).cast("long").alias(label) for label in LABELS),
            F.count("*").cast("long").alias("total")]


def expected_mentions(gold) -> pd.DataFrame:
    """Per @mention from gold directly: counts per label, total, first and last seen."""
    return (gold.select(F.explode("mentions").alias("mention"), "label", "created_at").groupBy("mention")
            .agg(*_label_counts(), F.min("created_at").alias("first_seen"),
                 F.max("created_at").alias("last_seen"))
            .toPandas())


def expected_trends(gold, window: str, rolling: str) -> pd.DataFrame:
    """Per time window from gold directly (Spark's window()), with shares and rolling shares."""
    counts = (gold.where(F.col("created_at").isNotNull())
              .groupBy(F.window("created_at", window).alias("w")).agg(*_label_counts())
              .select(F.col("w.start").alias("window_start"), F.col("w.end").alias("window_end"),
                      *ledgers.COUNTS).toPandas())
    return with_shares(counts, rolling) if len(counts) else counts


def differences(actual: pd.DataFrame, expected: pd.DataFrame, key: str, exact: list[str],
                approximate: list[str] = ()) -> dict:
    """Keys missing or extra in `actual`, and keys whose values differ (exactly, or beyond 1e-9)."""
    a, e = actual.set_index(key), expected.set_index(key)
    missing, extra = e.index.difference(a.index), a.index.difference(e.index)
    both = e.index.intersection(a.index)
    a, e = a.loc[both], e.loc[both]
    wrong = pd.Series(False, index=both)
    for column in exact:
        wrong |= ~((a[column] == e[column]) | (a[column].isna() & e[column].isna()))
    for column in approximate:
        wrong |= ~np.isclose(a[column].astype(float), e[column].astype(float), rtol=0, atol=1e-9, equal_nan=True)
    return {"missing": len(missing), "extra": len(extra), "different": int(wrong.sum()),
            "examples": [str(k) for k in [*missing[:3], *extra[:3], *wrong[wrong].index[:3]]]}
