"""The dashboard: its data functions, then the real Streamlit app in a headless Chromium.

Gold is airline tweets scored by VADER, written with deltalake (as the dashboard reads it); the
aggregates come from the same functions the assets use; the registry has VADER as champion.
The browser test checks that the page loads, the charts render, the numbers equal the gold
table, and that the page picks up new gold rows by itself; it saves a screenshot.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta

import pandas as pd
import pytest
from deltalake import write_deltalake

from dashboard import data
from tweetsent_assets.lib.ingest.dates import parse_tweet_timestamp
from tweetsent_assets.lib.ingest.sources import read_airline
from tweetsent_assets.lib.ingest.text_cleaning import clean_text, extract_hashtags, extract_mentions
from tweetsent_assets.lib.insights.ledger import TABLE as LEDGER
from tweetsent_assets.lib.insights.ledger import ledger_rows
from tweetsent_assets.lib.insights.spikes import with_shares
from tweetsent_assets.lib.ml.models.loader import load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.registry import log_and_register, promote

from ..support import shared
from .browser import DevTools, chromium, navigate, needs_chromium, screenshot, streamlit_app, wait_for

GOLD_ROWS = 400
METRICS = {"macro_recall": 0.6125, "accuracy": 0.5875, "macro_f1": 0.5711, "tweets_per_s": 2400.0, "n": 2000.0}


def gold_frame(limit: int = GOLD_ROWS, offset: int = 0) -> pd.DataFrame:
    records = list(read_airline(shared("airline/Tweets.csv"), limit=offset + limit))[offset:]
    cleaned = [clean_text(r["text"]) for r in records]
    scored = load_model(ModelSpec(kind="vader", model=None, name="vader")).predict(cleaned)
    now = pd.Timestamp.now(tz="UTC")
    return pd.DataFrame({
        "id": [r["id"] for r in records],
        "created_at": pd.to_datetime([parse_tweet_timestamp(r["date"]) for r in records], utc=True),
        "user": [r["user"] for r in records], "text": [r["text"] for r in records],
        "mentions": [extract_mentions(r["text"]) for r in records],
        "hashtags": [extract_hashtags(r["text"]) for r in records],
        "label": scored.labels, "score": scored.scores, "model_name": "vader", "model_version": "1",
        "scored_at": [now + timedelta(milliseconds=i) for i in range(len(records))],
    })


def aggregates(gold: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """mention_sentiment, sentiment_trends and one spike (the most negative busy hour), as the assets shape them."""
    hourly = gold.assign(window_start=gold["created_at"].dt.floor("h"))
    counts = pd.crosstab(hourly["window_start"], hourly["label"]).reindex(columns=list(data.LABELS), fill_value=0)
    counts = counts.reset_index().rename_axis(columns=None)
    counts["total"] = counts[list(data.LABELS)].sum(axis=1)
    counts["window_end"] = counts["window_start"] + pd.Timedelta("1h")
    trends = with_shares(counts, "6 hours")
    busy = trends[trends["total"] >= 10]
    worst = busy.loc[busy["share_negative"].idxmax()]
    inside = hourly[hourly["window_start"] == worst["window_start"]]
    spikes = pd.DataFrame([{
        "window_start": worst["window_start"], "window_end": worst["window_end"], "negative": worst["negative"],
        "total": worst["total"], "share_negative": worst["share_negative"], "baseline_share_negative": 0.5,
        "baseline_std": 0.1, "baseline_windows": 6, "z_score": 3.5, "direction": "up",
        "top_mentions": inside["mentions"].explode().dropna().value_counts().index[:5].tolist(),
        "top_hashtags": inside["hashtags"].explode().dropna().value_counts().index[:5].tolist()}])
    exploded = gold.explode("mentions").dropna(subset=["mentions"])
    mentions = pd.crosstab(exploded["mentions"], exploded["label"]).reindex(columns=list(data.LABELS), fill_value=0)
    mentions = mentions.rename_axis(index="mention", columns=None).reset_index()
    mentions["total"] = mentions[list(data.LABELS)].sum(axis=1)
    return {"sentiment_trends": trends, "sentiment_spikes": spikes, "mention_sentiment": mentions}


def write_ledger(lake_path: str, gold: pd.DataFrame) -> None:
    """The aggregate ledger of `gold` (one batch per call of gold_frame), as the pipeline writes it."""
    rows, _ = ledger_rows(gold.assign(batch_id="b0"), "1 hour")
    write_deltalake(f"{lake_path}/{LEDGER}", rows, partition_by=["batch_id"], mode="overwrite")


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("dashboard")
    gold = gold_frame()
    write_deltalake(str(root / "lake" / "gold_tweet_sentiment"), gold)
    write_ledger(str(root / "lake"), gold)
    for name, frame in aggregates(gold).items():
        write_deltalake(str(root / "lake" / name), frame)
    uri = f"sqlite:///{root}/mlflow.db"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment("tweetsent-evaluations", artifact_location=(root / "artifacts").as_uri())
    run_id = client.create_run(experiment).info.run_id
    for key, value in METRICS.items():
        client.log_metric(run_id, key, value)
    promote(client, log_and_register(client, run_id, ModelSpec(kind="vader", model=None, name="vader")))
    return {"root": root, "lake": str(root / "lake"), "uri": uri, "gold": gold}


def test_snapshot_reads_gold_aggregates_and_champion(lake):
    snap = data.snapshot(lake["lake"], lake["uri"])
    expected = lake["gold"]["label"].value_counts()
    assert snap.counts == {"total": GOLD_ROWS, **{l: int(expected.get(l, 0)) for l in data.LABELS}}
    assert snap.gold_version == 0 and len(snap.trends) > 1 and len(snap.spikes) == 1
    assert snap.champion["candidate"] == "vader" and snap.champion["version"] == "1"
    assert snap.champion["metrics"]["macro_recall"] == pytest.approx(METRICS["macro_recall"])
    filled = data.complete_windows(snap.trends)
    span = snap.trends["window_start"].max() - snap.trends["window_start"].min()
    assert len(filled) == span / pd.Timedelta("1h") + 1 > len(snap.trends)
    assert filled["total"].sum() == snap.trends["total"].sum() == GOLD_ROWS
    negative = data.top_mentions(snap.mentions, "negative")
    assert negative["negative"].is_monotonic_decreasing and (negative["total"] >= 3).all()
    latest = data.latest_tweets(snap.gold, 5)
    assert list(latest["text"]) == list(lake["gold"]["text"][::-1][:5])


def test_newest_rows_reads_the_newest_files_only(tmp_path):
    path = str(tmp_path / "gold")
    for batch in range(3):
        write_deltalake(path, pd.DataFrame({"id": [f"{batch}-{i}" for i in range(10)], "batch": batch}), mode="append")
        time.sleep(0.01)
    rows, version = data.newest_rows(str(tmp_path), "gold", ["id", "batch"], n=15)
    assert version == 2 and sorted(set(rows["batch"])) == [1, 2] and len(rows) == 20


def test_snapshot_before_any_table_exists(tmp_path):
    snap = data.snapshot(str(tmp_path / "lake"), f"sqlite:///{tmp_path}/mlflow.db")
    assert snap.gold is None and snap.trends is None and snap.champion is None


def test_drift_section_reads_prediction_drift_and_marks_the_flagged_windows(tmp_path):
    from dashboard import drift as drift_view
    from tweetsent_assets.lib.insights import drift

    calm = drift.scored_tweets(["fine #day", "ok", "good"] * 100, list(data.LABELS) * 100, [0.9, 0.6, 0.45] * 100)
    angry = drift.scored_tweets(["awful http://x.co"] * 300, ["negative"] * 300, [0.99] * 300)
    start = pd.Timestamp("2026-01-01")
    gold = pd.concat([calm.assign(created_at=start), angry.assign(created_at=start + pd.Timedelta("1h"))])
    rows = drift.window_metrics(drift.summed(drift.batch_stats(gold.assign(batch_id="b0"), "1 hour")),
                                drift.Baseline.of("5", calm), drift.Thresholds())
    write_deltalake(str(tmp_path / drift_view.TABLE), rows)
    read, _ = data.read_table(str(tmp_path), drift_view.TABLE)
    assert read["flagged"].tolist() == [False, True]
    chart = drift_view.drift_chart(read)
    assert len(chart.layer) == 2 and chart.layer[1].data["window_start"].tolist() == [start + pd.Timedelta("1h")]


PAGE_STATE = """JSON.stringify({
  metrics: [...document.querySelectorAll('[data-testid="stMetric"]')].map(m => ({
    label: m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim(),
    value: m.querySelector('[data-testid="stMetricValue"]')?.innerText.trim()})),
  charts: [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')].filter(c =>
    [...c.querySelectorAll('canvas, svg.marks')].some(e => e.getBoundingClientRect().width > 100
      && e.getBoundingClientRect().height > 50)).length,
  text: document.body.innerText,
  height: Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]', 'section.main']
    .map(q => document.querySelector(q)?.scrollHeight || 0), document.documentElement.scrollHeight)})"""


def page_state(tools: DevTools) -> dict:
    state = json.loads(tools.evaluate(PAGE_STATE))
    state["values"] = {m["label"]: m["value"] for m in state["metrics"] if m["label"]}
    return state


def shown_counts(values: dict) -> dict[str, int]:
    names = {"Scored tweets": "total", **{l.capitalize(): l for l in data.LABELS}}
    return {key: int(values[name].replace(",", "")) for name, key in names.items()}


def gold_counts(lake_path: str) -> dict[str, int]:
    from deltalake import DeltaTable

    labels = DeltaTable(f"{lake_path}/gold_tweet_sentiment").to_pandas(columns=["label"])["label"]
    return {"total": len(labels), **{l: int((labels == l).sum()) for l in data.LABELS}}


@needs_chromium
def test_dashboard_in_headless_chromium(lake, tmp_path):
    with streamlit_app(lake["lake"], lake["uri"], tmp_path / "data") as url, chromium(tmp_path / "profile") as ws:
        tools = DevTools(ws)
        navigate(tools, url)
        state = wait_for(lambda: (s := page_state(tools)) and s["charts"] >= 3 and "Champion" in s["values"] and s,
                         180, "metrics and three rendered charts")
        assert shown_counts(state["values"]) == gold_counts(lake["lake"])
        assert state["values"]["Champion"] == "vader v1"
        assert state["values"]["macro_recall"] == f"{METRICS['macro_recall']:.3f}"
        for heading in ("Sentiment over time", "Share of each sentiment", "Spikes in negative share",
                        "Top negative mentions", "Top positive mentions", "Latest scored tweets"):
            assert heading in state["text"], heading

        more = gold_frame(limit=25, offset=GOLD_ROWS)
        write_deltalake(f"{lake['lake']}/gold_tweet_sentiment", more, mode="append")
        write_ledger(lake["lake"], pd.concat([lake["gold"], more], ignore_index=True))
        expected = gold_counts(lake["lake"])
        wait_for(lambda: shown_counts(page_state(tools)["values"]) == expected, 60, "the page to refresh itself")

        height = min(int(page_state(tools)["height"]), 6000)
        path = screenshot(tools, tmp_path / "dashboard.png", height)
        tools.socket.close()
    print(f"dashboard screenshot: {path}")
