"""Out-of-domain check of a trained stack on Sentiment140 (2009, two classes) and airline tweets, against VADER.

Only tweets the stack never trained on count: rows whose hash is in the stack folder's
training_hashes.json (its folds, its final model, its base, its stacker rows) are dropped, since a recipe may train
on some rows of these sources. On Sentiment140, recall is over the two classes present and a
neutral prediction counts as a miss. Run from the repo root:

    nice -n 19 .venv/bin/python benchmarks/stack_transfer.py --stack data/models/minilm-xfit-stack --tweets 2000
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import macro_recall, other_source_records, run_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, type=Path)
    parser.add_argument("--tweets", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--finetuned", type=Path, help="also a fine-tuned encoder folder (stage 1), alone")
    args = parser.parse_args(argv)
    import torch

    from tweetsent_assets.lib.ingest.text_cleaning import clean_text
    from tweetsent_assets.lib.ml.models.loader import load_model
    from tweetsent_assets.lib.ml.models.types import ModelSpec
    from tweetsent_assets.lib.ml.stats import bootstrap_interval

    torch.set_num_threads(args.threads)
    models = {"vader": ModelSpec(kind="vader", model=None, name="vader"),
              "stack": ModelSpec(kind="stack", model=str(args.stack), name="stack"),
              "stack int8": ModelSpec(kind="stack", model=str(args.stack), name="stack", quantize=True)}
    if args.finetuned:
        models["finetuned"] = ModelSpec(kind="hf", model=str(args.finetuned), name="finetuned", max_length=64)
    for set_name, (texts, truth) in unseen_sets(args.stack, args.tweets).items():
        classes = len(set(truth))
        print(f"{len(texts)} {set_name} tweets unseen by the stack")
        for name, spec in models.items():
            started = time.perf_counter()
            inputs = [clean_text(t) for t in texts] if spec.kind == "hf" else texts  # as model_evaluations does
            predicted = load_model(spec).predict(inputs).labels
            seconds = time.perf_counter() - started
            low, high = (3 / classes * bound for bound in bootstrap_interval(truth, predicted))  # 3-class mean
            neutral = predicted.count("neutral") / len(predicted)
            print(f"  {name:<11} macro recall ({classes} classes) {macro_recall(truth, predicted):.3f} "
                  f"[{low:.3f}, {high:.3f}], predicted neutral {neutral:.1%}, {len(texts) / seconds:.0f} tweets/s")
    return 0


def unseen_sets(stack: Path, tweets: int) -> dict[str, tuple[list[str], list[str]]]:
    """Up to `tweets` labeled Sentiment140 (two classes) and airline tweets, each, that the stack never trained on."""
    from tweetsent_assets.lib.ml.normalise import text_hash

    seen = set().union(*map(set, json.loads((stack / "training_hashes.json").read_text()).values()))
    s140, airline = other_source_records()
    sets = {"Sentiment140": [r for r in s140 if r["sentiment"] in ("negative", "positive")],
            "airline": [r for r in airline if r["sentiment"]]}
    out = {}
    for set_name, rows in sets.items():
        unseen = [r for r in rows if text_hash(r["text"]) not in seen]
        rows = random.Random(0).sample(unseen, min(tweets, len(unseen)))
        out[set_name] = ([r["text"] for r in rows], [r["sentiment"] for r in rows])
    return out


if __name__ == "__main__":
    run_main(main)
