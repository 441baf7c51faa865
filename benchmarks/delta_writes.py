"""Seconds per batch write (1,000 rows): Delta's default snapshotPartitions against ours, and new-batch appends.

Re-writes of known batches (replaceWhere) compare Delta's default snapshotPartitions with ours.
Appends of new batches compare the idempotent-write id (`txnAppId`, which makes Delta rebuild the
table's state before each commit) with delta_tables.replace_batch's checked plain append. Each
setting runs in a child process of its own; trials alternate and the figures are medians. Run:

    .venv/bin/python benchmarks/delta_writes.py --trials 2
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import run_main

SETTINGS = {"delta default (50)": "delta", "tweetsent local default": "tweetsent",
            "new batches, txnAppId append": "txn", "new batches, checked append": "checked"}


def trial(setting: str, writes: int, folder: str) -> list[float]:
    """Seconds of each write in a fresh session; setting "delta" drops our snapshotPartitions default."""
    from pyspark.sql import functions as F

    from tweetsent_assets.lib.lake import delta_tables, spark_conf, spark_session

    if setting == "delta":
        spark_conf.LOCAL_DEFAULTS.pop("spark.databricks.delta.snapshotPartitions")
    spark = spark_session.get_spark("local[2]", "tweetsent-bench-delta-writes")
    rows = spark.createDataFrame([(f"x{i}", i) for i in range(1000)], "id string, n int").cache()
    rows.count()
    path = str(Path(folder) / "table")
    seconds = []
    for i in range(writes):
        batch = f"b{i:03d}" if setting in ("txn", "checked") else f"b{i % 6}"
        frame = rows.withColumn("batch_id", F.lit(batch))
        started = time.perf_counter()
        if setting == "txn":
            frame.write.format("delta").option("mergeSchema", "true").mode("append") \
                .option("txnAppId", f"tweetsent-batch:{batch}").option("txnVersion", 0).save(path)
        else:
            delta_tables.replace_batch(frame, path, batch, rows=1000)
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2, help="child processes per setting")
    parser.add_argument("--writes", type=int, default=24)
    parser.add_argument("--child", choices=list(SETTINGS.values()), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        folder = tempfile.mkdtemp(prefix="tweetsent-bench-writes-")
        print(json.dumps(trial(args.child, args.writes, folder)))
        shutil.rmtree(folder, ignore_errors=True)
        return 0
    steady: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for round_ in range(args.trials):
        for name, setting in SETTINGS.items():
            out = subprocess.run([sys.executable, __file__, "--writes", str(args.writes), "--child", setting],
                                 capture_output=True, text=True, check=True).stdout
            seconds = json.loads(out.strip().splitlines()[-1])
            steady[name] += seconds[4:]
            print(f"trial {round_ + 1} {name}: median {statistics.median(seconds[4:]):.2f} s per write "
                  f"(first writes {', '.join(f'{s:.1f}' for s in seconds[:4])} s)", flush=True)
    default, ours, txn, checked = (statistics.median(v) for v in steady.values())
    print(f"median s per new-batch append: txnAppId {txn:.2f}, checked append {checked:.2f} "
          f"(append_speedup={txn / checked:.2f})")
    print(f"median s per write: delta default {default:.2f}, tweetsent {ours:.2f}")
    print(f"write_speedup={default / ours:.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    run_main(main)
