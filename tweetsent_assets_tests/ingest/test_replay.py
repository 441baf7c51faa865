"""Replay into a local folder and a moto S3 server, pacing with a fake clock, and the CLI."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from itertools import islice

import boto3
import pytest

from tweetsent_assets.cli.main import main
from tweetsent_assets.lib.ingest.object_store import open_store
from tweetsent_assets.lib.ingest.replay import REPLAY_FIELDS, encode_object, replay
from tweetsent_assets.lib.ingest.sources import read_demo, read_sentiment140, read_source

from ..support import shared

FIXED_NOW = datetime(2026, 11, 20, 14, 3, 11, tzinfo=timezone.utc)


def read_lines(data: bytes) -> list[dict]:
    text = data.decode("utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps or a put takes time."""

    def __init__(self, put_seconds: float = 0.0):
        self.now = 100.0
        self.sleeps: list[float] = []
        self.put_times: list[float] = []
        self.put_seconds = put_seconds

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class RecordingStore:
    """An in-memory store that notes the fake time of each put."""

    url = "memory://"

    def __init__(self, clock: FakeClock | None = None):
        self.objects: dict[str, bytes] = {}
        self._clock = clock

    def put(self, key: str, data: bytes) -> str:
        if self._clock:
            self._clock.put_times.append(self._clock.now)
            self._clock.now += self._clock.put_seconds
        self.objects[key] = data
        return str(len(self.objects))


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def test_replay_demo_to_local_folder(tmp_path):
    store = open_store(str(tmp_path))
    source = list(read_demo())
    keys = replay(read_demo(), store, tweets_per_object=25, objects_per_second=None, run_id="run1")
    assert keys == [f"replay/run1-{seq:06d}.jsonl" for seq in range(4)]
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == keys
    objects = [read_lines((tmp_path / key).read_bytes()) for key in keys]
    assert [len(lines) for lines in objects] == [25, 25, 25, 5]
    assert [line for lines in objects for line in lines] == source
    assert all(list(line) == list(REPLAY_FIELDS) for lines in objects for line in lines)
    raw = (tmp_path / keys[0]).read_text(encoding="utf-8")
    assert "☕" in raw and ", " not in raw.split('"text"')[0]


def test_replay_to_moto_s3_matches_first_150_sentiment140_tweets(s3, s3_endpoint):
    path = shared("sentiment140/sentiment140_sample_20k.csv")
    s3.create_bucket(Bucket="landing")
    store = open_store("s3://landing/raw/tweets", endpoint_url=s3_endpoint, region="us-east-1")
    keys = replay(read_source(str(path)), store, tweets_per_object=50, objects_per_second=0,
                  max_objects=3, run_id="s140")
    assert keys == ["replay/s140-000000.jsonl", "replay/s140-000001.jsonl", "replay/s140-000002.jsonl"]
    listed = s3.list_objects_v2(Bucket="landing")["Contents"]
    assert sorted(item["Key"] for item in listed) == [f"raw/tweets/{key}" for key in keys]
    objects = [read_lines(s3.get_object(Bucket="landing", Key=f"raw/tweets/{key}")["Body"].read())
               for key in keys]
    assert [len(lines) for lines in objects] == [50, 50, 50]
    assert [line for lines in objects for line in lines] == list(islice(read_sentiment140(path), 150))
    assert objects[0][0]["date"] == "Tue Jun 16 18:18:12 PDT 2009"


def test_pacing_follows_an_absolute_schedule():
    fake = FakeClock()
    records = [{"id": str(i), "text": f"t{i}", "sentiment": "neutral"} for i in range(8)]
    keys = replay(records, RecordingStore(fake), tweets_per_object=2, objects_per_second=2,
                  run_id="p", sleep=fake.sleep, clock=fake.clock, now=lambda: FIXED_NOW)
    assert len(keys) == 4
    assert fake.sleeps == pytest.approx([0.5, 0.5, 0.5])
    assert sum(fake.sleeps) == pytest.approx(1.5)
    assert fake.put_times == pytest.approx([100.0, 100.5, 101.0, 101.5])


def test_slow_puts_do_not_accumulate_drift():
    fake = FakeClock(put_seconds=0.2)
    records = ({"text": str(i)} for i in range(5))
    replay(records, RecordingStore(fake), tweets_per_object=1, objects_per_second=2, run_id="d",
           sleep=fake.sleep, clock=fake.clock, now=lambda: FIXED_NOW)
    assert fake.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.3])
    assert fake.put_times == pytest.approx([100.0, 100.5, 101.0, 101.5, 102.0])


def test_unpaced_replay_never_sleeps_and_stops_at_max_objects():
    consumed = []

    def records():
        for i in range(100):
            consumed.append(i)
            yield {"id": str(i), "text": "x"}

    store = RecordingStore()
    keys = replay(records(), store, tweets_per_object=7, objects_per_second=None, max_objects=2,
                  key_prefix="", run_id="m", sleep=lambda s: pytest.fail("slept"))
    assert keys == ["m-000000.jsonl", "m-000001.jsonl"]
    assert len(consumed) == 14
    assert replay([], store, tweets_per_object=1, objects_per_second=1) == []


def test_undated_tweeteval_records_get_the_replay_time():
    store = RecordingStore()
    records = read_source(str(shared("tweeteval_sentiment")), limit=3)
    keys = replay(records, store, tweets_per_object=3, objects_per_second=None, run_id="te",
                  now=lambda: FIXED_NOW)
    lines = read_lines(store.objects[keys[0]])
    assert [line["date"] for line in lines] == ["2026-11-20T14:03:11Z"] * 3
    assert [line["id"] for line in lines] == ["tweeteval-val-1", "tweeteval-val-2", "tweeteval-val-3"]
    assert encode_object([{"text": "kept", "date": "Fri Nov 20 09:00:00 PST 2026"}], "X") == (
        '{"id":null,"date":"Fri Nov 20 09:00:00 PST 2026","user":null,"text":"kept","sentiment":null}\n'
    ).encode()


def test_default_run_ids_are_distinct_and_timestamped():
    store = RecordingStore()
    first = replay([{"text": "a"}], store, tweets_per_object=1, objects_per_second=None)
    second = replay([{"text": "a"}], store, tweets_per_object=1, objects_per_second=None)
    pattern = re.compile(r"^replay/\d{8}T\d{6}Z-[0-9a-f]{6}-000000\.jsonl$")
    assert pattern.match(first[0]) and pattern.match(second[0])
    assert first != second and len(store.objects) == 2


@pytest.mark.parametrize("kwargs", [
    {"tweets_per_object": 0, "objects_per_second": 1},
    {"tweets_per_object": 1, "objects_per_second": -1},
    {"tweets_per_object": 1, "objects_per_second": float("inf")},
    {"tweets_per_object": 1, "objects_per_second": 1, "max_objects": -1},
])
def test_invalid_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        replay([{"text": "a"}], RecordingStore(), **kwargs)


def test_cli_replays_demo_to_a_folder(tmp_path, capsys):
    code = main(["replay", "demo", "--to", str(tmp_path / "landing"), "--objects-per-second", "0",
                 "--tweets-per-object", "30", "-v"])
    assert code == 0
    files = sorted((tmp_path / "landing" / "replay").glob("*.jsonl"))
    assert [len(read_lines(f.read_bytes())) for f in files] == [30, 30, 20]
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4
    assert all(line.startswith("file://") for line in out[:3])
    assert re.match(r"^replayed 3 objects, 80 tweets to .*landing in \d+\.\d s$", out[3])


def test_cli_limit_and_max_objects_without_verbose(tmp_path, capsys):
    code = main(["replay", "demo", "--to", str(tmp_path), "--objects-per-second", "0",
                 "--tweets-per-object", "4", "--limit", "10", "--key-prefix", "in"])
    assert code == 0
    assert [len(read_lines(f.read_bytes())) for f in sorted((tmp_path / "in").glob("*.jsonl"))] == [4, 4, 2]
    assert capsys.readouterr().out.startswith("replayed 3 objects, 10 tweets")
    assert main(["replay", "demo", "--to", str(tmp_path / "m"), "--objects-per-second", "0",
                 "--tweets-per-object", "4", "--max-objects", "1"]) == 0
    assert len(list((tmp_path / "m").rglob("*.jsonl"))) == 1


def test_cli_to_s3_with_endpoint_from_environment(s3, s3_endpoint, monkeypatch, capsys):
    s3.create_bucket(Bucket="cli-landing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert main(["replay", "demo", "--to", "s3://cli-landing/in", "--objects-per-second", "0",
                 "--tweets-per-object", "40"]) == 0
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="cli-landing")["Contents"]]
    assert len(keys) == 2 and all(key.startswith("in/replay/") for key in keys)
    assert "to s3://cli-landing/in/" in capsys.readouterr().out


def test_cli_bad_source_path_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "no-such-tweets.csv"
    code = main(["replay", str(missing), "--to", str(tmp_path / "out"), "--objects-per-second", "1",
                 "--tweets-per-object", "5"])
    assert code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, named", [
    (["--objects-per-second", "fast", "--tweets-per-object", "5"], "'fast'"),
    (["--objects-per-second", "1", "--tweets-per-object", "0"], "--tweets-per-object"),
    (["--objects-per-second", "1", "--tweets-per-object", "5", "--limit", "-3"], "'-3'"),
])
def test_cli_bad_numbers_exit_2_in_one_line(tmp_path, capsys, argv, named):
    assert main(["replay", "demo", "--to", str(tmp_path)] + argv) == 2
    err = capsys.readouterr().err
    assert named in err and err.count("\n") == 1


def test_cli_unknown_format_and_missing_bucket(tmp_path, capsys, s3, s3_endpoint):
    odd = tmp_path / "tweets.txt"
    odd.write_text("hi\n")
    assert main(["replay", str(odd), "--to", str(tmp_path), "--objects-per-second", "0",
                 "--tweets-per-object", "5"]) == 2
    assert str(odd) in capsys.readouterr().err
    assert main(["replay", "demo", "--to", "s3://does-not-exist/x", "--endpoint-url", s3_endpoint,
                 "--objects-per-second", "0", "--tweets-per-object", "5"]) == 1
    err = capsys.readouterr().err
    assert "NoSuchBucket" in err and err.count("\n") == 1
