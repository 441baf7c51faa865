"""`tweetsent serve`: an HTTP scoring endpoint for the champion that follows the alias; Ctrl-C or SIGTERM stops all of it."""
from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from .. import settings
from .console import Console
from .dev import GRACE_S, STOP_SIGNALS, exit_status, stop_ignoring_signals


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="score tweets over HTTP with the champion, following the alias when it moves",
        description="Runs MLflow's scoring server (`mlflow models serve --env-manager local`) for "
                    "models:/tweet-sentiment@champion behind a front on --host:--port that checks requests, names "
                    "the version in every answer (X-Model-Version, model_version, GET /version) and, when the alias "
                    "moves, switches to a server for the new version without dropping requests. Ctrl-C or SIGTERM "
                    f"stops everything within {GRACE_S + 5:.0f} s.")
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=settings.SERVE_PORT,
                        help="the public port (default $TWEETSENT_SERVE_PORT or 5050)")
    parser.add_argument("--max-batch", type=int, default=settings.SERVE_MAX_BATCH, metavar="N",
                        help="tweets per request at most; more is answered 413 (default $TWEETSENT_SERVE_MAX_BATCH or 512)")
    parser.add_argument("--poll-s", type=float, default=settings.SERVE_POLL_S, metavar="S",
                        help="how often the alias is read (default $TWEETSENT_SERVE_POLL_S or 5)")
    parser.add_argument("--start-timeout-s", type=float, default=settings.SERVE_START_TIMEOUT_S, metavar="S",
                        help="how long a model server may take to answer (default $TWEETSENT_SERVE_START_TIMEOUT_S or 180)")
    parser.add_argument("--tracking-uri", default=settings.MLFLOW_TRACKING_URI, metavar="URI",
                        help="the MLflow registry (default $MLFLOW_TRACKING_URI or sqlite:///data/mlflow.db)")
    parser.add_argument("--alias", default="champion", help="the alias to follow (default champion)")
    parser.add_argument("--log-dir", default=settings.SERVE_LOG_DIR, metavar="DIR",
                        help="the model servers' logs (default $TWEETSENT_SERVE_LOG_DIR or data/serve)")
    parser.set_defaults(func=run_serve, redirect=False)


def run_serve(args: argparse.Namespace, console: Console) -> int:
    """Bind the front, start the current version's server, serve until a stop signal, then stop everything."""
    from ..lib.cluster.postgres import store_uri
    from ..lib.ml.registry import REGISTERED_MODEL
    from ..lib.ml.serving import AliasFollower, FollowerConfig, ServingError, Stopped
    from ..lib.ml.serving_front import SCORING_PATH, FrontServer

    if args.max_batch < 1 or args.poll_s <= 0:
        console.warn(f"tweetsent serve: error: --max-batch must be >= 1 and --poll-s > 0, "
                     f"got {args.max_batch} and {args.poll_s}")
        return 2
    sqlite_file = args.tracking_uri[len("sqlite:///"):] if args.tracking_uri.startswith("sqlite:///") else None
    if sqlite_file and not Path(sqlite_file).is_file():
        console.warn(f"tweetsent serve: no MLflow registry at {sqlite_file}: run `make demo` first, or pass --tracking-uri")
        return 1
    config = FollowerConfig(tracking_uri=store_uri(args.tracking_uri, settings.POSTGRES_CONNECT_TIMEOUT_S),
                            name=REGISTERED_MODEL, alias=args.alias, log_dir=Path(args.log_dir).resolve(),
                            poll_s=args.poll_s, start_timeout_s=args.start_timeout_s, stop_grace_s=GRACE_S)
    follower = AliasFollower(config, report=lambda message: print(f"tweetsent serve: {message}", flush=True))
    try:
        front = FrontServer((args.host, args.port), follower, args.max_batch)
    except OSError as exc:
        console.warn(f"tweetsent serve: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
        return 1
    caught: list[int] = []

    def on_signal(signum, frame) -> None:
        caught.append(signum)
        follower.request_stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    serving = threading.Thread(target=front.serve_forever, name="front", daemon=True)
    serving.start()
    code = 0
    try:
        backend = follower.start()
        print(f"tweetsent serve: version {backend.version} of {config.name}@{config.alias} at "
              f"{front.url}{SCORING_PATH} (model server pid {backend.process.pid}); Ctrl-C stops it", flush=True)
        while not follower.wait_stop(0.5):
            pass
    except Stopped:
        pass
    except ServingError as exc:
        console.warn(f"tweetsent serve: {exc}")
        code = 1
    finally:
        stop_ignoring_signals(previous, lambda: _stop(front, follower))
    return exit_status("serve", caught, code)


def _stop(front, follower) -> None:
    """Stop accepting requests, then stop the watcher and every model server."""
    front.shutdown()
    front.server_close()
    follower.close()
