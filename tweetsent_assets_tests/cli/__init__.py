"""Tests of tweetsent_assets.cli."""
