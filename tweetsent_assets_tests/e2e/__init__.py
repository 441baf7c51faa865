"""End-to-end, fault-injection and burst suites: whole micro-batches through Dagster, Spark, Delta and MLflow."""
