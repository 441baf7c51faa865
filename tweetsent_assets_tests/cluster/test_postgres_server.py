"""The PostgreSQL manager on a real server: initdb, start, restart with data kept, stop, the CLI, fast preflight errors."""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from tweetsent_assets.cli.main import main
from tweetsent_assets.lib.cluster import postgres

from ..support import free_port

pytestmark = pytest.mark.cluster


def test_session_server_has_both_databases_on_loopback_only(postgres_server):
    state = postgres.status(postgres_server)
    assert state["running"] and state["answering"]
    assert state["address"] == f"127.0.0.1:{postgres_server.port}"
    assert {"dagster", "mlflow"} <= set(postgres.databases(postgres_server))
    settings = {}
    with closing(postgres.connect(postgres_server.url("dagster"))) as conn, conn.cursor() as cursor:
        for name in ("listen_addresses", "unix_socket_directories", "password_encryption"):
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    assert settings == {"listen_addresses": "127.0.0.1", "unix_socket_directories": "",
                        "password_encryption": "scram-sha-256"}
    assert postgres.create_databases(postgres_server) == []


def test_password_is_required(postgres_server, monkeypatch):
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    with pytest.raises(postgres.PostgresUnreachable,
                       match=rf"127\.0\.0\.1:{postgres_server.port} did not open a session .*password"):
        postgres.check_reachable(postgres_server.url("dagster"))


def test_start_stop_restart_keeps_data(capsys):
    root = Path(tempfile.mkdtemp(prefix="tweetsent-pg-test-"))
    server = postgres.PostgresServer(root=root, port=free_port())
    args = ["postgres", "--dir", str(server.root), "--port", str(server.port)]
    try:
        assert main([*args[:1], "status", *args[1:], "--json"]) == 3
        assert json.loads(capsys.readouterr().out)["running"] is False

        assert main([args[0], "start", *args[1:]]) == 0
        out = capsys.readouterr().out
        assert f"PostgreSQL answering at 127.0.0.1:{server.port}" in out
        assert f"export TWEETSENT_DAGSTER_POSTGRES_URL=postgresql+psycopg2://tweetsent@127.0.0.1:{server.port}/dagster" in out
        assert oct(server.password_file.stat().st_mode & 0o777) == "0o600"
        assert {"dagster", "mlflow", "postgres"} == set(postgres.databases(server))
        first_pid = postgres.status(server)["pid"]
        with closing(_connect(server)) as conn, conn.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2), (3)")

        assert postgres.start(server)["pid"] == first_pid, "start on a running server changes nothing"
        assert main([args[0], "stop", *args[1:]]) == 0
        assert "stopped PostgreSQL" in capsys.readouterr().out
        assert postgres.status(server)["running"] is False
        assert postgres.stop(server) is False

        assert postgres.start(server)["running"]
        with closing(_connect(server)) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT sum(n) FROM kept")
            assert cursor.fetchone()[0] == 6
        assert main([args[0], "status", *args[1:]]) == 0
        assert "running: True" in capsys.readouterr().out
    finally:
        postgres.stop(server)
        shutil.rmtree(root, ignore_errors=True)


def test_taken_port_is_named(postgres_server):
    root = Path(tempfile.mkdtemp(prefix="tweetsent-pg-test-"))
    try:
        other = postgres.PostgresServer(root=root, port=postgres_server.port)
        with pytest.raises(postgres.PostgresError, match=rf"127\.0\.0\.1:{postgres_server.port} is taken"):
            postgres.start(other)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_refused_port_fails_fast_naming_it():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(postgres.PostgresUnreachable, match=rf"PostgreSQL at 127\.0\.0\.1:{port} is unreachable"):
        postgres.check_reachable(f"postgresql://tweetsent@127.0.0.1:{port}/dagster", timeout_s=3)
    assert time.monotonic() - started < 1.0


def test_silent_port_fails_within_the_timeout():
    """A port that accepts TCP but never speaks (a hung server): libpq's connect_timeout ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(postgres.PostgresUnreachable, match=rf"127\.0\.0\.1:{port} did not open a session .*timeout"):
            postgres.check_reachable(f"postgresql://tweetsent@127.0.0.1:{port}/dagster", timeout_s=2)
        assert time.monotonic() - started < 5.0


def _connect(server):
    conn = psycopg2.connect(host=server.host, port=server.port, user=server.user, password=server.password(),
                            dbname="postgres")
    conn.autocommit = True
    return conn
