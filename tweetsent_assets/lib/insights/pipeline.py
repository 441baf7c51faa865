"""Batches into the aggregates (fold into the ledger, then update the rows they moved), or all of gold at once."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..lake import delta_tables
from . import ledger as ledgers
from . import tables
from .sql import merge_ranges


@dataclass(frozen=True)
class Paths:
    """Where gold, the ledger and the aggregate tables live."""

    gold: str
    ledger: str
    mentions: str
    trends: str
    spikes: str

    @classmethod
    def under(cls, path) -> "Paths":
        """Paths from a function mapping table names to paths (LakeResource.path)."""
        return cls(gold=path("gold_tweet_sentiment"), ledger=path(ledgers.TABLE), mentions=path("mention_sentiment"),
                   trends=path("sentiment_trends"), spikes=path("sentiment_spikes"))


@dataclass(frozen=True)
class Settings:
    """The window of the ledger, the rolling span of the trends and the spike rule."""

    window: str
    rolling: str
    rule: tables.SpikeRule


def update_batches(session, paths: Paths, batch_ids: list[str], settings: Settings, lap=lambda name: None) -> dict:
    """Folds each batch's gold rows into the ledger, then updates the rows of the three tables they moved, once.

    Reads the batches' gold rows (one scan), each batch's ledger partition and the totals of the
    keys they touched (with the windows around them), never the other batches or the whole tables.
    Batches the ledger never held are folded in one ledger MERGE, others one MERGE each (each batch's
    contribution stays its own partition, replaceable on its own); the mention, trend and spike
    tables take one MERGE each, however many batches were folded.
    """
    if not batch_ids:
        raise ValueError("update_batches needs at least one batch id")
    gold = (delta_tables.read_batches(session, paths.gold, batch_ids).select(*ledgers.GOLD_COLUMNS).toPandas())
    new = ledgers.partials(gold, settings.window)
    folded = ledgers.fold_batches(session, paths.ledger, batch_ids, new)
    version = folded.version
    lap("fold")
    touched = folded.touched_windows().drop_duplicates().reset_index(drop=True)
    mentions = sorted(set(ledgers.mentions_of(folded.partial)["mention"]))
    around = tables.reach(settings.rolling, settings.rule) + pd.Timedelta(settings.window)
    totals = ledgers.totals_for(session, paths.ledger, version, mentions,
                                merge_ranges([(t - around, t + around) for t in touched]))
    lap("read_totals")
    mention_rows, gone_mentions = tables.mention_updates(totals, mentions)
    tables.merge_rows(session, mention_rows, tables.MENTION_SCHEMA, paths.mentions, ["mention"], version,
                      gone_mentions)
    lap("mention_sentiment")
    trend_rows, gone_windows = tables.trend_updates(totals, touched, settings.rolling)
    tables.merge_rows(session, trend_rows, tables.TRENDS_SCHEMA, paths.trends, ["window_start"], version, gone_windows)
    lap("sentiment_trends")
    counts = ledgers.windows_of(totals)[list(tables.COUNT_COLUMNS)]
    flagged, unflagged, rescored = tables.rescore_spikes(session, counts, paths.spikes, paths.gold, touched,
                                                         settings.rule)
    tables.merge_rows(session, flagged, tables.SPIKES_SCHEMA, paths.spikes, ["window_start"], version, unflagged)
    lap("sentiment_spikes")
    return {"batch_rows": len(gold), "rows_per_batch": gold["batch_id"].value_counts().to_dict(),
            "ledger_version": version, "mentions_touched": len(mentions),
            "windows_touched": len(touched), "windows_rescored": rescored, "windows_updated": len(trend_rows),
            "mentions": _rows(session, paths.mentions), "windows": _rows(session, paths.trends),
            "spikes": _rows(session, paths.spikes), "spike_rows": flagged}


def _rows(session, path: str) -> int:
    return delta_tables.describe(session, path).rows if delta_tables.exists(session, path) else 0


def rebuild_all(session, paths: Paths, settings: Settings) -> dict:
    """Rewrites the ledger from every gold batch, then the three tables from its totals."""
    gold = session.read.format("delta").load(paths.gold).select(*ledgers.GOLD_COLUMNS).toPandas()
    version, totals = ledgers.rebuild(session, paths.ledger, gold, settings.window)
    mentions = tables.mentions(totals)
    tables.write_table(session, mentions, tables.MENTION_SCHEMA, paths.mentions, version)
    trends = tables.trends(totals, settings.rolling)
    tables.write_table(session, trends, tables.TRENDS_SCHEMA, paths.trends, version)
    gold_frame = session.read.format("delta").load(paths.gold)
    spikes = tables.spikes_of(session, trends, gold_frame, settings.rule).toPandas()
    tables.write_table(session, spikes, tables.SPIKES_SCHEMA, paths.spikes, version)
    return {"batch_rows": len(gold), "mentions": len(mentions), "windows": len(trends), "spikes": len(spikes)}
