"""Latency and throughput of `tweetsent serve`: one tweet per request (p50, p95) and 256-tweet requests (tweets/s).

Starts `tweetsent serve` on the registry's champion (default: the project's settings, i.e. what `make demo`
registered), sends TweetEval validation texts over one keep-alive connection, and stops the server. The
front's own cost is the difference to the same requests sent to the model server behind it. Run:

    .venv/bin/python benchmarks/serving.py --tracking-uri sqlite:////abs/path/data/mlflow.db
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO_ROOT, free_port, load_note, tweeteval  # noqa: E402


def latencies(port: int, bodies: list[bytes]) -> list[float]:
    """Seconds per request, each body POSTed in turn on one keep-alive connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    took = []
    for body in bodies:
        started = time.perf_counter()
        connection.request("POST", "/invocations", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        took.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"answer {response.status} on port {port}")
    connection.close()
    return took


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until_serving(port: int, process: subprocess.Popen, timeout_s: float) -> dict:
    """GET /version once the server answers it with 200 (the model server is up)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"tweetsent serve exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/version")
            response = connection.getresponse()
            if response.status == 200:
                return json.loads(response.read())
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"tweetsent serve did not answer within {timeout_s:.0f} s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", help="the MLflow registry (default: the project's settings)")
    parser.add_argument("--requests", type=int, default=300, help="one-tweet requests timed (default 300)")
    parser.add_argument("--batches", type=int, default=20, help="256-tweet requests timed (default 20)")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    print(f"start: {load_note()}", flush=True)
    texts, _ = tweeteval()
    port = free_port()
    command = [sys.executable, "-m", "tweetsent_assets.cli.main", "serve", "--port", str(port),
               "--max-batch", str(args.batch_size), "--log-dir", tempfile.mkdtemp(prefix="tweetsent-bench-serve-")]
    if args.tracking_uri:
        command += ["--tracking-uri", args.tracking_uri]
    started = time.monotonic()
    server = subprocess.Popen(command, cwd=REPO_ROOT, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
                              stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        version = wait_until_serving(port, server, timeout_s=300)
        print(f"serving version {version['version']} of {version['model']} after "
              f"{time.monotonic() - started:.1f} s", flush=True)
        backend_port = int(version["backend"].rsplit(":", 1)[1])
        singles = [json.dumps({"inputs": [texts[i % len(texts)]]}).encode() for i in range(args.requests)]
        latencies(port, singles[:20])
        front = latencies(port, singles)
        direct = latencies(backend_port, [json.dumps({"inputs": [t]}).encode() for t in texts[:args.requests]])
        print(f"one tweet per request ({args.requests} requests): p50 {percentile(front, 0.5) * 1000:.1f} ms, "
              f"p95 {percentile(front, 0.95) * 1000:.1f} ms; straight to the model server: "
              f"p50 {percentile(direct, 0.5) * 1000:.1f} ms, p95 {percentile(direct, 0.95) * 1000:.1f} ms", flush=True)
        batches = [json.dumps({"inputs": [texts[(b * args.batch_size + i) % len(texts)]
                                          for i in range(args.batch_size)]}).encode() for b in range(args.batches)]
        took = latencies(port, batches)
        print(f"{args.batch_size} tweets per request ({args.batches} requests): "
              f"{args.batch_size * len(took) / sum(took):.0f} tweets/s, "
              f"p50 {percentile(took, 0.5) * 1000:.0f} ms per request", flush=True)
    finally:
        os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=20)
    print(f"end: {load_note()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
