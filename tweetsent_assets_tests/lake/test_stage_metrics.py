"""Stage metrics from the driver's REST API: a skewed, spilling group on a real session, and a UI that is not there."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from pyspark.sql import Window
from pyspark.sql import functions as F

from tweetsent_assets.lib.lake import stage_metrics
from tweetsent_assets.lib.lake.services import free_port
from tweetsent_assets.lib.lake.stage_metrics import StageReport, StageStats

HOT_ROWS, COLD_ROWS = 400_000, 20_000


@contextmanager
def conf_set(session, values: dict[str, str]):
    """Runtime SQL settings for the block, restored afterwards."""
    saved = {key: session.conf.get(key, None) for key in values}
    for key, value in values.items():
        session.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, value)


def test_a_skewed_group_reports_its_skew_and_spill(spark):
    rows = spark.range(HOT_ROWS + COLD_ROWS).withColumn(
        "k", F.when(F.col("id") < HOT_ROWS, F.lit(-1)).otherwise(F.col("id") % 997))
    sized = rows.withColumn("group_rows", F.count("id").over(Window.partitionBy("k")))
    tag = stage_metrics.new_tag("test")
    # The window buffers each key's rows; past 20,000 it spills, so the hot key's task spills and runs longest.
    with conf_set(spark, {"spark.sql.windowExec.buffer.in.memory.threshold": "20000",
                          "spark.sql.windowExec.buffer.spill.threshold": "20000",
                          "spark.sql.shuffle.partitions": "4",
                          "spark.sql.adaptive.coalescePartitions.enabled": "false"}):
        with stage_metrics.tagged(spark, tag):
            assert sized.where(F.col("group_rows") == HOT_ROWS).count() == HOT_ROWS
        spark.range(10).count()  # untagged: not in the report
    report = stage_metrics.session_report(spark, tag)

    assert report is not None and report.jobs >= 1
    window_stage = next(s for s in report.stages if s.tasks == 4)
    assert window_stage.skew > 1.5
    assert report.worst() == window_stage
    assert report.memory_spilled > 0 and report.disk_spilled > 0
    metadata = report.metadata()
    assert metadata["spill_memory_bytes"] == report.memory_spilled
    assert metadata["task_skew"] == round(window_stage.skew, 2)
    assert len(metadata["spark_stages"]["stages"]) == len(report.stages)
    assert metadata["spark_stages"]["stages"][0]["stage"] == window_stage.stage_id


def test_an_unknown_tag_finds_no_jobs(spark):
    report = stage_metrics.collect(stage_metrics.ui_url(spark), stage_metrics.new_tag("never-used"), settle_s=0)
    assert report == StageReport(jobs=0, stages=())


def test_running_steps_names_the_step_of_a_job_in_flight_only_while_it_runs(spark):
    def slow(batches):
        for batch in batches:
            time.sleep(2)
            yield batch

    tag = stage_metrics.new_tag("gold_probe")
    url = stage_metrics.ui_url(spark)
    done = threading.Event()

    def run():
        with stage_metrics.tagged(spark, tag):
            spark.range(2).mapInPandas(slow, "id long").count()
        done.set()

    thread = threading.Thread(target=run)
    thread.start()
    seen = set()
    while not done.is_set() and "gold_probe" not in seen:
        seen = stage_metrics.running_steps(url)
        time.sleep(0.1)
    thread.join()
    assert "gold_probe" in seen
    assert "gold_probe" not in stage_metrics.running_steps(url)


def test_no_ui_records_nothing_and_does_not_raise():
    class Unreachable:
        """A session whose settings cannot be read."""

        conf = None

    started = time.monotonic()
    assert stage_metrics.collect(None, "tag") is None
    assert stage_metrics.collect(f"http://127.0.0.1:{free_port()}", "tag") is None
    assert stage_metrics.session_report(Unreachable(), "tag") is None
    assert time.monotonic() - started < 5


def test_skew_of_single_and_instant_tasks_is_one():
    def stage(tasks, median, slowest):
        return StageStats(1, 0, "s", tasks, median, slowest, 0, 0)

    assert stage(1, 40.0, 40.0).skew == 1.0
    assert stage(8, 0.0, 0.0).skew == 1.0
    assert stage(8, 0.0, 12.0).skew == 12.0
    assert stage(8, 10.0, 35.0).skew == 3.5
    report = StageReport(jobs=2, stages=(stage(8, 10.0, 35.0), stage(2, 200.0, 300.0)))
    assert report.worst().skew == 3.5 and report.worst(min_task_ms=100).skew == 1.5
