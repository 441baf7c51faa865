"""Exploratory statistics over the tweet tables (computed in Spark, returned small) and their PNG plots.

Plots draw on Agg canvases directly, so pyplot's global backend and figure registry are left alone.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..ml.models.labels import LABELS


def missing_values(df) -> pd.DataFrame:
    """Per column: rows that are null, or blank for string columns; one Spark pass over the table."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    checks = []
    for field in df.schema.fields:
        missing = F.col(field.name).isNull()
        if isinstance(field.dataType, StringType):
            missing = missing | (F.trim(F.col(field.name)) == "")
        checks.append(F.sum(F.when(missing, 1).otherwise(0)).cast("long").alias(field.name))
    row = df.agg(F.count("*").alias("__rows"), *checks).first().asDict()
    rows = row.pop("__rows")
    return pd.DataFrame({"column": list(row), "missing": [int(v or 0) for v in row.values()],
                         "share": [(v or 0) / rows if rows else 0.0 for v in row.values()]})


def text_length_histogram(df, column: str = "text", bin_width: int = 20, max_length: int = 320) -> pd.DataFrame:
    """Counts of `column` lengths in bins of `bin_width` characters; lengths >= max_length share the last bin."""
    from pyspark.sql import functions as F

    top = max_length // bin_width
    binned = (df.where(F.col(column).isNotNull())
              .select(F.least(F.floor(F.length(column) / bin_width), F.lit(top)).cast("int").alias("bin"))
              .groupBy("bin").count().toPandas())
    counts = dict(zip(binned["bin"], binned["count"]))
    return pd.DataFrame({"bin_start": [b * bin_width for b in range(top + 1)],
                         "count": [int(counts.get(b, 0)) for b in range(top + 1)]})


def top_values(df, column: str, n: int = 10, explode: bool = False) -> pd.DataFrame:
    """The `n` most frequent non-blank values of `column` (or of its array entries), ties alphabetical."""
    from pyspark.sql import functions as F

    values = df.select(F.explode(column).alias("value") if explode else F.col(column).alias("value"))
    values = values.where(F.col("value").isNotNull() & (F.trim("value") != ""))
    return (values.groupBy("value").count().orderBy(F.desc("count"), "value").limit(n)
            .toPandas().astype({"count": "int64"}))


def given_vs_predicted(gold) -> pd.DataFrame:
    """Rows with a given sentiment, counted by given (index) against predicted `label` (columns)."""
    from pyspark.sql import functions as F

    pairs = (gold.where(F.col("given_sentiment").isNotNull())
             .groupBy("given_sentiment", "label").count().toPandas())
    table = pairs.pivot_table(index="given_sentiment", columns="label", values="count", aggfunc="sum", fill_value=0)
    return table.reindex(index=list(LABELS), columns=list(LABELS), fill_value=0).astype("int64")


def agreement(crosstab: pd.DataFrame) -> float | None:
    """Share of rows whose predicted label equals the given one (None without given labels)."""
    total = int(crosstab.to_numpy().sum())
    return None if total == 0 else sum(int(crosstab.loc[l, l]) for l in LABELS) / total


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def plot_missing(missing: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """One horizontal bar chart per table of the missing share of each column."""
    figure = _figure(6.4, 0.3 * sum(len(m) for m in missing.values()) + 1.2 * len(missing))
    axes = figure.subplots(len(missing), 1, squeeze=False)[:, 0]
    for ax, (table, frame) in zip(axes, missing.items()):
        ax.barh(frame["column"], frame["share"] * 100, color="#c0504d")
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("% missing (null or blank)")
        ax.set_title(f"{table}: missing values per column")
        for y, (share, count) in enumerate(zip(frame["share"], frame["missing"])):
            ax.text(min(share * 100 + 1, 90), y, f"{count:,}", va="center", fontsize=7)
    return _save(figure, path)


def plot_text_lengths(histograms: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Overlaid histograms of text lengths (characters), one series per table/column."""
    figure = _figure(6.4, 3.6)
    ax = figure.subplots()
    for name, frame in histograms.items():
        width = frame["bin_start"].iloc[1] - frame["bin_start"].iloc[0] if len(frame) > 1 else 20
        ax.bar(frame["bin_start"], frame["count"], width=width, align="edge", alpha=0.5, label=name)
    ax.set_xlabel("characters (last bin: longer)")
    ax.set_ylabel("tweets")
    ax.set_title("Text length")
    ax.legend()
    return _save(figure, path)


def plot_top_values(tops: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Side-by-side bar charts of the most frequent values (users, mentions, hashtags)."""
    figure = _figure(4.2 * len(tops), 4.0)
    axes = figure.subplots(1, len(tops), squeeze=False)[0]
    for ax, (name, frame) in zip(axes, tops.items()):
        ax.barh(frame["value"].astype(str), frame["count"], color="#4f81bd")
        ax.invert_yaxis()
        ax.set_title(f"top {name}")
        ax.set_xlabel("tweets")
        ax.tick_params(axis="y", labelsize=8)
    return _save(figure, path)


def plot_given_vs_predicted(crosstab: pd.DataFrame, path: str | Path) -> Path:
    """Annotated heatmap of given sentiment (rows) against predicted (columns)."""
    figure = _figure(4.8, 4.2)
    ax = figure.subplots()
    counts = crosstab.to_numpy()
    image = ax.imshow(counts, cmap="Purples")
    figure.colorbar(image, ax=ax)
    threshold = counts.max() / 2 if counts.size and counts.max() else 0
    for row in range(counts.shape[0]):
        for col in range(counts.shape[1]):
            ax.text(col, row, f"{counts[row, col]:,}", ha="center", va="center",
                    color="white" if counts[row, col] > threshold else "black")
    ax.set_xticks(range(len(crosstab.columns)), list(crosstab.columns))
    ax.set_yticks(range(len(crosstab.index)), list(crosstab.index))
    ax.set_xlabel("predicted")
    ax.set_ylabel("given")
    share = agreement(crosstab)
    ax.set_title("Given vs predicted" + (f" (agree {share:.0%})" if share is not None else ""))
    return _save(figure, path)
