"""Micro-batch partitions: one dynamic partition per batch the sensor plans."""
from dagster import DynamicPartitionsDefinition

tweet_batches = DynamicPartitionsDefinition(name="tweet_batches")
