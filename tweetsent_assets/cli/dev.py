"""`tweetsent dev`: the Dagster UI (`dg dev`) beside a Spark Connect server, all of it stopped by one Ctrl-C or SIGTERM.

`dg dev` runs in a process group of its own, so a signal reaches it once, from here: it gets SIGINT and a few
seconds to shut its webserver, daemon and code servers down, and then whatever is left of its group is killed.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, TypeVar

from .. import settings
from ..lib.lake import connect_server
from ..lib.lake.services import stop_group
from .console import Console

GRACE_S = 5.0
PROJECT_ROOT = Path(__file__).resolve().parents[2]
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
T = TypeVar("T")


def add_dev_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dev", help="the Dagster UI and daemon with a Spark Connect server; Ctrl-C stops all of it",
        description="Starts a Spark Connect server (unless --no-spark), then `dg dev` attached to it. Ctrl-C or "
                    "SIGTERM stops the UI, the daemon, the code servers, their runs and the server this command "
                    f"started, within {GRACE_S + 5:.0f} s.")
    parser.add_argument("--host", default="127.0.0.1", help="the UI's address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="the UI's port (default 3000)")
    parser.add_argument("--spark-port", type=int, default=settings.SPARK_CONNECT_PORT,
                        help="the Connect server's port (default $TWEETSENT_SPARK_CONNECT_PORT or 15002)")
    parser.add_argument("--no-spark", action="store_true",
                        help="start no Connect server: runs use $TWEETSENT_SPARK_MASTER as it is (the topology's)")
    parser.set_defaults(func=run_dev, redirect=False)


def run_dev(args: argparse.Namespace, console: Console) -> int:
    """Start the server and the UI, wait for a stop signal or the UI's own exit, then stop both."""
    stop = threading.Event()
    caught: list[int] = []
    processes: dict[str, subprocess.Popen | None] = {"ui": None}

    def on_signal(signum, frame) -> None:
        caught.append(signum)
        stop.set()
        if processes["ui"] is None:
            raise KeyboardInterrupt  # still starting: leave the Connect server's wait at once

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    server = None if args.no_spark else _connect_server(args.spark_port)
    started_here = False
    try:
        env = dict(os.environ, VIRTUAL_ENV=str(Path(sys.executable).parent.parent),
                   PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        if server is not None:
            started_here = not connect_server.status(server)["running"]
            if started_here:
                connect_server.start(server)
            env["TWEETSENT_SPARK_MASTER"] = server.url
            print(f"tweetsent dev: Spark Connect at {server.url}" + ("" if started_here else " (already running)"),
                  flush=True)
        processes["ui"] = subprocess.Popen(dev_command(args.host, args.port), cwd=PROJECT_ROOT, env=env,
                                           stdin=subprocess.DEVNULL, start_new_session=True)
        print(f"tweetsent dev: UI at http://{args.host}:{args.port} (pid {processes['ui'].pid}); Ctrl-C stops it",
              flush=True)
        while not stop.is_set() and processes["ui"].poll() is None:
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        code = stop_ignoring_signals(previous, lambda: _stop_all(processes["ui"], server if started_here else None))
    return exit_status("dev", caught, code)


def stop_ignoring_signals(previous: dict, stop: Callable[[], T]) -> T:
    """Run `stop` with STOP_SIGNALS ignored (a second Ctrl-C must not cut it short), then restore `previous`."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    try:
        return stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_status(command: str, caught: list[int], code: int) -> int:
    """128 + the first stop signal caught (saying so), else `code`."""
    if caught:
        print(f"tweetsent {command}: stopped on {signal.Signals(caught[0]).name}", flush=True)
        return 128 + caught[0]
    return code


def _stop_all(ui: subprocess.Popen | None, server: connect_server.ConnectServer | None) -> int:
    """Stop the UI's group and the Connect server (if this command started it) side by side; the UI's exit code."""
    stopper = (threading.Thread(target=connect_server.stop, args=(server, GRACE_S + 3), daemon=True)
               if server is not None else None)
    if stopper:
        stopper.start()
    code = stop_group(ui, GRACE_S) if ui is not None else 0
    if stopper:
        stopper.join(GRACE_S + 5)
    return code


def dev_command(host: str, port: int) -> list[str]:
    """`dg dev` from this interpreter's environment; it reads the project from pyproject.toml's [tool.dg].

    The project has no component YAML, so dg's YAML check (and the preview warnings it prints) is skipped.
    """
    return [str(Path(sys.executable).parent / "dg"), "dev", "--no-check-yaml", "--host", host, "--port", str(port)]


def _connect_server(port: int) -> connect_server.ConnectServer:
    """The Connect server this command runs on `port`; it stops by itself if this process dies (owner_pid)."""
    return connect_server.ConnectServer(state_dir=Path(settings.SPARK_CONNECT_DIR).resolve(), port=port,
                                        master=settings.SPARK_CONNECT_MASTER, owner_pid=os.getpid())
