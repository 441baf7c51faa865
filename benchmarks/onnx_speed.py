"""Encoder speed: PyTorch fp32 and int8 against ONNX Runtime fp32 and int8, on the same batches of tweets.

ONNX Runtime is not a project dependency: install it beside the venv to run this, e.g.
`pip install --target /tmp/ort onnxruntime onnx` and `PYTHONPATH=/tmp/ort`. Every variant scores the
same normalised TweetEval tweets in token-length-sorted, dynamically padded batches (as
`HFSentimentModel.predict` does). Prints the median tweets/s over rounds, the ratio to PyTorch fp32,
and how often each variant's label agrees with PyTorch fp32. Run from the repo root:

    PYTHONPATH=/tmp/ort nice -n 19 .venv/bin/python benchmarks/onnx_speed.py \
        --encoder data/models/minilm-xfit-stack/encoder
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import run_main, shared_data_dir  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", required=True, type=Path, help="a fine-tuned encoder folder (save_pretrained)")
    parser.add_argument("--tweets", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise SystemExit("onnxruntime is not installed: pip install --target /tmp/ort onnxruntime onnx, "
                         "then PYTHONPATH=/tmp/ort") from None
    import torch

    from tweetsent_assets.lib.ingest.sources import read_tweeteval
    from tweetsent_assets.lib.ml.models.hf import HFSentimentModel
    from tweetsent_assets.lib.ml.models.types import ModelSpec
    from tweetsent_assets.lib.ml.normalise import normalise_tweet

    torch.set_num_threads(args.threads)
    records = list(read_tweeteval(shared_data_dir() / "tweeteval_sentiment", "val"))[:args.tweets]
    texts = [normalise_tweet(r["text"]) for r in records]
    spec = ModelSpec(kind="hf", model=str(args.encoder), name="encoder", max_length=args.max_length)
    fp32 = HFSentimentModel.load(spec)
    work = Path(tempfile.mkdtemp(prefix="onnx-speed-"))
    exported = _export(fp32, work / "encoder.onnx")
    quantize_dynamic(str(exported), str(work / "encoder-int8.onnx"), weight_type=QuantType.QInt8)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    int8 = HFSentimentModel.load(replace(spec, quantize=True))
    variants = {
        "torch fp32": lambda batch: fp32.predict(batch).probabilities,
        "torch int8": lambda batch: int8.predict(batch).probabilities,
        "onnx fp32": _ort_predict(fp32, onnxruntime.InferenceSession(str(exported), options)),
        "onnx int8": _ort_predict(fp32, onnxruntime.InferenceSession(str(work / "encoder-int8.onnx"), options)),
    }
    reference = fp32.predict(texts).probabilities.argmax(axis=1)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    agreement = {}
    for _ in range(args.rounds):
        for name, predict in variants.items():
            predict(texts[:64])
            began = time.perf_counter()
            probs = predict(texts)
            rates[name].append(len(texts) / (time.perf_counter() - began))
            agreement[name] = float((np.asarray(probs).argmax(axis=1) == reference).mean())
    base = statistics.median(rates["torch fp32"])
    print(f"{len(texts)} tweets, {args.threads} threads, {args.rounds} rounds, onnxruntime {onnxruntime.__version__}")
    for name, values in rates.items():
        print(f"  {name:<11} {statistics.median(values):>6.0f} tweets/s  x{statistics.median(values) / base:.2f}  "
              f"labels equal to torch fp32 {agreement[name]:.1%}")
    return 0


def _export(model, path: Path) -> Path:
    """The encoder as ONNX with dynamic batch and sequence axes."""
    import torch

    sample = model.tokenizer(["a tweet to trace", "another"], padding=True, return_tensors="pt")
    torch.onnx.export(model.model, (sample["input_ids"], sample["attention_mask"]), str(path),
                      input_names=["input_ids", "attention_mask"], output_names=["logits"],
                      dynamic_axes={name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask")}
                      | {"logits": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def _ort_predict(model, session):
    """A predict(texts) -> probabilities over `session`, batching and padding exactly as `model.predict` does."""

    def predict(texts: list[str]) -> np.ndarray:
        ids = model.tokenizer(texts, truncation=True, max_length=model._spec.max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out = np.zeros((len(texts), 3))
        for start in range(0, len(order), model._spec.batch_size):
            rows = order[start:start + model._spec.batch_size]
            input_ids, attention_mask = model._pad([ids[i] for i in rows])
            feed = {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()}
            logits = session.run(["logits"], feed)[0]
            weights = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[np.ix_(rows, model._targets)] = weights / weights.sum(axis=1, keepdims=True)
        return out

    return predict


if __name__ == "__main__":
    run_main(main)
