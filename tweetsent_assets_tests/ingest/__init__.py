"""Tests of tweetsent_assets.lib.ingest."""
