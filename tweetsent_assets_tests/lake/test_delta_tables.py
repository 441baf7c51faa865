"""delta_tables: batch replacement touches one batch, describe agrees with Spark's own count and version."""
from __future__ import annotations

import threading

from pyspark.sql import functions as F

from tweetsent_assets.lib.lake import delta_tables

SCHEMA = "id string, batch_id string, n int"


def _frame(spark, batch_id: str, ids: range, n: int = 0):
    return spark.createDataFrame([(f"{batch_id}-{i}", batch_id, n) for i in ids], SCHEMA)


def _spark_state(spark, path: str) -> tuple[int, int]:
    version = spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first().version
    return version, spark.read.format("delta").load(path).count()


def test_replace_batch_rewrites_only_its_batch_and_describe_follows(spark, tmp_path):
    path = str(tmp_path / "table")
    delta_tables.replace_batch(_frame(spark, "b1", range(5)), path, "b1")
    delta_tables.replace_batch(_frame(spark, "b2", range(3)), path, "b2")
    delta_tables.replace_batch(_frame(spark, "b1", range(4), n=7), path, "b1")
    rows = {r.id: r.n for r in spark.read.format("delta").load(path).collect()}
    assert rows == {**{f"b1-{i}": 7 for i in range(4)}, **{f"b2-{i}": 0 for i in range(3)}}
    state = delta_tables.describe(spark, path)
    assert (state.version, state.rows) == _spark_state(spark, path) == (2, 7)

    delta_tables.merge_by_id(spark, _frame(spark, "b3", range(2)).unionByName(_frame(spark, "b1", range(1), n=9)), path)
    assert (delta_tables.describe(spark, path).version, delta_tables.describe(spark, path).rows) == (3, 9)


def test_describe_counts_rows_hidden_by_deletion_vectors(spark, tmp_path):
    path = str(tmp_path / "dv")
    _frame(spark, "b1", range(10)).coalesce(1).write.format("delta") \
        .option("delta.enableDeletionVectors", "true").save(path)
    spark.sql(f"DELETE FROM delta.`{path}` WHERE id IN ('b1-1', 'b1-2')")
    state = delta_tables.describe(spark, path)
    assert (state.version, state.rows) == _spark_state(spark, path)
    assert state.rows == 8


def _operations(spark, path: str) -> list[str]:
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()
    return [f"{h.operation}:{h.operationParameters.get('mode')}" for h in history]


def test_a_new_batch_is_an_append_and_a_known_one_is_replaced(spark, tmp_path):
    path = str(tmp_path / "table")
    assert delta_tables.batch_is_new(path, "b1")
    delta_tables.replace_batch(_frame(spark, "b1", range(3)), path, "b1")
    assert not delta_tables.batch_is_new(path, "b1") and delta_tables.batch_is_new(path, "b2")
    delta_tables.replace_batch(_frame(spark, "b2", range(2)), path, "b2")
    delta_tables.replace_batch(_frame(spark, "b1", range(3), n=5), path, "b1")
    assert _operations(spark, path) == ["WRITE:Append", "WRITE:Append", "WRITE:Overwrite"]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").collect()
    assert [h.isBlindAppend for h in history] == [True, True, False], \
        "a new batch must be a blind append: a write reading its own table makes Delta rebuild its state (bronze slowed down with history)"
    assert sorted((r.id, r.n) for r in spark.read.format("delta").load(path).collect()) == [
        ("b1-0", 5), ("b1-1", 5), ("b1-2", 5), ("b2-0", 0), ("b2-1", 0)]

    assert delta_tables.batch_rows_in_log(path, "b1") == 3 and delta_tables.batch_rows_in_log(path, "b9") == 0


def test_a_batch_tagged_by_an_idempotent_write_id_is_not_new(spark, tmp_path):
    """Tables written by earlier versions tagged batch appends with txnAppId; those batches stay known."""
    path = str(tmp_path / "tagged")
    _frame(spark, "b0", range(1)).write.format("delta").save(path)
    _frame(spark, "zz", range(0)).write.format("delta").mode("append") \
        .option("txnAppId", "tweetsent-batch:b5").option("txnVersion", 0).save(path)
    assert not delta_tables.batch_is_new(path, "b5") and delta_tables.batch_is_new(path, "b6")


def test_batches_written_without_txn_ids_or_remote_tables_are_replaced(spark, tmp_path):
    path = str(tmp_path / "legacy")
    _frame(spark, "b1", range(3)).unionByName(_frame(spark, "b3", range(3))).coalesce(1) \
        .write.format("delta").save(path)
    assert not delta_tables.batch_is_new(path, "b1")
    assert not delta_tables.batch_is_new(path, "b2"), "b2 sorts between b1 and b3: the file's stats cannot rule it out"
    assert delta_tables.batch_is_new(path, "b4")
    delta_tables.replace_batch(_frame(spark, "b1", range(2), n=1), path, "b1")
    assert spark.read.format("delta").load(path).where("batch_id = 'b1'").count() == 2
    assert not delta_tables.batch_is_new("gs://bucket/lake/table", "b9"), "delta-rs reads local and S3 logs only"


def test_two_runs_appending_the_same_new_batch_at_once_leave_it_once(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "race")
    delta_tables.replace_batch(_frame(spark, "b0", range(1)), path, "b0")
    both_checked = threading.Barrier(2, timeout=60)
    is_new = delta_tables.batch_is_new
    answers = []

    def checked_together(table: str, batch_id: str) -> bool:
        answer = is_new(table, batch_id)
        answers.append(answer)
        if answer:
            both_checked.wait()
        return answer

    monkeypatch.setattr(delta_tables, "batch_is_new", checked_together)
    errors = []

    def run(n: int) -> None:
        try:
            delta_tables.replace_batch(_frame(spark, "b1", range(4), n=n), path, "b1")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert answers[:2] == [True, True], "both runs must have seen the batch as new, or there was no race"
    rows = spark.read.format("delta").load(path).where("batch_id = 'b1'").collect()
    assert sorted(r.id for r in rows) == [f"b1-{i}" for i in range(4)]
    assert len({r.n for r in rows}) == 1, "one run's rows, not a mix"


def test_runs_appending_different_new_batches_at_once_both_land(spark, tmp_path):
    path = str(tmp_path / "parallel")
    errors = []

    def run(batch_id: str) -> None:
        try:
            delta_tables.replace_batch(_frame(spark, batch_id, range(3)), path, batch_id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in ("b1", "b2", "b3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = spark.read.format("delta").load(path).groupBy("batch_id").count().collect()
    assert sorted((r.batch_id, r["count"]) for r in rows) == [("b1", 3), ("b2", 3), ("b3", 3)]


def test_keys_and_ids_read_from_the_log_match_spark(spark, tmp_path, monkeypatch):
    """keys_in_other_batches and held_ids give the same answers from `deltalake` and from Spark (the fallback)."""
    path = str(tmp_path / "bronze")
    schema = "record_key string, source_file string, batch_id string, id string"
    for batch, source in (("b1", "s1"), ("b1", "s2"), ("b2", "s3")):
        rows = [(f"{source}-k{i}", source, batch, f"{source}-id{i}") for i in range(3)]
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(path)
    asked = {
        "s1 for b2": delta_tables.keys_in_other_batches(spark, path, "b2", ["s1", "s9"]),
        "s1 for b1": delta_tables.keys_in_other_batches(spark, path, "b1", ["s1"]),
        "held": sorted(delta_tables.held_ids(spark, path, ["s2-id1", "s3-id0", "nope"])),
        "no table": delta_tables.keys_in_other_batches(spark, str(tmp_path / "none"), "b1", ["s1"]),
    }
    assert asked == {"s1 for b2": {"s1-k0", "s1-k1", "s1-k2"}, "s1 for b1": set(), "held": ["s2-id1", "s3-id0"],
                     "no table": set()}
    monkeypatch.setattr(delta_tables, "delta_rs_reads", lambda path: False)
    assert delta_tables.keys_in_other_batches(spark, path, "b2", ["s1", "s9"]) == asked["s1 for b2"]
    assert sorted(delta_tables.held_ids(spark, path, ["s2-id1", "s3-id0", "nope"])) == asked["held"]


def test_append_new_ids_appends_only_ids_the_table_lacks(spark, tmp_path):
    path = str(tmp_path / "silver")
    assert not delta_tables.exists(spark, path)
    assert delta_tables.append_new_ids(spark, _frame(spark, "b1", range(5)), path, "b1",
                                       [f"b1-{i}" for i in range(5)]) == {"num_inserted_rows": 5, "num_updated_rows": 0,
                                                                            "held_ids": []}
    assert delta_tables.exists(spark, path)
    second = _frame(spark, "b1", range(3, 5), n=8).withColumn("batch_id", F.lit("b2")).unionByName(
        _frame(spark, "b2", range(3)))
    second_ids = ["b1-3", "b1-4", "b2-0", "b2-1", "b2-2"]
    appended = delta_tables.append_new_ids(spark, second, path, "b2", second_ids)
    assert appended["num_inserted_rows"] == 3 and sorted(appended["held_ids"]) == ["b1-3", "b1-4"]
    rows = {r.id: (r.batch_id, r.n) for r in spark.read.format("delta").load(path).collect()}
    assert rows == {**{f"b1-{i}": ("b1", 0) for i in range(5)}, **{f"b2-{i}": ("b2", 0) for i in range(3)}}
    assert _operations(spark, path) == ["WRITE:Append", "WRITE:Append"]
    assert not delta_tables.batch_is_new(path, "b2")


def test_merge_by_id_leaves_no_temporary_view(spark, tmp_path):
    path = str(tmp_path / "merged")
    before = {t.name for t in spark.catalog.listTables() if t.isTemporary}
    metrics = delta_tables.merge_by_id(spark, _frame(spark, "b1", range(3)), path)
    assert metrics["num_inserted_rows"] == 3
    metrics = delta_tables.merge_by_id(spark, _frame(spark, "b1", range(2), n=4), path, update_when="t.n < s.n")
    assert (metrics["num_inserted_rows"], metrics["num_updated_rows"]) == (0, 2)
    assert {t.name for t in spark.catalog.listTables() if t.isTemporary} == before


def _upper(frames):
    for frame in frames:
        yield frame.assign(id=frame["id"].str.upper(), tags=[[t] for t in frame["batch_id"]])


def test_map_in_pandas_output_keeps_plain_strings_for_deltalake(spark, tmp_path):
    """Over Connect, raw mapInPandas output would be written as `string collate UTF8_BINARY`."""
    from deltalake import DeltaTable

    from tweetsent_assets.lib.lake.pandas_udfs import map_in_pandas

    path = str(tmp_path / "mapped")
    mapped = map_in_pandas(_frame(spark, "b1", range(3)), _upper, "id string, batch_id string, n int, tags array<string>")
    mapped.write.format("delta").save(path)
    table = DeltaTable(path)
    assert sorted(table.to_pandas()["id"]) == ["B1-0", "B1-1", "B1-2"]
    assert "collate" not in table.schema().to_json()
    assert delta_tables.describe(spark, path).rows == 3 and not delta_tables.batch_is_new(path, "b1")
