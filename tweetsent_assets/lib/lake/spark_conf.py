"""Spark settings shared by the in-process session and the Connect server, and the standalone master's check."""
from __future__ import annotations

import os
from pathlib import Path

from .services import answers

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
LOCAL_DEFAULTS = {
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    # The UI's REST API gives each step its stages' spill and task skew (stage_metrics.py). It binds to
    # SPARK_LOCAL_IP (127.0.0.1) on a free port; a Connect server's supervisor picks a fixed one.
    "spark.ui.enabled": "true",
    "spark.ui.port": "0",
    "spark.ui.killEnabled": "false",
    # Delta rebuilds a table's snapshot with this many tasks after every commit; its default of 50
    # makes each local write ~3x slower (benchmarks/delta_writes.py).
    "spark.databricks.delta.snapshotPartitions": str(min(8, os.cpu_count() or 2)),
}

# Adaptive query execution, set explicitly (docs/spark-and-connect.md#adaptive-query-execution): shuffle partitions
# are coalesced to the advisory size after each shuffle, and a sort-merge join's partitions over the skew
# threshold are split.
AQE_CONF = {
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.parallelismFirst": "true",
    "spark.sql.adaptive.advisoryPartitionSizeInBytes": "64m",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.adaptive.skewJoin.skewedPartitionFactor": "5",
    "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": "256m",
}

# Warnings and errors only, on stderr: the driver's (and the Connect server's) JVM logging.
LOG4J_CONF = {"spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={Path(__file__).with_name('log4j2.properties')}"}


class SparkMasterUnavailable(RuntimeError):
    """A spark:// master URL with nothing listening: Spark itself would retry for about a minute."""


def check_master(master: str, timeout_s: float = 3.0) -> None:
    """Fail within seconds, naming the URL, when a standalone master (spark://host:port) does not answer."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        host, _, port = address.rpartition(":")
        if port.isdigit() and answers(host, int(port), timeout_s):
            return
    raise SparkMasterUnavailable(f"no Spark master answers at {master}; start the cluster with `tweetsent cluster up` "
                                 "(make cluster-up) or set TWEETSENT_SPARK_MASTER to a running one")
