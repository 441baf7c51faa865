"""Which batches a table holds, read from its Delta log and files by `deltalake`: by hour prefix, or by id."""
import pandas as pd
from deltalake import write_deltalake

from tweetsent_assets.lib.lake.delta_tables import batches_held, batches_with_prefix

BATCHES = ["20261207T095959Z-a", "20261207T100000Z-b", "20261207T105959Z-c", "20261207T110000Z-d"]


def _table(tmp_path) -> str:
    path = str(tmp_path / "gold")
    for batch in BATCHES:
        write_deltalake(path, pd.DataFrame({"batch_id": [batch] * 3, "id": ["1", "2", "3"]}), mode="append")
    return path


def test_batches_of_an_hour_and_of_the_whole_table(tmp_path):
    path = _table(tmp_path)
    assert batches_with_prefix(path, "20261207T10") == BATCHES[1:3]
    assert batches_with_prefix(path, "20261207T12") == []
    assert batches_with_prefix(path, "") == BATCHES, "an empty prefix prunes no file"
    assert batches_with_prefix(str(tmp_path / "none"), "20261207T10") == []


def test_batches_held_names_only_those_with_rows(tmp_path):
    path = _table(tmp_path)
    assert batches_held(path, ["20261207T100000Z-b", "20261207T100001Z-x", BATCHES[3]]) == {
        "20261207T100000Z-b", BATCHES[3]}
    assert batches_held(path, []) == set()
