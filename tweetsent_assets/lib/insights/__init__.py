"""Aggregates over gold: per-batch ledgers, the tables folded from them, and spike detection."""
