"""The model card: what a registered version learned from, its recipe, quality, speed and size, as markdown.

Training writes `training_card.json` into the model folder (`training_summary` per role of its rows);
the evaluation turns it, the recipe and the metrics into the registry version's description.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import pandas as pd

from .models.labels import LABELS
from .normalise import text_hash

CARD_FILE = "training_card.json"
# The labeled table's splits as a card names them: its `val` is a slice of the training sources, not an eval set.
SPLIT_NAMES = {"train": "train", "val": "train, early-stopping slice", "eval": "eval"}
_RECIPE_LIMIT = 1500


def training_summary(roles: Mapping[str, pd.DataFrame], recipe: Mapping | None = None) -> dict:
    """Per role (e.g. train, early stopping, stacker): rows, rows per source and label, and a digest of the texts.

    The digest is the sha256 of the sorted text hashes (`normalise.text_hash`), so two versions
    trained on the same texts show the same digest.
    """
    summary = {}
    for role, frame in roles.items():
        hashes = sorted({text_hash(t) for t in frame.text})
        per_source = {}
        for (source, split), rows in frame.groupby([frame.source.map(lambda s: Path(str(s)).name), "split"]):
            per_source[f"{source} ({SPLIT_NAMES.get(split, split)})"] = {
                label: int((rows.label == label).sum()) for label in LABELS}
        summary[role] = {"rows": int(len(frame)), "sources": per_source,
                         "texts_sha256": hashlib.sha256("\n".join(hashes).encode()).hexdigest()}
    return {"roles": summary, "recipe": dict(recipe or {})}


def write_card(folder: str | Path, summary: dict) -> None:
    (Path(folder) / CARD_FILE).write_text(json.dumps(summary, indent=2, default=str))


def read_card(folder: str | Path | None) -> dict:
    """The folder's training card, or {} when there is none (VADER, hub models, older folders)."""
    path = Path(folder) / CARD_FILE if folder else None
    return json.loads(path.read_text()) if path and path.is_file() else {}


def folder_size_bytes(folder: str | Path | None) -> int:
    """Bytes of every file under `folder` (0 when there is none)."""
    if not folder or not Path(folder).is_dir():
        return 0
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def model_card(name: str, kind: str, metrics: Mapping[str, float], card: Mapping, *, evaluation: str,
               eval_set: str, size_bytes: int, quantized: bool = False) -> str:
    """Markdown for a registered version: training data, recipe, val macro recall with its interval, speed, size."""
    lines = [f"### {name} ({kind}{', int8 encoder' if quantized else ''})", "", "**Trained on**"]
    roles = card.get("roles", {})
    if not roles:
        lines.append("- nothing in this project (a lexicon or a published model)")
    for role, info in roles.items():
        sources = "; ".join(f"{source}: " + ", ".join(f"{counts[label]:,} {label}" for label in LABELS)
                            for source, counts in info["sources"].items())
        lines.append(f"- {role}: {info['rows']:,} rows ({sources}); texts sha256 {info['texts_sha256'][:16]}")
    recipe = json.dumps(card.get("recipe", {}), sort_keys=True, default=str)
    lines += ["", f"**Recipe**: {recipe[:_RECIPE_LIMIT]}" if card.get("recipe") else "**Recipe**: none", "",
              f"**Evaluation** on {eval_set} ({evaluation}, {int(metrics.get('n', 0)):,} tweets, "
              f"eval texts seen in training: {_seen(metrics)})",
              f"- macro recall {metrics['macro_recall']:.3f} [{metrics['macro_recall_ci_low']:.3f}, "
              f"{metrics['macro_recall_ci_high']:.3f}] (bootstrap 95%)",
              "- recall per class: " + ", ".join(f"{label} {metrics[f'recall_{label}']:.3f}" for label in LABELS),
              f"- accuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}",
              "", f"**Speed**: {metrics['tweets_per_s']:.0f} tweets/s in one process "
                  f"(p95 batch {metrics['p95_batch_latency_s'] * 1000:.0f} ms)",
              f"**Size**: {size_bytes / 1e6:.1f} MB on disk" + (" (fp32; int8 at load)" if quantized else "")]
    return "\n".join(lines)


def _seen(metrics: Mapping[str, float]) -> str:
    value = metrics.get("eval_texts_seen_in_training")
    return "not checked" if value is None else str(int(value))
