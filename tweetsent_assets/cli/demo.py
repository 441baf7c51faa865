"""`tweetsent demo`: land demo tweets, run every batch (aggregates included), print what each layer holds."""
from __future__ import annotations

import argparse
import logging
import os
import time

from .. import settings
from .console import Console

LAYERS = ("bronze_tweets", "bronze_quarantine", "silver_tweets", "gold_tweet_sentiment",
          "mention_sentiment", "sentiment_trends", "sentiment_spikes")
DEMO_CURSOR = "cursors/demo.json"


def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline once on the embedded defaults and print a summary",
        description="Replays SOURCE into the landing store, runs each micro-batch through bronze, silver "
                    "gold and the aggregates on the Dagster instance in $DAGSTER_HOME, and prints rows "
                    "per layer and counts per sentiment. Library output goes to a log file (see -v).")
    parser.add_argument("--source", default="demo", help="what to land first (default: the built-in sample)")
    parser.add_argument("--tweets-per-object", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="read at most N tweets from SOURCE")
    parser.add_argument("--skip-models", action="store_true",
                        help="skip labeled data, fine-tuning, evaluation and champion selection")
    parser.add_argument("--finetune-seconds", type=float, default=_default_finetune_seconds(),
                        help=f"time budget of the demo's fine-tune (default {DEMO_TRAIN_SPLIT_S:.0f} s on the "
                             f"TweetEval training split, {DEMO_OLD_RECIPE_S:.0f} s without it; `make train`: 45 min)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show everything (Spark, MLflow, Dagster logs) instead of writing it to the log file")
    parser.set_defaults(func=run_demo, redirect=True)


def run_demo(args: argparse.Namespace, console: Console) -> int:
    from dagster import DagsterInstance

    from ..definitions import defs
    from ..lib.ingest.object_store import open_store
    from ..lib.ingest.sources import read_source

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = os.getcwd()
    started = time.perf_counter()
    landing, state = open_store(settings.LANDING_URL), open_store(settings.STATE_URL)
    with console.step(f"landed demo tweets in {landing.url}") as step:
        records = list(read_source(args.source, limit=args.limit))
        keys = _land(console, records, landing, args.tweets_per_object)
        step.note = f"{len(keys)} objects, {len(records)} tweets"
    with DagsterInstance.get() as instance:
        failed = _run_batches(console, defs, instance, state)
        models_ok = True
        if not args.skip_models:
            with console.step("models: labeled data, fine-tune, evaluations, champion") as step, \
                    console.ticking("models", args.finetune_seconds + 120) as bar:
                models_ok = step.ok = _select_champion(defs, instance, args.finetune_seconds, bar)
    with console.step("summary"):
        summary = summary_lines()
    for line in summary:
        console.line(line)
    console.line(f"done in {time.perf_counter() - started:.0f} s. Open the Dagster UI with `make dev` "
                 f"(http://127.0.0.1:3000) to see the runs and materializations.")
    return 0 if not failed and models_ok else 1


def _land(console: Console, records: list[dict], landing, tweets_per_object: int) -> list[str]:
    from ..lib.ingest.replay import replay

    total = -(-len(records) // tweets_per_object)
    with console.progress("landing", total) as bar:
        return replay(records, landing, tweets_per_object=tweets_per_object, objects_per_second=None,
                      key_prefix="demo", on_object=lambda key, count: bar.advance())


def _run_batches(console: Console, defs, instance, state) -> list[str]:
    """Plans the micro-batches with the landing sensor, runs them one by one under a progress bar, then folds and verifies."""
    from .. import runner

    cursor = _load_cursor(state)
    result, new_cursor = runner.tick_sensor(defs, instance, cursor)
    requests = list(result.run_requests or []) if result is not None else []
    failed: list[str] = []
    with console.step("micro-batches: bronze, silver, gold; then aggregates and checks") as step:
        if requests:
            with console.progress("micro-batches", len(requests)) as bar:
                failed = runner.run_batches(defs, instance, result, runner.QUIET,
                                            on_batch=lambda batch: bar.advance()).failed
        step.note = f"{len(requests)} run{'' if len(requests) == 1 else 's'}, {len(failed)} failed"
        step.ok = not failed
    state.put(DEMO_CURSOR, (new_cursor or "").encode())
    return failed


# The demo's shorter training recipe; the asset's defaults are the long run (`make train`). With the TweetEval
# training split, stage 1 trains on it for DEMO_TRAIN_SPLIT_S and its stacker on 2,000 held-out rows (train_size
# applies to the old recipe only); without it, the old recipe: stage 1 on airline and Sentiment140, the stack
# cross-fitted on the eval rows. TWEETSENT_TORCH_THREADS overrides the threads.
DEMO_FINETUNE = {"train_size": 3000, "val_size": 500, "eval_every_steps": 100, "folds": 3, "crossfit_epochs": 2,
                 "crossfit_base": "pretrained", "crossfit_other_rows": 2000, "torch_threads": 2}
DEMO_TRAIN_SPLIT_S, DEMO_OLD_RECIPE_S = 420.0, 90.0


def _has_training_split() -> bool:
    from ..lib.ingest.sources import missing_tweeteval_files

    return not missing_tweeteval_files(os.path.join(settings.LABELED_DATA_DIR, "tweeteval_sentiment"), "train")


def _default_finetune_seconds() -> float:
    """TWEETSENT_DEMO_FINETUNE_S, else the budget of the recipe the labeled data allows."""
    given = os.environ.get("TWEETSENT_DEMO_FINETUNE_S")
    return float(given) if given else DEMO_TRAIN_SPLIT_S if _has_training_split() else DEMO_OLD_RECIPE_S


class _OnBar(logging.Handler):
    """Training progress shown beside the models bar, redrawn in place; every message is in the log file too."""

    def __init__(self, bar) -> None:
        super().__init__(logging.INFO)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        self.bar.show(record.getMessage())


def _select_champion(defs, instance, finetune_seconds: float, bar) -> bool:
    """The model chain on demo-sized settings, then a re-score of gold if the champion moved."""
    from .. import runner
    from ..defs.models.candidates import CANDIDATES, TRAINING_LOGGER
    from ..lib.ml.registry import CHAMPION, get_alias_version

    if not os.path.isdir(settings.LABELED_DATA_DIR):
        print(f"skipping model selection: no labeled data at {settings.LABELED_DATA_DIR} "
              "(set TWEETSENT_LABELED_DATA_DIR to the folder with tweeteval_sentiment/, airline/, sentiment140/)")
        return True
    client = defs.resources["mlflow"].client()
    before = get_alias_version(client, CHAMPION)
    progress = _OnBar(bar)
    training_log = logging.getLogger(TRAINING_LOGGER)
    training_log.addHandler(progress)
    training_log.setLevel(logging.INFO)
    threads = int(os.environ.get("TWEETSENT_TORCH_THREADS", DEMO_FINETUNE["torch_threads"]))
    split = _has_training_split()
    recipe = {**DEMO_FINETUNE, "train_size": None} if split else DEMO_FINETUNE
    finetune = {"config": {**recipe, "time_budget_s": finetune_seconds, "torch_threads": threads}}
    stack = ("the stack, its stacker fitted on 2,000 training tweets stage 1 never saw" if split else
             f"the cross-fitted stack ({DEMO_FINETUNE['folds']} folds x {DEMO_FINETUNE['crossfit_epochs']} epochs on "
             f"the in-domain tweets and {DEMO_FINETUNE['crossfit_other_rows']} airline and Sentiment140 tweets)")
    data = "TweetEval training split" if split else "airline and Sentiment140 tweets"
    print(f"model step: stage-1 fine-tune on the {data} ({finetune_seconds:.0f} s budget), then {stack}; progress "
          "on the bar, every step in the log file; both are reused when the labeled data and recipe are unchanged "
          "(`make train` runs the long recipe)", flush=True)
    try:
        done = runner.select_champion(defs, instance, list(CANDIDATES),
                                      {**runner.QUIET, "ops": {"finetuned_sentiment_model": finetune}})
    finally:
        training_log.removeHandler(progress)
    failed = [step for step, ok in done.items() if not ok]
    print(f"  {len(done) - len(failed)}/{len(done)} model steps ok" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    after = get_alias_version(client, CHAMPION)
    if after != before:
        unscored = runner.rescore_gold(defs, instance, runner.QUIET)
        print(f"champion moved {before} -> {after}: re-scored gold ({len(unscored)} hours failed)")
    return all(done.values())


def _load_cursor(state) -> str | None:
    try:
        data, _ = state.get(DEMO_CURSOR)
    except FileNotFoundError:
        return None
    return data.decode() or None


def summary_lines() -> list[str]:
    """Rows per layer, gold tweets per sentiment and model, and the candidates' evaluations."""
    from pyspark.sql import functions as F

    from ..defs.resources import LakeResource, SparkResource

    spark, lake = SparkResource().session(), LakeResource()
    lines = [f"rows per layer ({lake.root}):"]
    for table in LAYERS:
        lines.append(f"  {table:<22} {spark.read.format('delta').load(lake.path(table)).count():>7}")
    gold = spark.read.format("delta").load(lake.path("gold_tweet_sentiment"))
    lines.append("gold tweets per sentiment:")
    for row in gold.groupBy("label").count().orderBy(F.desc("count")).collect():
        lines.append(f"  {row['label']:<22} {row['count']:>7}")
    models = gold.groupBy("model_name", "model_version").count().collect()
    lines.append("scored by: " + ", ".join(f"{r['model_name']} (version {r['model_version']}): {r['count']}"
                                           for r in models))
    return lines + _candidate_lines()


def _candidate_lines() -> list[str]:
    from ..defs.resources import MlflowResource
    from ..lib.ml.model_runs import EVALUATION_EXPERIMENT, latest_run
    from ..lib.ml.registry import CHAMPION, get_alias_version

    mlflow = MlflowResource()
    client = mlflow.client()
    if client.get_experiment_by_name(EVALUATION_EXPERIMENT) is None:
        return []
    from ..defs.models.candidates import CANDIDATES

    experiment = mlflow.experiment_id(EVALUATION_EXPERIMENT)
    lines = [f"candidates (champion: version {get_alias_version(client, CHAMPION) or 'none'}):"]
    for name in CANDIDATES:
        run = latest_run(client, experiment, f"tags.candidate = '{name}'")
        if run is None or run.data.tags.get("available") != "true":
            reason = "not evaluated" if run is None else run.data.tags.get("unavailable_reason", "")[:70]
            lines.append(f"  {name:<22} unavailable: {reason}")
            continue
        m = run.data.metrics
        lines.append(f"  {name:<22} version {run.data.tags.get('registered_version')}: macro recall "
                     f"{m.get('macro_recall', 0):.3f}, accuracy {m.get('accuracy', 0):.3f}, "
                     f"{m.get('tweets_per_s', 0):.0f} tweets/s")
    return lines
