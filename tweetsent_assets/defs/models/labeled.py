"""The labeled tweets asset: every configured labeled source in one Delta table, read back by the model steps."""
import os
from typing import Optional

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from ... import settings
from ...lib.lake import delta_tables
from ...lib.ml.labeled_data import LabeledSource, hold_out, missing_files, read_labeled
from ..resources import LakeResource, ObjectStoreResource, SparkResource


class LabeledSourceConfig(Config):
    path: str = Field(description="Local path or s3:// URL: TweetEval folder, Sentiment140/airline CSV, CSV/JSONL")
    split: str = Field(description="train, val or eval")
    limit: Optional[int] = None
    text_column: str = "text"
    label_column: str = "sentiment"
    tweeteval_split: str = Field(default="val", description="Which TweetEval split a TweetEval folder is read from")
    optional: bool = Field(default=False, description="Skip this source, with a warning, when its files are missing")


def _default_sources() -> list[LabeledSourceConfig]:
    """TweetEval val is the eval set; TweetEval train (when present), airline and Sentiment140 train."""
    base = settings.LABELED_DATA_DIR
    return [
        LabeledSourceConfig(path=f"{base}/tweeteval_sentiment", split="eval"),
        LabeledSourceConfig(path=f"{base}/tweeteval_sentiment", split="train", tweeteval_split="train",
                            optional=True),
        LabeledSourceConfig(path=f"{base}/airline/Tweets.csv", split="train"),
        LabeledSourceConfig(path=f"{base}/sentiment140/sentiment140_sample_20k.csv", split="train"),
    ]


class LabeledTweetsConfig(Config):
    sources: list[LabeledSourceConfig] = Field(default_factory=_default_sources)
    holdout_fraction: float = Field(default=0.1, description="Share of train rows moved to val (early stopping)")
    active_learning_dir: Optional[str] = Field(default=os.path.join(settings.DATA_DIR, "active_learning"),
                                               description="Labeled queue CSVs in <dir>/labeled/*.csv join as train sources")


@asset(group_name="ml", kinds={"spark", "delta"})
def labeled_tweets(context: AssetExecutionContext, config: LabeledTweetsConfig, spark: SparkResource,
                   lake: LakeResource, landing: ObjectStoreResource) -> MaterializeResult:
    """Labeled tweets (text, label, source, split) from the configured sources; evaluations record its version."""
    from ...lib.insights.active_learning import labeled_sources

    rows = []
    sources = [LabeledSource(**s.model_dump()) for s in config.sources] + (
        labeled_sources(config.active_learning_dir) if config.active_learning_dir else [])
    for source in sources:
        missing = missing_files(source) if source.optional else []
        if missing:
            context.log.warning(f"skipping optional source {source.path} ({source.split}): missing "
                                f"{', '.join(missing)}; the models train without it (the old recipe)")
            continue
        found = list(read_labeled(source, endpoint_url=landing.endpoint_url))
        context.log.info(f"{source.path} [{source.tweeteval_split}]: {len(found)} labeled rows -> {source.split}")
        rows.extend(found)
    frame = pd.DataFrame(hold_out(rows, config.holdout_fraction), columns=["text", "label", "source", "split"])
    session = spark.session()
    delta_tables.overwrite(session.createDataFrame(frame), lake.path("labeled_tweets"))
    state = delta_tables.describe(session, lake.path("labeled_tweets"))
    counts = frame.groupby(["split", "label"]).size().unstack(fill_value=0)
    return MaterializeResult(metadata={**state.metadata(), "rows_per_split_and_label": MetadataValue.md(counts.to_markdown())})


def labeled_frame(lake: LakeResource) -> tuple[pd.DataFrame, int]:
    """The labeled table (read without Spark) and its Delta version, rows in a stable order."""
    from deltalake import DeltaTable

    uri, options = delta_tables.delta_rs_location(lake.path("labeled_tweets"))
    table = DeltaTable(uri, storage_options=options)
    frame = table.to_pandas().sort_values(["split", "source", "text", "label"], kind="stable")
    return frame.reset_index(drop=True), table.version()
