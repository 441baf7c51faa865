"""Tests of the scale-out topology on real servers: PostgreSQL, S3 (moto), Spark standalone (marker cluster)."""
