"""Seconds from a landing object's write to its rows in gold, with the real daemon and sensor running.

Starts `dagster dev` on 127.0.0.1 in a temp DAGSTER_HOME (this repo's dagster.yaml, temp
TWEETSENT_DATA_DIR). By default the runs attach to a Spark Connect server that this script
starts first (`--spark in-process` measures the embedded local[*] session instead). Three phases:
- paced: `--objects` objects of `--tweets-per-object` TweetEval tweets, one every `--interval` s;
- stream: one object per second for `--stream-seconds` s (0 skips it), reporting whether the
  backlog stays bounded (its max in the second half no higher than in the first), its p95, the
  tweets/s that reach gold (in steady state: every gold batch after the first, over the time
  from the first to the last; and overall, to the end of the drain), and how long after gold each
  batch was verified (its reconciliation checks, in verify_batches runs);
- burst: `--burst-objects` objects landed at once (0 skips it): its drain time and tweets/s.
In stream mode (the default) the objects land once the stream run says it is ready, and the time
it took is printed. An object's latency ends when gold's Delta log holds the batch whose manifest lists it
(Dagster records the batch layers per hour, not per batch); the bronze and silver logs split the time,
and in runs mode the batch's run (tagged with it) and its steps; verification is timed per batch from
its gold write to the first check of its hour by a verify_batches run started after it. The last line is
`p50_s=… p95_s=… stream_tweets_per_s=… stream_bounded=… stream_p95_s=… burst_tweets_per_s=…`. Run:

    .venv/bin/python benchmarks/latency.py --objects 20 --stream-seconds 120 --burst-objects 200
    .venv/bin/python benchmarks/latency.py --cluster   # on `make cluster-up`'s topology (Dagster on its PostgreSQL)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from math import nan
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, as dagster dev's PYTHONPATH

from common import (  # noqa: E402
    REPO_ROOT,
    cluster_topology,
    free_port,
    load_note,
    median,
    owned_connect_server,
    run_main,
    shared_data_dir,
)

GOLD = "gold_tweet_sentiment"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark", choices=["connect", "in-process"], default="connect")
    parser.add_argument("--cluster", action="store_true",
                        help="run on `tweetsent cluster up`'s topology: its Connect server, an S3 prefix of its own "
                             "for landing, state and the s3a lake, and a fresh Dagster database on its PostgreSQL")
    parser.add_argument("--mode", choices=["stream", "runs"], default=None,
                        help="micro_batching.mode (TWEETSENT_BATCH_MODE): the stream run, or one run per batch; "
                             "the project's default when left out")
    parser.add_argument("--report-seconds", type=float, default=None,
                        help="TWEETSENT_STREAM_REPORT_S: how often the stream records each layer's hour "
                             "(verification waits for gold's report); the project's default when left out")
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between paced objects")
    parser.add_argument("--tweets-per-object", type=int, default=100)
    parser.add_argument("--stream-seconds", type=float, default=120.0, help="length of the 1 object/s phase")
    parser.add_argument("--burst-objects", type=int, default=200, help="objects landed at once (0 skips the burst)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the last object")
    args = parser.parse_args(argv)
    if args.report_seconds is None:
        from tweetsent_assets import settings

        args.report_seconds = settings.STREAM_REPORT_S
    return args


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def batch_write_times(path: str) -> dict[str, float]:
    """Batch id -> when the newest data file holding that batch alone was written (s since the epoch), read from
    the table's Delta log; files holding several batches (compacted ones) are left out."""
    import pyarrow as pa
    from deltalake.exceptions import TableNotFoundError

    from tweetsent_assets.lib.lake.delta_tables import open_log

    try:
        actions = pa.table(open_log(path).get_add_actions(flatten=True))
    except TableNotFoundError:
        return {}
    if "min.batch_id" not in actions.column_names:
        return {}
    times: dict[str, float] = {}
    for low, high, at in zip(actions["min.batch_id"].to_pylist(), actions["max.batch_id"].to_pylist(),
                             actions["modification_time"].to_pylist()):
        if low is not None and low == high:
            seconds = at.timestamp() if hasattr(at, "timestamp") else at / 1000
            times[low] = max(times.get(low, 0.0), seconds)
    return times


def batch_run(instance, batch: str):
    """The micro-batch run tagged with `batch` (runs mode), or None (the stream run takes batches untagged)."""
    from dagster import RunsFilter

    from tweetsent_assets.defs.partitions import BATCH_TAG

    runs = instance.get_runs(RunsFilter(tags={BATCH_TAG: batch}), limit=1)
    return runs[0] if runs else None


def run_phases(instance, run_id: str, written_at: float) -> dict[str, float]:
    """A micro-batch run's sensor wait, run queue, run start and steps; each asset's step_seconds split its step."""
    from dagster import DagsterEventType

    run_events = (DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING, DagsterEventType.RUN_START)
    first, steps, asset_steps = {}, {}, {}
    for event in instance.all_logs(run_id):
        kind = event.dagster_event.event_type if event.dagster_event else None
        if kind in run_events and kind not in first:
            first[kind] = event.timestamp
        if kind in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS):
            steps.setdefault(event.step_key, []).append(event.timestamp)
        if kind == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.dagster_event.step_materialization_data.materialization
            asset = materialization.asset_key.to_user_string().split("_")[0]
            if "step_seconds" in materialization.metadata:
                asset_steps.update({f"{asset}:{k}": v for k, v in materialization.metadata["step_seconds"].value.items()})
    if DagsterEventType.RUN_START not in first:
        return {}
    enqueued = first.get(DagsterEventType.RUN_ENQUEUED, first[DagsterEventType.RUN_START])
    starting = first.get(DagsterEventType.RUN_STARTING, enqueued)
    phases = {"sensor_wait": enqueued - written_at, "run_queue": starting - enqueued,
              "run_start": first[DagsterEventType.RUN_START] - starting}
    for step, stamps in steps.items():
        phases[f"step:{step}"] = max(stamps) - min(stamps)
    phases.update(asset_steps)
    return phases


def run_breakdown(tracker: "Tracker", uri: str, batch: str) -> dict[str, float]:
    """Seconds per phase for one object: when each layer's Delta log got its batch (landing to bronze, bronze to
    silver, silver to gold), and in runs mode its run's phases and steps.

    Per-batch times come from the tables, since Dagster records the batch layers per hour.
    """
    written, gold_at = tracker.written[uri], tracker.gold_at[batch]
    bronze_at, silver_at = (tracker.layer_times(t).get(batch) for t in ("bronze_tweets", "silver_tweets"))
    phases = {}
    run = batch_run(tracker.instance, batch)
    if run is not None:
        phases.update(run_phases(tracker.instance, run.run_id, written))
    if bronze_at and silver_at:
        phases.update({"landing_to_bronze": bronze_at - written, "layer:bronze_to_silver": silver_at - bronze_at,
                       "layer:silver_to_gold": gold_at - silver_at})
    return phases


class Tracker:
    """Lands objects and matches each to the time gold's Delta log got the batch whose manifest lists it."""

    def __init__(self, instance, landing, state, lake_root: str, records, tweets_per_object: int):
        self.instance, self.landing, self.state, self.lake_root = instance, landing, state, lake_root
        self.records, self.per_object = records, tweets_per_object
        self.written: dict[str, float] = {}
        self.done: dict[str, tuple[float, str]] = {}
        self.gold_at: dict[str, float] = {}
        self._layers: dict[str, dict[str, float]] = {}
        self._batch_objects: dict[str, list[str]] = {}
        self._count = 0

    def land(self, prefix: str) -> None:
        """The next object of phase `prefix`, its key in lexical order across phases, as producers should write."""
        from tweetsent_assets.lib.ingest.replay import encode_object

        start = (self._count * self.per_object) % max(1, len(self.records) - self.per_object)
        key = f"object-{self._count:05d}-{prefix}.jsonl"
        chunk = [{**r, "id": f"{prefix}-{self._count}-{i}"}
                 for i, r in enumerate(self.records[start:start + self.per_object])]
        self._count += 1
        self.written[self.landing.uri(key)] = time.time()
        self.landing.put(key, encode_object(chunk, fill_date="2024-01-01T00:00:00Z"))

    def layer_times(self, table: str) -> dict[str, float]:
        """Batch -> first write time seen in `table`'s Delta log (kept, so a later rewrite does not move it)."""
        from tweetsent_assets.lib.lake.delta_tables import table_path

        seen = self._layers.setdefault(table, {})
        for batch, at in batch_write_times(table_path(self.lake_root, table)).items():
            seen.setdefault(batch, at)
        return seen

    def poll(self) -> None:
        from tweetsent_assets.lib.ingest.manifests import read_manifest

        self.gold_at = self.layer_times(GOLD)
        for batch, at in self.gold_at.items():
            if batch not in self._batch_objects:
                self._batch_objects[batch] = [self.landing.uri(o["key"]) for o in read_manifest(self.state, batch)["objects"]]
            for uri in self._batch_objects[batch]:
                if uri in self.written and uri not in self.done:
                    self.done[uri] = (at - self.written[uri], batch)

    def pending(self) -> int:
        return len(self.written) - len(self.done)


def spark_server_stats(server) -> str:
    """Memory and Python processes of the Connect server the runs use ("" when they run in-process)."""
    if server is None:
        return ""
    from tweetsent_assets.lib.lake import connect_server

    state = connect_server.status(server)
    return (f"server rss {state.get('server_rss_mb', 0):.0f} MB, python daemons {state.get('python_daemons', 0)}, "
            f"workers {state.get('python_workers', 0)}")


def paced_phase(args, tracker: Tracker, home: Path, server) -> list[float]:
    latencies, breakdowns, started = [], [], time.time()
    for i in range(args.objects):
        while time.time() < started + i * args.interval:
            tracker.poll()
            time.sleep(0.2)
        tracker.land("paced")
    deadline = time.time() + args.timeout
    while tracker.pending() and time.time() < deadline:
        tracker.poll()
        time.sleep(0.3)
    paced = sorted((u, v) for u, v in tracker.done.items() if u.endswith("-paced.jsonl"))
    for index, (uri, (latency, batch)) in enumerate(paced, start=1):
        phases = run_breakdown(tracker, uri, batch)
        latencies.append(latency)
        breakdowns.append(phases)
        print(f"object {index}: {latency:.1f} s " + " ".join(f"{k}={v:.2f}" for k, v in phases.items()), flush=True)
    if tracker.pending():
        print(f"{tracker.pending()} objects not in gold after {args.timeout:.0f} s; see {home / 'dagster-dev.log'}")
    names = sorted({k for b in breakdowns for k in b}, key=lambda k: (not k.startswith(("sensor", "run", "landing")), k))
    print(f"where the time goes (median s over {len(breakdowns)} objects):")
    for name in names:
        print(f"  {name}: {median([b[name] for b in breakdowns if name in b]):.2f}")
    if len(latencies) >= 10:
        print(f"objects 1-5 median {median(latencies[:5]):.1f} s, objects {len(latencies) - 4}-{len(latencies)} "
              f"median {median(latencies[-5:]):.1f} s")
    writes = [b["bronze:write_tables"] for b in breakdowns if "bronze:write_tables" in b]
    if len(writes) >= 10:
        first, last = median(writes[:5]), median(writes[-5:])
        print(f"bronze write_tables: first 5 objects median {first:.2f} s, last 5 median {last:.2f} s "
              f"(last/first {last / first:.2f})")
    print(spark_server_stats(server))
    return latencies


def verification_lags(instance, gold_at: dict[str, float]) -> list[float]:
    """Seconds from each batch's write to gold to the first reconciliation check of its hour recorded by a
    verify_batches run that started after that write (so it covered the batch)."""
    from dagster import DagsterEventType, RunsFilter

    from tweetsent_assets.lib.ingest.hours import hour_of

    checked: dict[str, list[tuple[float, float]]] = {}
    for record in instance.get_run_records(RunsFilter(job_name="verify_batches")):
        if record.start_time is None:
            continue
        for event in instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
            hour = event.dagster_event.event_specific_data.partition
            checked.setdefault(hour, []).append((record.start_time, event.timestamp))
    lags = []
    for batch, at in gold_at.items():
        after = [stamp for started, stamp in checked.get(hour_of(batch), []) if started >= at]
        if after:
            lags.append(min(after) - at)
    return lags


def stream_phase(args, tracker: Tracker, home: Path, server) -> dict:
    started, backlog = time.time(), []
    landed = 0
    while time.time() - started < args.stream_seconds:
        if landed <= time.time() - started:
            tracker.land("stream")
            landed += 1
        tracker.poll()
        waiting = sum(1 for u in tracker.written if u.endswith("-stream.jsonl") and u not in tracker.done)
        backlog.append((time.time() - started, waiting))
        time.sleep(0.2)
    drain_started = time.time()
    while tracker.pending() and time.time() - drain_started < args.timeout:
        tracker.poll()
        time.sleep(0.3)
    done = {u: v for u, v in tracker.done.items() if u.endswith("-stream.jsonl")}
    stream = [v[0] for v in done.values()]
    seconds = time.time() - started
    half = [b for t, b in backlog if t >= args.stream_seconds / 2]
    first_half = [b for t, b in backlog if t < args.stream_seconds / 2]
    bounded = bool(half) and max(half) <= max(first_half or [0])
    batches = {v[1] for v in done.values()}
    print(f"stream: {landed} objects at 1/s for {args.stream_seconds:.0f} s; {len(stream)} reached gold in "
          f"{len(batches)} batches; backlog max {max(b for _, b in backlog)} (first half {max(first_half or [0])}, "
          f"second half {max(half or [0])}), bounded={bounded}")
    figures = {"bounded": bounded, "tweets_per_s": nan, "p95_s": nan}
    if stream:
        figures.update(tweets_per_s=gold_rate(tracker, done), p95_s=percentile(stream, 0.95))
        print(f"stream: p50 {percentile(stream, 0.5):.1f} s p95 {figures['p95_s']:.1f} s; into gold "
              f"{figures['tweets_per_s']:.0f} tweets/s between the first and the last gold batch, "
              f"{len(stream) * args.tweets_per_object / seconds:.0f} tweets/s from the first landing to the drain "
              f"(drained {time.time() - drain_started:.0f} s after the last object)")
    gold_at = {b: tracker.gold_at[b] for b in batches}
    wait_for_verification(tracker.instance, gold_at, args.timeout + args.report_seconds)
    lags = verification_lags(tracker.instance, gold_at)
    if lags:
        print(f"stream: gold -> verification p50 {percentile(lags, 0.5):.1f} s p95 {percentile(lags, 0.95):.1f} s "
              f"over {len(lags)} of {len(batches)} batches (stream reports every {args.report_seconds:.0f} s)")
    print(spark_server_stats(server))
    return figures


def gold_rate(tracker: Tracker, done: dict) -> float:
    """Tweets/s into gold in steady state: the tweets of every gold batch after the first, over the time between them."""
    batches = sorted({batch for _, batch in done.values()}, key=tracker.gold_at.__getitem__)
    if len(batches) < 2:
        return nan
    first = batches[0]
    later = sum(1 for _, batch in done.values() if batch != first)
    return later * tracker.per_object / (tracker.gold_at[batches[-1]] - tracker.gold_at[first])


def wait_for_verification(instance, gold_at: dict[str, float], timeout: float) -> None:
    """Waits until every batch's hour has a check recorded after it (or `timeout` s)."""
    deadline = time.time() + timeout
    while len(verification_lags(instance, gold_at)) < len(gold_at) and time.time() < deadline:
        time.sleep(1)


def burst_phase(args, tracker: Tracker, home: Path, server) -> float:
    """Lands `--burst-objects` objects at once; returns the tweets/s from the first landing to the last in gold."""
    started = time.time()
    for _ in range(args.burst_objects):
        tracker.land("burst")
    landed_s = time.time() - started
    while tracker.pending() and time.time() - started < args.timeout:
        tracker.poll()
        time.sleep(0.3)
    done = {u: v for u, v in tracker.done.items() if u.endswith("-burst.jsonl")}
    drain = max((tracker.gold_at[v[1]] for v in done.values()), default=time.time()) - started
    tweets_per_s = len(done) * args.tweets_per_object / drain if done else float("nan")
    print(f"burst: {args.burst_objects} objects of {args.tweets_per_object} tweets landed in {landed_s:.1f} s; "
          f"{len(done)} reached gold in {len({v[1] for v in done.values()})} batches, drained in {drain:.1f} s: "
          f"{tweets_per_s:.0f} tweets/s")
    print(spark_server_stats(server))
    return tweets_per_s


def on_cluster(env: dict, home: Path):
    """Point `env` at the running topology, with a fresh S3 prefix and Dagster database of this run's own, so no
    earlier batch or run counts; returns its Connect server and the landing and state URLs."""
    import uuid

    from tweetsent_assets.lib.cluster import postgres

    topology = cluster_topology()
    name = f"bench-latency-{uuid.uuid4().hex[:8]}"
    database = name.replace("-", "_")
    postgres.create_databases(topology.postgres, (database,))
    prefix = f"{topology.bucket}/{name}"
    places = {"landing": f"s3://{prefix}/landing", "state": f"s3://{prefix}/state"}
    env.update(topology.environment())
    env.update({"DAGSTER_HOME": str(home), "TWEETSENT_DAGSTER_DIR": str(home / "dagster"),
                "TWEETSENT_DAGSTER_POSTGRES_URL": topology.postgres.url(database),
                "TWEETSENT_LANDING_URL": places["landing"], "TWEETSENT_STATE_URL": places["state"],
                "TWEETSENT_LAKE_ROOT": f"s3a://{prefix}/lake"})
    shutil.copy(REPO_ROOT / "cluster" / "dagster.yaml", home / "dagster.yaml")
    return topology.connect, places


def wait_for_stream(instance, timeout: float) -> float:
    """Seconds until the stream run that the landing sensor starts says it is ready (warm Spark session and model)."""
    from dagster import RunsFilter

    from tweetsent_assets.defs.stream import READY

    started = time.time()
    while time.time() - started < timeout:
        for run in instance.get_runs(RunsFilter(job_name="stream_tweet_batches"), limit=1):
            if any(READY in (event.user_message or "") for event in instance.all_logs(run.run_id)):
                return time.time() - started
        time.sleep(0.5)
    raise TimeoutError(f"no stream run was ready within {timeout:.0f} s")


def stop_dagster_dev(dev: subprocess.Popen, home: Path) -> None:
    """Ctrl-C to dagster dev (what is left of its group SIGKILLed after 60 s), then the run processes that outlive it."""
    from tweetsent_assets.lib.lake.services import stop_group

    stop_group(dev, 60)
    subprocess.run(["pkill", "-f", str(home)], check=False)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"load at start: {load_note()}", flush=True)
    from dagster import DagsterInstance

    from tweetsent_assets import settings
    from tweetsent_assets.lib.ingest.object_store import open_store
    from tweetsent_assets.lib.ingest.sources import read_tweeteval
    from tweetsent_assets.lib.lake import connect_server, owned
    from tweetsent_assets.lib.lake.services import answers

    home = Path(tempfile.mkdtemp(prefix="tweetsent-bench-latency-"))
    data_dir = home / "data"
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "TWEETSENT_DATA_DIR": str(data_dir),
           "PYTHONPATH": str(REPO_ROOT)}
    for name in ("TWEETSENT_LANDING_URL", "TWEETSENT_STATE_URL", "TWEETSENT_LAKE_ROOT", "MLFLOW_TRACKING_URI",
                 "TWEETSENT_SPARK_CONNECT_DIR"):
        env.pop(name, None)
    server, places = None, {"landing": str(data_dir / "landing"), "state": str(data_dir / "state")}
    latencies, stream, burst_tweets_per_s = [], {"bounded": False, "tweets_per_s": nan, "p95_s": nan}, nan
    with contextlib.ExitStack() as stack:
        if args.cluster:
            server, places = on_cluster(env, home)
            print(f"topology: Spark Connect {server.url}, landing {places['landing']}, "
                  f"Dagster on PostgreSQL {env['TWEETSENT_DAGSTER_POSTGRES_URL']}", flush=True)
        elif args.spark == "connect":
            began = time.time()
            server = owned_connect_server(data_dir / "spark-connect", "local[*]")
            stack.enter_context(connect_server.running(server))
            print(f"Spark Connect server up at {server.url} in {time.time() - began:.1f} s", flush=True)
            env["TWEETSENT_SPARK_MASTER"] = server.url
        else:
            env["TWEETSENT_SPARK_MASTER"] = "local[*]"
        if args.mode:
            env["TWEETSENT_BATCH_MODE"] = args.mode
        env["TWEETSENT_STREAM_REPORT_S"] = str(args.report_seconds)
        if not args.cluster:
            shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
        log = stack.enter_context((home / "dagster-dev.log").open("w"))
        command = [str(Path(sys.executable).parent / "dagster"), "dev", "-m", "tweetsent_assets.definitions",
                   "-h", "127.0.0.1", "-p", str(port)]
        # Owned by this process: if it is SIGKILLed, dagster dev and its group still end.
        dev = subprocess.Popen(owned.command(os.getpid(), command), cwd=home, env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        stack.callback(stop_dagster_dev, dev, home)
        records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))
        os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
        os.chdir(home)  # dagster.yaml's storage paths are relative to the working directory
        deadline = time.time() + 180
        while not answers("127.0.0.1", port) and time.time() < deadline:
            time.sleep(1)
        time.sleep(5)
        instance = DagsterInstance.get()
        if (args.mode or settings.BATCH_MODE) == "stream":
            print(f"stream run ready {wait_for_stream(instance, args.timeout):.1f} s after dagster dev answered",
                  flush=True)
        print(f"dagster dev on 127.0.0.1:{port}, DAGSTER_HOME={home}, "
              f"spark={'cluster' if args.cluster else args.spark}, mode={env.get('TWEETSENT_BATCH_MODE', 'default')} "
              f"({load_note()})", flush=True)
        print(spark_server_stats(server))
        lake_root = env.get("TWEETSENT_LAKE_ROOT") or str(data_dir / "lake")
        tracker = Tracker(instance, open_store(places["landing"]), open_store(places["state"]), lake_root,
                          records, args.tweets_per_object)
        latencies = paced_phase(args, tracker, home, server)
        if args.stream_seconds > 0:
            stream = stream_phase(args, tracker, home, server)
        if args.burst_objects > 0:
            burst_tweets_per_s = burst_phase(args, tracker, home, server)
        print(f"load at end: {load_note()}")
    print(json.dumps({"spark": "cluster" if args.cluster else args.spark, "objects": len(latencies)}))
    p50, p95 = (percentile(latencies, 0.5), percentile(latencies, 0.95)) if latencies else (nan, nan)
    print(f"p50_s={p50:.1f} p95_s={p95:.1f} stream_tweets_per_s={stream['tweets_per_s']:.0f} "
          f"stream_bounded={stream['bounded']} stream_p95_s={stream['p95_s']:.1f} "
          f"burst_tweets_per_s={burst_tweets_per_s:.0f}")
    return 0 if latencies else 1


if __name__ == "__main__":
    run_main(main)
