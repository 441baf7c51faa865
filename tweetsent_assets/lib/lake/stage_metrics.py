"""Spilled bytes and task-time skew of the Spark stages a step ran, read from the driver's monitoring REST API.

A step tags its operations (`tagged`); its jobs carry the tag in the REST API's `jobTags`, in-process
(`spark-session-…-thread-…-<tag>`) and over Spark Connect (`SparkConnect_OperationTag_…_Tag_<tag>`).
The driver is the in-process session's UI, or the Connect server's UI on the host the client talks
to, at the server's `spark.ui.port`. Reading never fails a step: `collect` returns None and logs why.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.error import HTTPError
from urllib.request import urlopen

log = logging.getLogger(__name__)
# A UI's first answers after the driver starts can take seconds on a busy machine.
REQUEST_TIMEOUT_S = 10.0
# A job's end reaches the UI's store shortly after the action returns; wait this long for it at most.
SETTLE_S = 3.0
QUANTILES = "0.5,1.0"
TAG_PATTERN = re.compile(r"tweetsent-(.+?)-[0-9a-f]{12}$")


@dataclass(frozen=True)
class StageStats:
    """One completed stage attempt: its tasks' median and slowest duration and the bytes they spilled."""

    stage_id: int
    attempt: int
    name: str
    tasks: int
    median_task_ms: float
    max_task_ms: float
    memory_spilled: int
    disk_spilled: int

    @property
    def skew(self) -> float:
        """Slowest task over the median task (1.0 for a single task or tasks of 0 ms)."""
        if self.tasks < 2 or self.max_task_ms <= 0:
            return 1.0
        return self.max_task_ms / max(self.median_task_ms, 1.0)

    def row(self) -> dict:
        return {"stage": self.stage_id, "attempt": self.attempt, "name": self.name, "tasks": self.tasks,
                "median_task_ms": self.median_task_ms, "max_task_ms": self.max_task_ms, "skew": round(self.skew, 2),
                "memory_spilled_bytes": self.memory_spilled, "disk_spilled_bytes": self.disk_spilled}


@dataclass(frozen=True)
class StageReport:
    """The stages of the jobs that carried one tag."""

    jobs: int
    stages: tuple[StageStats, ...]

    @property
    def memory_spilled(self) -> int:
        return sum(s.memory_spilled for s in self.stages)

    @property
    def disk_spilled(self) -> int:
        return sum(s.disk_spilled for s in self.stages)

    def worst(self, min_task_ms: float = 0.0) -> StageStats | None:
        """The most skewed stage among those whose slowest task took at least `min_task_ms`."""
        candidates = [s for s in self.stages if s.max_task_ms >= min_task_ms]
        return max(candidates, key=lambda s: s.skew, default=None)

    def metadata(self) -> dict:
        """Flat figures for plots, and every stage (most skewed first) as one JSON entry."""
        worst = self.worst()
        return {"spill_memory_bytes": self.memory_spilled, "spill_disk_bytes": self.disk_spilled,
                "task_skew": round(worst.skew, 2) if worst else 1.0,
                "spark_stages": {"jobs": self.jobs, "stages": [s.row() for s in
                                                               sorted(self.stages, key=lambda s: -s.skew)]}}


def new_tag(step: str) -> str:
    """A tag naming the step, unique to this execution of it (no commas, as Spark requires)."""
    return f"tweetsent-{step}-{uuid.uuid4().hex[:12]}"


@contextmanager
def tagged(session, tag: str) -> Iterator[str]:
    """Every Spark operation this thread starts in the block carries `tag`."""
    session.addTag(tag)
    try:
        yield tag
    finally:
        session.removeTag(tag)


def ui_url(session) -> str | None:
    """The REST API's base of the driver that runs this session's jobs; None when its UI is off."""
    if _is_connect(session):
        if session.conf.get("spark.ui.enabled", "true") != "true":
            return None
        port = session.conf.get("spark.ui.port", None)
        return f"http://{session.client.host}:{port}" if port and port != "0" else None
    return session.sparkContext.uiWebUrl


def session_report(session, tag: str) -> StageReport | None:
    """`collect` from the driver of `session`; None (logged) when its UI cannot be found or read."""
    try:
        url = ui_url(session)
    except Exception as exc:  # noqa: BLE001 - a step's metadata must never fail the batch
        log.warning("stage metrics not recorded: the session's Spark UI is unknown: %s: %s", type(exc).__name__, exc)
        return None
    return collect(url, tag)


def _is_connect(session) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def collect(url: str | None, tag: str, settle_s: float = SETTLE_S) -> StageReport | None:
    """The stages of the jobs tagged `tag`, once they have all ended; None (logged) when the UI cannot tell."""
    if not url:
        log.info("no Spark UI for this session (spark.ui.enabled is false, or no fixed spark.ui.port over "
                 "Connect): stage metrics not recorded")
        return None
    try:
        return _collect(url.rstrip("/"), tag, settle_s)
    except Exception as exc:  # noqa: BLE001 - a step's metadata must never fail the batch
        log.warning("stage metrics not recorded: Spark's REST API at %s did not answer as expected: %s: %s",
                    url, type(exc).__name__, exc)
        return None


def running_steps(url: str) -> set[str]:
    """The steps (as `new_tag` named them) with a tagged job running on the driver at `url` now."""
    tags = [t for job in _get(f"{_app_api(url.rstrip('/'))}/jobs?status=running") for t in job.get("jobTags", [])]
    return {match.group(1) for t in tags if (match := TAG_PATTERN.search(t))}


def _app_api(base: str) -> str:
    """The REST API of the driver's one application."""
    return f"{base}/api/v1/applications/{_get(f'{base}/api/v1/applications')[0]['id']}"


def _collect(base: str, tag: str, settle_s: float) -> StageReport:
    api = _app_api(base)
    deadline = time.monotonic() + settle_s
    while True:
        jobs = [job for job in _get(f"{api}/jobs") if any(t.endswith(tag) for t in job.get("jobTags", []))]
        if all(job["status"] != "RUNNING" for job in jobs) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    stage_ids = sorted({stage for job in jobs for stage in job["stageIds"]})
    stages = []
    for stage_id in stage_ids:
        try:
            attempts = _get(f"{api}/stages/{stage_id}?details=false&withSummaries=true&quantiles={QUANTILES}")
        except HTTPError as exc:
            if exc.code != 404:
                raise
            continue  # a stage the job planned but never submitted
        stages += [_stats(a) for a in attempts if a["status"] in ("COMPLETE", "FAILED") and a["numTasks"] > 0]
    return StageReport(jobs=len(jobs), stages=tuple(stages))


def _stats(attempt: dict) -> StageStats:
    durations = (attempt.get("taskMetricsDistributions") or {}).get("duration") or [0.0, 0.0]
    name = (attempt.get("name") or "").splitlines()[:1]  # over Connect, the first line of the plan
    return StageStats(stage_id=attempt["stageId"], attempt=attempt["attemptId"], name=name[0][:80] if name else "",
                      tasks=attempt["numCompleteTasks"] + attempt["numFailedTasks"],
                      median_task_ms=float(durations[0]), max_task_ms=float(durations[-1]),
                      memory_spilled=int(attempt["memoryBytesSpilled"]), disk_spilled=int(attempt["diskBytesSpilled"]))


def _get(url: str):
    with urlopen(url, timeout=REQUEST_TIMEOUT_S) as response:  # noqa: S310 - the driver's own UI, http only
        return json.loads(response.read())
