"""Spark Connect sessions drawn from a fixed pool of session ids, one per concurrent run slot.

Every new Connect session gets its own Python daemon on the server, which Spark 4.2 never frees
(SPARK-54055). So a run process takes a free slot (an flock on `slot-<n>.lock`, released by the OS
even when the process is SIGKILLed) and connects with that slot's fixed `session_id`: the server
keeps at most one daemon per slot, and the next run on the slot reuses its warm Python workers and
their loaded models. State a killed run may have left in the session (temporary views, cached
frames) is cleared when the slot is taken.
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from . import connect_server
from .code_shipping import ship_to_connect_session
from .services import answers

log = logging.getLogger(__name__)
_NAMESPACE = uuid.UUID("6f1c2a4e-8d0b-4c1e-9a57-2b7f3e0d9c11")


class SparkServerUnavailable(RuntimeError):
    """The Spark Connect server cannot be reached, or stopped answering during a run."""


class SparkServerMismatch(RuntimeError):
    """The server answers but cannot run this project: another Spark version, or no Delta extension."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    params: str

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        if not url.startswith("sc://"):
            raise ValueError(f"a Spark Connect URL starts with sc://, got {url!r}")
        base, _, params = url.partition("/;")
        parsed = urlparse(base.replace("sc://", "http://", 1))
        if not parsed.hostname:
            raise ValueError(f"Spark Connect URL {url!r} has no host")
        if "session_id=" in params:
            raise ValueError(f"Spark Connect URL {url!r} sets session_id; tweetsent assigns one per run slot")
        return cls(parsed.hostname, parsed.port or connect_server.DEFAULT_PORT, params)

    @property
    def address(self) -> str:
        return f"sc://{self.host}:{self.port}"

    def session_url(self, session_id: str) -> str:
        extra = f";{self.params}" if self.params else ""
        return f"{self.address}/;session_id={session_id}{extra}"


@dataclass
class SlotLease:
    """A held slot: its number, its fixed session id, and the open lock file that holds it."""

    slot: int
    session_id: str
    handle: object

    def release(self) -> None:
        try:
            self.handle.close()
        except OSError:
            pass


def session_id_for(endpoint: Endpoint, slot: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{endpoint.host}:{endpoint.port}/slot-{slot}"))


def take_slot(endpoint: Endpoint, slots_dir: Path, slots: int, wait_s: float) -> SlotLease:
    """Hold the first free slot of this server's pool, waiting up to `wait_s` for one to free up."""
    folder = slots_dir / f"{endpoint.host}_{endpoint.port}"
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        for slot in range(slots):
            handle = open(folder / f"slot-{slot}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return SlotLease(slot, session_id_for(endpoint, slot), handle)
        if time.monotonic() > deadline:
            raise SparkServerUnavailable(
                f"all {slots} session slots of {endpoint.address} are held by other processes (locks in {folder}); "
                "raise TWEETSENT_SPARK_SESSION_SLOTS or wait for runs to finish")
        time.sleep(0.2)


def wait_for_server(endpoint: Endpoint, server: connect_server.ConnectServer | None, restart_wait_s: float) -> None:
    """Fail fast when nothing answers, unless this machine's supervisor is bringing the server back."""
    if answers(endpoint.host, endpoint.port, timeout_s=2.0):
        return
    if server is not None and connect_server.supervised_here(server):
        log.warning("Spark Connect server at %s is restarting; waiting up to %.0f s", endpoint.address, restart_wait_s)
        try:
            connect_server.wait_until_answering(server, restart_wait_s)
            return
        except connect_server.ServerStartError as exc:
            raise SparkServerUnavailable(str(exc)) from None
    raise SparkServerUnavailable(
        f"no Spark Connect server answers at {endpoint.address}; start one with `tweetsent spark start` "
        "(or `make dev`), or set TWEETSENT_SPARK_MASTER=local[*] for an in-process Spark")


def check_server(endpoint: Endpoint, server_version: str, extensions: str) -> None:
    """The server must run this client's Spark minor version and have Delta's SQL extension."""
    import pyspark

    if server_version.split(".")[:2] != pyspark.__version__.split(".")[:2]:
        raise SparkServerMismatch(f"Spark Connect server at {endpoint.address} runs Spark {server_version}, but this "
                                  f"client is pyspark {pyspark.__version__}; start a {pyspark.__version__} server")
    if "DeltaSparkSessionExtension" not in extensions:
        raise SparkServerMismatch(f"Spark Connect server at {endpoint.address} has no Delta SQL extension "
                                  f"(spark.sql.extensions={extensions or 'unset'}); start it with "
                                  "`tweetsent spark start`, which adds Delta's extension, catalog and jars")


def clear_session_state(session, address: str, slot: int) -> None:
    """Stop operations, and drop temporary views and cached frames, that an earlier run on this slot left behind.

    The slot's lock is free, so that run has ended; a write it started would otherwise still commit
    on the server, racing the retry of its batch.
    """
    orphans = session.interruptAll()
    if orphans:
        log.warning("interrupted %d operation(s) a finished run left running on %s session slot %d: %s",
                    len(orphans), address, slot, ", ".join(orphans))
    for table in session.catalog.listTables():
        if table.isTemporary:
            session.catalog.dropTempView(table.name)
    session.catalog.clearCache()


def name_server_in_errors(session, address: str) -> None:
    """Make connection failures say which server went away, and fail within seconds rather than minutes.

    The client's default policy retries for about 10 minutes; a run is better off failing fast
    and being retried by Dagster against the restarted server. A retry that reaches the restarted
    server finds its session gone (`SESSION_CHANGED`, after which the client reports `NO_ACTIVE_SESSION`).
    """
    import grpc
    from pyspark.errors.exceptions.connect import SparkConnectException, SparkConnectGrpcException
    from pyspark.sql.connect.client.retries import DefaultPolicy

    client = session.client
    client.set_retry_policies([DefaultPolicy(max_retries=4, initial_backoff=250, max_backoff=2000)])
    handle = client._handle_error
    lost = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED)
    restarted = ("INVALID_HANDLE.SESSION_CHANGED", "NO_ACTIVE_SESSION")

    def named(error: Exception):
        try:
            handle(error)
        except SparkConnectException as exc:
            if exc.getCondition() in restarted:
                raise SparkServerUnavailable(f"Spark Connect server at {address} stopped answering: it restarted "
                                             f"and no longer holds this run's session ({exc.getCondition()})") from exc
            if isinstance(exc, SparkConnectGrpcException) and exc.getGrpcStatusCode() in lost:
                raise SparkServerUnavailable(f"Spark Connect server at {address} stopped answering: "
                                             f"{' '.join(str(exc).split())[:300]}") from exc
            raise
        except grpc.RpcError as exc:
            raise SparkServerUnavailable(f"Spark Connect server at {address} stopped answering: {exc}") from exc

    client._handle_error = named


def connect(url: str, slots_dir: Path, slots: int,
            server: connect_server.ConnectServer | None = None, restart_wait_s: float = 90.0):
    """A Delta-ready Connect session on a pool slot; returns (session, lease)."""
    from pyspark.sql import SparkSession

    endpoint = Endpoint.parse(url)
    wait_for_server(endpoint, server, restart_wait_s)
    lease = take_slot(endpoint, slots_dir, slots, wait_s=120.0)
    try:
        session = SparkSession.builder.remote(endpoint.session_url(lease.session_id)).create()
        name_server_in_errors(session, endpoint.address)
        check_server(endpoint, session.version, session.conf.get("spark.sql.extensions", "") or "")
        clear_session_state(session, endpoint.address, lease.slot)
        ship_to_connect_session(session)
    except Exception:
        lease.release()
        raise
    return session, lease
