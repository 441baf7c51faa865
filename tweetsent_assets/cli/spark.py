"""`tweetsent spark start|stop|restart|status`: the long-lived Spark Connect server that runs attach to."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .. import settings
from .console import Console


def add_spark_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "spark", help="start, stop or inspect the local Spark Connect server",
        description="Manages the Spark Connect server (with Delta, bound to 127.0.0.1) that runs attach to when "
                    "TWEETSENT_SPARK_MASTER=sc://127.0.0.1:PORT. A supervisor restarts it if it dies.")
    parser.add_argument("action", choices=["start", "stop", "restart", "status"])
    parser.add_argument("--port", type=int, default=settings.SPARK_CONNECT_PORT,
                        help="gRPC port (default $TWEETSENT_SPARK_CONNECT_PORT or 15002)")
    parser.add_argument("--master", default=settings.SPARK_CONNECT_MASTER,
                        help="the server's own Spark master (default $TWEETSENT_SPARK_CONNECT_MASTER or local[*])")
    parser.add_argument("--state-dir", default=settings.SPARK_CONNECT_DIR,
                        help="where its state, log and slot locks live (default $TWEETSENT_SPARK_CONNECT_DIR)")
    parser.add_argument("--wait", type=float, default=180.0, metavar="S", help="seconds to wait for it to answer")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    parser.set_defaults(func=run_spark, redirect=False)


def run_spark(args: argparse.Namespace, console: "Console") -> int:
    """Start, stop, restart or report on the server; prints plain lines (the console only times commands)."""
    from ..lib.lake import connect_server

    server = connect_server.ConnectServer(state_dir=Path(args.state_dir).resolve(), port=args.port, master=args.master)
    if args.action in ("stop", "restart"):
        stopped = connect_server.stop(server)
        print(f"stopped the Spark Connect server at {server.url}" if stopped
              else f"no Spark Connect server of this project was running at {server.url}")
        if args.action == "stop":
            return 0
    if args.action in ("start", "restart"):
        try:
            state = connect_server.start(server, wait_s=args.wait)
        except connect_server.ServerStartError as exc:
            print(f"tweetsent spark: {exc}")
            return 1
        print(f"Spark Connect server answering at {server.url} (pid {state['server_pid']}, master {state['master']}); "
              f"log {server.log_file}\nrun with TWEETSENT_SPARK_MASTER={server.url}")
        return 0
    state = connect_server.status(server)
    if args.json:
        print(json.dumps(state))
    else:
        print("\n".join(f"{key}: {value}" for key, value in state.items()))
    return 0 if state["running"] else 3
