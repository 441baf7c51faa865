"""`tweetsent demo`: land demo tweets, run every batch and the aggregates, print what each layer holds."""
from __future__ import annotations

import argparse
import logging
import os
import sys
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
    parser.add_argument("--skip-models", action="store_true",
                        help="skip labeled data, fine-tuning, evaluation and champion selection")
    parser.add_argument("--finetune-seconds", type=float, default=float(os.environ.get("TWEETSENT_DEMO_FINETUNE_S", 90)),
                        help="time budget of the demo's fine-tune (default 90 s; the asset's own default is 480)")
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
        models_ok = args.skip_models or _select_champion(defs, instance, args.finetune_seconds)
        aggregates_ok = runner.refresh_aggregates(defs, instance, runner.QUIET)
    print_summary()
    print(f"done in {time.perf_counter() - started:.0f} s. Open the Dagster UI with `make dev` "
          f"(http://127.0.0.1:3000) to see the runs and materializations.")
    return 0 if not outcome.failed and aggregates_ok and models_ok else 1


# The demo's shorter training recipe; the asset's defaults are the long run. TWEETSENT_TORCH_THREADS
# overrides the threads (1 is faster where other jobs share the cores).
DEMO_FINETUNE = {"train_size": 3000, "eval_every_steps": 50, "folds": 3, "crossfit_epochs": 2,
                 "crossfit_base": "pretrained", "torch_threads": 2}


def _select_champion(defs, instance, finetune_seconds: float) -> bool:
    """The model chain on demo-sized settings, then a re-score of gold if the champion moved."""
    from . import runner
    from .defs.ml_assets import CANDIDATES, TRAINING_LOGGER
    from .lib.registry import CHAMPION, get_alias_version

    if not os.path.isdir(settings.LABELED_DATA_DIR):
        print(f"skipping model selection: no labeled data at {settings.LABELED_DATA_DIR} "
              "(set TWEETSENT_LABELED_DATA_DIR to the folder with tweeteval_sentiment/, airline/, sentiment140/)")
        return True
    client = defs.resources["mlflow"].client()
    before = get_alias_version(client, CHAMPION)
    progress = logging.StreamHandler(sys.stdout)
    progress.setFormatter(logging.Formatter("  %(asctime)s %(message)s", "%H:%M:%S"))
    training_log = logging.getLogger(TRAINING_LOGGER)
    training_log.addHandler(progress)
    training_log.setLevel(logging.INFO)
    threads = int(os.environ.get("TWEETSENT_TORCH_THREADS", DEMO_FINETUNE["torch_threads"]))
    finetune = {"config": {**DEMO_FINETUNE, "time_budget_s": finetune_seconds, "torch_threads": threads}}
    print(f"model step: stage-1 fine-tune ({finetune_seconds:.0f} s budget), then the cross-fitted stack "
          f"({DEMO_FINETUNE['folds']} folds x {DEMO_FINETUNE['crossfit_epochs']} epochs on the in-domain tweets, "
          "progress in the log below); both are reused when the labeled data and recipe are unchanged", flush=True)
    try:
        done = runner.select_champion(defs, instance, list(CANDIDATES),
                                      {**runner.QUIET, "ops": {"finetuned_sentiment_model": finetune}})
    finally:
        training_log.removeHandler(progress)
    for step, ok in done.items():
        print(f"  {step:<40} {'ok' if ok else 'FAILED'}")
    after = get_alias_version(client, CHAMPION)
    if after != before:
        failed = runner.rescore_gold(defs, instance, runner.QUIET)
        print(f"champion moved {before} -> {after}: re-scored gold ({len(failed)} partitions failed)")
    return all(done.values())


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
    models = gold.groupBy("model_name", "model_version").count().collect()
    print("scored by: " + ", ".join(f"{r['model_name']} (version {r['model_version']}): {r['count']}" for r in models))
    _print_candidates()


def _print_candidates() -> None:
    from .defs.resources import MlflowResource
    from .lib.model_runs import EVALUATION_EXPERIMENT, latest_run
    from .lib.registry import CHAMPION, get_alias_version

    mlflow = MlflowResource()
    client = mlflow.client()
    if client.get_experiment_by_name(EVALUATION_EXPERIMENT) is None:
        return
    from .defs.ml_assets import CANDIDATES

    experiment = mlflow.experiment_id(EVALUATION_EXPERIMENT)
    print(f"candidates (champion: version {get_alias_version(client, CHAMPION) or 'none'}):")
    for name in CANDIDATES:
        run = latest_run(client, experiment, f"tags.candidate = '{name}'")
        if run is None or run.data.tags.get("available") != "true":
            reason = "not evaluated" if run is None else run.data.tags.get("unavailable_reason", "")[:70]
            print(f"  {name:<22} unavailable: {reason}")
            continue
        m = run.data.metrics
        print(f"  {name:<22} version {run.data.tags.get('registered_version')}: macro recall "
              f"{m.get('macro_recall', 0):.3f}, accuracy {m.get('accuracy', 0):.3f}, {m.get('tweets_per_s', 0):.0f} tweets/s")
