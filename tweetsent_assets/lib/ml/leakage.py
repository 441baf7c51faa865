"""The leak check for models evaluated directly on the eval rows: none of those may be among their training texts."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .stack_folder import TRAINING_HASHES_FILE


def eval_texts_seen(folder: str | Path, eval_hashes: Sequence[str]) -> int:
    """How many `eval_hashes` appear in any list of the folder's `training_hashes.json`.

    Raises FileNotFoundError when the folder has no such record: without it nothing shows the
    eval texts were unseen.
    """
    path = Path(folder) / TRAINING_HASHES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the model's training texts are unknown (retrain it)")
    seen = set().union(*(set(hashes) for hashes in json.loads(path.read_text()).values()))
    return sum(1 for h in eval_hashes if h in seen)
