"""Model assets: labeled tweets, the fine-tuned candidate, per-candidate evaluations, the champion."""
