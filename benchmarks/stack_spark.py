"""Tweets/s of the stack champion inside Spark (the gold path), against its encoder alone and VADER alone.

Registers each model in a scratch MLflow registry and scores silver batches gold has not seen, as
micro-batches come, through `defs.gold.score_batch` (cache off), so the figures are the pipeline's own. Shows what
adding VADER to the transformer costs. Run from the repo root after training a stack folder:

    nice -n 19 .venv/bin/python benchmarks/stack_spark.py --stack data/models/minilm-xfit-stack --rounds 2
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import load_note, median, run_main, tweeteval, write_silver  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, type=Path, help="stack folder (stack.json, encoder/)")
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--master", default="local[2]")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mlflow import MlflowClient

    from tweetsent_assets.defs.gold import score_batch
    from tweetsent_assets.defs.resources import LakeResource
    from tweetsent_assets.lib.lake.spark_session import get_spark
    from tweetsent_assets.lib.ml.models.types import ModelSpec
    from tweetsent_assets.lib.ml.registry import log_and_register

    scratch = Path(tempfile.mkdtemp(prefix="tweetsent-bench-stack-"))
    texts, _ = tweeteval(args.tweets)
    tracking = f"sqlite:///{scratch / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    experiment = client.create_experiment("bench", artifact_location=(scratch / "artifacts").as_uri())
    run = client.create_run(experiment).info.run_id
    local = {
        "stack fp32": (ModelSpec(kind="stack", model=str(args.stack), name="stack"), args.stack),
        "stack int8": (ModelSpec(kind="stack", model=str(args.stack), name="stack", quantize=True), args.stack),
        "encoder alone fp32": (ModelSpec(kind="hf", model=str(args.stack / "encoder"), name="encoder", max_length=64),
                               args.stack / "encoder"),
        "vader alone": (ModelSpec(kind="vader", model=None, name="vader"), None),
    }
    specs = {}
    for name, (spec, folder) in local.items():
        version = log_and_register(client, run, spec, folder)
        specs[name] = ModelSpec(kind="mlflow", model=f"models:/tweet-sentiment/{version}", name=spec.name,
                                version=version, tracking_uri=tracking)
    client.set_terminated(run)
    spark = get_spark(args.master, "tweetsent-bench-stack")
    lake = LakeResource(root=str(scratch / "lake"))
    batches = {(name, round_): f"{name.replace(' ', '-')}-{round_}" for name in specs for round_ in range(args.rounds)}
    for batch in ["warm", *batches.values()]:
        write_silver(spark, lake.path("silver_tweets"), batch, texts)
    for spec in specs.values():
        score_batch(spark, lake, "warm", spec, use_cache=False)
    rates: dict[str, list[float]] = {name: [] for name in specs}
    for round_ in range(args.rounds):
        for name, spec in specs.items():
            started = time.perf_counter()
            score_batch(spark, lake, batches[name, round_], spec, use_cache=False)
            rates[name].append(len(texts) / (time.perf_counter() - started))
        print(f"round {round_ + 1}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()) + f" tweets/s; "
              + load_note(), flush=True)
    print(f"gold path inside Spark ({args.master}, cache off, new batches of {len(texts)} TweetEval tweets), "
          f"medians over {args.rounds} rounds:")
    for name, values in rates.items():
        print(f"  {name:<20} {median(values):7.1f} tweets/s")
    encoder, stack = median(rates["encoder alone fp32"]), median(rates["stack fp32"])
    print(f"stack_tweets_per_s={stack:.1f} encoder_tweets_per_s={encoder:.1f} vader_cost={1 - stack / encoder:.1%}")
    return 0


if __name__ == "__main__":
    run_main(main)
