"""Delta's jars come from Maven through `mvn`: quietly when it works, naming what failed when it does not."""
from __future__ import annotations

import pytest

from tweetsent_assets.lib.lake import spark_jars


def test_mvn_copies_quietly_and_fails_naming_the_artifact(tmp_path, capfd):
    spark_jars._mvn_copy(["io.delta:delta-storage:4.4.0"], tmp_path / "jars")
    assert (tmp_path / "jars" / "delta-storage-4.4.0.jar").is_file()
    out, err = capfd.readouterr()
    assert out == err == "", "mvn's output (and its colour codes) stays off the console"

    with pytest.raises(RuntimeError, match=r"mvn could not copy io\.delta:no-such-artifact:0\.0\.1 into .*bad"):
        spark_jars._mvn_copy(["io.delta:no-such-artifact:0.0.1"], tmp_path / "bad")
