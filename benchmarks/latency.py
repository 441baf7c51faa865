"""Seconds from a landing object's write to its rows in gold, with the real daemon and sensor running.

Starts `dagster dev` on 127.0.0.1 in a temp DAGSTER_HOME (this repo's dagster.yaml, temp
TWEETSENT_DATA_DIR, embedded defaults otherwise) and lands objects of TweetEval tweets one by
one. Each object is its own batch, so its latency ends at the first gold materialization of a
new partition; run and step events split the time. Run:

    .venv/bin/python benchmarks/latency.py --objects 20
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, load_note, median, shared_data_dir  # noqa: E402

GOLD = "gold_tweet_sentiment"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--tweets-per-object", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one object")
    parser.add_argument("--budget", type=float, default=None, help="stop landing objects after this many seconds")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_breakdown(instance, run_id: str, written_at: float) -> dict[str, float]:
    """Seconds per phase of one run, from its events and each asset's step_seconds metadata."""
    from dagster import DagsterEventType

    run_events = (DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING, DagsterEventType.RUN_START)
    events = instance.all_logs(run_id)
    first = {}
    steps: dict[str, list[float]] = {}
    asset_steps = {}
    for event in events:
        kind = event.dagster_event.event_type if event.dagster_event else None
        if kind in run_events and kind not in first:
            first[kind] = event.timestamp
        if kind in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS):
            steps.setdefault(event.step_key, []).append(event.timestamp)
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.dagster_event.step_materialization_data.materialization
            if "step_seconds" in materialization.metadata:
                asset = materialization.asset_key.to_user_string().split("_")[0]
                asset_steps.update({f"{asset}:{k}": v for k, v in materialization.metadata["step_seconds"].value.items()})
    enqueued = first.get(DagsterEventType.RUN_ENQUEUED, first[DagsterEventType.RUN_START])
    starting = first.get(DagsterEventType.RUN_STARTING, enqueued)
    phases = {"sensor_wait": enqueued - written_at, "run_queue": starting - enqueued,
              "run_start": first[DagsterEventType.RUN_START] - starting}
    for step, stamps in steps.items():
        phases[f"step:{step}"] = max(stamps) - min(stamps)
    phases.update(asset_steps)
    return phases


def gold_partitions(instance) -> dict[str, tuple[str, float]]:
    """Partition -> (run_id, event time) of its first gold materialization so far."""
    from dagster import AssetKey

    records = instance.fetch_materializations(AssetKey(GOLD), limit=10_000).records
    first: dict[str, tuple[str, float]] = {}
    for record in sorted(records, key=lambda r: r.timestamp):
        first.setdefault(record.partition_key, (record.run_id, record.timestamp))
    return first


def main(argv=None) -> int:
    args = parse_args(argv)
    from dagster import DagsterInstance

    from tweetsent_assets.lib.object_store import open_store
    from tweetsent_assets.lib.replay import encode_object
    from tweetsent_assets.lib.sources import read_tweeteval

    home = Path(tempfile.mkdtemp(prefix="tweetsent-bench-latency-"))
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    data_dir = home / "data"
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(REPO_ROOT)}
    for name in ("TWEETSENT_LANDING_URL", "TWEETSENT_STATE_URL", "TWEETSENT_LAKE_ROOT", "MLFLOW_TRACKING_URI"):
        env.pop(name, None)
    log = (home / "dagster-dev.log").open("w")
    dev = subprocess.Popen([str(Path(sys.executable).parent / "dagster"), "dev", "-m", "tweetsent_assets.definitions",
                            "-h", "127.0.0.1", "-p", str(port)], cwd=home, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))
    landing = open_store(str(data_dir / "landing"))
    latencies, breakdowns = [], []
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        os.chdir(home)  # dagster.yaml's storage paths are relative to the working directory
        deadline = time.time() + 180
        while not (home / "data" / "dagster" / "storage").exists() and time.time() < deadline:
            time.sleep(1)
        time.sleep(5)
        instance = DagsterInstance.get()
        print(f"dagster dev on 127.0.0.1:{port}, DAGSTER_HOME={home} ({load_note()})", flush=True)
        started = time.time()
        for i in range(args.objects):
            if args.budget and time.time() - started > args.budget:
                print(f"budget of {args.budget:.0f} s spent after {i} objects")
                break
            chunk = records[i * args.tweets_per_object:(i + 1) * args.tweets_per_object]
            seen = set(gold_partitions(instance))
            written_at = time.time()
            landing.put(f"latency/object-{i:03d}.jsonl", encode_object(chunk, fill_date="2024-01-01T00:00:00Z"))
            found = None
            while found is None and time.time() - written_at < args.timeout:
                time.sleep(0.5)
                found = next((v for k, v in gold_partitions(instance).items() if k not in seen), None)
            if found is None:
                print(f"object {i + 1}: not in gold after {args.timeout:.0f} s; see {home / 'dagster-dev.log'}")
                break
            run_id, visible_at = found
            latencies.append(visible_at - written_at)
            phases = run_breakdown(instance, run_id, written_at)
            breakdowns.append(phases)
            print(f"object {i + 1}: {latencies[-1]:.1f} s " + " ".join(f"{k}={v:.2f}" for k, v in phases.items()),
                  flush=True)
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(dev.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        subprocess.run(["pkill", "-f", str(home)], check=False)  # run processes outlive dagster dev
    if not latencies:
        print("p50_s=nan p95_s=nan")
        return 1
    names = sorted({k for b in breakdowns for k in b}, key=lambda k: (not k.startswith(("sensor", "run")), k))
    print(f"where the time goes (median s over {len(breakdowns)} objects):")
    for name in names:
        print(f"  {name}: {median([b[name] for b in breakdowns if name in b]):.2f}")
    print(f"p50_s={percentile(latencies, 0.5):.1f} p95_s={percentile(latencies, 0.95):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
