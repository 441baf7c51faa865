"""Whether a trained model folder is still current: a hash of its recipe and of the labeled rows it learned from."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

FINGERPRINT_FILE = "fingerprint.json"


def fingerprint(recipe: dict, rows: Iterable[tuple[str, ...]]) -> str:
    """sha256 of the recipe (sorted JSON) and the sorted rows; row order does not matter."""
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=str).encode())
    for row in sorted("\x1f".join(map(str, r)) for r in rows):
        digest.update(row.encode("utf-8"))
        digest.update(b"\x1e")
    return digest.hexdigest()[:20]


def is_current(folder: str | Path, expected: str, required: Iterable[str] = ()) -> bool:
    """True when `folder` holds `expected`'s fingerprint file and every `required` file."""
    folder = Path(folder)
    path = folder / FINGERPRINT_FILE
    if not path.is_file() or not all((folder / name).exists() for name in required):
        return False
    return json.loads(path.read_text()).get("fingerprint") == expected


def write_fingerprint(folder: str | Path, value: str, **details) -> None:
    (Path(folder) / FINGERPRINT_FILE).write_text(json.dumps({"fingerprint": value, **details}, indent=2))
