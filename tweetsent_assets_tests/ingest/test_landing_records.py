"""parse_object: every landed unit becomes exactly one record or one quarantine entry."""
from __future__ import annotations

import gzip
import json

import pytest

from tweetsent_assets.lib.ingest.landing_records import MAX_TEXT_CHARS, extra_column_name, parse_object


def parse(data: bytes, key: str = "landing/part.jsonl", **kwargs):
    result = parse_object(data, key, **kwargs)
    assert result.landed == len(result.records) + len(result.quarantined)
    return result


def lines(*objects) -> bytes:
    return b"\n".join(json.dumps(o).encode() for o in objects) + b"\n"


TWEETS = [
    {"id": "1", "date": "Mon Apr 06 22:19:45 PDT 2009", "user": "alice", "text": "hello", "sentiment": "positive"},
    {"id": 2, "user": "bob", "text": "meh", "sentiment": 0, "lang": "en"},
    {"id": 3.0, "text": "third", "sentiment": 4.0},
]


def test_json_lines_parsed_with_known_fields_as_text():
    result = parse(lines(*TWEETS))
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 3, 0)
    first, second, third = result.records
    assert first == {"record_index": 0, "raw": json.dumps(TWEETS[0]), "id": "1",
                     "date": "Mon Apr 06 22:19:45 PDT 2009", "user": "alice", "text": "hello",
                     "sentiment": "positive", "lang": None}
    assert (second["id"], second["sentiment"], second["lang"], second["date"]) == ("2", "0", "en", None)
    assert (third["id"], third["sentiment"], third["record_index"]) == ("3", "4", 2)


def test_blank_lines_skipped_and_indexes_are_line_numbers():
    data = b"\n  \n" + json.dumps(TWEETS[0]).encode() + b"\n\r\n\t\n" + json.dumps(TWEETS[1]).encode() + b"\r\n\n"
    result = parse(data)
    assert (result.landed, len(result.records), len(result.quarantined)) == (2, 2, 0)
    assert [r["record_index"] for r in result.records] == [2, 5]
    assert [r["text"] for r in result.records] == ["hello", "meh"]


def test_malformed_line_quarantined_others_parsed():
    data = lines(TWEETS[0]) + b'{"id": "x", "text": oops}\n' + lines(TWEETS[1])
    result = parse(data)
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 2, 1)
    assert [r["id"] for r in result.records] == ["1", "2"]
    bad = result.quarantined[0]
    assert "malformed JSON" in bad["reason"]
    assert bad["record_index"] == 1
    assert bad["raw"] == '{"id": "x", "text": oops}'


def test_truncated_last_line_quarantined():
    whole = lines(*TWEETS)
    result = parse(whole[: len(whole) - 12])
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 2, 1)
    assert "malformed JSON" in result.quarantined[0]["reason"]
    assert result.quarantined[0]["record_index"] == 2


def test_empty_object():
    result = parse(b"")
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "empty object" in result.quarantined[0]["reason"]


def test_whitespace_only_object():
    result = parse(b" \n\n\t\r\n")
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "whitespace" in result.quarantined[0]["reason"]


def test_invalid_utf8_line_quarantined():
    data = lines(TWEETS[0]) + b'{"id": "9", "text": "caf\xe9 \xff"}\n' + lines(TWEETS[1])
    result = parse(data)
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 2, 1)
    bad = result.quarantined[0]
    assert "invalid UTF-8" in bad["reason"]
    assert bad["record_index"] == 1
    assert "\\xe9" in bad["raw"]


def test_json_array_gives_one_record_per_element():
    result = parse(json.dumps(TWEETS, indent=2).encode(), key="landing/batch.json")
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 3, 0)
    assert [r["id"] for r in result.records] == ["1", "2", "3"]
    assert [r["record_index"] for r in result.records] == [0, 1, 2]
    assert json.loads(result.records[0]["raw"]) == TWEETS[0]


def test_json_array_with_non_object_element():
    result = parse(json.dumps([TWEETS[0], "just a string", 5, TWEETS[1]]).encode())
    assert (result.landed, len(result.records), len(result.quarantined)) == (4, 2, 2)
    assert [q["record_index"] for q in result.quarantined] == [1, 2]
    assert "got string" in result.quarantined[0]["reason"]
    assert "got number" in result.quarantined[1]["reason"]


def test_empty_json_array():
    result = parse(b"  [ ]  ")
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "empty JSON array" in result.quarantined[0]["reason"]


def test_pretty_printed_single_object_is_one_record():
    data = json.dumps(TWEETS[0], indent=4).encode()
    assert data.count(b"\n") > 4
    result = parse(data)
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 1, 0)
    assert result.records[0]["text"] == "hello"
    assert result.records[0]["user"] == "alice"


def test_missing_and_null_text_kept_as_none():
    result = parse(lines({"id": "1", "user": "a"}, {"id": "2", "text": None}))
    assert (result.landed, len(result.records), len(result.quarantined)) == (2, 2, 0)
    assert [r["text"] for r in result.records] == [None, None]


@pytest.mark.parametrize("record, field, kind", [
    ({"id": {"nested": 1}, "text": "x"}, "id", "object"),
    ({"id": True, "text": "x"}, "id", "boolean"),
    ({"id": "1", "user": ["a"], "text": "x"}, "user", "array"),
    ({"id": "1", "text": 42}, "text", "number"),
    ({"id": "1", "text": {"t": "x"}}, "text", "object"),
])
def test_bad_field_types_quarantined_naming_the_field(record, field, kind):
    result = parse(lines(TWEETS[0], record))
    assert (result.landed, len(result.records), len(result.quarantined)) == (2, 1, 1)
    reason = result.quarantined[0]["reason"]
    assert f"field {field!r}" in reason
    assert kind in reason


def test_one_megabyte_text_quarantined_with_limit():
    big = {"id": "big", "text": "a" * 1_000_000}
    result = parse(lines(TWEETS[0], big, TWEETS[1]))
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 2, 1)
    reason = result.quarantined[0]["reason"]
    assert str(MAX_TEXT_CHARS) in reason and "1000000" in reason
    assert len(result.quarantined[0]["raw"]) <= 1_100_000


def test_text_limit_is_configurable():
    result = parse(lines({"id": "1", "text": "12345"}, {"id": "2", "text": "123456"}), max_text_chars=5)
    assert (result.landed, len(result.records), len(result.quarantined)) == (2, 1, 1)
    assert result.records[0]["id"] == "1"
    assert "limit of 5" in result.quarantined[0]["reason"]


def test_deeply_nested_junk_quarantined_without_crash():
    result = parse(b"[" * 100_000)
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "nested too deeply" in result.quarantined[0]["reason"]


def test_deeply_nested_valid_value_among_lines():
    deep = b'{"id": "d", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    result = parse(lines(TWEETS[0]) + deep + b"\n" + lines(TWEETS[1]))
    assert (result.landed, len(result.records), len(result.quarantined)) == (3, 2, 1)
    assert "nested too deeply" in result.quarantined[0]["reason"]


def test_unknown_fields_become_extra_columns():
    record = {"id": "1", "text": "hi", "Retweet Count": 5, "geo": {"lat": 1.5, "lon": -2},
              "place": "Paris", "tags": ["a", "b"], "flag": True, "nothing": None, "raw": "clash?"}
    result = parse(lines(record))
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 1, 0)
    row = result.records[0]
    assert row["x_retweet_count"] == "5"
    assert row["x_geo"] == '{"lat":1.5,"lon":-2}'
    assert row["x_place"] == "Paris"
    assert row["x_tags"] == '["a","b"]'
    assert row["x_flag"] == "true"
    assert row["x_nothing"] is None
    assert row["x_raw"] == "clash?"
    assert row["raw"] == json.dumps(record)
    assert {k for k in row if k.startswith("x_")} == {
        "x_retweet_count", "x_geo", "x_place", "x_tags", "x_flag", "x_nothing", "x_raw"}


@pytest.mark.parametrize("name, column", [
    ("Retweet Count", "x_retweet_count"),
    ("user.location", "x_user_location"),
    ("__weird--Name__", "x_weird_name"),
    ("!!!", "x_field"),
    ("é", "x_field"),
    ("a" * 100, "x_" + "a" * 60),
])
def test_extra_column_name(name, column):
    assert extra_column_name(name) == column


def test_gzip_json_lines_parsed_like_plain():
    plain = lines(*TWEETS) + b"not json\n"
    expected = parse(plain)
    result = parse(gzip.compress(plain), key="landing/part.jsonl.gz")
    assert (result.landed, len(result.records), len(result.quarantined)) == (4, 3, 1)
    assert result.records == expected.records
    assert result.quarantined == expected.quarantined


@pytest.mark.parametrize("data", [
    b"\x1f\x8b" + b"garbage that is not deflate",
    gzip.compress(lines(*TWEETS))[:-10],
    gzip.compress(lines(*TWEETS))[:-8] + b"\x00\x00\x00\x00\x00\x00\x00\x00",
])
def test_corrupt_gzip_quarantined(data):
    result = parse(data, key="landing/part.jsonl.gz")
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "corrupt gzip" in result.quarantined[0]["reason"]


def test_png_bytes_quarantined_as_binary():
    result = parse(b"\x89PNG\r\n\x1a\n" + b"\x00" * 1024, key="landing/cat.png")
    assert (result.landed, len(result.records), len(result.quarantined)) == (1, 0, 1)
    assert "binary" in result.quarantined[0]["reason"]
    assert "landing/cat.png" in result.quarantined[0]["reason"]
