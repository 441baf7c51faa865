"""Spark sessions and the Connect server, Delta operations, compaction, reconciliation and fault points."""
