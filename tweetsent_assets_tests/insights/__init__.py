"""Tests of tweetsent_assets.lib.insights."""
