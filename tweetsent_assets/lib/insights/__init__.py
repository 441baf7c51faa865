"""Insights over gold: per-batch ledgers and the aggregate tables folded from them, spikes, EDA, active learning."""
