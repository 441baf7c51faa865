"""Stacker decision rules (class-balanced against logit adjustment) and fold-model ensembles, on one cross-fit run.

Reads what `finetune_crossfit.py --output DIR [--keep-folds]` left: oof-transformer.npz (out-of-fold
encoder probabilities), stack/ (the final encoder) and fold-<k>/ (the fold models). Prints, per
decision rule, out-of-fold macro recall on TweetEval val with its bootstrap 95% interval, and macro
recall on Sentiment140 and airline tweets that no model of the run trained on. With fold models it
also scores those tweets with the fold ensemble (the mean of the fold encoders' probabilities) and
times one encoder against the ensemble (each encoder is loaded once, before the timing). Run from the
repo root:

    nice -n 19 .venv/bin/python benchmarks/stack_variants.py --run /tmp/xfit --threads 2
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import macro_recall, run_main, shared_data_dir  # noqa: E402
from stack_transfer import unseen_sets  # noqa: E402

RULES = {"balanced": None, "tau 0": 0.0, "tau 0.5": 0.5, "tau 1": 1.0, "tau oof": "oof"}
INPUTS = ["transformer", "vader"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="finetune_crossfit.py's --output folder")
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args(argv)
    import torch

    from tweetsent_assets.lib.ingest.sources import read_tweeteval
    from tweetsent_assets.lib.ml.models.labels import LABELS
    from tweetsent_assets.lib.ml.normalise import normalise_tweet
    from tweetsent_assets.lib.ml.stacker import features, fit_stacker, out_of_fold, vader_scores
    from tweetsent_assets.lib.ml.stats import bootstrap_interval, metric_value

    torch.set_num_threads(args.threads)
    saved = np.load(args.run / "oof-transformer.npz")
    labels = [str(label) for label in saved["labels"]]
    records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))[:len(labels)]
    if [r["sentiment"] for r in records] != labels:
        raise SystemExit(f"{args.run}: its labels are not the first {len(labels)} TweetEval val tweets")
    x = features(INPUTS, saved["oof"], vader_scores([normalise_tweet(r["text"]) for r in records]))
    stackers = {}
    print(f"{'rule':<10} {'OOF val macro recall':>21} {'95% CI':>15} {'fitted tau':>10}")
    for name, tau in RULES.items():
        probs, _ = out_of_fold(INPUTS, x, labels, saved["folds"], tau=tau)
        predicted = [LABELS[i] for i in probs.argmax(axis=1)]
        low, high = bootstrap_interval(labels, predicted)
        stackers[name] = fit_stacker(INPUTS, x, labels, tau=tau)
        print(f"{name:<10} {metric_value(labels, predicted):>21.3f} [{low:.3f}, {high:.3f}] "
              f"{stackers[name].tau if stackers[name].tau is not None else '-':>10}")
    folders = {"final": [args.run / "stack" / "encoder"],
               "fold ensemble": sorted(p for p in args.run.glob("fold-*") if p.is_dir())}
    encoders = {name: [_encoder(folder, args.max_length) for folder in group] for name, group in folders.items()}
    for set_name, (texts, truth) in unseen_sets(args.run / "stack", args.tweets).items():
        normalised = [normalise_tweet(t) for t in texts]
        vader = vader_scores(normalised)
        print(f"\n{len(texts)} {set_name} tweets unseen by every model of the run")
        for encoder_name, models in encoders.items():
            if not models:
                continue
            started = time.perf_counter()
            probs = np.mean([model.predict(normalised).probabilities for model in models], axis=0)
            rate = len(texts) / (time.perf_counter() - started)
            scores = {name: macro_recall(truth, [LABELS[i] for i in stacker.predict_proba(
                features(INPUTS, probs, vader)).argmax(axis=1)]) for name, stacker in stackers.items()}
            print(f"  {encoder_name:<14} ({len(models)} encoder(s), {rate:.0f} tweets/s) "
                  + "  ".join(f"{name} {value:.3f}" for name, value in scores.items()))
    return 0


def _encoder(folder: Path, max_length: int):
    from tweetsent_assets.lib.ml.models.hf import HFSentimentModel
    from tweetsent_assets.lib.ml.models.types import ModelSpec

    return HFSentimentModel.load(ModelSpec(kind="hf", model=str(folder), name=folder.name, max_length=max_length))


if __name__ == "__main__":
    run_main(main)
