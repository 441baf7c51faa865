"""tweetsent: a real-time tweet sentiment lakehouse on Dagster, Spark and Delta Lake."""
