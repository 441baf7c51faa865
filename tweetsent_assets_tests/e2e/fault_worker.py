"""A run process for the fault-injection suite: executes micro-batch partitions against a persistent instance.

Usage: python -m tweetsent_assets_tests.e2e.fault_worker ROOT PARTITION [PARTITION ...]
ROOT holds landing/, state/, lake/ and dagster_home/. TWEETSENT_FAULT (if set) names where to die, and
TWEETSENT_FAULT_PID what dies (default: this process). TWEETSENT_TEST_SPARK_MASTER (and _STATE_DIR) point
the run at a Spark Connect server instead of an in-process local[2].
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def resources(root: Path) -> dict:
    from tweetsent_assets_tests.support import SuiteSpark, pipeline_resources, use_test_spark

    if os.environ.get("TWEETSENT_TEST_SPARK_MASTER"):
        use_test_spark(SuiteSpark(master=os.environ["TWEETSENT_TEST_SPARK_MASTER"],
                                  state_dir=os.environ.get("TWEETSENT_TEST_SPARK_STATE_DIR")))
    return pipeline_resources(root, max_objects_per_batch=1)


def main(argv: list[str]) -> int:
    root, batches = Path(argv[0]), argv[1:]
    os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
    os.environ.setdefault("TWEETSENT_FAULT_PID", str(os.getpid()))
    from dagster import DagsterInstance

    from tweetsent_assets.definitions import build_defs
    from tweetsent_assets.defs.partitions import BATCH_TAG
    from tweetsent_assets.lib.ingest.hours import hour_of

    job = build_defs(resources(root)).resolve_job_def("ingest_tweet_batch")
    failed = []
    with DagsterInstance.get() as instance:
        for batch in batches:
            result = job.execute_in_process(instance=instance, partition_key=hour_of(batch), tags={BATCH_TAG: batch},
                                            raise_on_error=False)
            if not result.success:
                failed.append(batch)
                for event in result.get_step_failure_events():
                    print(f"step {event.step_key} failed: {event.event_specific_data.error.message}", flush=True)
    print("failed batches:", failed, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
