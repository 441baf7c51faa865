"""Model training: tweet normalisation, cross-fitted fine-tuning, stacking and the honest-evaluation bookkeeping."""
