"""One batch into the aggregates (fold into the ledger, then rewrite the tables), or all of gold at once."""
from __future__ import annotations

from dataclasses import dataclass

from ..lake import delta_tables
from . import ledger as ledgers
from . import tables


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


def update_batch(session, paths: Paths, batch_id: str, settings: Settings, lap=lambda name: None) -> dict:
    """Folds `batch_id`'s gold rows into the ledger and rewrites the three tables; returns what it did.

    Reads the batch's gold rows, the batch's ledger partition, the ledger totals and the spike
    table, never the other batches.
    """
    gold = (delta_tables.read_batch(session, paths.gold, batch_id).select(*ledgers.GOLD_COLUMNS).toPandas())
    folded = ledgers.fold_batch(session, paths.ledger, batch_id, ledgers.partials(gold, settings.window))
    lap("fold")
    totals = ledgers.totals_at(session, paths.ledger, folded.version)
    lap("read_totals")
    mentions = tables.mentions(totals)
    tables.write_table(session, mentions, tables.MENTION_SCHEMA, paths.mentions, folded.version)
    lap("mention_sentiment")
    trends = tables.trends(totals, settings.rolling)
    tables.write_table(session, trends, tables.TRENDS_SCHEMA, paths.trends, folded.version)
    lap("sentiment_trends")
    touched = folded.touched_windows()
    spikes, scored = tables.spikes(session, trends, tables.read_spikes(session, paths.spikes), paths.gold, touched,
                                   settings.rule)
    tables.write_table(session, spikes, tables.SPIKES_SCHEMA, paths.spikes, folded.version)
    lap("sentiment_spikes")
    return {"batch_rows": len(gold), "ledger_version": folded.version,
            "mentions_touched": len(ledgers.mentions_of(folded.partial)), "windows_touched": len(touched),
            "windows_rescored": scored, "mentions": len(mentions), "windows": len(trends), "spikes": len(spikes),
            "spike_rows": spikes}


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
