"""The one Delta-enabled SparkSession of a process: in-process (local[*], a cluster) or on a Spark Connect server.

The choice is the master URL alone (`sc://…` means Connect), never a fallback, and it is logged.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from . import s3a
from .code_shipping import package_zip
from .spark_conf import AQE_CONF, DELTA_CONF, LOCAL_DEFAULTS, LOG4J_CONF, check_master
from .spark_jars import DEFAULT_JAR_DIR, delta_coordinates, jar_paths

log = logging.getLogger(__name__)
_lock = threading.Lock()
_session = None
_served: "ServedBy | None" = None
_lease = None


@dataclass(frozen=True)
class ServedBy:
    """Which Spark a session runs on, as recorded in every materialization."""

    mode: str          # "connect" or "in-process"
    master: str        # sc://host:port, local[2], spark://…
    slot: int | None = None

    def metadata(self) -> dict:
        served = f"Spark Connect {self.master} (session slot {self.slot})" if self.mode == "connect" \
            else f"in-process Spark, master {self.master}"
        return {"spark": served}


def get_spark(master: str = "local[*]", app_name: str = "tweetsent", conf: dict[str, str] | None = None,
              connect_slots: int = 4, state_dir: str | None = None):
    """Create this process's session on first call and return that same session afterwards.

    `sc://host:port` attaches to a Spark Connect server (which must have Delta's extension, as
    `tweetsent spark start` gives it) on a pool slot; anything else starts a classic driver here.
    """
    global _session, _served, _lease
    with _lock:
        if _session is not None and not _is_stopped(_session):
            return _session
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        if master.startswith("sc://"):
            _session, _lease, _served = _connect(master, connect_slots, state_dir)
        else:
            _session, _served = _classic(master, app_name, conf or {}), ServedBy("in-process", master)
        log.info("Spark for this process: %s", _served.metadata()["spark"])
        atexit.register(stop_spark)
        return _session


def served_by() -> ServedBy | None:
    """How the current session was made, or None before the first get_spark."""
    return _served


def _connect(master: str, slots: int, state_dir: str | None):
    from . import connect_server, connect_session

    endpoint = connect_session.Endpoint.parse(master)
    folder = Path(state_dir or os.path.join(os.environ.get("TWEETSENT_DATA_DIR", "data"), "spark-connect"))
    server = connect_server.ConnectServer(state_dir=folder, host=endpoint.host, port=endpoint.port)
    session, lease = connect_session.connect(master, folder / "slots", slots, server=server)
    return session, lease, ServedBy("connect", endpoint.address, lease.slot)


def _classic(master: str, app_name: str, conf: dict[str, str]):
    from pyspark.sql import SparkSession

    check_master(master)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = s3a.add_to({**(LOCAL_DEFAULTS if master.startswith("local") else {}), **AQE_CONF, **LOG4J_CONF,
                           **DELTA_CONF, **_jar_conf(), **conf})
    if not master.startswith("local"):
        settings.setdefault("spark.submit.pyFiles", str(package_zip()))
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(os.environ.get("TWEETSENT_SPARK_LOG_LEVEL", "WARN"))
    return session


def parallelism(session) -> int:
    """Concurrent tasks the session's Spark runs: spark.default.parallelism, else the local[N] count, else 2."""
    configured = session.conf.get("spark.default.parallelism", None)
    if configured:
        return max(1, int(configured))
    master = session.conf.get("spark.master", None) or ""
    if master.startswith("local["):
        count = master[len("local["):].split(",")[0].rstrip("]")
        return (os.cpu_count() or 2) if count == "*" else max(1, int(count))
    return 1 if master == "local" else 2


def stop_spark() -> None:
    """End this process's use of Spark: stop an in-process driver; detach from (never release) a Connect session.

    A Connect session id released on the server cannot be used again, and the pool reuses them.
    """
    global _session, _served, _lease
    with _lock:
        if _session is not None:
            if _served is not None and _served.mode == "connect":
                _session.release_session_on_close = False
            _session.stop()
            _session = None
        if _lease is not None:
            _lease.release()
            _lease = None
        _served = None


def _jar_conf() -> dict[str, str]:
    jars = jar_paths(DEFAULT_JAR_DIR) if DEFAULT_JAR_DIR.is_dir() else []
    if jars:
        return {"spark.jars": ",".join(str(j) for j in jars)}
    return {"spark.jars.packages": ",".join(delta_coordinates())}


def _is_stopped(session) -> bool:
    if hasattr(session, "is_stopped"):
        return session.is_stopped
    context = getattr(session, "_sc", None)
    return context is not None and context._jsc is None
