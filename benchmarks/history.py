"""How a long history in the Dagster instance slows the stream's start, the sensors, the automation tick and the UI.

Fills a Dagster instance (SQLite in a temp DAGSTER_HOME) with a simulated history written through
Dagster's own event types and storage (EventLogEntry rows built by the storage, inserted in bulk in
one transaction per chunk, so a year takes minutes), then measures with the project's Definitions:
- stream ready: the stream_tweet_batches job in-process (local Spark, VADER), run start to `stream ready`;
- one new_tweet_objects tick in stream and in runs mode, one verify_after_gold tick;
- one automation tick, `evaluate_automation_conditions` (first without a cursor, then with the previous one);
- the GraphQL query the UI's gold asset page makes for partition statuses.
The design comes from the loaded code: gold partitioned by hour gets `--hours` hours of hourly reports
(per hour: `--reports-per-hour` reports of the 4 batch layers and of the 5 folded assets, and
`--verifications-per-hour` evaluations of the 4 reconciliation checks); gold partitioned per batch (the
old design, e.g. `--code` at a worktree of dad1a76) gets `--old-batches` batch partitions, each with its
4 layer and 5 fold materializations and 4 check evaluations. `--old-code PATH` adds that row, measured
in a subprocess on PATH's code. Rows: `empty`, then the filled instance. The last line is
`history_year_ratio=…`: the worst of the filled instance's figures over the empty one's (ticks
with a cursor; the ticks without one are printed apart). Run:

    PYTHONPATH=. .venv/bin/python benchmarks/history.py --old-code /tmp/old-code
    PYTHONPATH=. .venv/bin/python benchmarks/history.py --hours 48 --old-batches 500 --repeats 2   # a quick try
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

CODE_ENV = "TWEETSENT_BENCH_CODE"
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, os.environ.get(CODE_ENV) or str(Path(__file__).resolve().parents[1]))

from common import bench_resources, median, run_main, timed  # noqa: E402

GOLD = "gold_tweet_sentiment"
LAYERS = ("bronze_tweets", "bronze_quarantine", "silver_tweets", GOLD)
FOLDED = ("aggregate_ledger", "mention_sentiment", "sentiment_trends", "sentiment_spikes", "prediction_drift")
CHECKS = (("bronze_tweets", "landed_equals_bronze_plus_quarantine"), ("silver_tweets", "silver_ids_unique"),
          (GOLD, "gold_covers_silver"), (GOLD, "gold_labels_and_scores_valid"))
CHUNK = 20_000
# Figures of a tick without a cursor (once after a lost cursor or a new instance): printed, not in the ratio.
ONCE = frozenset({"verify_tick_no_cursor_s"})
PARTITION_QUERY = """
query GoldPartitions($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type }
      partitionStats { numMaterialized numMaterializing numPartitions numFailed }
      assetPartitionStatuses {
        ... on TimePartitionStatuses { ranges { status startKey endKey } }
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions materializingPartitions }
        ... on MultiPartitionStatuses { primaryDimensionName }
      }
    }
  }
}
"""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=8760, help="hour partitions of history (hourly design)")
    parser.add_argument("--old-batches", type=int, default=100_000, help="batch partitions of history (old design)")
    parser.add_argument("--reports-per-hour", type=int, default=None,
                        help="reports per hour of each batch layer and each folded asset (default 3600 / "
                             "TWEETSENT_STREAM_REPORT_S: the stream's reports, each followed by a fold)")
    parser.add_argument("--verifications-per-hour", type=int, default=None,
                        help="verify_batches evaluations of each check per hour (default: the reports per hour, "
                             "at most 3600 / TWEETSENT_FOLLOW_UP_INTERVAL_S, plus one after the hour ends)")
    parser.add_argument("--repeats", type=int, default=3, help="timings per measurement (medians are printed)")
    parser.add_argument("--code", type=Path, help="measure the code of this checkout (a subprocess on its tweetsent_assets)")
    parser.add_argument("--old-code", type=Path,
                        help="also measure the old design's row on this checkout of dad1a76 (in a subprocess)")
    parser.add_argument("--fill-workers", type=int, default=os.cpu_count(),
                        help="processes that serialize the history's events")
    parser.add_argument("--keep", action="store_true", help="keep the filled instances (several GB for a year)")
    parser.add_argument("--skip-stream", action="store_true", help="leave out the stream run (no Spark)")
    parser.add_argument("--cluster", action="store_true", help="the topology's PostgreSQL (not implemented)")
    args = parser.parse_args(argv)
    from tweetsent_assets import settings

    report_s = getattr(settings, "STREAM_REPORT_S", 300)
    if args.reports_per_hour is None:
        args.reports_per_hour = max(1, round(3600 / report_s)) if report_s else 3600
    if args.verifications_per_hour is None:
        args.verifications_per_hour = min(args.reports_per_hour, math.ceil(3600 / settings.FOLLOW_UP_INTERVAL_S) + 1)
    for name in ("hours", "old_batches", "reports_per_hour", "repeats", "fill_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, not {getattr(args, name)}")
    for name in ("code", "old_code"):
        path = getattr(args, name)
        if path is not None and not (path / "tweetsent_assets" / "definitions.py").is_file():
            parser.error(f"--{name.replace('_', '-')} {path} holds no tweetsent_assets/definitions.py")
    return args


def design(defs) -> str:
    """'hours' when gold is partitioned by time window, 'batches' when by dynamic partition (the old design)."""
    from dagster import AssetKey, DynamicPartitionsDefinition, TimeWindowPartitionsDefinition

    partitions = defs.resolve_asset_graph().get(AssetKey(GOLD)).partitions_def
    if isinstance(partitions, TimeWindowPartitionsDefinition):
        return "hours"
    if isinstance(partitions, DynamicPartitionsDefinition):
        return "batches"
    raise SystemExit(f"gold is partitioned by {type(partitions).__name__}: neither the hourly nor the old design")


def entry(event, at: float):
    """The EventLogEntry that instance.report_runless_asset_event would store for `event`, stamped `at`."""
    from dagster import AssetCheckEvaluation, DagsterEventType
    from dagster._core.events import DagsterEvent, StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    if isinstance(event, AssetCheckEvaluation):
        kind, payload = DagsterEventType.ASSET_CHECK_EVALUATION.value, event
    else:
        kind, payload = DagsterEventType.ASSET_MATERIALIZATION.value, StepMaterializationData(event)
    dagster_event = DagsterEvent(event_type_value=kind, event_specific_data=payload, job_name=RUNLESS_JOB_NAME)
    return EventLogEntry(user_message="", level=logging.INFO, job_name=RUNLESS_JOB_NAME, run_id=RUNLESS_RUN_ID,
                         error_info=None, timestamp=at, step_key=None, dagster_event=dagster_event)


def report_metadata(batches: int, first: str, last: str) -> dict:
    """Metadata shaped like an hour report of the stream (reports.py): counts, batch range and seconds."""
    from dagster import MetadataValue

    return {"batch_rows": 100 * batches, "batch_objects": batches, "inserted": 100 * batches, "duration_s": 1.2,
            "labels": MetadataValue.json({"negative": 30 * batches, "neutral": 40 * batches, "positive": 30 * batches}),
            "batches": batches, "first_batch": first, "last_batch": last,
            "batch_seconds_p50": 1.1, "batch_seconds_p95": 1.9}


def events_of(partition: str, at: float, batches: int, first: str, last: str, checks: bool, folds: bool = True):
    """One report's events of a partition: the 4 layers, then the 5 folded assets, then (if `checks`) the 4 checks."""
    from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey, AssetMaterialization

    metadata = report_metadata(batches, first, last)
    out = [entry(AssetMaterialization(asset_key=a, partition=partition, metadata=metadata), at) for a in LAYERS]
    if folds:
        out += [entry(AssetMaterialization(asset_key=a, partition=partition,
                                           metadata={"batches": batches, "folded_with": batches}), at + 60)
                for a in FOLDED]
    if checks:
        out += [entry(AssetCheckEvaluation(asset_key=AssetKey(a), check_name=c, passed=True, partition=partition,
                                           severity=AssetCheckSeverity.ERROR,
                                           metadata={"landed": 100 * batches, "batches": batches,
                                                     "failed_batches": "none"}), at + 90)
                for a, c in CHECKS]
    return out


def hour_units(hours: int, reports: int, verifications: int) -> list[tuple]:
    """The `hours` hours before the current one, in units of about CHUNK events each."""
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    starts = [(now - timedelta(hours=back)).timestamp() for back in range(hours, 0, -1)]
    per = max(1, CHUNK // (reports * (len(LAYERS) + len(FOLDED)) + verifications * len(CHECKS)))
    return [("hours", starts[i:i + per], reports, verifications) for i in range(0, len(starts), per)]


def batch_keys(count: int) -> list[str]:
    """`count` batch keys like the old design's, evenly spaced over the year before now."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    step = timedelta(days=365) / count
    return [f"{(now - (count - i) * step).strftime('%Y%m%dT%H%M%SZ')}-{i:08x}" for i in range(count)]


def batch_units(keys: list[str]) -> list[tuple]:
    per = CHUNK // (len(LAYERS) + len(FOLDED) + len(CHECKS))
    return [("batches", keys[i:i + per]) for i in range(0, len(keys), per)]


def unit_entries(unit: tuple) -> list:
    """A unit's entries: per hour its reports spread over the hour (the last `verifications` with checks); per
    batch (old design) its layers, folds and checks once."""
    entries = []
    if unit[0] == "batches":
        for key in unit[1]:
            at = datetime.strptime(key.split("-")[0], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
            entries += events_of(key, at + 30, 1, key, key, checks=True)
        return entries
    from tweetsent_assets.lib.ingest.hours import HOUR_KEY_FORMAT

    _, starts, reports, verifications = unit
    for start in starts:
        hour = datetime.fromtimestamp(start, timezone.utc)
        key, stamp = hour.strftime(HOUR_KEY_FORMAT), hour.strftime("%Y%m%dT%H")
        for report in range(reports):
            at = start + (report + 1) * 3600 / reports - 120
            first, last = f"{stamp}{report * 5 % 60:02d}00Z-a", f"{stamp}{(report * 5 + 4) % 60:02d}00Z-b"
            entries += events_of(key, at, 12, first, last, checks=report >= reports - verifications)
    return entries


_WORKER: dict = {}


def start_worker(home: str) -> None:
    """A fill worker's event log storage (it only serializes; the parent writes)."""
    from dagster import DagsterInstance

    _WORKER["storage"] = DagsterInstance.from_config(home).event_log_storage


def unit_rows(unit: tuple) -> tuple[list[dict], list[tuple[int, str, str]]]:
    """A unit's event_logs rows as the storage serializes them, and (row, asset key, check name) of its checks."""
    from dagster import DagsterEventType

    rows, checks = [], []
    for entry_ in unit_entries(unit):
        rows.append(_WORKER["storage"]._event_to_row(entry_))
        if entry_.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            data = entry_.dagster_event.event_specific_data
            checks.append((len(rows) - 1, data.asset_key.to_string(), data.check_name))
    return rows, checks


def store_bulk(instance, rows: list[dict], checks: list[tuple[int, str, str]]) -> None:
    """Stores rows as SqliteEventLogStorage.store_event does (run shard, index shard, asset keys, check
    executions), in one transaction per shard instead of one per event."""
    from dagster._core.events.log import EventLogEntry
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable, SqlEventLogStorageTable
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
    from dagster_shared.serdes import deserialize_value

    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        storage.store_event_batch([deserialize_value(r["event"], EventLogEntry) for r in rows])
        return
    ids_column = SqlEventLogStorageTable.c.id
    with storage.run_connection(rows[0]["run_id"]) as conn:
        conn.execute(SqlEventLogStorageTable.insert(), rows)
    with storage.index_connection() as conn:
        before = conn.execute(SqlEventLogStorageTable.select().with_only_columns(ids_column).order_by(
            ids_column.desc()).limit(1)).scalar() or 0
        conn.execute(SqlEventLogStorageTable.insert(), rows)
        ids = [r[0] for r in conn.execute(SqlEventLogStorageTable.select().with_only_columns(ids_column).where(
            ids_column > before).order_by(ids_column))]
        if checks:
            conn.execute(AssetCheckExecutionsTable.insert(), [
                dict(asset_key=asset, check_name=name, run_id=rows[i]["run_id"], execution_status="SUCCEEDED",
                     evaluation_event=rows[i]["event"], evaluation_event_timestamp=rows[i]["timestamp"],
                     evaluation_event_storage_id=ids[i], partition=rows[i]["partition"])
                for i, asset, name in checks])
    last = {row["asset_key"]: i for i, row in enumerate(rows)
            if row["dagster_event_type"] == "ASSET_MATERIALIZATION"}
    for i in last.values():
        storage.store_asset_event(deserialize_value(rows[i]["event"], EventLogEntry), ids[i])


def fill(instance, home: Path, kind: str, args) -> str:
    """Writes the design's history into `instance` (serialized in worker processes); returns the row's name."""
    import multiprocessing

    started, events = time.perf_counter(), 0
    if kind == "hours":
        units, name = hour_units(args.hours, args.reports_per_hour, args.verifications_per_hour), f"{args.hours}h"
    else:
        keys = batch_keys(args.old_batches)
        for i in range(0, len(keys), 10_000):
            instance.add_dynamic_partitions("tweet_batches", keys[i:i + 10_000])
        units, name = batch_units(keys), f"old-{args.old_batches}b"
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.fill_workers, initializer=start_worker, initargs=(str(home),)) as pool:
        for rows, checks in pool.imap(unit_rows, units):
            store_bulk(instance, rows, checks)
            events += len(rows)
    print(f"{name}: filled {events:,} events in {time.perf_counter() - started:.0f} s", flush=True)
    return name


def table_rows(db: Path, query: str, table: str) -> list[tuple]:
    """`query`'s rows on the SQLite file `db`; none while the file or its `table` does not exist yet."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        if not conn.execute("select name from sqlite_master where name = ?", (table,)).fetchone():
            return []
        return conn.execute(query).fetchall()


def event_log_counts(home: Path) -> tuple[int, int, dict[str, tuple[int, int]], int]:
    """(index rows, rows over all shards, asset -> (index rows, distinct partitions), dynamic partitions)."""
    storage = next((db.parent for db in home.rglob("index.db")), home)
    index = storage / "index.db"
    per_asset = {k: (n, p) for k, n, p in table_rows(
        index, "select asset_key, count(*), count(distinct partition) from event_logs where asset_key is not null "
               "group by asset_key", "event_logs")}
    index_rows = sum(n for (n,) in table_rows(index, "select count(*) from event_logs", "event_logs"))
    checks = sum(n for (n,) in table_rows(index, "select count(*) from event_logs where dagster_event_type = "
                                                 "'ASSET_CHECK_EVALUATION'", "event_logs"))
    per_asset["check evaluations"] = (checks, 0)
    dynamic = sum(n for (n,) in table_rows(index, "select count(*) from dynamic_partitions", "dynamic_partitions"))
    shards = sum(n for db in storage.glob("*.db") if db.name not in ("index.db", "runs.db", "schedules.db")
                 for (n,) in table_rows(db, "select count(*) from event_logs", "event_logs"))
    return index_rows, index_rows + shards, per_asset, dynamic


def print_counts(name: str, home: Path) -> None:
    index_rows, total, per_asset, dynamic = event_log_counts(home)
    size = sum(f.stat().st_size for f in home.rglob("*.db"))
    print(f"{name}: event_logs rows {total:,} in all shards ({index_rows:,} in the index shard), "
          f"dynamic partitions {dynamic:,}, SQLite files {size / 2**20:,.0f} MiB", flush=True)
    for asset, (rows, partitions) in sorted(per_asset.items()):
        print(f"{name}:   {asset.strip('[]').strip(chr(34))}: {rows:,} rows, {partitions:,} partitions")


@contextmanager
def fresh_instance(root: Path):
    """A DagsterInstance on SQLite under `root/home`, this repo's dagster.yaml storage layout."""
    from dagster import DagsterInstance

    home = root / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home / 'storage'}\n"
                                       f"telemetry:\n  enabled: false\n")
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance, home


def stream_ready(defs, instance) -> float:
    """Seconds from the stream run's RUN_START event to its `stream ready` message (an empty landing prefix)."""
    from dagster import DagsterEventType

    from tweetsent_assets.defs.stream import READY

    config = {"ops": {"stream_micro_batches": {"config": {"idle_seconds": 0.2, "poll_seconds": 0.1}}},
              "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    result = defs.get_job_def("stream_tweet_batches").execute_in_process(instance=instance, run_config=config)
    logs = instance.all_logs(result.run_id)
    start = next(e.timestamp for e in logs if e.dagster_event_type == DagsterEventType.RUN_START)
    ready = next(e.timestamp for e in logs if READY in (e.user_message or ""))
    return ready - start


def sensor_tick(defs, instance, name: str, resources: dict, cursor: str | None = None) -> None:
    from dagster import build_sensor_context

    with build_sensor_context(instance=instance, cursor=cursor, resources=resources, definitions=defs) as context:
        defs.get_sensor_def(name)(context)


def verify_cursor(instance) -> str | None:
    """The verify sensor's cursor a tick after the last-but-one gold report: one report (one hour) is new."""
    from dagster import AssetKey

    records = instance.fetch_materializations(AssetKey(GOLD), limit=2).records
    return str(records[-1].storage_id) if len(records) == 2 else None


def automation_ticks(defs, instance, repeats: int) -> tuple[float, list[float]]:
    """(first tick without a cursor, the next ticks each with the previous tick's cursor)."""
    from dagster import evaluate_automation_conditions

    cursor, seconds = None, []
    for _ in range(repeats + 1):
        began = time.perf_counter()
        result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        seconds.append(time.perf_counter() - began)
        cursor = result.cursor
    return seconds[0], seconds[1:]


@contextmanager
def graphql_context(instance):
    """A request context on a workspace that loads tweetsent_assets.definitions (a code server subprocess)."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import ModuleTarget

    target = ModuleTarget(module_name="tweetsent_assets.definitions", attribute="defs", working_directory=None,
                          location_name="tweetsent")
    with WorkspaceProcessContext(instance, target) as process:
        yield process


def gold_partition_query(process) -> dict:
    """The UI's partition query for gold; returns its partitionStats."""
    from dagster_graphql.test.utils import execute_dagster_graphql

    result = execute_dagster_graphql(process.create_request_context(), PARTITION_QUERY,
                                     {"assetKey": {"path": [GOLD]}})
    node = (result.data or {}).get("assetNodeOrError") or {}
    if result.errors or "partitionStats" not in node:
        raise RuntimeError(f"the gold partition query failed: {result.errors or node}")
    return node["partitionStats"]


def measure(name: str, defs, instance, root: Path, args) -> dict[str, float]:
    """Every measurement on one instance; prints a line each and returns name -> median seconds."""
    from tweetsent_assets.defs.resources import MicroBatchResource

    resources = bench_resources(root, "local[2]", str(root / "spark-connect"))
    runs_mode = {**resources, "micro_batching": MicroBatchResource(mode="runs")}
    figures = {}

    def report(label: str, seconds: list[float]) -> None:
        figures[label] = median(seconds)
        print(f"{name}: {label} median {figures[label]:.3f} s over {len(seconds)} "
              f"({', '.join(f'{s:.3f}' for s in seconds)})", flush=True)

    if not args.skip_stream:
        report("stream_ready_s", [stream_ready(defs, instance) for _ in range(args.repeats)])
    report("landing_tick_stream_s", timed(lambda: sensor_tick(defs, instance, "new_tweet_objects", resources),
                                          args.repeats))
    report("landing_tick_runs_s", timed(lambda: sensor_tick(defs, instance, "new_tweet_objects", runs_mode),
                                        args.repeats))
    cursor = verify_cursor(instance)
    report("verify_tick_s", timed(lambda: sensor_tick(defs, instance, "verify_after_gold", resources, cursor),
                                  args.repeats))
    report("verify_tick_no_cursor_s", timed(lambda: sensor_tick(defs, instance, "verify_after_gold", resources),
                                            args.repeats))
    first, later = automation_ticks(defs, instance, args.repeats)
    print(f"{name}: automation_tick first (no cursor) {first:.3f} s", flush=True)
    report("automation_tick_s", later)
    with graphql_context(instance) as process:
        print(f"{name}: gold partitionStats {gold_partition_query(process)} (first query)", flush=True)
        report("gold_partitions_graphql_s", timed(lambda: gold_partition_query(process), args.repeats))
    return figures


def warm_spark(defs) -> None:
    """One stream run on a throwaway instance, so the first measured run does not pay the JVM's start."""
    from dagster import DagsterInstance

    with DagsterInstance.ephemeral() as instance:
        stream_ready(defs, instance)


def measure_here(args) -> tuple[str, dict[str, dict[str, float]]]:
    """The loaded code's design, and its empty row's and filled row's figures."""
    import tweetsent_assets
    from tweetsent_assets.definitions import build_defs

    work = Path(tempfile.mkdtemp(prefix="tweetsent-bench-history-"))
    os.environ["TWEETSENT_DATA_DIR"] = str(work / "data")
    defs = build_defs(bench_resources(work / "defs", "local[2]", str(work / "defs" / "spark-connect")))
    kind = design(defs)
    print(f"code {Path(tweetsent_assets.__file__).parents[1]}: {kind} design; work under {work}", flush=True)
    if not args.skip_stream:
        warm_spark(defs)
    rows = {}
    for row in ("empty", "filled"):
        root = work / row
        with fresh_instance(root) as (instance, home):
            name = fill(instance, home, kind, args) if row == "filled" else "empty"
            print_counts(name, home)
            rows[name] = measure(name, defs, instance, root, args)
        if not args.keep:
            shutil.rmtree(root)
    if not args.keep:
        shutil.rmtree(work)
    return kind, rows


def ratio_line(rows: dict[str, dict[str, float]]) -> str:
    """The worst figure of the filled row over the empty row's."""
    empty, filled = rows["empty"], next(v for k, v in rows.items() if k != "empty")
    ratios = {k: filled[k] / empty[k] for k in empty if empty[k] > 0 and k not in ONCE}
    worst = max(ratios, key=ratios.get)
    print(f"worst: {worst} {filled[worst]:.3f} s filled vs {empty[worst]:.3f} s empty")
    return f"{ratios[worst]:.2f}"


def in_subprocess(code: Path, argv: list[str]) -> int:
    """This script on `code`'s tweetsent_assets (PYTHONPATH and CODE_ENV point there); its output passes through."""
    env = {**os.environ, CODE_ENV: str(code.resolve()), "PYTHONPATH": str(code.resolve())}
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv], env=env, cwd=code).returncode


def without_options(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """argv less the named options and their values."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not any(arg.startswith(f"{n}=") for n in names):
            out.append(arg)
    return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.cluster:
        print("--cluster is not implemented yet: history.py fills and measures a SQLite instance only", file=sys.stderr)
        return 2
    if args.code and os.environ.get(CODE_ENV) != str(args.code.resolve()):
        return in_subprocess(args.code, without_options(argv, ("--code", "--old-code")))
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    kind, rows = measure_here(args)
    code = 0
    if args.old_code:
        code = in_subprocess(args.old_code, without_options(argv, ("--code", "--old-code")))
    print(f"load average at end {os.getloadavg()[0]:.2f}", flush=True)
    label = "history_year_ratio" if kind == "hours" else "history_old_batches_ratio"
    print(f"{label}={ratio_line(rows)}")
    return code


if __name__ == "__main__":
    run_main(main)
