"""The same s3a micro-batches on moto and on S3Proxy: seconds per layer (bronze, silver, gold) on each S3 server.

Each server runs in a process of its own, with its own Spark Connect server (local[2], the s3a jars)
and an empty lake; the same Sentiment140 batches land in it and go through bronze, silver and gold
(VADER, so the storage is what differs). Prints every batch and the median per layer. Run:

    .venv/bin/python benchmarks/s3_servers.py [--batches 3 --batch-tweets 500]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_resources, free_port, load_note, median, owned_connect_server, run_main, shared_data_dir  # noqa: E402

LAYERS = {"bronze_tweets": "bronze", "silver_tweets": "silver", "gold_tweet_sentiment": "gold"}
KEYS = {"AWS_ACCESS_KEY_ID": "bench-key", "AWS_SECRET_ACCESS_KEY": "bench-secret", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--batch-tweets", type=int, default=500)
    parser.add_argument("--tweets-per-object", type=int, default=50)
    parser.add_argument("--servers", default="moto,s3proxy")
    parser.add_argument("--one", choices=["moto", "s3proxy"], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def build(root: Path, base: str, spark_url: str, state_dir: Path):
    """Definitions with landing, state and the s3a lake under `base` (s3://bucket/prefix), and a Dagster instance."""
    from dagster import DagsterInstance

    from tweetsent_assets.definitions import build_defs

    defs = build_defs(bench_resources(root, spark_url, str(state_dir), landing_url=f"{base}/landing",
                                      state_url=f"{base}/state", lake_root=f"s3a://{base.removeprefix('s3://')}/lake"))
    (root / "dagster").mkdir(parents=True)
    return defs, DagsterInstance.local_temp(str(root / "dagster"))


def run_batch(defs, instance, cursor, records: list[dict], landing, prefix: str, per_object: int):
    """Land `records`, run every batch they make; (cursor, wall seconds, seconds per layer of the last run)."""
    from dagster import AssetKey

    from tweetsent_assets import runner
    from tweetsent_assets.lib.ingest.replay import replay

    replay(records, landing, tweets_per_object=per_object, objects_per_second=None, key_prefix=prefix)
    started = time.perf_counter()
    outcome = runner.process_new_objects(defs, instance, cursor, runner.QUIET)
    if outcome.failed or len(outcome.run_ids) != 1:
        raise RuntimeError(f"expected one successful run, got {outcome.run_ids} (failed {outcome.failed})")
    wall = time.perf_counter() - started
    layers = {name: instance.fetch_materializations(AssetKey(key), limit=1).records[0]
              .asset_materialization.metadata["duration_s"].value for key, name in LAYERS.items()}
    return outcome.cursor, wall, layers


def bench(kind: str, records: list[dict], args, scratch: Path) -> list[dict]:
    """Every batch on one S3 server: its own server, bucket, Connect server and lake."""
    from tweetsent_assets.lib.cluster import s3_server
    from tweetsent_assets.lib.ingest.object_store import open_store
    from tweetsent_assets.lib.lake import connect_server

    server = s3_server.S3Server(state_dir=scratch / kind / "s3", port=free_port(), kind=kind,
                                access_key=KEYS["AWS_ACCESS_KEY_ID"], secret_key=KEYS["AWS_SECRET_ACCESS_KEY"])
    os.environ.update({**KEYS, **server.environment(), "TWEETSENT_S3A": "on"})
    s3_server.start(server)
    results = []
    try:
        s3_server.ensure_bucket(server.endpoint, "bench")
        spark = owned_connect_server(scratch / kind / "connect")
        with connect_server.running(spark):
            defs, instance = build(scratch / kind, "s3://bench/s3-servers", spark.url, spark.state_dir)
            landing, cursor = open_store("s3://bench/s3-servers/landing"), None
            for i in range(args.batches):
                batch = records[i * args.batch_tweets:(i + 1) * args.batch_tweets]
                cursor, wall, layers = run_batch(defs, instance, cursor, batch, landing, f"b{i}",
                                                 args.tweets_per_object)
                results.append({"wall": wall, **layers})
                print(f"{kind} batch {i + 1}: {len(batch)} tweets, run {wall:.2f} s; "
                      + ", ".join(f"{k} {layers[k]:.2f} s" for k in LAYERS.values()) + f"; {load_note()}", flush=True)
            instance.dispose()
    finally:
        s3_server.stop(server)
    return results


def one_server(args) -> list[dict]:
    """Run `--one`'s server in a child process (the S3 clients it caches point at one endpoint only)."""
    argv = [sys.executable, __file__, "--one", args.one, "--batches", str(args.batches),
            "--batch-tweets", str(args.batch_tweets), "--tweets-per-object", str(args.tweets_per_object)]
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    lines = done.stdout.splitlines()
    print("\n".join(line for line in lines if not line.startswith("RESULT ")), flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {args.one} run failed (exit {done.returncode})")
    return json.loads(next(line for line in lines if line.startswith("RESULT ")).removeprefix("RESULT "))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.one:
        from tweetsent_assets.lib.ingest.sources import read_sentiment140

        records = list(read_sentiment140(shared_data_dir() / "sentiment140" / "sentiment140_sample_20k.csv",
                                         limit=args.batches * args.batch_tweets))
        scratch = Path(tempfile.mkdtemp(prefix="tweetsent-bench-s3-"))
        try:
            print("RESULT " + json.dumps(bench(args.one, records, args, scratch)), flush=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return 0
    table = {kind: one_server(argparse.Namespace(**{**vars(args), "one": kind})) for kind in args.servers.split(",")}
    print(f"\nmedian seconds over {args.batches} batches of {args.batch_tweets} tweets (s3a lake, Connect local[2]):")
    print("| server | bronze | silver | gold | whole run |")
    print("|---|---|---|---|---|")
    for kind, rows in table.items():
        cells = [median([r[k] for r in rows]) for k in (*LAYERS.values(), "wall")]
        print(f"| {kind} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    return 0


if __name__ == "__main__":
    run_main(main)
