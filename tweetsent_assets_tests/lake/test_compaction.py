"""Compaction: OPTIMIZE merges a table's small files without changing its rows, and batches still replace cleanly."""
from __future__ import annotations

from dagster import AssetKey, DagsterEventType, DagsterInstance, EventRecordsFilter

from tweetsent_assets.defs.maintenance import compact_lake
from tweetsent_assets.defs.resources import LakeResource
from tweetsent_assets.lib.lake import compaction, delta_tables

from ..support import suite_spark_resource

SCHEMA = "id string, batch_id string, n int"


def _write_batches(spark, path: str, batches: int, per_batch: int = 4) -> None:
    for b in range(batches):
        batch_id = f"b{b:02d}"
        rows = [(f"{batch_id}-{i}", batch_id, 0) for i in range(per_batch)]
        delta_tables.replace_batch(spark.createDataFrame(rows, SCHEMA).repartition(2), path, batch_id, rows=per_batch)


def _rows(spark, path: str) -> list[tuple]:
    return sorted((r.id, r.batch_id, r.n) for r in spark.read.format("delta").load(path).collect())


def test_compaction_merges_files_keeps_rows_and_batches_still_replace(spark, tmp_path):
    path = str(tmp_path / "bronze")
    _write_batches(spark, path, 6)
    before = _rows(spark, path)
    files_before, _ = compaction.file_stats(spark, path)
    assert files_before >= 6

    done = compaction.compact(spark, path, min_files=5)
    assert (done.skipped, done.files_before, done.files_after) == (False, files_before, 1)
    assert done.files_removed == files_before and done.files_added == 1
    assert _rows(spark, path) == before
    assert delta_tables.describe(spark, path).rows == 24

    assert not delta_tables.batch_is_new(path, "b02") and delta_tables.batch_is_new(path, "b06")
    delta_tables.replace_batch(spark.createDataFrame([("b02-0", "b02", 9)], SCHEMA), path, "b02", rows=1)
    delta_tables.replace_batch(spark.createDataFrame([("b06-0", "b06", 1)], SCHEMA), path, "b06", rows=1)
    after = _rows(spark, path)
    assert len(after) == 24 - 4 + 1 + 1
    assert [r for r in after if r[1] == "b02"] == [("b02-0", "b02", 9)]
    assert delta_tables.batch_rows_in_log(path, "b06") == 1


def test_a_table_with_few_files_is_left_alone_and_a_missing_one_is_none(spark, tmp_path):
    path = str(tmp_path / "small")
    _write_batches(spark, path, 2)
    files, _ = compaction.file_stats(spark, path)
    done = compaction.compact(spark, path, min_files=files + 1)
    assert done.skipped and done.files_after == done.files_before == files
    assert compaction.file_stats(spark, path)[0] == files
    assert compaction.compact(spark, str(tmp_path / "missing"), min_files=1) is None


def test_compact_lake_job_records_files_before_and_after_on_each_asset(spark, tmp_path):
    lake = LakeResource(root=str(tmp_path / "lake"))
    _write_batches(spark, lake.path("bronze_tweets"), 4)
    _write_batches(spark, lake.path("landing_ledger"), 4)
    instance = DagsterInstance.ephemeral()
    result = compact_lake.execute_in_process(
        run_config={"ops": {"compact_tables": {"config": {"min_files": 3}}}},
        resources={"spark": suite_spark_resource(), "lake": lake}, instance=instance)
    assert result.success
    observed = instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_OBSERVATION,
                                                             asset_key=AssetKey("bronze_tweets")))
    assert len(observed) == 1
    metadata = observed[0].asset_observation.metadata
    assert metadata["files_before"].value >= 4 and metadata["files_after"].value == 1
    assert compaction.file_stats(spark, lake.path("landing_ledger"))[0] == 1
    assert not instance.get_event_records(EventRecordsFilter(DagsterEventType.ASSET_OBSERVATION,
                                                             asset_key=AssetKey("silver_tweets")))


def test_compact_lake_names_an_unknown_table(spark, tmp_path):
    result = compact_lake.execute_in_process(
        run_config={"ops": {"compact_tables": {"config": {"tables": ["bronze_tweets", "brnze"]}}}},
        resources={"spark": suite_spark_resource(), "lake": LakeResource(root=str(tmp_path))},
        raise_on_error=False)
    assert not result.success
    assert "brnze" in str(result.failure_data_for_node("compact_tables").error)
