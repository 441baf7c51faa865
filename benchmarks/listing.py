"""What an idle poll of the stream costs with many old objects in landing: a whole listing, or one from the last key.

For a local folder and for S3 (moto's server on 127.0.0.1), it lands `--objects` (`--s3-objects`)
old objects with lexically ordered keys (a UTC stamp first; in day folders, or in one folder with
`--flat`), then times, over `--repeats` polls each: an empty prefix, a whole listing, and an
idle `IncrementalListing.poll()` after its first, full one. Medians in ms; the last line is
`idle_poll_ratio_local=… idle_poll_ratio_s3=…`, each store's idle poll over its empty prefix's (a
local folder's empty prefix costs a few microseconds, so its ratio says less than its ms). Run:

    PYTHONPATH=. .venv/bin/python benchmarks/listing.py [--objects 100000 --s3-objects 20000]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import median, run_main, timed  # noqa: E402

from tweetsent_assets.lib.ingest.listing import IncrementalListing  # noqa: E402
from tweetsent_assets.lib.ingest.object_store import open_store  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000, help="old objects in the local folder")
    parser.add_argument("--s3-objects", type=int, default=20_000, help="old objects in the S3 prefix (0 skips S3)")
    parser.add_argument("--flat", action="store_true", help="every key in one folder instead of day folders")
    parser.add_argument("--repeats", type=int, default=7)
    return parser.parse_args(argv)


def old_keys(count: int, flat: bool) -> list[str]:
    """`count` keys a stamp apart, a year back from now: `<day>/<stamp>-<n>.jsonl` (or flat)."""
    start = datetime.now(timezone.utc) - timedelta(days=365)
    step = timedelta(days=365) / max(count, 1)
    keys = []
    for i in range(count):
        moment = start + i * step
        name = f"{moment.strftime('%Y%m%dT%H%M%SZ')}-{i:07d}.jsonl"
        keys.append(name if flat else f"{moment.strftime('%Y/%m/%d')}/{name}")
    return keys


def land(store, keys: list[str], threads: int) -> float:
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda key: store.put(key, b'{"id": "1", "text": "old"}\n'), keys))
    return time.perf_counter() - began


def timed_ms(fn, repeats: int) -> float:
    return median(timed(fn, repeats)) * 1000


def measure(name: str, store, empty, count: int, args) -> float:
    """Prints the store's figures; returns its idle poll over its empty prefix's."""
    keys = old_keys(count, args.flat)
    print(f"{name}: landed {count:,} objects in {land(store, keys, 1 if name == 'local' else 8):.0f} s", flush=True)
    listing = IncrementalListing(store, full_every_s=3600)
    assert len(listing.poll()) == count
    empty_ms = timed_ms(lambda: list(empty.list()), args.repeats)
    whole_ms = timed_ms(lambda: list(store.list()), args.repeats)
    idle_ms = timed_ms(lambda: listing.poll(), args.repeats)
    print(f"{name}: empty prefix {empty_ms:.2f} ms, whole listing {whole_ms:.1f} ms, idle poll from the last key "
          f"{idle_ms:.2f} ms ({whole_ms / idle_ms:.0f}x less than whole; {idle_ms / empty_ms:.2f}x the empty prefix)",
          flush=True)
    return idle_ms / empty_ms


def s3_stores():
    """A moto server on 127.0.0.1, a bucket, and its landing and empty prefixes."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="landing")
    return server, open_store("s3://landing/tweets/", endpoint), open_store("s3://landing/empty/", endpoint)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"load average at start {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    work = Path(tempfile.mkdtemp(prefix="tweetsent-bench-listing-"))
    ratios = {}
    try:
        (work / "empty").mkdir()
        ratios["local"] = measure("local", open_store(str(work / "landing")), open_store(str(work / "empty")),
                                  args.objects, args)
        if args.s3_objects:
            server, store, empty = s3_stores()
            try:
                ratios["s3"] = measure("s3", store, empty, args.s3_objects, args)
            finally:
                server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print(" ".join(f"idle_poll_ratio_{name}={ratio:.2f}" for name, ratio in ratios.items()))
    return 0


if __name__ == "__main__":
    run_main(main)
