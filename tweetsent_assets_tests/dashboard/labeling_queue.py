"""A small active-learning queue for the labeling tests, written by the project's own export."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from tweetsent_assets.lib.insights.active_learning import QUEUE_COLUMNS, export_csv

TEXTS = ("@united lost my bag, again.", 'Flight was "fine", I guess\nsecond line', "Great crew on UA 12 ✈️",
         "Delayed 3 hours, no update", "meh, it's a plane")


def write_queue(folder: Path, texts=TEXTS) -> pd.DataFrame:
    """queue.csv in `folder` with one row per text (ids t0, t1, ...), as active_learning_queue exports it."""
    queue = pd.DataFrame({column: [""] * len(texts) for column in QUEUE_COLUMNS})
    queue = queue.assign(rank=range(1, len(texts) + 1), id=[f"t{i}" for i in range(len(texts))], text=list(texts),
                         champion_label="neutral", champion_score=[0.4 + i / 100 for i in range(len(texts))],
                         user="traveler")
    export_csv(queue, folder / "queue.csv")
    return queue
