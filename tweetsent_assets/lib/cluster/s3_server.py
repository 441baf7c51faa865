"""A local S3 API for the scale-out topology: moto's server as its own process on 127.0.0.1, plus the lake's bucket.

moto is the S3 implementation the tests use; any S3 endpoint (MinIO, real S3) works in its place
by pointing AWS_ENDPOINT_URL at it. Its pid and port are kept in a JSON file beside its log.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..lake import proc_stats, services
from ..lake.services import answers


class S3ServerError(RuntimeError):
    """The S3 server did not come up; the message names the port and ends with its log."""


@dataclass(frozen=True)
class S3Server:
    """moto's S3 server: where it listens and where its state lives."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 9000

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.state_dir / f"s3-{self.port}.json"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"s3-{self.port}.log"


def _pid(server: S3Server) -> int | None:
    return (services.read_state(server.state_file) or {}).get("pid")


def start(server: S3Server, wait_s: float = 30.0) -> dict:
    """Start moto's server unless this project's one already answers there."""
    server.state_dir.mkdir(parents=True, exist_ok=True)
    if proc_stats.alive(_pid(server)) and answers(server.host, server.port):
        return status(server)
    if answers(server.host, server.port):
        raise S3ServerError(f"port {server.port} on {server.host} is taken by a process this project does not "
                            "manage; stop it or choose another port (TWEETSENT_S3_PORT)")
    moto = Path(sys.executable).with_name("moto_server")
    with server.log_file.open("ab") as log:
        process = subprocess.Popen([str(moto), "-H", server.host, "-p", str(server.port)], stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    services.write_state(server.state_file, {"pid": process.pid, "endpoint": server.endpoint})
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if answers(server.host, server.port):
            return status(server)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise S3ServerError(f"moto's S3 server on port {server.port} did not answer within {wait_s:.0f} s; "
                        f"log {server.log_file}:\n{services.log_tail(server.log_file)}")


def ensure_bucket(endpoint: str, bucket: str) -> bool:
    """Create `bucket` at `endpoint` unless it exists; True when it was created."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if bucket in existing:
        return False
    s3.create_bucket(Bucket=bucket)
    return True


def stop(server: S3Server, wait_s: float = 10.0) -> bool:
    """Stop the server (its objects are in memory and are gone with it); False when none ran."""
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
    return {"endpoint": server.endpoint, "pid": pid, "running": proc_stats.alive(pid),
            "answering": answers(server.host, server.port), "log": str(server.log_file)}
