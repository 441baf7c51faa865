"""Build tiny, randomly initialised Hugging Face sentiment classifiers on disk for offline tests."""
from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Sequence

_WORDS = (
    "good bad great awful love hate happy sad okay fine terrible amazing worst best delay late early "
    "flight plane crew seat bag lost found cancel refund thanks please help never always again today "
    "tomorrow yesterday service staff rude kind nice horrible excellent boring fun wow meh lol omg "
    "the a an is was were be been this that these those it not very really so too just still "
    "airline airport gate boarding ticket price cheap expensive food drink wifi movie music phone "
    "#fail #win @user http :) :( ! ? ... 2024 10 100 morning night weekend monday friday"
).split()
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


# Short texts of every kind (positive, negative, tiny, long with a mention, empty) for model tests.
TEXTS = [
    "great flight, the crew was amazing :)",
    "worst airline ever, lost my bag again",
    "ok",
    "the plane boarded at gate 10 this morning and we were on time, thanks @user",
    "",
]

def tiny_corpus(size: int = 400, seed: int = 0) -> list[str]:
    """Deterministic short tweet-like strings to train the tiny tokenizer on."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 14))) for _ in range(size)]


def build_tiny_roberta(
    path: str | Path, labels: Sequence[str] = ("NEG", "NEU", "POS"), seed: int = 0,
) -> Path:
    """Save a tiny ByteLevel-BPE tokenizer and random RobertaForSequenceClassification to `path`.

    The folder loads with AutoTokenizer/AutoModelForSequenceClassification; initial weights are
    spread wide (initializer_range 0.5) so different texts get clearly different probabilities.
    """
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizer

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        tiny_corpus(seed=seed), vocab_size=500, min_frequency=1, special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file, merges_file = bpe.save_model(scratch)
        tokenizer = RobertaTokenizer(vocab=vocab_file, merges=merges_file)
    config = RobertaConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=136, initializer_range=0.5,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = RobertaForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
