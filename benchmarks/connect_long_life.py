"""Does a long-lived Spark Connect server stay flat? Server memory and Python daemons/workers over many runs.

Starts a Connect server, lands `--runs` small objects (one batch each), then executes every batch
as its own run process (as Dagster's run launcher does, `--parallel` at a time) attached to the
server through the session pool. Prints the server's resident memory and its Python daemons and
workers at 0, 20, 100 and 200 runs (those of them below `--runs`) and after the last run. A last
phase connects `--fresh` processes with a new session id each, as a client without the pool
would, to show the daemons that Spark 4.2 never frees (SPARK-54055). Exits 1 when a run failed
(each run's output is kept in the temp folder's runs/). Run:

    .venv/bin/python benchmarks/connect_long_life.py --runs 200 --fresh 20
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, bench_resources, load_note, owned_connect_server, run_main, shared_data_dir  # noqa: E402

CHECKPOINTS = (0, 20, 100, 200)


def checkpoints(runs: int) -> set[int]:
    """The run counts to report at: CHECKPOINTS below `runs`, and `runs` itself, so a short smoke run still reports."""
    return {point for point in CHECKPOINTS if point < runs} | {runs}


def resources(root: Path, master: str, state_dir: str) -> dict:
    return bench_resources(root, master, state_dir, max_objects_per_batch=1, max_batches_per_tick=10_000)


def child(root: Path, master: str, state_dir: str, batch: str) -> int:
    """One run process: the ingest job for one batch (in its hour partition), on the shared instance."""
    from dagster import DagsterInstance

    from tweetsent_assets.definitions import build_defs
    from tweetsent_assets.defs.partitions import BATCH_TAG
    from tweetsent_assets.lib.ingest.hours import hour_of

    job = build_defs(resources(root, master, state_dir)).resolve_job_def("ingest_tweet_batch")
    with DagsterInstance.get() as instance:
        return 0 if job.execute_in_process(instance=instance, partition_key=hour_of(batch), tags={BATCH_TAG: batch},
                                           raise_on_error=False).success else 1


def fresh_client(master: str) -> int:
    """A client that bypasses the pool: a new session id, one Python UDF."""
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.remote(f"{master}/;session_id={uuid.uuid4()}").create()
    return 0 if spark.range(4).mapInPandas(lambda it: it, "id long").count() == 4 else 1


def report(server, runs: int, seconds: float) -> None:
    from tweetsent_assets.lib.lake import connect_server

    state = connect_server.status(server)
    print(f"after {runs:>3} runs ({seconds:5.0f} s): server rss {state.get('server_rss_mb', 0):7.1f} MB, "
          f"python daemons {state.get('python_daemons', 0)}, workers {state.get('python_workers', 0)} "
          f"({state.get('python_rss_mb', 0):.0f} MB)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fresh", type=int, default=20)
    parser.add_argument("--tweets-per-object", type=int, default=20)
    parser.add_argument("--parallel", type=int, default=2, help="run processes at a time (at most the slots, 4)")
    parser.add_argument("--child", nargs=4, metavar=("ROOT", "MASTER", "STATE_DIR", "PARTITION"), help=argparse.SUPPRESS)
    parser.add_argument("--fresh-client", metavar="MASTER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        root, master, state_dir, partition = args.child
        return child(Path(root), master, state_dir, partition)
    if args.fresh_client:
        return fresh_client(args.fresh_client)

    from dagster import DagsterInstance

    from tweetsent_assets import runner
    from tweetsent_assets.definitions import build_defs
    from tweetsent_assets.lib.ingest.object_store import open_store
    from tweetsent_assets.lib.ingest.replay import replay
    from tweetsent_assets.lib.ingest.sources import read_tweeteval
    from tweetsent_assets.lib.lake import connect_server

    root = Path(tempfile.mkdtemp(prefix="tweetsent-bench-long-life-"))
    (root / "dagster_home").mkdir()
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    failed = 0
    with connect_server.running(owned_connect_server(root / "spark-connect")) as server:
        print(f"Spark Connect server at {server.url} ({load_note()})", flush=True)
        records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))
        records = [{**r, "id": f"t{i}"} for i, r in enumerate(records * (1 + args.runs * args.tweets_per_object // len(records)))]
        replay(records[:args.runs * args.tweets_per_object], open_store(str(root / "landing")),
               tweets_per_object=args.tweets_per_object, objects_per_second=None)
        defs = build_defs(resources(root, server.url, str(server.state_dir)))
        with DagsterInstance.get() as instance:
            result, _ = runner.tick_sensor(defs, instance, None)
            partitions = [r.tags["tweetsent/batch"] for r in result.run_requests]
        started, points = time.time(), checkpoints(len(partitions))
        report(server, 0, 0)
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        running: list[subprocess.Popen] = []
        (root / "runs").mkdir()
        for index, partition in enumerate(partitions, start=1):
            with open(root / "runs" / f"{index}.log", "w") as log:
                running.append(subprocess.Popen([sys.executable, __file__, "--child", str(root), server.url,
                                                 str(server.state_dir), partition], env=env,
                                                stdout=log, stderr=subprocess.STDOUT))
            if len(running) >= args.parallel or index in points:
                failed += sum(proc.wait() != 0 for proc in running)
                running = []
            if index in points:
                report(server, index, time.time() - started)
        per_run = (time.time() - started) / max(1, len(partitions))
        print(f"{len(partitions)} runs, {failed} failed (output in {root / 'runs'}), {per_run:.1f} s per run")
        for index in range(1, args.fresh + 1):
            subprocess.run([sys.executable, __file__, "--fresh-client", server.url], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if args.fresh:
            state = connect_server.status(server)
            print(f"without the pool: {args.fresh} clients with new session ids -> python daemons "
                  f"{state['python_daemons']}, server rss {state['server_rss_mb']:.0f} MB, "
                  f"python rss {state['python_rss_mb']:.0f} MB")
    return 1 if failed else 0



if __name__ == "__main__":
    run_main(main)
