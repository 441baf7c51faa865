"""A run process for the fault-injection suite: executes micro-batch partitions against a persistent instance.

Usage: python -m tweetsent_assets_tests.fault_worker ROOT PARTITION [PARTITION ...]
ROOT holds landing/, state/, lake/ and dagster_home/. TWEETSENT_FAULT (if set) names where to die.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources(root: Path) -> dict:
    from tweetsent_assets_tests.support import pipeline_resources

    return pipeline_resources(root, max_objects_per_batch=1)


def main(argv: list[str]) -> int:
    root, partitions = Path(argv[0]), argv[1:]
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ["TWEETSENT_FAULT_PID"] = str(os.getpid())
    from dagster import DagsterInstance

    from tweetsent_assets.definitions import build_defs

    job = build_defs(resources(root)).resolve_job_def("ingest_tweet_batch")
    with DagsterInstance.get() as instance:
        failed = [p for p in partitions
                  if not job.execute_in_process(instance=instance, partition_key=p, raise_on_error=False).success]
    print("failed partitions:", failed, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
