"""An instance made by earlier versions (one partition per batch) keeps working: its batches map to hours, once."""
from dagster import AssetKey, AssetMaterialization, instance_for_test

from tweetsent_assets.cli.main import main
from tweetsent_assets.defs.migration import HOURLY_ASSETS, migrate_batch_partitions
from tweetsent_assets.defs.partitions import tweet_batches

BATCHES = ["20261207T095900Z-aaa", "20261207T100100Z-bbb", "20261207T105959Z-ccc", "notes-without-a-stamp"]


def _old_instance(instance) -> None:
    """Batch partitions as earlier versions wrote them: every layer of the first three, only bronze of the last."""
    instance.add_dynamic_partitions(tweet_batches.name, BATCHES)
    for batch in BATCHES[:3]:
        for asset in HOURLY_ASSETS:
            instance.report_runless_asset_event(AssetMaterialization(asset_key=asset, partition=batch))
    instance.report_runless_asset_event(AssetMaterialization(asset_key="bronze_tweets", partition=BATCHES[3]))


def test_batches_map_to_their_hours_once_and_old_partitions_stay():
    with instance_for_test() as instance:
        _old_instance(instance)
        first = migrate_batch_partitions(instance)
        assert first.batches == 4 and first.hours == 2 and first.skipped == ["notes-without-a-stamp"]
        assert first.reported == {asset: 2 for asset in HOURLY_ASSETS}
        gold = instance.get_materialized_partitions(AssetKey("gold_tweet_sentiment"))
        assert {"2026-12-07-09:00", "2026-12-07-10:00"} <= gold and set(BATCHES[:3]) <= gold
        event = instance.get_latest_materialization_event(AssetKey("gold_tweet_sentiment"))
        assert event.asset_materialization.partition == "2026-12-07-10:00"
        assert event.asset_materialization.metadata["migrated_batches"].value == 2
        again = migrate_batch_partitions(instance)
        assert sum(again.reported.values()) == 0
        assert "every hour was already migrated" in again.summary()
        assert instance.get_dynamic_partitions(tweet_batches.name) == BATCHES


def test_the_command_says_what_it_did(tmp_path, monkeypatch, capsys):
    with instance_for_test(temp_dir=str(tmp_path)) as instance:
        _old_instance(instance)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert main(["migrate"]) == 0
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "4 batch partitions map to 2 hours; reported 18 hour materializations" in out[0]
    assert "notes-without-a-stamp" in out[0]
    assert "every hour was already migrated" in out[1]
