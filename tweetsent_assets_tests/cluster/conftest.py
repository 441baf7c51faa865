"""The cluster suite's servers: a real PostgreSQL in a temporary folder, and the whole topology, each on free ports."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import boto3
import pytest

from tweetsent_assets.lib.cluster import postgres
from tweetsent_assets.lib.cluster import topology as topologies

from ..support import free_port


@pytest.fixture(scope="session")
def postgres_server():
    """The server, with PGPASSFILE pointing at its password file for this session's clients.

    Its folder is made under /tmp directly: under root the server runs as the `postgres` user,
    and pytest's own temporary folders are closed to other users.
    """
    root = Path(tempfile.mkdtemp(prefix="tweetsent-pg-test-"))
    server = postgres.PostgresServer(root=root, port=free_port())
    saved = os.environ.get("PGPASSFILE")
    try:
        postgres.start(server)
        os.environ["PGPASSFILE"] = str(server.password_file)
        yield server
    finally:
        postgres.stop(server)
        if saved is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = saved
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgres_server, request) -> str:
    """A fresh database on the server for one test (named after it); returns its URL."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50].strip("_")
    postgres.create_databases(postgres_server, (name,))
    return postgres_server.url(name)


@pytest.fixture(scope="module")
def cluster():
    """The topology (S3Proxy's S3) on free ports under /tmp (PostgreSQL runs as its own user), for one module: its
    variables stay in the process environment only while that module's tests run, then are restored."""
    root = Path(tempfile.mkdtemp(prefix="tweetsent-cluster-test-"))
    root.chmod(0o755)
    ports = {name: free_port() for name in ("postgres", "s3", "master", "master_ui", "connect")}
    topology = topologies.Topology(root=root, ports=ports)
    saved = dict(os.environ)
    boto3.DEFAULT_SESSION = None  # MLflow's S3 client would reuse the keys an earlier module's boto3 session found
    try:
        topologies.up(topology)
        yield topology
    finally:
        topologies.down(topology)
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(root, ignore_errors=True)
