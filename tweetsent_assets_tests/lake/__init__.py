"""Tests of tweetsent_assets.lib.lake, with real Spark, Delta and Spark Connect servers."""
