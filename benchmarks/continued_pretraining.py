"""Continued pretraining of the packaged MiniLM on unlabeled tweet texts (masked-language modelling).

The texts are Sentiment140 and airline tweets without their labels, cleaned and normalised as
training normalises them (`lib/ml/pretrain.py`: a fresh MLM head, since all-MiniLM-L6-v2 ships
none). Writes the adapted encoder to --output and its texts' hashes to
--output/pretrain_hashes.json, so the transfer benchmarks can skip those tweets. Then:

    nice -n 19 .venv/bin/python benchmarks/continued_pretraining.py --texts 16000 --output /tmp/dapt
    nice -n 19 .venv/bin/python benchmarks/finetune_crossfit.py --base /tmp/dapt \
        --base-hashes /tmp/dapt/pretrain_hashes.json ...
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import other_source_records, run_main  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=16000, help="unlabeled texts, half Sentiment140, half airline")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv)
    from tweetsent_assets.lib.ingest.text_cleaning import clean_text
    from tweetsent_assets.lib.ml.finetune import default_base_model
    from tweetsent_assets.lib.ml.pretrain import PretrainConfig, continue_pretraining

    rng = random.Random(args.seed + 7)
    sources = [[clean_text(r["text"]) for r in records] for records in other_source_records()]
    texts = rng.sample(sources[0], args.texts // 2) + rng.sample(sources[1], args.texts - args.texts // 2)
    config = PretrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                            max_length=args.max_length, seed=args.seed, torch_threads=args.threads)
    result = continue_pretraining(texts, default_base_model(), config, args.output,
                                  progress=lambda m: print(m, flush=True))
    (args.output / "pretrain_hashes.json").write_text(json.dumps(result.hashes))
    print(f"continued pretraining: {len(texts)} texts x {args.epochs} epoch(s), {result.steps} steps, "
          f"{result.seconds:.0f} s on {args.threads} threads; MLM loss first 50 steps {result.first_loss:.3f}, "
          f"last 50 {result.last_loss:.3f}")
    return 0


if __name__ == "__main__":
    run_main(main)
