"""Continued pretraining: masked-language modelling on unlabeled tweet texts, to adapt the encoder before fine-tuning.

The packaged MiniLM ships no MLM head, so a fresh one (its decoder tied to the word embeddings)
trains with the encoder at `head_lr_factor` times the learning rate, on the masked positions only.
The saved folder is the adapted encoder in the base model's own layout (its pooler kept), so the
fine-tune loads it exactly as it loads the base.
"""
from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from .finetune import torch_threads
from .normalise import normalise_tweet, text_hash

RESULT_FILE = "pretrain.json"


@dataclass
class PretrainConfig:
    """Masked-language-modelling settings (one epoch over 16,000 tweets took 193 s on 2 threads)."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 5e-5
    head_lr_factor: float = 10.0
    max_length: int = 64
    mlm_probability: float = 0.15
    seed: int = 0
    torch_threads: int | None = None
    progress_every_steps: int = 50

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not 0 < self.mlm_probability < 1:
            raise ValueError(f"epochs and batch_size must be >= 1 and mlm_probability in (0, 1), got {self}")


@dataclass
class PretrainResult:
    """Where the adapted encoder went, what it read, and the MLM loss at the start and the end."""

    output_dir: Path
    hashes: list[str]
    steps: int
    seconds: float
    first_loss: float
    last_loss: float


def continue_pretraining(texts: Sequence[str], base_model: str, config: PretrainConfig, output_dir: str | Path,
                         progress: Callable[[str], None] = print) -> PretrainResult:
    """Train `base_model` with masked-language modelling on the normalised `texts`; save it to `output_dir`."""
    if not texts:
        raise ValueError("continued pretraining needs at least one text")
    with torch_threads(config.torch_threads):
        return _run(list(texts), base_model, config, Path(output_dir), progress)


def _run(texts: list[str], base_model: str, config: PretrainConfig, output_dir: Path,
         progress: Callable[[str], None]) -> PretrainResult:
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    began = time.monotonic()
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(base_model)
    model = AutoModelForMaskedLM.from_pretrained(base_model)
    encoder = model.base_model
    head = next(module for _, module in model.named_children() if module is not encoder)
    head_ids = {id(p) for p in head.parameters()} - {id(p) for p in encoder.parameters()}
    optimizer = torch.optim.AdamW(
        [{"params": [p for p in model.parameters() if id(p) not in head_ids], "lr": config.learning_rate},
         {"params": [p for p in model.parameters() if id(p) in head_ids],
          "lr": config.learning_rate * config.head_lr_factor}], weight_decay=0.01)
    encoded = tokenizer([normalise_tweet(t) for t in texts], truncation=True, max_length=config.max_length)["input_ids"]
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=config.mlm_probability)
    steps = math.ceil(len(encoded) / config.batch_size) * config.epochs
    warmup = max(1, steps // 16)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup))))
    losses: list[float] = []
    model.train()
    for _epoch in range(config.epochs):
        order = sorted(range(len(encoded)), key=lambda i: (len(encoded[i]), rng.random()))
        batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        rng.shuffle(batches)
        for rows in batches:
            batch = collate([{"input_ids": encoded[i]} for i in rows])
            masked = batch["labels"] != -100
            if not masked.any():
                continue
            hidden = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            loss = torch.nn.functional.cross_entropy(head(hidden[masked]), batch["labels"][masked])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if len(losses) % config.progress_every_steps == 0:
                progress(f"continued pretraining: step {len(losses)}/{steps}, MLM loss "
                         f"{_mean(losses[-config.progress_every_steps:]):.3f}")
    adapted = AutoModel.from_pretrained(base_model)
    missing, _ = adapted.load_state_dict(encoder.state_dict(), strict=False)
    if any(not key.startswith("pooler.") for key in missing):
        raise ValueError(f"the masked-language model's encoder lacks {missing} of {base_model}")
    output_dir.mkdir(parents=True, exist_ok=True)
    adapted.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    window = config.progress_every_steps
    result = PretrainResult(output_dir=output_dir, hashes=sorted({text_hash(t) for t in texts}), steps=len(losses),
                            seconds=time.monotonic() - began, first_loss=_mean(losses[:window]),
                            last_loss=_mean(losses[-window:]))
    (output_dir / RESULT_FILE).write_text(json.dumps({"config": asdict(config), "base_model": base_model,
                                                      "texts": len(texts), "steps": result.steps,
                                                      "seconds": round(result.seconds, 1),
                                                      "first_loss": result.first_loss,
                                                      "last_loss": result.last_loss}, indent=2))
    return result


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
