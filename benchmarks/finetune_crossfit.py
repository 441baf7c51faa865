"""Cross-fitted MiniLM fine-tune on the 2,000 TweetEval validation tweets, with and without a VADER stacker.

Every figure is out-of-fold: each tweet is scored by a fold model (and a fold stacker) that never
saw it. Prints macro recall with a bootstrap 95% interval per variant, training seconds, and the
shipped stack's tweets/s. Run from the repo root (optionally after a stage-1 fine-tune, --base):

    nice -n 19 .venv/bin/python benchmarks/finetune_crossfit.py --folds 5 --epochs 3 --threads 2
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tweetsent_assets.lib.ingest.sources import read_tweeteval
from tweetsent_assets.lib.ingest.text_cleaning import clean_text
from tweetsent_assets.lib.ml.crossfit import CrossfitConfig, crossfit
from tweetsent_assets.lib.ml.models.labels import LABELS
from tweetsent_assets.lib.ml.models.loader import load_model
from tweetsent_assets.lib.ml.models.types import ModelSpec
from tweetsent_assets.lib.ml.normalise import normalise_tweet
from tweetsent_assets.lib.ml.stack_folder import write_stack_folder
from tweetsent_assets.lib.ml.stacker import features, out_of_fold, vader_scores
from tweetsent_assets.lib.ml.stats import bootstrap_interval, metric_value

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import other_source_records, run_main, shared_data_dir  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="use the first N TweetEval tweets only")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base", default=None, help="stage-1 model folder; default: the packaged MiniLM")
    parser.add_argument("--base-hashes", type=Path, default=None,
                        help="JSON list of the hashes of texts the --base model trained on (kept as its provenance)")
    parser.add_argument("--output", type=Path, default=None, help="keep the stack folder here")
    parser.add_argument("--json", type=Path, default=None, help="append the figures as one JSON line")
    parser.add_argument("--oof-only", action="store_true", help="skip the final model (out-of-fold figures only)")
    parser.add_argument("--stage1", default=None,
                        help="a stage-1 model folder (never trained on TweetEval): also stack its log-probabilities")
    parser.add_argument("--extra-rows", type=int, default=0,
                        help="Sentiment140 and airline rows (half each) that join every fold's training")
    parser.add_argument("--extra-weight", type=float, default=0.5, help="loss weight of the --extra-rows")
    parser.add_argument("--loss-tau", type=float, default=None,
                        help="logit-adjusted loss with this tau instead of class weights")
    parser.add_argument("--self-train", type=int, default=0,
                        help="self-training: this many unlabeled Sentiment140 and airline texts (not --extra-rows)")
    parser.add_argument("--pseudo-threshold", type=float, default=0.9)
    parser.add_argument("--pseudo-weight", type=float, default=0.5)
    parser.add_argument("--keep-folds", action="store_true",
                        help="keep each fold model under --output (for benchmarks/fold_ensemble.py)")
    parser.add_argument("--frozen", action="store_true",
                        help="also the issue's floor: frozen MiniLM mean-pooled embeddings + VADER, balanced LR")
    return parser.parse_args(argv)


def row(name: str, truth: list[str], probs: np.ndarray) -> dict:
    predicted = [LABELS[i] for i in probs.argmax(axis=1)]
    low, high = bootstrap_interval(truth, predicted)
    return {"variant": name, "macro_recall": metric_value(truth, predicted), "ci_low": low, "ci_high": high,
            "accuracy": metric_value(truth, predicted, "accuracy")}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))[:args.limit]
    texts, truth = [r["text"] for r in records], [r["sentiment"] for r in records]
    config = CrossfitConfig(folds=args.folds, epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
                            max_length=args.max_length, seed=args.seed, torch_threads=args.threads,
                            progress_every_steps=50, loss_tau=args.loss_tau,
                            pseudo_threshold=args.pseudo_threshold, pseudo_weight=args.pseudo_weight)
    work = Path(tempfile.mkdtemp(prefix="xfit-bench-")) if args.output is None else args.output
    extra_texts, extra_labels, extra_polar = other_sources(args.extra_rows, args.seed)
    unlabeled = unlabeled_texts(args.self_train, args.seed, set(extra_texts))
    result = crossfit(texts, truth, args.base, config, work, progress=lambda m: print(m, flush=True),
                      train_final=not args.oof_only, extra_texts=extra_texts, extra_labels=extra_labels,
                      extra_polar=extra_polar, extra_weights=[args.extra_weight] * len(extra_texts),
                      keep_fold_models=args.keep_folds, unlabeled_texts=unlabeled)
    work.mkdir(parents=True, exist_ok=True)
    np.savez(work / "oof-transformer.npz", oof=result.oof, oof_int8=result.oof_int8, folds=np.array(result.folds),
             labels=np.array(result.labels))
    vader = vader_scores([normalise_tweet(t) for t in texts])
    rows = [row("vader (rule)", truth, _vader_rule(vader)), row("minilm-xfit argmax", truth, result.oof),
            row("minilm-xfit argmax int8", truth, result.oof_int8)]
    for inputs in (["transformer"], ["vader"], ["transformer", "vader"]):
        x = features(inputs, result.oof, vader)
        extra = {"int8": features(inputs, result.oof_int8, vader)} if "transformer" in inputs else {}
        probs, other = out_of_fold(inputs, x, truth, result.folds, extra)
        rows.append(row(f"LR({'+'.join(inputs)})", truth, probs))
        if "int8" in other:
            rows.append(row(f"LR({'+'.join(inputs)}) int8", truth, other["int8"]))
    if args.stage1:
        stage1 = load_model(ModelSpec(kind="hf", model=args.stage1, name="stage1", max_length=args.max_length))
        log_stage1 = np.log(np.clip(stage1.predict([clean_text(t) for t in texts]).probabilities, 1e-4, 1))
        for inputs in (["transformer", "vader"], ["vader"]):
            x = np.hstack([features(inputs, result.oof, vader), log_stage1])
            probs, _ = out_of_fold(inputs, x, truth, result.folds)
            rows.append(row(f"LR({'+'.join(inputs)}+stage1)", truth, probs))
    if args.frozen:
        probs, _ = out_of_fold(["vader"], np.hstack([_embeddings(texts, args.max_length), vader]), truth, result.folds)
        rows.append(row("frozen MiniLM emb + VADER, LR", truth, probs))
    base_hashes = json.loads(args.base_hashes.read_text()) if args.base_hashes else []
    tweets_per_s = (float("nan") if args.oof_only
                    else _stack_speed(result, config, texts, vader, work / "stack", base_hashes))
    print(f"\nrecipe {json.dumps(result.recipe(config))} base={args.base or 'minilm'}")
    print(f"training {result.seconds:.0f} s on {args.threads} threads (folds {[round(s) for s in result.fold_seconds]})"
          f"; shipped stack {tweets_per_s:.0f} tweets/s (1 process, {args.threads} threads)")
    print(f"{'variant':<32} {'macro_rec':>9} {'95% CI':>15} {'accuracy':>8}")
    for r in rows:
        print(f"{r['variant']:<32} {r['macro_recall']:>9.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] {r['accuracy']:>8.3f}")
    if args.json:
        with args.json.open("a") as handle:
            handle.write(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows,
                                     "training_s": result.seconds, "tweets_per_s": tweets_per_s}) + "\n")
    return 0


def other_sources(rows: int, seed: int) -> tuple[list[str], list[str], list[bool]]:
    """`rows` labeled rows, half Sentiment140 (two-class: their loss ignores neutral) and half airline, cleaned."""
    import random

    if not rows:
        return [], [], []
    rng = random.Random(seed)
    s140, airline = other_source_records()
    picked = ([(r, True) for r in rng.sample(s140, rows // 2)]
              + [(r, False) for r in rng.sample(airline, rows - rows // 2)])
    return [clean_text(r["text"]) for r, _ in picked], [r["sentiment"] for r, _ in picked], [p for _, p in picked]


def unlabeled_texts(rows: int, seed: int, labeled: set[str]) -> list[str]:
    """`rows` cleaned Sentiment140 and airline texts (half each), without their labels, none of them in `labeled`."""
    import random

    if not rows:
        return []
    rng = random.Random(seed + 1)
    pools = [[t for t in (clean_text(r["text"]) for r in records) if t not in labeled]
             for records in other_source_records()]
    return rng.sample(pools[0], rows // 2) + rng.sample(pools[1], rows - rows // 2)


def _stack_speed(result, config: CrossfitConfig, texts: list[str], vader: np.ndarray, folder: Path,
                 base_hashes: list[str]) -> float:
    """Write the shipped stack folder and time it on every text (one process, after a warm-up)."""
    written = write_stack_folder(result, config, ["transformer", "vader"], texts, vader, folder, base_hashes)
    model = load_model(ModelSpec(kind="stack", model=str(written), name="stack"))
    model.predict(texts[:64])
    began = time.perf_counter()
    model.predict(texts)
    return len(texts) / (time.perf_counter() - began)


def _embeddings(texts: list[str], max_length: int) -> np.ndarray:
    """Mean-pooled last hidden states of the packaged (not fine-tuned) MiniLM over normalised texts."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tweetsent_assets.lib.ml.finetune import default_base_model

    tokenizer, model = AutoTokenizer.from_pretrained(default_base_model()), AutoModel.from_pretrained(
        default_base_model()).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer([normalise_tweet(t) for t in texts[start:start + 64]], padding=True, truncation=True,
                              max_length=max_length, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.vstack(out)


def _vader_rule(vader: np.ndarray) -> np.ndarray:
    compound = vader[:, 3]
    probs = np.zeros((len(compound), 3))
    probs[np.arange(len(compound)), np.where(compound >= 0.05, 2, np.where(compound <= -0.05, 0, 1))] = 1
    return probs


if __name__ == "__main__":
    run_main(main)
