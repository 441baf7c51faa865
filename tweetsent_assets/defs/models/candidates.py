"""The model candidates (from settings), partitioned one per candidate, and the training logger's name."""
from dagster import StaticPartitionsDefinition

from ... import settings

CANDIDATES = {c["name"]: c for c in settings.candidates()}
# Training progress also goes to this Python logger, so a console (the demo) can show it.
TRAINING_LOGGER = "tweetsent.training"
candidate_partitions = StaticPartitionsDefinition(list(CANDIDATES))
