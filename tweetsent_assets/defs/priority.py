"""Runs off the path to gold (folds, verification) lower their CPU priority when the daemon launched them."""

from dagster import OpExecutionContext

from ..lib.lake.services import lower_priority

NICE_TAG = "tweetsent/nice"
# The sensors' follow-up run requests carry it; in-process callers (tweetsent demo, tests) do not, so their process
# keeps its priority.
FOLLOW_UP_TAGS = {NICE_TAG: "10"}


def take_run_priority(context: OpExecutionContext) -> None:
    """Raise this run process's nice value to the run's NICE_TAG, if it has one."""
    niceness = context.run.tags.get(NICE_TAG) if context.run is not None else None
    if niceness:
        lower_priority(int(niceness))
