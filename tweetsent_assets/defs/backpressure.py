"""Backpressure: how many runs of a job a sensor may request now, from the runs already running or waiting."""
from __future__ import annotations

from dataclasses import dataclass

from dagster import DagsterRunStatus, RunsFilter

WAITING = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]
RUNNING = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class Room:
    """Runs of one job in flight against what may be: `slots` running at once and `depth` more waiting."""

    job: str
    running: int
    waiting: int
    slots: int
    depth: int

    @property
    def free(self) -> int:
        """Runs that may be requested now without more than `depth` waiting behind the running ones."""
        if self.depth and self.waiting >= self.depth:
            return 0
        return max(0, self.slots + self.depth - self.running - self.waiting)

    def why_full(self) -> str:
        return (f"backpressure: {self.waiting} {self.job} run(s) waiting and {self.running} running "
                f"(at most {self.slots} at once and {self.depth} waiting)")


def room(instance, job: str, slots: int, depth: int) -> Room:
    """The job's runs in flight, counted from the instance's run storage (two indexed counts)."""
    def count(statuses: list[DagsterRunStatus]) -> int:
        return instance.get_runs_count(RunsFilter(job_name=job, statuses=statuses))

    return Room(job=job, running=count(RUNNING), waiting=count(WAITING), slots=slots, depth=depth)
