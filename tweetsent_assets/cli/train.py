"""`tweetsent train`: the model assets with the long recipe (the whole training split), a line per epoch.

The same assets `make demo` runs, with a larger config; each step runs only when the one before
succeeded, so a bad training split registers nothing. The winner goes through the usual
promotion guard (a paired bootstrap against the champion on the eval rows).
"""
from __future__ import annotations

import argparse
import logging
import os
import time

from .. import settings
from .console import Console

# The long recipe; `--minutes`, `--epochs`, `--train-size` and `--seed` override it.
TRAIN_FINETUNE = {"train_size": None, "val_size": 2000, "max_epochs": 3, "eval_every_steps": 300,
                  "stacker_rows": 2000, "stack_protocol": "auto", "torch_threads": 2}
DEFAULT_MINUTES = 45.0


def add_train_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the models on the whole TweetEval training split and select a champion",
        description="Runs labeled_tweets, finetuned_sentiment_model (stage 1 on the training split within "
                    "--minutes, then the stack), every candidate's evaluation and the champion decision on the "
                    "Dagster instance in $DAGSTER_HOME. Prints a line per epoch; details go to the log file.")
    parser.add_argument("--minutes", type=float,
                        default=float(os.environ.get("TWEETSENT_TRAIN_MINUTES", DEFAULT_MINUTES)),
                        help=f"stage 1's time budget in minutes, loading included (default {DEFAULT_MINUTES:.0f}: "
                             "the whole command then takes under an hour on 2 cores)")
    parser.add_argument("--epochs", type=int, default=TRAIN_FINETUNE["max_epochs"], help="at most this many epochs")
    parser.add_argument("--train-size", type=int, default=None, help="train on at most N rows (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retrain", action="store_true", help="train even when the rows and recipe are unchanged")
    parser.add_argument("-v", "--verbose", action="store_true", help="show every log line instead of the log file")
    parser.set_defaults(func=run_train, redirect=True)


def train_config(args: argparse.Namespace) -> dict:
    """The finetuned_sentiment_model config for these arguments (TWEETSENT_TORCH_THREADS sets the threads)."""
    threads = int(os.environ.get("TWEETSENT_TORCH_THREADS", TRAIN_FINETUNE["torch_threads"]))
    return {**TRAIN_FINETUNE, "time_budget_s": args.minutes * 60, "max_epochs": args.epochs,
            "train_size": args.train_size, "seed": args.seed, "retrain": args.retrain, "torch_threads": threads}


def run_train(args: argparse.Namespace, console: Console) -> int:
    from dagster import DagsterInstance

    from .. import runner
    from ..defs.models.candidates import CANDIDATES, TRAINING_LOGGER
    from ..definitions import defs

    if not os.environ.get("DAGSTER_HOME"):
        os.environ["DAGSTER_HOME"] = os.getcwd()
    config = train_config(args)
    console.line(f"training on {settings.LABELED_DATA_DIR}: stage 1 for at most {args.minutes:g} min, "
                 f"{args.epochs} epochs, seed {args.seed}")
    steps = [("labeled_tweets", ("labeled_tweets",), None),
             ("finetuned_sentiment_model", ("finetuned_sentiment_model",), None),
             *((f"evaluation of {name}", ("model_evaluations",), name) for name in CANDIDATES),
             ("champion decision", ("champion_decision", "champion_model"), None)]
    run_config = {**runner.QUIET, "ops": {"finetuned_sentiment_model": {"config": config}}}
    milestones = _Milestones(console)
    training_log = logging.getLogger(TRAINING_LOGGER)
    training_log.addHandler(milestones)
    training_log.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        with DagsterInstance.get() as instance:
            for name, assets, partition in steps:
                with console.step(name) as step:
                    step.ok = _execute(defs, instance, assets, partition, run_config)
                if not step.ok:
                    console.warn(f"tweetsent train: {name} failed, so the later steps did not run "
                                 "(nothing new registered past it); the reason is in the log file")
                    return 1
    finally:
        training_log.removeHandler(milestones)
    for line in _results(defs):
        console.line(line)
    console.line(f"done in {(time.perf_counter() - started) / 60:.1f} min. `make mlflow` shows every version's card.")
    return 0


def _execute(defs, instance, assets: tuple[str, ...], partition: str | None, run_config: dict) -> bool:
    """One in-process run of `assets` with the ops' config among `run_config` that belongs to them."""
    from dagster import AssetKey

    own = {**run_config, "ops": {k: v for k, v in run_config["ops"].items() if k in assets}}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection={AssetKey(a) for a in assets})
    return job.execute_in_process(instance=instance, partition_key=partition, run_config=own,
                                  raise_on_error=False).success


def _results(defs) -> list[str]:
    """Each candidate's latest val macro recall with its interval, and the champion."""
    from ..defs.models.candidates import CANDIDATES
    from ..lib.ml.model_runs import EVALUATION_EXPERIMENT, latest_run
    from ..lib.ml.registry import CHAMPION, get_alias_version

    mlflow = defs.resources["mlflow"]
    client = mlflow.client()
    experiment = mlflow.experiment_id(EVALUATION_EXPERIMENT)
    lines = [f"champion: version {get_alias_version(client, CHAMPION) or 'none'}"]
    for name in CANDIDATES:
        run = latest_run(client, experiment, f"tags.candidate = '{name}'")
        if run is None or run.data.tags.get("available") != "true":
            continue
        m = run.data.metrics
        lines.append(f"  {name:<24} version {run.data.tags.get('registered_version')}: macro recall "
                     f"{m['macro_recall']:.3f} [{m['macro_recall_ci_low']:.3f}, {m['macro_recall_ci_high']:.3f}], "
                     f"{m['tweets_per_s']:.0f} tweets/s")
    return lines


class _Milestones(logging.Handler):
    """Prints the training lines marked as milestones (a stage's start and end, each epoch's end)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.INFO)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "milestone", False):
            self.console.line(f"  {record.getMessage()}")
