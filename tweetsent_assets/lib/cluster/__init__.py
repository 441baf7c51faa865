"""The scale-out topology's processes (PostgreSQL, S3, Spark standalone) and the Dagster instance storage check."""
