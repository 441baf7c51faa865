"""Model servers (`mlflow models serve`) for a registry alias: one per version, switched when the alias moves.

Each backend serves one pinned version (models:/<name>/<version>) on an internal port, in a process group
of its own that ends with this process, even a SIGKILLed one (`lake.owned`). A watcher polls the alias; on a
move it starts a backend for the new version, waits until it answers /ping, makes it the current one, waits
for the old one's requests in flight, then stops the old one.
"""
from __future__ import annotations

import http.client
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..lake import owned
from ..lake.services import log_tail, stop_group
from .registry import get_alias_version

HOST = "127.0.0.1"
log = logging.getLogger(__name__)


class ServingError(RuntimeError):
    """The alias has no version, or a backend did not start; the message says which and where its log is."""


class Stopped(Exception):
    """Raised inside a start when the follower is being closed."""


@dataclass(eq=False)
class Backend:
    """One `mlflow models serve` process for one version, and the requests it has in flight."""

    version: str
    port: int
    process: subprocess.Popen
    log_path: Path
    in_flight: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@dataclass(frozen=True)
class FollowerConfig:
    """Where the registry is, which alias to follow, and how patient to be."""

    tracking_uri: str
    name: str
    alias: str
    log_dir: Path
    poll_s: float = 5.0
    start_timeout_s: float = 180.0
    drain_timeout_s: float = 60.0
    stop_grace_s: float = 5.0


class AliasFollower:
    """Keeps a ready backend for the version the alias points at; `lease()` hands out the current one."""

    def __init__(self, config: FollowerConfig, report: Callable[[str], None] = log.info):
        self.config = config
        self._report = report
        self._changed = threading.Condition()
        self._current: Backend | None = None
        self._backends: list[Backend] = []
        self._closing = threading.Event()
        self._failed: str | None = None
        self._watcher: threading.Thread | None = None
        self._client = None

    def start(self) -> Backend:
        """Start a backend for the alias's version, wait until it answers, then watch the alias in the background."""
        version = self.alias_version()
        if version is None:
            raise ServingError(f"registered model {self.config.name!r} has no {self.config.alias!r} alias in "
                               f"{_safe_uri(self.config.tracking_uri)} (run `make demo` to register one)")
        backend = self._start_backend(version)
        with self._changed:
            self._current = backend
        self._watcher = threading.Thread(target=self._watch, name="alias-watcher", daemon=True)
        self._watcher.start()
        return backend

    @property
    def current(self) -> Backend | None:
        return self._current

    @contextmanager
    def lease(self) -> Iterator[Backend]:
        """The current backend, counted in flight until the block ends (an old one is stopped only after)."""
        with self._changed:
            backend = self._current
            if backend is None:
                raise ServingError("no model server is running")
            backend.in_flight += 1
        try:
            yield backend
        finally:
            with self._changed:
                backend.in_flight -= 1
                self._changed.notify_all()

    def alias_version(self) -> str | None:
        """The version the alias points at now (None when it does not exist)."""
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.config.tracking_uri, registry_uri=self.config.tracking_uri)
        return get_alias_version(self._client, self.config.alias, self.config.name)

    def request_stop(self) -> None:
        """Make a start in progress give up (raising Stopped) and the watcher end; safe in a signal handler."""
        self._closing.set()

    def wait_stop(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for request_stop or close; whether one came."""
        return self._closing.wait(timeout_s)

    def close(self) -> None:
        """Stop the watcher and every backend (side by side), each within the stop grace period."""
        with self._changed:
            self._closing.set()
            backends = list(self._backends)
            self._changed.notify_all()
        stoppers = [threading.Thread(target=self._stop_backend, args=(b,), daemon=True) for b in backends]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(self.config.stop_grace_s + 2)
        if self._watcher is not None:
            self._watcher.join(self.config.stop_grace_s + 2)

    def _watch(self) -> None:
        while not self._closing.wait(self.config.poll_s):
            try:
                version = self.alias_version()
            except Exception as exc:
                self._report(f"cannot read the {self.config.alias!r} alias: {' '.join(str(exc).split())}")
                continue
            current = self._current
            if current.process.poll() is not None:
                self._report(f"the model server for version {current.version} exited with "
                             f"{current.process.returncode}; starting another (log: {current.log_path})")
                version = version or current.version
            elif version is None or version == current.version or version == self._failed:
                continue
            else:
                self._report(f"the {self.config.alias!r} alias moved to version {version}")
            try:
                self._switch(version)
            except Stopped:
                return
            except ServingError as exc:
                self._failed = version
                self._report(f"still serving version {self._current.version}: {exc}")

    def _switch(self, version: str) -> None:
        """Start the new version's backend; once it answers, route to it, drain the old one and stop it."""
        self._report(f"starting a model server for version {version}")
        started = time.monotonic()
        backend = self._start_backend(version)
        with self._changed:
            old, self._current = self._current, backend
            self._failed = None
        self._report(f"serving version {version} (switched in {time.monotonic() - started:.1f} s); "
                     f"stopping version {old.version} once its {old.in_flight} requests in flight finish")
        with self._changed:
            drained = self._changed.wait_for(lambda: old.in_flight == 0 or self._closing.is_set(),
                                             self.config.drain_timeout_s)
        if not drained:
            self._report(f"version {old.version} still had {old.in_flight} requests after "
                         f"{self.config.drain_timeout_s:.0f} s; stopping it anyway")
        self._stop_backend(old)

    def _start_backend(self, version: str) -> Backend:
        """Launch `mlflow models serve` for the pinned version and wait until it answers /ping."""
        self.config.log_dir.mkdir(parents=True, exist_ok=True)
        with self._changed:
            if self._closing.is_set():
                raise Stopped()
            port = free_port()
            log_path = self.config.log_dir / f"model-server-v{version}-{port}.log"
            with log_path.open("ab") as out:
                command = owned.command(os.getpid(), serve_command(self.config.name, version, port))
                process = subprocess.Popen(command,
                                           env=backend_environment(self.config.tracking_uri), stdin=subprocess.DEVNULL,
                                           stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            backend = Backend(version, port, process, log_path)
            self._backends.append(backend)
        try:
            self._wait_ready(backend)
        except ServingError:
            self._stop_backend(backend)
            raise
        return backend

    def _wait_ready(self, backend: Backend) -> None:
        deadline = time.monotonic() + self.config.start_timeout_s
        while not ping(backend.port):
            if self._closing.is_set():
                raise Stopped()
            if backend.process.poll() is not None:
                raise ServingError(f"the model server for version {backend.version} exited with "
                                   f"{backend.process.returncode} before answering; log: {backend.log_path}\n"
                                   f"{log_tail(backend.log_path)}")
            if time.monotonic() > deadline:
                raise ServingError(f"the model server for version {backend.version} did not answer within "
                                   f"{self.config.start_timeout_s:.0f} s; log: {backend.log_path}")
            self._closing.wait(0.2)

    def _stop_backend(self, backend: Backend) -> None:
        stop_group(backend.process, self.config.stop_grace_s)
        with self._changed:
            if backend in self._backends:
                self._backends.remove(backend)


def serve_command(name: str, version: str, port: int) -> list[str]:
    """MLflow's scoring server for one pinned version in this interpreter's environment, on 127.0.0.1."""
    return [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}/{version}", "-h", HOST,
            "-p", str(port), "--env-manager", "local", "-w", "1"]


def backend_environment(tracking_uri: str) -> dict[str, str]:
    """This process's environment with the registry set, and this venv's bin first (MLflow runs `uvicorn`)."""
    bin_dir = str(Path(sys.executable).parent)
    return dict(os.environ, MLFLOW_TRACKING_URI=tracking_uri, MLFLOW_REGISTRY_URI=tracking_uri,
                PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")


def ping(port: int, timeout_s: float = 2.0) -> bool:
    """Whether the server on `port` answers GET /ping with 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout_s)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _safe_uri(uri: str) -> str:
    """The URI without a password, for messages."""
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    return uri.replace(f":{parts.password}@", ":***@") if "://" in uri and parts.password else uri
