"""`tweetsent postgres start|stop|status|env`: the local PostgreSQL server behind Dagster's instance and MLflow."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import settings
from .console import Console


def add_postgres_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "postgres", help="start, stop or inspect the local PostgreSQL server",
        description="Manages a PostgreSQL server (bound to 127.0.0.1, password in a libpq password file) with the "
                    "databases 'dagster' and 'mlflow', for cluster/dagster.yaml and MLFLOW_TRACKING_URI. "
                    "`env` prints the variables to export (eval \"$(tweetsent postgres env)\").")
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    parser.add_argument("--port", type=int, default=settings.POSTGRES_PORT,
                        help="TCP port on 127.0.0.1 (default $TWEETSENT_POSTGRES_PORT or 5433)")
    parser.add_argument("--dir", default=settings.POSTGRES_DIR,
                        help="the server's data, log and password file (default $TWEETSENT_POSTGRES_DIR or data/postgres)")
    parser.add_argument("--user", default=settings.POSTGRES_USER,
                        help="the database superuser (default $TWEETSENT_POSTGRES_USER or tweetsent)")
    parser.add_argument("--wait", type=float, default=60.0, metavar="S", help="seconds to wait for it to answer")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(func=run_postgres, redirect=False)


def run_postgres(args: argparse.Namespace, console: "Console") -> int:
    """Start, stop or report on the server; prints plain lines (the console only times commands)."""
    from ..lib.cluster import postgres

    server = postgres.PostgresServer(root=Path(args.dir).resolve(), port=args.port, user=args.user,
                                     bin_dir=Path(settings.POSTGRES_BIN) if settings.POSTGRES_BIN else None)
    if args.action == "env":
        print("\n".join(f"export {key}={value}" for key, value in server.environment().items()))
        return 0
    try:
        if args.action == "stop":
            stopped = postgres.stop(server, wait_s=args.wait)
            print(f"stopped PostgreSQL in {server.data_dir}" if stopped
                  else f"no PostgreSQL server was running in {server.data_dir}")
            return 0
        if args.action == "start":
            state = postgres.start(server, wait_s=args.wait)
            print(f"PostgreSQL answering at {state['address']} (pid {state['pid']}), databases "
                  f"{', '.join(postgres.DATABASES)}; log {state['log']}\n"
                  + "\n".join(f"export {key}={value}" for key, value in server.environment().items()))
            return 0
    except postgres.PostgresError as exc:
        print(f"tweetsent postgres: {exc}")
        return 1
    state = postgres.status(server)
    if args.json:
        print(json.dumps(state))
    else:
        print("\n".join(f"{key}: {value}" for key, value in state.items()))
    return 0 if state["running"] else 3
