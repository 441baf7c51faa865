"""A local S3 API for the scale-out topology, as its own process on 127.0.0.1, plus the lake's bucket.

Two servers sit behind the same start/stop/status: S3Proxy (the default), which keeps objects as
files so they survive a restart, and moto, which keeps them in memory (what the unit tests use).
Any S3 endpoint (MinIO, real S3) works in their place by pointing AWS_ENDPOINT_URL at it. The
pid and port are kept in a JSON file beside the log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..lake import proc_stats, services
from ..lake.services import answers
from . import s3proxy

KINDS = ("s3proxy", "moto")
# boto3 1.36+ sends CRC checksums S3Proxy answers with NotImplemented; "when_required" keeps to what S3 requires.
CHECKSUM_ENV = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
                "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}


class S3ServerError(RuntimeError):
    """The S3 server did not come up; the message names the port and ends with its log."""


@dataclass(frozen=True)
class S3Server:
    """An S3 server (`kind` s3proxy or moto): where it listens, the keys it accepts and where its state lives."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 9000
    kind: str = "s3proxy"
    access_key: str = "tweetsent-local"
    secret_key: str = field(default="tweetsent-local", repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"S3 server kind {self.kind!r} is unknown; expected one of {', '.join(KINDS)} "
                             "(TWEETSENT_S3_SERVER)")

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def persistent(self) -> bool:
        """Whether objects outlive the process (S3Proxy's files) or go with it (moto's memory)."""
        return self.kind == "s3proxy"

    @property
    def objects_dir(self) -> Path:
        """Where S3Proxy keeps the objects: one folder per bucket, one file per object."""
        return self.state_dir / "objects"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"s3-{self.port}.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"s3-{self.port}.log"

    def environment(self) -> dict[str, str]:
        """What boto3, s3a, delta-rs and MLflow read to use this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "MLFLOW_S3_ENDPOINT_URL": self.endpoint, **CHECKSUM_ENV}


def _pid(server: S3Server) -> int | None:
    return (services.read_state(server.state_file) or {}).get("pid")


def _command(server: S3Server) -> list[str]:
    if server.kind == "moto":
        return [str(Path(sys.executable).with_name("moto_server")), "-H", server.host, "-p", str(server.port)]
    properties = s3proxy.write_properties(server.state_dir / f"s3proxy-{server.port}.properties", server.host,
                                          server.port, server.objects_dir, server.access_key, server.secret_key)
    return s3proxy.command(properties)


def start(server: S3Server, wait_s: float = 60.0) -> dict:
    """Start the server unless this project's one already answers there."""
    server.state_dir.mkdir(parents=True, exist_ok=True)
    if proc_stats.alive(_pid(server)) and answers(server.host, server.port):
        return status(server)
    if answers(server.host, server.port):
        raise S3ServerError(f"port {server.port} on {server.host} is taken by a process this project does not "
                            "manage; stop it or choose another port (TWEETSENT_S3_PORT)")
    argv = _command(server)
    with server.log_file.open("ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    services.write_state(server.state_file, {"pid": process.pid, "endpoint": server.endpoint, "kind": server.kind})
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if answers(server.host, server.port):
            return status(server)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise S3ServerError(f"{server.kind}'s S3 server on port {server.port} did not answer within {wait_s:.0f} s; "
                        f"log {server.log_file}:\n{services.log_tail(server.log_file)}")


def client(endpoint: str, timeout_s: float | None = None):
    """A boto3 S3 client for `endpoint` with checksums only where S3 requires them (S3Proxy rejects the others)."""
    import boto3
    from botocore.config import Config

    timeouts = {"connect_timeout": timeout_s, "read_timeout": timeout_s} if timeout_s else {}
    config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                    **timeouts)
    # A session of its own reads the credentials now: boto3's default session keeps the first ones it found.
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def ensure_bucket(endpoint: str, bucket: str) -> bool:
    """Create `bucket` at `endpoint` unless it exists; True when it was created."""
    s3 = client(endpoint)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return False
    s3.create_bucket(Bucket=bucket)
    return True


def stop(server: S3Server, wait_s: float = 10.0) -> bool:
    """Stop the server (moto's objects go with it, S3Proxy's stay in objects_dir); False when none ran."""
    pid = _pid(server)
    server.state_file.unlink(missing_ok=True)
    if not proc_stats.alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline and proc_stats.alive(pid):
        time.sleep(0.1)
    if proc_stats.alive(pid):
        os.kill(pid, signal.SIGKILL)
    return True


def status(server: S3Server) -> dict:
    pid = _pid(server)
    return {"endpoint": server.endpoint, "kind": server.kind, "pid": pid, "running": proc_stats.alive(pid),
            "answering": answers(server.host, server.port), "log": str(server.log_file),
            "objects": str(server.objects_dir) if server.persistent else "in memory"}
