"""The `tweetsent` command line; each subcommand registers itself through COMMANDS."""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from typing import Callable, NoReturn, Sequence

from ..lib.ingest.object_store import open_store
from ..lib.ingest.replay import replay
from ..lib.ingest.sources import read_source
from .cluster import add_cluster_command
from .console import Console, session
from .demo import add_demo_command
from .dev import add_dev_command
from .migrate import add_migrate_command
from .postgres import add_postgres_command
from .serve import add_serve_command
from .spark import add_spark_command
from .train import add_train_command

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input from the user: reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (no usage dump) and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _whole_number_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type accepting whole numbers >= minimum, with an error naming the bad value."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


_positive_int = _whole_number_at_least(1)
_non_negative_int = _whole_number_at_least(0)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0 = as fast as possible), got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0 = as fast as possible), got {text!r}")
    return value


def add_replay_command(subparsers: argparse._SubParsersAction) -> None:
    """`tweetsent replay SOURCE --to URL ...`: land a labeled data set as paced JSON-lines objects."""
    parser = subparsers.add_parser(
        "replay", help="replay labeled tweets into a landing folder or S3 prefix",
        description="Write tweets from SOURCE as JSON-lines objects to --to, paced like a live feed. "
                    "SOURCE is 'demo', a TweetEval folder, a Sentiment140/airline CSV or a JSONL file.")
    parser.add_argument("source", metavar="SOURCE")
    parser.add_argument("--to", required=True, metavar="URL", help="s3://bucket/prefix or a local folder")
    parser.add_argument("--objects-per-second", required=True, type=_rate, metavar="R",
                        help="objects written per second; 0 = as fast as possible")
    parser.add_argument("--tweets-per-object", required=True, type=_positive_int, metavar="K")
    parser.add_argument("--max-objects", type=_non_negative_int, metavar="N", help="stop after N objects")
    parser.add_argument("--limit", type=_non_negative_int, metavar="N", help="read at most N tweets")
    parser.add_argument("--key-prefix", default="replay", metavar="PREFIX",
                        help="key prefix inside the destination (default: replay)")
    parser.add_argument("--endpoint-url", metavar="URL",
                        help="S3 endpoint (MinIO, moto); default $AWS_ENDPOINT_URL")
    parser.add_argument("--region", metavar="R", help="default $AWS_REGION or $AWS_DEFAULT_REGION")
    parser.add_argument("-v", "--verbose", action="store_true", help="print a line per object written")
    parser.set_defaults(func=run_replay, redirect=False)


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [add_replay_command, add_demo_command, add_dev_command,
                                                             add_spark_command, add_postgres_command,
                                                             add_cluster_command, add_serve_command, add_train_command,
                                                             add_migrate_command]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per entry in COMMANDS; each sets `func=handler(args)`."""
    parser = _Parser(prog="tweetsent", description="Tweet sentiment lakehouse tools.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_command in COMMANDS:
        add_command(subparsers)
    return parser


def run_replay(args: argparse.Namespace, console: Console) -> int:
    """Replay SOURCE into the destination (a progress line on a terminal) and print a summary line."""
    endpoint_url = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    try:
        records = read_source(args.source, limit=args.limit)
        store = open_store(args.to, endpoint_url=endpoint_url, region=region)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(_message(exc)) from None

    written = {"objects": 0, "tweets": 0}

    bar = {}

    def report(key: str, count: int) -> None:
        written["objects"] += 1
        written["tweets"] += count
        if args.verbose:
            console.line(f"{store.uri(key)}\t{count} tweets")
        elif bar.get("now"):
            bar["now"].advance()
        else:
            console.draw(f"replaying: {written['objects']} objects, {written['tweets']} tweets")

    started = time.monotonic()
    try:
        with console.progress("replay", args.max_objects) if args.max_objects else nullcontext() as bar["now"]:
            replay(records, store, tweets_per_object=args.tweets_per_object,
                   objects_per_second=args.objects_per_second, max_objects=args.max_objects,
                   key_prefix=args.key_prefix, on_object=report)
    except KeyboardInterrupt:
        console.warn(f"tweetsent replay: interrupted after {written['objects']} objects "
                     f"({written['tweets']} tweets) to {store.url}")
        return EXIT_INTERRUPTED
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(f"{_message(exc)} (after {written['objects']} objects)") from None
    console.line(f"replayed {written['objects']} objects, {written['tweets']} tweets to {store.url} "
                 f"in {time.monotonic() - started:.1f} s")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tweetsent` console script; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    with session(args.command, verbose=getattr(args, "verbose", False), redirect=args.redirect) as console:
        try:
            return args.func(args, console)
        except UsageError as exc:
            console.warn(f"tweetsent {args.command}: error: {exc}")
            return EXIT_USAGE
        except Exception as exc:
            if not _is_runtime_error(exc):
                if console.log_path is None:
                    raise
                logging.getLogger(__name__).exception("tweetsent %s crashed", args.command)
                console.warn(f"tweetsent {args.command}: crashed: {type(exc).__name__}: {_message(exc)} "
                             f"(traceback in {console.log_path})")
                return EXIT_RUNTIME
            console.warn(f"tweetsent {args.command}: failed: {_message(exc)}")
            return EXIT_RUNTIME


def _is_runtime_error(exc: Exception) -> bool:
    """Storage and network failures, reported without a traceback; anything else is a bug."""
    if isinstance(exc, OSError):
        return True
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        return False
    return isinstance(exc, (BotoCoreError, ClientError))


def _message(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
