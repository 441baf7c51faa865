"""Micro-batch partitions: one dynamic partition per batch the sensor plans; when whole-table insights refresh."""
from dagster import AutomationCondition, DynamicPartitionsDefinition

tweet_batches = DynamicPartitionsDefinition(name="tweet_batches")

# EDA and the active-learning queue read all of gold: refreshed hourly once gold has changed, not after
# every batch, so on a small machine they do not compete with the micro-batches for the cores.
INSIGHTS_REFRESH = AutomationCondition.on_cron("0 * * * *")
