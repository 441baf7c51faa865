"""`tweetsent demo`: land demo tweets, run every batch and the aggregates, print what each layer holds."""
from __future__ import annotations

import argparse
import os
import time

from . import settings

LAYERS = ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment",
          "mention_sentiment", "sentiment_trends")
DEMO_CURSOR = "cursors/demo.json"


def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline once on the embedded defaults and print a summary",
        description="Replays SOURCE into the landing store, runs each micro-batch through bronze, silver "
                    "and gold on the Dagster instance in $DAGSTER_HOME, refreshes the aggregates, and "
                    "prints rows per layer and counts per sentiment.")
    parser.add_argument("--source", default="demo", help="what to land first (default: the built-in sample)")
    parser.add_argument("--tweets-per-object", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="read at most N tweets from SOURCE")
    parser.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from dagster import DagsterInstance

    from . import runner
    from .definitions import defs
    from .lib.object_store import open_store
    from .lib.replay import replay
    from .lib.sources import read_source

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = os.getcwd()
    started = time.perf_counter()
    landing, state = open_store(settings.LANDING_URL), open_store(settings.STATE_URL)
    keys = replay(read_source(args.source, limit=args.limit), landing,
                  tweets_per_object=args.tweets_per_object, objects_per_second=None, key_prefix="demo")
    print(f"landed {len(keys)} objects in {landing.url}")
    with DagsterInstance.get() as instance:
        cursor = _load_cursor(state)
        outcome = runner.process_new_objects(defs, instance, cursor, runner.QUIET)
        state.put(DEMO_CURSOR, (outcome.cursor or "").encode())
        print(f"ran {len(outcome.run_ids)} micro-batch runs ({len(outcome.failed)} failed)")
        aggregates_ok = runner.refresh_aggregates(defs, instance, runner.QUIET)
    print_summary()
    print(f"done in {time.perf_counter() - started:.0f} s. Open the Dagster UI with `make dev` "
          f"(http://127.0.0.1:3000) to see the runs and materializations.")
    return 0 if not outcome.failed and aggregates_ok else 1


def _load_cursor(state) -> str | None:
    try:
        data, _ = state.get(DEMO_CURSOR)
    except FileNotFoundError:
        return None
    return data.decode() or None


def print_summary() -> None:
    from pyspark.sql import functions as F

    from .defs.resources import LakeResource, SparkResource

    spark, lake = SparkResource().session(), LakeResource()
    print(f"\nrows per layer ({lake.root}):")
    for table in LAYERS:
        print(f"  {table:<22} {spark.read.format('delta').load(lake.path(table)).count():>7}")
    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment"))
    print("gold tweets per sentiment:")
    for row in gold.groupBy("label").count().orderBy(F.desc("count")).collect():
        print(f"  {row['label']:<22} {row['count']:>7}")
