"""Tests of the Dagster code in tweetsent_assets.defs, run on a real instance."""
