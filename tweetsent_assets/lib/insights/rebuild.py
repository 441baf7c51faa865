"""Full rebuild of the ledgers and aggregate tables from the whole gold table, and the comparison with it.

The incremental path folds one batch at a time; this path recomputes everything from gold (the
way the aggregates were computed before they were incremental), to repair or to verify.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

from . import ledger as ledgers
from . import tables
from .spikes import with_shares


@dataclass(frozen=True)
class Paths:
    """Where gold, the ledgers and the aggregate tables live."""

    gold: str
    mention_ledger: str
    window_ledger: str
    mentions: str
    trends: str
    spikes: str

    @classmethod
    def under(cls, path) -> "Paths":
        """Paths from a function mapping table names to paths (LakeResource.path)."""
        return cls(gold=path("gold_tweet_sentiment"), mention_ledger=path(ledgers.MENTIONS.table),
                   window_ledger=path(ledgers.WINDOWS.table), mentions=path("mention_sentiment"),
                   trends=path("sentiment_trends"), spikes=path("sentiment_spikes"))


def rebuild_all(session, paths: Paths, window: str, rolling: str, rule: tables.SpikeRule) -> dict:
    """Rewrites both ledgers from every gold batch, then the three aggregate tables from the ledgers."""
    gold = session.read.format("delta").load(paths.gold)
    ledgers.rebuild(paths.mention_ledger, ledgers.MENTIONS, ledgers.mention_partials(gold))
    ledgers.rebuild(paths.window_ledger, ledgers.WINDOWS, ledgers.window_partials(gold, window))
    tables.build_mentions(session, paths.mention_ledger, paths.mentions)
    windows = tables.build_trends(session, paths.window_ledger, paths.trends, rolling)
    tables.build_spikes(session, paths.trends, paths.gold, paths.spikes, rule)
    return {"windows": windows}


def expected_mentions(gold) -> pd.DataFrame:
    """Per @mention from gold directly: counts per label, total, first and last seen."""
    return (gold.select(F.explode("mentions").alias("mention"), "label", "created_at").groupBy("mention")
            .agg(*ledgers.label_counts(), F.min("created_at").alias("first_seen"),
                 F.max("created_at").alias("last_seen"))
            .toPandas())


def expected_trends(gold, window: str, rolling: str) -> pd.DataFrame:
    """Per time window from gold directly (Spark's window()), with shares and rolling shares."""
    counts = (gold.where(F.col("created_at").isNotNull())
              .groupBy(F.window("created_at", window).alias("w")).agg(*ledgers.label_counts())
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
