"""Hour partitions of the batch layers, and when whole-table insights refresh.

Every batch-layer asset is partitioned by the UTC hour of its micro-batches (lib/ingest/hours.py):
the micro-batch stays the unit of exactly-once (its manifest, the stream cursor, `batch_id` in every
table), while Dagster sees hours, each materialized many times, so its bookkeeping does not grow
with the batches. `tweet_batches`, the one-partition-per-batch definition of earlier versions, is
kept only so that `tweetsent migrate` can read an old instance's batch partitions.
"""
from dagster import AutomationCondition, DynamicPartitionsDefinition, HourlyPartitionsDefinition

from .. import settings

tweet_hours = HourlyPartitionsDefinition(start_date=settings.PARTITIONS_START, timezone="UTC", end_offset=1)
tweet_batches = DynamicPartitionsDefinition(name="tweet_batches")

# The run tag that names the one micro-batch a run of the batch layers takes (runs mode); without it, a run of an
# hour partition (a backfill, a re-score) takes every batch of the hour.
BATCH_TAG = "tweetsent/batch"

# EDA and the active-learning queue read all of gold: refreshed hourly once gold has changed, not after
# every batch, so on a small machine they do not compete with the micro-batches for the cores.
INSIGHTS_REFRESH = AutomationCondition.on_cron("0 * * * *")
