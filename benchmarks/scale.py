"""Replay Sentiment140 + airline (~35k tweets) through bronze -> silver -> gold -> aggregates, then time one small batch.

Reports total and per-layer time of the replay, then one 100-tweet micro-batch on top of the full
tables against the same batch on empty tables (repeated with different batches; medians per
layer). Gold scores with a local MiniLM classifier pinned to a version, so it uses the prediction
cache (VADER never does): on the full lake the cache holds every replayed text. The last line,
incremental_ratio=<x>, is the worst layer's median full/empty ratio. Run:

    .venv/bin/python benchmarks/scale.py
    .venv/bin/python benchmarks/scale.py --cluster   # on `make cluster-up`'s topology (5,000 tweets per source)
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    cluster_topology,
    load_note,
    median,
    minilm_classifier,
    run_main,
    shared_data_dir,
)

LAYERS = ("bronze_tweets", "silver_tweets", "gold_tweet_sentiment", "aggregate_ledger")
NAMES = {"bronze_tweets": "bronze", "silver_tweets": "silver", "gold_tweet_sentiment": "gold",
         "aggregate_ledger": "aggregates"}
MODEL_VERSION = "minilm-seed0"
# 10,000 tweets: about 10 minutes on the topology of one 2-core machine, replay and batches included.
CLUSTER_LIMIT = 5000


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None,
                        help=f"tweets per source (default: all; with --cluster, {CLUSTER_LIMIT}, which fits in 30 minutes)")
    parser.add_argument("--tweets-per-object", type=int, default=100)
    parser.add_argument("--batch-tweets", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--cluster", action="store_true",
                        help="run on the topology of `tweetsent cluster up` (its Connect server, S3 landing and lake)")
    args = parser.parse_args(argv)
    if args.cluster and args.limit is None:
        args.limit = CLUSTER_LIMIT
    return args


def cluster_places() -> tuple[str, str]:
    """The Connect URL of `tweetsent cluster up`'s topology and a fresh s3:// prefix in its bucket."""
    import uuid

    topology = cluster_topology()
    return topology.connect.url, f"s3://{topology.bucket}/bench-scale-{uuid.uuid4().hex[:8]}"


def pinned_model(folder: Path):
    """A sentiment_model resource scoring with the MiniLM classifier in `folder`: an `hf` model, version pinned."""
    from tweetsent_assets.defs.resources import SentimentModelResource
    from tweetsent_assets.lib.ml import prediction_cache
    from tweetsent_assets.lib.ml.models.types import ModelSpec

    class PinnedModelResource(SentimentModelResource):
        """An `hf` folder with a fixed version: what prediction_cache.cacheable asks of a model."""

        version: str = MODEL_VERSION

        def spec(self, mlflow=None) -> ModelSpec:
            return ModelSpec(kind="hf", model=self.model, name="minilm", version=self.version,
                             max_length=self.max_length, batch_size=self.batch_size)

    resource = PinnedModelResource(kind="hf", model=str(folder))
    assert prediction_cache.cacheable(resource.spec())
    return resource


class Lake:
    """A landing folder, state folder, Delta lake and Dagster instance under one temp folder."""

    def __init__(self, root: Path, master: str, model, remote: str | None = None) -> None:
        from dagster import DagsterInstance

        from tweetsent_assets.definitions import build_defs
        from tweetsent_assets.defs.resources import (
            LakeResource,
            MicroBatchResource,
            MlflowResource,
            ObjectStoreResource,
            SparkResource,
        )
        from tweetsent_assets.lib.ingest.object_store import open_store

        root.mkdir(parents=True)
        base = f"{remote}/{root.name}" if remote else str(root)
        lake = f"s3a://{base.removeprefix('s3://')}/lake" if remote else str(root / "lake")
        self.landing = open_store(f"{base}/landing")
        self.defs = build_defs({
            "spark": SparkResource(master=master),
            "landing": ObjectStoreResource(url=f"{base}/landing"),
            "batch_state": ObjectStoreResource(url=f"{base}/state"),
            "micro_batching": MicroBatchResource(),
            "lake": LakeResource(root=lake),
            "sentiment_model": model,
            "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root / 'mlflow.db'}"),
        })
        (root / "dagster").mkdir()
        self.instance = DagsterInstance.local_temp(str(root / "dagster"))
        self.cursor = None

    def land(self, records: list[dict], tweets_per_object: int, prefix: str) -> int:
        from tweetsent_assets.lib.ingest.replay import replay

        return len(replay(records, self.landing, tweets_per_object=tweets_per_object, objects_per_second=None,
                          key_prefix=prefix))

    def run_all(self) -> tuple[float, int]:
        """Tick and run until nothing new is left; (seconds, runs)."""
        from tweetsent_assets import runner

        started, runs = time.perf_counter(), 0
        while True:
            outcome = runner.process_new_objects(self.defs, self.instance, self.cursor, runner.QUIET)
            self.cursor = outcome.cursor
            if outcome.failed:
                raise RuntimeError(f"batches failed: {outcome.failed}")
            if not outcome.run_ids:
                return time.perf_counter() - started, runs
            runs += len(outcome.run_ids)

    def layer_seconds(self, last: int | None = None) -> dict[str, float]:
        """Sum of each layer's duration_s over its materializations (the `last` ones only, if given)."""
        from dagster import AssetKey

        totals = {}
        for layer in LAYERS:
            records = self.instance.fetch_materializations(AssetKey(layer), limit=10_000).records
            records = records[:last] if last else records
            totals[layer] = sum(r.asset_materialization.metadata["duration_s"].value for r in records)
        return totals


def main(argv=None) -> int:
    args = parse_args(argv)
    from tweetsent_assets.lib.ingest.sources import read_airline, read_sentiment140, read_tweeteval

    data = shared_data_dir()
    records = list(read_sentiment140(data / "sentiment140" / "sentiment140_sample_20k.csv", limit=args.limit))
    records += list(read_airline(data / "airline" / "Tweets.csv", limit=args.limit))
    small = list(read_tweeteval(data / "tweeteval_sentiment", "val"))
    scratch = Path(tempfile.mkdtemp(prefix="tweetsent-bench-scale-"))
    master, remote = cluster_places() if args.cluster else (args.master, None)
    model = pinned_model(minilm_classifier(scratch / "minilm"))
    print(f"spark {master}, lake {remote + '/…/lake' if remote else scratch}, gold model {model.spec()}", flush=True)
    full = Lake(scratch / "full", master, model, remote)
    objects = full.land(records, args.tweets_per_object, "replay")
    seconds, runs = full.run_all()
    layers = full.layer_seconds()
    print(f"replay: {len(records)} tweets in {objects} objects, {runs} runs, {seconds:.1f} s total "
          f"({len(records) / seconds:.1f} tweets/s end to end; {load_note()})")
    for layer, value in layers.items():
        print(f"  {layer}: {value:.1f} s ({len(records) / value:.1f} tweets/s)")

    ratios: dict[str, list[float]] = {layer: [] for layer in LAYERS}
    for i in range(args.repeats):
        batch = small[i * args.batch_tweets:(i + 1) * args.batch_tweets]
        full.land(batch, args.batch_tweets, f"extra{i}")
        on_full, _ = full.run_all()
        empty = Lake(scratch / f"empty{i}", master, model, remote)
        empty.land(batch, args.batch_tweets, f"extra{i}")
        on_empty, _ = empty.run_all()
        on_full_layers, on_empty_layers = full.layer_seconds(1), empty.layer_seconds(1)
        for layer in LAYERS:
            ratios[layer].append(on_full_layers[layer] / on_empty_layers[layer])
        per_layer = " ".join(f"{NAMES[k]}={on_full_layers[k]:.2f}/{on_empty_layers[k]:.2f}" for k in LAYERS)
        print(f"batch {i + 1}: {len(batch)} tweets on full tables {on_full:.2f} s, on empty tables {on_empty:.2f} s "
              f"(run ratio {on_full / on_empty:.2f}); per layer full/empty s: {per_layer}; {load_note()}", flush=True)
    medians = {layer: median(values) for layer, values in ratios.items()}
    print("median full/empty ratio per layer: " + ", ".join(f"{NAMES[k]} {v:.2f}" for k, v in medians.items()))
    print(f"incremental_ratio={max(medians.values()):.2f}")
    return 0


if __name__ == "__main__":
    run_main(main)
