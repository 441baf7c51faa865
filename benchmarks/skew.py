"""Skew and spill per layer for a skewed 20,000-tweet batch and a 20,000-tweet burst, before and after the handling.

Workloads, each one batch through bronze -> silver -> gold (VADER) -> the aggregates' fold, on fresh tables:
- skewed: 20,000 Sentiment140 tweets, every second one mentioning @united (one @mention in half the tweets);
- burst: the 14,640 airline tweets (a handful of airline accounts in most of them) and 5,360 Sentiment140
  ones, landed at once as 200 objects.
`before` runs with adaptive query execution off; `after` with the project's settings (spark_conf.AQE_CONF and
the shuffle partitions). Per layer it prints the worst stage's task-time skew (slowest over median task; also
among stages whose slowest task took at least 0.1 s), the spilled bytes (memory / disk) and the step's seconds,
all from the metadata each step recorded from Spark's REST API. Then the aggregates' Spark group by @mention
over the gold batch, plain against salted (hot mentions spread over `--salt` buckets, then summed). Run:

    .venv/bin/python benchmarks/skew.py                    # in-process Spark, local[2]
    .venv/bin/python benchmarks/skew.py --spark connect    # on a Connect server this script starts and stops
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_resources, load_note, median, owned_connect_server, run_main, shared_data_dir  # noqa: E402

LAYERS = {"bronze_tweets": "bronze", "silver_tweets": "silver", "gold_tweet_sentiment": "gold",
          "aggregate_ledger": "aggregates"}
HOT_MENTION = "united"
TWEETS = 20_000
BEFORE = {"spark.sql.adaptive.enabled": "false"}
LONG_TASK_MS = 100.0
WARM_UP_TWEETS = 2_000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark", choices=["in-process", "connect"], default="in-process")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved before/after rounds per workload")
    parser.add_argument("--salt", type=int, default=8, help="buckets a hot mention is spread over when salted")
    return parser.parse_args(argv)


def workloads() -> dict[str, tuple[list[dict], int]]:
    """Each workload's records and tweets per landing object."""
    from tweetsent_assets.lib.ingest.sources import read_airline, read_sentiment140

    data = shared_data_dir()
    s140 = list(read_sentiment140(data / "sentiment140" / "sentiment140_sample_20k.csv"))
    skewed = [{**r, "text": f"@{HOT_MENTION} {r['text']}"} if i % 2 == 0 else r for i, r in enumerate(s140[:TWEETS])]
    airline = list(read_airline(data / "airline" / "Tweets.csv"))
    burst = airline + s140[:TWEETS - len(airline)]
    return {"skewed": (skewed, 1000), "burst": (burst, 100)}


class Lake:
    """A landing folder, state folder, Delta lake and Dagster instance under one folder; gold scores with VADER."""

    def __init__(self, root: Path, master: str, state_dir: str) -> None:
        from dagster import DagsterInstance

        from tweetsent_assets.definitions import build_defs
        from tweetsent_assets.lib.ingest.object_store import open_store

        root.mkdir(parents=True)
        resources = bench_resources(root, master, state_dir, max_objects_per_batch=1000,
                                    max_batch_bytes=256 * 1024 * 1024)
        self.lake = resources["lake"]
        self.landing = open_store(str(root / "landing"))
        self.defs = build_defs(resources)
        (root / "dagster").mkdir()
        self.instance = DagsterInstance.local_temp(str(root / "dagster"))

    def run(self, records: list[dict], per_object: int) -> int:
        """Land the records at once and run the batches (with the fold) they make; the number of batches."""
        from tweetsent_assets import runner
        from tweetsent_assets.lib.ingest.replay import replay

        replay(records, self.landing, tweets_per_object=per_object, objects_per_second=None, key_prefix="bench")
        outcome = runner.process_new_objects(self.defs, self.instance, None, runner.QUIET)
        if outcome.failed or not outcome.run_ids:
            raise RuntimeError(f"batches failed: {outcome.failed or 'none ran'}")
        return len(outcome.batches)

    def layers(self) -> dict[str, dict]:
        """Each layer's latest metadata: seconds, worst skew (all stages, long ones), spilled bytes."""
        from dagster import AssetKey

        figures = {}
        for key, name in LAYERS.items():
            record = self.instance.fetch_materializations(AssetKey(key), limit=1).records[0]
            metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
            stages = metadata.get("spark_stages", {}).get("stages", [])
            long_skews = [s["skew"] for s in stages if s["max_task_ms"] >= LONG_TASK_MS]
            figures[name] = {"seconds": metadata["duration_s"], "skew": metadata.get("task_skew", float("nan")),
                             "worst": f"{stages[0]['tasks']} tasks, {stages[0]['name'][:40]}" if stages else "",
                             "long_skew": max(long_skews, default=1.0), "stages": len(stages),
                             "memory": metadata.get("spill_memory_bytes", 0),
                             "disk": metadata.get("spill_disk_bytes", 0)}
        return figures


def set_conf(session, values: dict[str, str | None]) -> dict[str, str | None]:
    """Set (or unset, for None) runtime settings; returns what they were."""
    saved = {key: session.conf.get(key, None) for key in values}
    for key, value in values.items():
        if value is None:
            session.conf.unset(key)
        else:
            session.conf.set(key, value)
    return saved


def mention_counts(gold, hot: list[str], buckets: int):
    """Counts per @mention and label; with buckets > 1 the hot mentions are salted first, then summed."""
    from pyspark.sql import functions as F

    rows = gold.select(F.explode("mentions").alias("mention"), "label")
    counts = [F.sum(F.when(F.col("label") == label, 1).otherwise(0)).alias(label)
              for label in ("negative", "neutral", "positive")]
    if buckets <= 1:
        return rows.groupBy("mention").agg(*counts)
    salt = F.when(F.col("mention").isin(hot), F.floor(F.rand(0) * buckets)).otherwise(F.lit(0))
    partial = rows.withColumn("salt", salt).groupBy("mention", "salt").agg(*counts)
    return partial.groupBy("mention").agg(*(F.sum(c).alias(c) for c in ("negative", "neutral", "positive")))


def group_by_mention(session, gold_path: str, buckets: int) -> dict:
    """Seconds and stage figures of the group by @mention over the gold batch, plain or salted."""
    from tweetsent_assets.lib.lake import stage_metrics

    gold = session.read.format("delta").load(gold_path)
    hot = [HOT_MENTION, "americanair", "southwestair", "jetblue", "usairways", "virginamerica"]
    tag = stage_metrics.new_tag("group-by-mention")
    started = time.perf_counter()
    with stage_metrics.tagged(session, tag):
        rows = mention_counts(gold, hot, buckets).collect()
    seconds = time.perf_counter() - started
    report = stage_metrics.session_report(session, tag)
    worst = report.worst() if report else None
    long_worst = report.worst(LONG_TASK_MS) if report else None
    return {"seconds": round(seconds, 2), "mentions": len(rows), "skew": worst.skew if worst else float("nan"),
            "long_skew": long_worst.skew if long_worst else 1.0,
            "memory": report.memory_spilled if report else 0, "disk": report.disk_spilled if report else 0}


def line(name: str, figures: dict) -> str:
    return (f"  {name:<11} skew {figures['skew']:6.2f} (tasks >= 0.1 s: {figures['long_skew']:5.2f}), "
            f"spilled {figures['memory']:,} B memory / {figures['disk']:,} B disk, {figures['seconds']:6.2f} s"
            + (f"; worst stage: {figures['worst']}" if figures.get("worst") else ""))


def run(args, master: str, state_dir: str, scratch: Path) -> int:
    from tweetsent_assets.lib.lake.spark_session import get_spark
    from tweetsent_assets.lib.lake.stage_metrics import ui_url

    session = get_spark(master, "tweetsent-bench-skew", state_dir=state_dir)
    print(f"spark {master}: adaptive {session.conf.get('spark.sql.adaptive.enabled')}, shuffle partitions "
          f"{session.conf.get('spark.sql.shuffle.partitions')}, driver UI {ui_url(session)}", flush=True)
    loads = workloads()
    warm = Lake(scratch / "warm-up", master, state_dir)
    warm.run(loads["burst"][0][:WARM_UP_TWEETS], 100)
    print(f"warm-up: {WARM_UP_TWEETS} tweets through every layer, not reported; {load_note()}", flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for workload, (records, per_object) in loads.items():
        for round_ in range(args.rounds):
            for variant in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                saved = set_conf(session, BEFORE) if variant == "before" else {}
                try:
                    lake = Lake(scratch / f"{workload}-{variant}-{round_}", master, state_dir)
                    started = time.perf_counter()
                    batches = lake.run(records, per_object)
                    figures = lake.layers()
                    figures["run"] = {"seconds": round(time.perf_counter() - started, 2)}
                    gold_path = lake.lake.path("gold_tweet_sentiment")
                    figures["group by @mention"] = group_by_mention(session, gold_path, 1)
                    figures["salted"] = group_by_mention(session, gold_path, args.salt)
                finally:
                    set_conf(session, saved)
                results.setdefault((workload, variant), []).append(figures)
                print(f"{workload} {variant} round {round_ + 1}: {len(records)} tweets in {batches} batch(es), "
                      f"{figures['run']['seconds']} s in all; {load_note()}", flush=True)
                for name in (*LAYERS.values(), "group by @mention", "salted"):
                    print(line(name, figures[name]), flush=True)
    print("medians over rounds (seconds; worst skew; spilled bytes memory+disk):")
    for (workload, variant), runs in results.items():
        parts = []
        for name in (*LAYERS.values(), "group by @mention", "salted"):
            seconds = median([r[name]["seconds"] for r in runs])
            skew = max((r[name]["skew"] for r in runs if r[name]["skew"] == r[name]["skew"]), default=float("nan"))
            spilled = max(r[name]["memory"] + r[name]["disk"] for r in runs)
            parts.append(f"{name} {seconds:.2f} s/{skew:.1f}x/{spilled} B")
        print(f"  {workload} {variant}: " + "; ".join(parts))
    for workload in ("skewed", "burst"):
        saved = {name: median([r[name]["seconds"] for r in results[(workload, "before")]])
                 - median([r[name]["seconds"] for r in results[(workload, "after")]]) for name in LAYERS.values()}
        print(f"  {workload}: the handling saved " + ", ".join(f"{k} {v:+.2f} s" for k, v in saved.items())
              + f" (total {sum(saved.values()):+.2f} s)")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"start: {load_note()}", flush=True)
    scratch = Path(tempfile.mkdtemp(prefix="tweetsent-bench-skew-"))
    if args.spark == "connect":
        from tweetsent_assets.lib.lake import connect_server

        with connect_server.running(owned_connect_server(scratch / "spark-connect", args.master)) as server:
            code = run(args, server.url, str(server.state_dir), scratch)
    else:
        code = run(args, args.master, str(scratch / "spark-connect"), scratch)
    print(f"end: {load_note()}", flush=True)
    return code


if __name__ == "__main__":
    run_main(main)
