"""The one Delta-enabled SparkSession of a process, local or on a cluster."""
from __future__ import annotations

import atexit
import os
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from .spark_jars import DEFAULT_JAR_DIR, delta_coordinates, jar_paths

_lock = threading.Lock()
_session = None

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
    "spark.ui.enabled": "false",
    # Delta rebuilds a table's snapshot with this many tasks after every commit; its default of 50
    # makes each local write ~3x slower (benchmarks/delta_writes.py).
    "spark.databricks.delta.snapshotPartitions": str(min(8, os.cpu_count() or 2)),
}


def get_spark(master: str = "local[*]", app_name: str = "tweetsent", conf: dict[str, str] | None = None):
    """Create the Delta-configured session on first call and return that same session afterwards.

    `sc://host:port` connects through Spark Connect (the server must already have Delta's
    extension and jars); `local[...]`, `spark://…`, `yarn` and `k8s://…` start a classic driver.
    """
    global _session
    with _lock:
        if _session is not None and not _is_stopped(_session):
            return _session
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        if master.startswith("sc://"):
            _session = SparkSession.builder.remote(master).appName(app_name).getOrCreate()
            return _session
        builder = SparkSession.builder.master(master).appName(app_name)
        settings = {**(LOCAL_DEFAULTS if master.startswith("local") else {}), **DELTA_CONF,
                    **_jar_conf(), **(conf or {})}
        for key, value in settings.items():
            builder = builder.config(key, value)
        _session = builder.getOrCreate()
        _session.sparkContext.setLogLevel(os.environ.get("TWEETSENT_SPARK_LOG_LEVEL", "WARN"))
        if not master.startswith("local"):
            _session.sparkContext.addPyFile(_package_zip())
        atexit.register(stop_spark)
        return _session


def stop_spark() -> None:
    """Stop the process's session (a later get_spark starts a new one)."""
    global _session
    with _lock:
        if _session is not None:
            _session.stop()
            _session = None


def _package_zip() -> str:
    """Zip this package so a cluster's executors can import the functions shipped to them."""
    package = Path(__file__).resolve().parents[1]
    target = Path(tempfile.mkdtemp(prefix="tweetsent-pyfiles-")) / "tweetsent_assets.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in package.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(package.parent).as_posix())
    return str(target)


def _jar_conf() -> dict[str, str]:
    jars = jar_paths(DEFAULT_JAR_DIR) if DEFAULT_JAR_DIR.is_dir() else []
    if jars:
        return {"spark.jars": ",".join(str(j) for j in jars)}
    return {"spark.jars.packages": ",".join(delta_coordinates())}


def _is_stopped(session) -> bool:
    context = getattr(session, "_sc", None)
    return context is not None and context._jsc is None
