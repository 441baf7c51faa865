"""A local PostgreSQL server for Dagster's instance and MLflow's store: initdb, start, stop, status, databases.

The server listens on 127.0.0.1 only (no Unix socket) and wants a password (scram-sha-256). The
password is generated at initdb and kept in a libpq password file beside the data, so URLs carry no
secret: clients find it through PGPASSFILE. PostgreSQL refuses to run as root, so under root every
server command runs as the `postgres` system user, which then owns the server's folder.
"""
from __future__ import annotations

import glob
import math
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from ..lake import proc_stats
from ..lake.services import answers

DEFAULT_PORT = 5433
DEFAULT_USER = "tweetsent"
DATABASES = ("dagster", "mlflow")
SERVER_OS_USER = "postgres"
DEFAULT_TIMEOUT_S = 3.0


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message names the folder or port."""


class PostgresUnreachable(ConnectionError):
    """Nothing usable answers at a PostgreSQL URL; the message names host:port."""


@dataclass(frozen=True)
class PostgresServer:
    """One server: its folder (data, log, password file), the port it listens on, its superuser."""

    root: Path
    port: int = DEFAULT_PORT
    user: str = DEFAULT_USER
    host: str = "127.0.0.1"
    bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        """libpq's password file for this server (point PGPASSFILE at it)."""
        return self.root / "pgpass"

    def url(self, database: str) -> str:
        """A SQLAlchemy URL without the password, naming psycopg2 (see with_driver)."""
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{database}"

    def environment(self) -> dict[str, str]:
        """The variables the cluster topology reads: the password file, Dagster's and MLflow's URLs."""
        return {"PGPASSFILE": str(self.password_file.resolve()),
                "TWEETSENT_DAGSTER_POSTGRES_URL": self.url("dagster"),
                "MLFLOW_TRACKING_URI": self.url("mlflow")}

    def password(self) -> str:
        try:
            line = self.password_file.read_text().strip()
        except FileNotFoundError:
            raise PostgresError(f"no password file {self.password_file}: was the server set up by "
                                f"`tweetsent postgres start`?") from None
        return line.rsplit(":", 1)[1]


def binary(name: str, bin_dir: Path | None = None) -> str:
    """The path of PostgreSQL's program `name`: from bin_dir, $PATH, or Debian's /usr/lib/postgresql/*/bin."""
    candidates = [str(Path(bin_dir) / name)] if bin_dir else []
    candidates += [shutil.which(name) or ""]
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_version_key, reverse=True)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    where = f"{bin_dir}, " if bin_dir else ""
    raise PostgresError(f"PostgreSQL's {name} not found (looked in {where}$PATH and /usr/lib/postgresql/*/bin); "
                        f"install PostgreSQL (apt-get install postgresql) or set TWEETSENT_POSTGRES_BIN")


def status(server: PostgresServer) -> dict:
    """Whether the server of this folder runs (from its postmaster.pid), where, and whether it answers."""
    pid, port = _postmaster(server)
    running = proc_stats.alive(pid)
    port = port if running and port else server.port
    return {"running": running, "pid": pid if running else None, "address": f"{server.host}:{port}",
            "answering": running and answers(server.host, port), "data_dir": str(server.data_dir),
            "log": str(server.log_file), "password_file": str(server.password_file)}


def start(server: PostgresServer, wait_s: float = 30.0) -> dict:
    """Start the server (initdb on first use) unless it runs, wait until it answers, create the databases."""
    if not status(server)["running"]:
        if answers(server.host, server.port):
            raise PostgresError(f"{server.host}:{server.port} is taken by another program; choose another port "
                                f"(--port or TWEETSENT_POSTGRES_PORT)")
        _prepare_root(server)
        if not (server.data_dir / "PG_VERSION").exists():
            _initdb(server)
        done = _run_as_server([binary("pg_ctl", server.bin_dir), "start", "-w", "-t", str(math.ceil(wait_s)),
                               "-D", str(server.data_dir), "-l", str(server.log_file), "-o", f"-p {server.port}"],
                              server, timeout_s=wait_s + 10)
        if done.returncode != 0:
            raise PostgresError(f"PostgreSQL did not start on {server.host}:{server.port}: "
                                f"{_last_lines(done.stdout + done.stderr)}\n{_log_tail(server)}")
    state = status(server)
    address = state["address"]
    _wait_until_answering(server, int(address.rsplit(":", 1)[1]), wait_s)
    create_databases(server)
    return status(server)


def stop(server: PostgresServer, wait_s: float = 30.0) -> bool:
    """Stop the server of this folder (fast shutdown: open sessions are rolled back); False if none ran."""
    if not status(server)["running"]:
        return False
    done = _run_as_server([binary("pg_ctl", server.bin_dir), "stop", "-w", "-m", "fast", "-t", str(math.ceil(wait_s)),
                           "-D", str(server.data_dir)], server, timeout_s=wait_s + 10)
    if done.returncode != 0:
        raise PostgresError(f"PostgreSQL in {server.data_dir} did not stop: {_last_lines(done.stdout + done.stderr)}")
    return True


def create_databases(server: PostgresServer, names: tuple[str, ...] = DATABASES) -> list[str]:
    """Create the databases that do not exist yet; returns the names created."""
    created = []
    with _admin_connection(server) as conn, conn.cursor() as cursor:
        for name in names:
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                raise ValueError(f"database name {name!r} must be lower-case letters, digits and underscores")
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    return created


def databases(server: PostgresServer) -> list[str]:
    """The server's databases, templates excluded."""
    with _admin_connection(server) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY datname")
        return [row[0] for row in cursor.fetchall()]


def is_postgres_url(url: str) -> bool:
    return url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def with_driver(url: str) -> str:
    """`url` with psycopg2 named when it names no driver: SQLAlchemy 2.1 reads a bare postgresql:// as
    psycopg 3, which is not installed (dagster-postgres needs psycopg2); other URLs are returned as they are.
    """
    scheme, sep, rest = url.partition("://")
    return f"postgresql+psycopg2://{rest}" if sep and scheme in ("postgresql", "postgres") else url


def check_reachable(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Raise PostgresUnreachable, naming host:port, unless a PostgreSQL server there accepts a session.

    A quick TCP connect catches a refused or unroutable address within timeout_s; then a real login
    (libpq's connect_timeout, at least 2 s) catches a silent port, a wrong password or a missing database.
    Clients on their own retry for a long time (MLflow for minutes) before saying anything.
    """
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    host, port = parsed.host or "localhost", parsed.port or 5432
    address = f"{host}:{port}"
    if not host.startswith("/"):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                pass
        except OSError as exc:
            reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or str(exc))
            raise PostgresUnreachable(f"PostgreSQL at {address} is unreachable: {reason} "
                                      f"(checked within {timeout_s:g} s; is the server running?)") from None
    try:
        connect(url, timeout_s).close()
    except psycopg2.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise PostgresUnreachable(f"PostgreSQL at {address} did not open a session for database "
                                  f"{parsed.database!r} as user {parsed.username!r}: {reason}") from None


def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S):
    """A psycopg2 connection to a SQLAlchemy-style URL (postgresql+psycopg2://… as well as postgresql://…)."""
    import psycopg2
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    args = {k: v for k, v in parsed.translate_connect_args(username="user", database="dbname").items() if v}
    return psycopg2.connect(**args, **dict(parsed.query), connect_timeout=max(2, math.ceil(timeout_s)))


def store_uri(uri: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> str:
    """An MLflow tracking URI ready for MlflowClient: a PostgreSQL one checked reachable and given its
    driver (with_driver); sqlite:// and the rest are returned as they are.
    """
    if not is_postgres_url(uri):
        return uri
    check_reachable(uri, timeout_s)
    return with_driver(uri)


def _admin_connection(server: PostgresServer):
    import psycopg2

    try:
        conn = psycopg2.connect(host=server.host, port=status(server)["address"].rsplit(":", 1)[1],
                                user=server.user, password=server.password(), dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        raise PostgresError(f"cannot log in to PostgreSQL at {server.host}:{server.port}: "
                            f"{' '.join(str(exc).split())}") from None
    conn.autocommit = True
    return closing(conn)


def _prepare_root(server: PostgresServer) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    account = _server_account()
    if account is None:
        return
    os.chown(server.root, account.pw_uid, account.pw_gid)
    os.chmod(server.root, 0o700)
    reach = subprocess.run(["runuser", "-u", SERVER_OS_USER, "--", "test", "-w", str(server.root)],
                           capture_output=True)
    if reach.returncode != 0:
        raise PostgresError(f"the {SERVER_OS_USER!r} system user cannot write to {server.root} (a parent folder is "
                            f"closed to it); choose a folder it can reach (TWEETSENT_POSTGRES_DIR)")


def _initdb(server: PostgresServer) -> None:
    password = secrets.token_urlsafe(24)
    pwfile = server.root / ".initdb-password"
    _write_private(pwfile, password + "\n")
    account = _server_account()
    if account is not None:
        os.chown(pwfile, account.pw_uid, account.pw_gid)
    try:
        done = _run_as_server([binary("initdb", server.bin_dir), "-D", str(server.data_dir), "-U", server.user,
                               f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C"],
                              server, timeout_s=120)
    finally:
        pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        raise PostgresError(f"initdb failed in {server.data_dir}: {_last_lines(done.stdout + done.stderr)}")
    with (server.data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n# tweetsent: TCP on 127.0.0.1 only, no Unix socket\n"
                   "listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
    _write_private(server.password_file, f"{server.host}:*:*:{server.user}:{password}\n")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise PostgresError(f"running as root, but there is no {SERVER_OS_USER!r} system user to run PostgreSQL as "
                            f"(PostgreSQL refuses root); install PostgreSQL's package or run as another user") from None


def _run_as_server(args: list[str], server: PostgresServer, timeout_s: float) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", SERVER_OS_USER, "--"] if _server_account() is not None else []
    try:
        return subprocess.run(prefix + args, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, cwd=server.root)
    except subprocess.TimeoutExpired:
        raise PostgresError(f"{Path(args[0]).name} {args[1]} in {server.data_dir} took over {timeout_s:g} s; "
                            f"{_log_tail(server)}") from None


def _postmaster(server: PostgresServer) -> tuple[int | None, int | None]:
    """pid and port from postmaster.pid (lines 1 and 4), or (None, None) when there is none."""
    try:
        lines = (server.data_dir / "postmaster.pid").read_text().splitlines()
        return int(lines[0]), int(lines[3])
    except (FileNotFoundError, IndexError, ValueError):
        return None, None


def _wait_until_answering(server: PostgresServer, port: int, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not answers(server.host, port):
        if time.monotonic() > deadline:
            raise PostgresError(f"PostgreSQL did not answer at {server.host}:{port} within {wait_s:g} s\n"
                                f"{_log_tail(server)}")
        time.sleep(0.2)


def _log_tail(server: PostgresServer, lines: int = 10) -> str:
    try:
        tail = server.log_file.read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"(no log at {server.log_file})"
    return f"end of {server.log_file}:\n" + "\n".join(tail)


def _last_lines(text: str, lines: int = 3) -> str:
    return " ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def _version_key(path: str) -> int:
    match = re.search(r"/postgresql/(\d+)/", path)
    return int(match.group(1)) if match else 0
