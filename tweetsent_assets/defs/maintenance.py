"""Lake maintenance off the micro-batch path: compaction of every layer's small files, on a schedule."""
from dagster import (
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)
from pydantic import Field

from .. import settings
from ..lib.lake.compaction import compact
from .resources import LakeResource, SparkResource

# Delta tables a micro-batch appends to; the ones that are assets get an observation with the effect.
# gold's prediction cache gets a file per batch, and its lookup opens the files of the last days.
COMPACTED_TABLES = ("bronze_tweets", "bronze_quarantine", "landing_ledger", "silver_tweets", "gold_tweet_sentiment",
                    "prediction_cache", "aggregate_ledger", "mention_sentiment", "sentiment_trends", "sentiment_spikes")
NOT_ASSETS = {"landing_ledger", "prediction_cache"}


class CompactionConfig(Config):
    min_files: int = Field(default=settings.COMPACT_MIN_FILES,
                           description="Compact a table only once it has at least this many live files")
    tables: list[str] = Field(default=list(COMPACTED_TABLES), description="Tables to compact")


@op(description="OPTIMIZE each lake table with at least min_files files; records files before and after on the asset.")
def compact_tables(context: OpExecutionContext, config: CompactionConfig, spark: SparkResource,
                   lake: LakeResource) -> None:
    unknown = sorted(set(config.tables) - set(COMPACTED_TABLES))
    if unknown:
        raise ValueError(f"unknown tables {unknown}; known: {', '.join(COMPACTED_TABLES)}")
    session = spark.session()
    for table in config.tables:
        done = compact(session, lake.path(table), config.min_files)
        if done is None:
            context.log.info(f"{table}: no table yet")
            continue
        verb = "left alone" if done.skipped else f"compacted to {done.files_after} in {done.seconds:.1f} s"
        context.log.info(f"{table}: {done.files_before} files {verb}")
        if table not in NOT_ASSETS:
            context.log_event(AssetObservation(asset_key=table, metadata={**spark.metadata(), **done.metadata()}))


@job(executor_def=in_process_executor, tags={"tweetsent/kind": "maintenance", "dagster/priority": "0"},
     description="Compacts the lake's small files (OPTIMIZE). Runs beside the micro-batches, never in their way: "
                 "a batch that loses a commit race with it retries.")
def compact_lake():
    compact_tables()


compact_lake_schedule = ScheduleDefinition(
    name="compact_lake_schedule", job=compact_lake, cron_schedule=settings.COMPACT_CRON, execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Compacts tables that have gathered min_files small files (TWEETSENT_COMPACT_CRON).")
