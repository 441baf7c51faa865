"""Tests of tweetsent_assets.lib.ml: models, training, evaluation, promotion, the registry, scoring, the cache."""
