"""Tests of tweetsent_assets.lib.ml: normalisation, folds, stacking, cross-fitting, honest evaluation."""
