"""What the dashboard shows, read without Spark: Delta tables through deltalake, the champion through MLflow.

Counts come from the aggregate ledger's totals and the tweet list from gold's newest files, so a
refresh costs the same however large gold grows; gold itself is never read whole.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd

LABELS = ("negative", "neutral", "positive")
GOLD_COLUMNS = ("id", "created_at", "user", "text", "label", "score", "model_name", "model_version", "scored_at")
CHAMPION_METRICS = ("macro_recall", "accuracy", "macro_f1", "tweets_per_s", "n")
LEDGER, LEDGER_TOTAL = "aggregate_ledger", "__total__"


def lake_root() -> str:
    """TWEETSENT_LAKE_ROOT, else <TWEETSENT_DATA_DIR>/lake (the pipeline's own defaults)."""
    from tweetsent_assets import settings

    return os.environ.get("TWEETSENT_LAKE_ROOT") or settings.LAKE_ROOT


def tracking_uri() -> str:
    from tweetsent_assets import settings

    return os.environ.get("MLFLOW_TRACKING_URI") or settings.MLFLOW_TRACKING_URI


def open_table(root: str, name: str):
    """The deltalake DeltaTable `name` under `root` (a folder, or s3a:// with AWS_ENDPOINT_URL and the AWS
    credential chain); None while it does not exist yet."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    from tweetsent_assets.lib.lake.delta_tables import delta_rs_location

    path = f"{root.rstrip('/')}/{name}" if "://" in root else os.path.join(os.path.abspath(root), name)
    uri, options = delta_rs_location(path)
    try:
        return DeltaTable(uri, storage_options=options)
    except TableNotFoundError:
        return None


def read_table(root: str, name: str, columns=None) -> tuple[pd.DataFrame | None, int | None]:
    """The Delta table `name` under `root` and its version; (None, None) while it does not exist yet."""
    table = open_table(root, name)
    if table is None:
        return None, None
    return table.to_pandas(columns=_present(table, columns)), table.version()


def newest_rows(root: str, name: str, columns=None, n: int = 20) -> tuple[pd.DataFrame | None, int | None]:
    """Rows of the most recently added files of table `name` (at least `n` rows where there are), and its version.

    The files are picked from the Delta log (newest modification time first), so only they are read.
    """
    import pyarrow as pa

    table = open_table(root, name)
    if table is None:
        return None, None
    added = pa.table(table.get_add_actions(flatten=True)).to_pandas()
    added = added.sort_values("modification_time", ascending=False)
    enough = added["num_records"].fillna(1).cumsum().shift(fill_value=0) < n
    chosen = set(added.loc[enough, "path"])
    fragments = [f for f in table.to_pyarrow_dataset().get_fragments()
                 if any(f.path.endswith(path) for path in chosen)]
    present = _present(table, columns)
    parts = [f.to_table(columns=present) for f in fragments]
    frame = pa.concat_tables(parts).to_pandas() if parts else table.to_pandas(columns=present).iloc[0:0]
    return frame, table.version()


def _present(table, columns):
    return [c for c in columns if c in table.schema().to_arrow().names] if columns else None


def ledger_counts(root: str) -> dict[str, int] | None:
    """Scored tweets in total and per sentiment, from the aggregate ledger's window totals (None before any)."""
    table = open_table(root, LEDGER)
    if table is None:
        return None
    totals = table.to_pandas(partitions=[("batch_id", "=", LEDGER_TOTAL)], columns=["kind", *LABELS, "total"])
    windows = totals[totals["kind"] == "window"]
    return {"total": int(windows["total"].sum()), **{label: int(windows[label].sum()) for label in LABELS}}


def label_counts(gold: pd.DataFrame) -> dict[str, int]:
    """Scored tweets in total and per sentiment, counted in `gold` rows."""
    counts = gold["label"].value_counts()
    return {"total": len(gold), **{label: int(counts.get(label, 0)) for label in LABELS}}


def shares(counts: dict[str, int]) -> pd.DataFrame:
    total = counts["total"] or 1
    return pd.DataFrame({"sentiment": list(LABELS), "tweets": [counts[l] for l in LABELS],
                         "share": [counts[l] / total for l in LABELS]})


def complete_windows(trends: pd.DataFrame) -> pd.DataFrame:
    """Trends with the windows that had no tweets filled in as zero counts, so charts do not bridge gaps."""
    if len(trends) < 2:
        return trends
    ordered = trends.sort_values("window_start")
    step = (ordered["window_end"] - ordered["window_start"]).iloc[0]
    grid = pd.date_range(ordered["window_start"].iloc[0], ordered["window_start"].iloc[-1], freq=step)
    filled = ordered.set_index("window_start").reindex(grid).rename_axis("window_start").reset_index()
    filled[[*LABELS, "total"]] = filled[[*LABELS, "total"]].fillna(0).astype("int64")
    filled["window_end"] = filled["window_start"] + step
    return filled


def top_mentions(mentions: pd.DataFrame | None, label: str, n: int = 10, min_total: int = 3) -> pd.DataFrame:
    """Mentions with the most `label` tweets (at least `min_total` tweets in all), with that label's share."""
    if mentions is None or mentions.empty:
        return pd.DataFrame(columns=["mention", label, "total", f"{label} share"])
    frame = mentions[mentions["total"] >= min_total].assign(**{f"{label} share": lambda m: m[label] / m["total"]})
    frame = frame.sort_values([label, "total", "mention"], ascending=[False, False, True]).head(n)
    return frame[["mention", label, "total", f"{label} share"]].reset_index(drop=True)


def latest_tweets(gold: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The `n` most recently scored tweets, newest first (tweet time breaks ties)."""
    order = [c for c in ("scored_at", "created_at", "id") if c in gold.columns]
    frame = gold.sort_values(order, ascending=False, na_position="last").head(n)
    return frame[[c for c in ("created_at", "user", "text", "label", "score", "model_name", "model_version")
                  if c in frame.columns]].reset_index(drop=True)


def champion(uri: str) -> dict | None:
    """The registry's champion: version, candidate, its evaluation metrics and when it was registered."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        version = client.get_model_version_by_alias("tweet-sentiment", "champion")
    except MlflowException:
        return None
    metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
    return {"version": str(version.version), "candidate": version.tags.get("candidate", "?"),
            "metrics": {k: metrics[k] for k in CHAMPION_METRICS if k in metrics},
            "registered": datetime.fromtimestamp(version.creation_timestamp / 1000, timezone.utc)}


@dataclass
class Snapshot:
    """Everything one refresh of the page shows: `gold` holds gold's newest rows only."""

    root: str
    gold: pd.DataFrame | None
    gold_version: int | None
    totals: dict[str, int] | None = None
    trends: pd.DataFrame | None = None
    spikes: pd.DataFrame | None = None
    mentions: pd.DataFrame | None = None
    champion: dict | None = None
    read_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def counts(self) -> dict[str, int]:
        """Tweets per sentiment from the ledger (zeros until the first batch's aggregates are in)."""
        return self.totals if self.totals is not None else {"total": 0, **{label: 0 for label in LABELS}}


def snapshot(root: str | None = None, uri: str | None = None) -> Snapshot:
    root = root or lake_root()
    gold, version = newest_rows(root, "gold_tweet_sentiment", GOLD_COLUMNS)
    totals = ledger_counts(root)
    trends, _ = read_table(root, "sentiment_trends")
    spikes, _ = read_table(root, "sentiment_spikes")
    mentions, _ = read_table(root, "mention_sentiment")
    try:
        found = champion(uri or tracking_uri())
    except Exception:
        found = None
    return Snapshot(root=root, gold=gold, gold_version=version, totals=totals, trends=trends, spikes=spikes,
                    mentions=mentions, champion=found)
