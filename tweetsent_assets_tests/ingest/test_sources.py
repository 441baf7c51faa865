"""Source readers against the real shared data sets, the demo sample and small hand-made files."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from tweetsent_assets.lib.ingest.sources import (
    SOURCE_KINDS,
    detect_source,
    missing_tweeteval_files,
    normalize_sentiment,
    read_csv,
    read_demo,
    read_jsonl,
    read_sentiment140,
    read_source,
    read_tweeteval,
)

from ..support import shared


def sentiments(records) -> Counter:
    return Counter(record["sentiment"] for record in records)


def test_tweeteval_counts_and_first_rows():
    records = list(read_tweeteval(shared("tweeteval_sentiment")))
    assert len(records) == 2000
    assert sentiments(records) == {"negative": 312, "neutral": 869, "positive": 819}
    assert records[0] == {
        "id": "tweeteval-val-1", "date": None, "user": None,
        "text": "Dark Souls 3 April Launch Date Confirmed With New Trailer: Embrace the darkness.",
        "sentiment": "neutral",
    }
    assert records[2]["sentiment"] == "negative"
    assert records[-1]["id"] == "tweeteval-val-2000"
    assert len({record["id"] for record in records}) == 2000


def test_tweeteval_strips_only_the_format_space(tmp_path):
    (tmp_path / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n")
    (tmp_path / "val_text.txt").write_text("two spaces  \nplain \n", encoding="utf-8")
    (tmp_path / "val_labels.txt").write_text("2\n0\n")
    records = list(read_source(str(tmp_path)))
    assert [(r["text"], r["sentiment"]) for r in records] == [("two spaces ", "positive"), ("plain", "negative")]


def test_tweeteval_label_missing_from_mapping_names_file_and_line(tmp_path):
    (tmp_path / "mapping.txt").write_text("0 negative\n1 positive\n")
    (tmp_path / "val_text.txt").write_text("a \nb \n")
    (tmp_path / "val_labels.txt").write_text("1\n7\n")
    with pytest.raises(ValueError, match=r"val_labels.txt:2: label '7'"):
        list(read_tweeteval(tmp_path))


def test_tweeteval_training_split_counts():
    records = list(read_tweeteval(shared("tweeteval_sentiment"), split="train"))
    assert len(records) == 47_477
    assert sentiments(records) == {"negative": 7_415, "neutral": 21_278, "positive": 18_784}
    assert records[-1]["id"] == "tweeteval-train-47477"
    assert len(list(read_source(shared("tweeteval_sentiment"), limit=5, tweeteval_split="train"))) == 5


def _tweeteval(folder, texts: str, labels: str, split: str = "train"):
    folder.mkdir(exist_ok=True)
    (folder / "mapping.txt").write_text("0\tnegative\n1\tneutral\n2\tpositive\n")
    (folder / f"{split}_text.txt").write_text(texts, encoding="utf-8")
    (folder / f"{split}_labels.txt").write_text(labels)
    return folder


def test_tweeteval_train_split_of_a_small_folder(tmp_path):
    folder = _tweeteval(tmp_path / "te", "good day \nmeh \nawful \n", "2\n1\n0\n")
    records = list(read_source(str(folder), tweeteval_split="train"))
    assert [(r["id"], r["text"], r["sentiment"]) for r in records] == [
        ("tweeteval-train-1", "good day", "positive"), ("tweeteval-train-2", "meh", "neutral"),
        ("tweeteval-train-3", "awful", "negative")]
    assert missing_tweeteval_files(folder, "train") == []
    assert missing_tweeteval_files(folder, "val") == ["val_text.txt", "val_labels.txt"]


def test_tweeteval_files_of_different_lengths_name_the_file_and_line(tmp_path):
    short_labels = _tweeteval(tmp_path / "a", "one \ntwo \nthree \n", "2\n1\n")
    with pytest.raises(ValueError, match=r"a/train_text.txt:3: no matching line in .*a/train_labels.txt "
                                         r"\(train_text.txt has 3 lines, train_labels.txt has 2\)"):
        list(read_tweeteval(short_labels, split="train"))
    short_texts = _tweeteval(tmp_path / "b", "one \n", "2\n1\n0\n0\n")
    with pytest.raises(ValueError, match=r"b/train_labels.txt:2: no matching line in .*b/train_text.txt"):
        list(read_tweeteval(short_texts, split="train"))


def test_tweeteval_unknown_label_and_empty_files_name_the_file_and_line(tmp_path):
    unknown = _tweeteval(tmp_path / "a", "one \ntwo \nthree \n", "2\n1\n5\n")
    records = read_tweeteval(unknown, split="train")
    assert next(records)["sentiment"] == "positive"
    with pytest.raises(ValueError, match=r"a/train_labels.txt:3: label '5' is not in mapping.txt \(known: 0, 1, 2\)"):
        list(records)
    empty_texts = _tweeteval(tmp_path / "b", "", "2\n")
    with pytest.raises(ValueError, match=r"b/train_text.txt:1: the file is empty"):
        list(read_tweeteval(empty_texts, split="train"))
    empty_labels = _tweeteval(tmp_path / "c", "one \n", "")
    with pytest.raises(ValueError, match=r"c/train_labels.txt:1: the file is empty"):
        list(read_tweeteval(empty_labels, split="train"))
    (tmp_path / "c" / "mapping.txt").write_text("")
    with pytest.raises(ValueError, match=r"c/mapping.txt:1: the file is empty"):
        list(read_tweeteval(tmp_path / "c", split="train"))


def test_tweeteval_missing_split_files_are_named(tmp_path):
    folder = _tweeteval(tmp_path / "te", "a \n", "1\n", split="val")
    with pytest.raises(FileNotFoundError, match=r"lacks train_text.txt, train_labels.txt"):
        list(read_tweeteval(folder, split="train"))


def test_sentiment140_counts_dates_and_dirty_rows():
    path = shared("sentiment140/sentiment140_sample_20k.csv")
    records = list(read_sentiment140(path))
    assert len(records) == 20000
    assert sentiments(records) == {"negative": 9942, "positive": 10058}
    assert records[0] == {
        "id": "2200003196", "date": "Tue Jun 16 18:18:12 PDT 2009", "user": "LaLaLindsey0609",
        "text": "@chrishasboobs AHHH I HOPE YOUR OK!!! ", "sentiment": "negative",
    }
    assert sum("ï¿½" in record["text"] for record in records) == 44
    duplicated = [record for record in records if record["id"] == "1835531233"]
    assert sorted(record["sentiment"] for record in duplicated) == ["negative", "positive"]
    assert len({record["id"] for record in records}) == 19999


def test_sentiment140_detected_and_limited():
    path = shared("sentiment140/sentiment140_sample_20k.csv")
    assert detect_source(path) == "sentiment140"
    records = list(read_source(str(path), limit=5))
    assert [record["id"] for record in records] == [r["id"] for r in list(read_sentiment140(path))[:5]]


def test_sentiment140_without_header(tmp_path):
    path = tmp_path / "training.csv"
    path.write_text('"2","11","Sat Nov 21 10:00:00 PST 2026","NO_QUERY","ann","meh, it is fine"\n')
    assert detect_source(path) == "sentiment140"
    assert list(read_source(str(path))) == [{"id": "11", "date": "Sat Nov 21 10:00:00 PST 2026",
                                             "user": "ann", "text": "meh, it is fine", "sentiment": "neutral"}]


def test_airline_counts_and_multiline_text():
    path = shared("airline/Tweets.csv")
    assert detect_source(path) == "airline"
    records = list(read_source(str(path)))
    assert len(records) == 14640
    assert sentiments(records) == {"negative": 9178, "neutral": 3099, "positive": 2363}
    assert len({record["id"] for record in records}) == 14485
    assert records[0] == {"id": "570306133677760513", "date": "2015-02-24 11:35:52 -0800",
                          "user": "cairdin", "text": "@VirginAmerica What @dhepburn said.",
                          "sentiment": "neutral"}
    multiline = next(record for record in records if record["id"] == "570300767074181121")
    assert multiline["text"] == ("@VirginAmerica seriously would pay $30 a flight for seats that didn't have "
                                 "this playing.\nit's really the only bad thing about flying VA")
    assert sum("\n" in record["text"] for record in records) > 1


def test_demo_sample_counts():
    records = list(read_source("demo"))
    assert len(records) == 80
    assert sentiments(records) == {"negative": 27, "neutral": 26, "positive": 27}
    assert sum(record["id"] is None for record in records) == 2
    id_counts = Counter(record["id"] for record in records if record["id"] is not None)
    assert sorted(count for count in id_counts.values() if count > 1) == [2, 2, 2]
    assert all(record["text"] and record["date"] and record["user"] for record in records)
    assert len({record["user"] for record in records}) > 5
    assert sum(record["text"].startswith("RT @") for record in records) >= 2
    assert list(read_demo(limit=3)) == records[:3]


def test_generic_jsonl_and_csv_with_aliases_and_label_map(tmp_path):
    jsonl = tmp_path / "labeled.jsonl"
    jsonl.write_text('{"id": 7, "body": "great", "label": "POS"}\n\n'
                     '{"body": "hmm", "label": "neu", "who": "x"}\n'
                     '{"body": "no label"}\n', encoding="utf-8")
    records = list(read_jsonl(jsonl, text_column="body", label_column="label", user_column="who"))
    assert records == [
        {"id": "7", "date": None, "user": None, "text": "great", "sentiment": "positive"},
        {"id": None, "date": None, "user": "x", "text": "hmm", "sentiment": "neutral"},
        {"id": None, "date": None, "user": None, "text": "no label", "sentiment": None},
    ]
    csv_path = tmp_path / "coded.csv"
    csv_path.write_text("tweet,score\nbad day,0\nok,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"coded.csv:2: unrecognised sentiment label '0'"):
        list(read_csv(csv_path, text_column="tweet", label_column="score"))
    coded = read_csv(csv_path, text_column="tweet", label_column="score",
                     label_map={"0": "negative", "1": "neutral"})
    assert [(r["text"], r["sentiment"]) for r in coded] == [("bad day", "negative"), ("ok", "neutral")]


def test_json_array_file_and_generic_csv_detection(tmp_path):
    array = tmp_path / "tweets.json"
    array.write_text(json.dumps([{"text": "a", "sentiment": "negative"}, {"text": "b", "sentiment": "Positive"}]))
    assert [r["sentiment"] for r in read_source(str(array))] == ["negative", "positive"]
    generic = tmp_path / "generic.csv"
    generic.write_text("id,text,sentiment\n1,hello,neutral\n")
    assert detect_source(generic) == "csv"
    assert list(read_source(str(generic)))[0]["sentiment"] == "neutral"


def test_bad_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "ok", "sentiment": "neg"}\n{"text": \n')
    with pytest.raises(ValueError, match=r"broken.jsonl:2: not valid JSON"):
        list(read_source(str(path)))


def test_detection_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        read_source(str(missing))
    odd = tmp_path / "notes.txt"
    odd.write_text("hello\n")
    with pytest.raises(ValueError, match=r"notes.txt.*accepted: 'demo'"):
        read_source(str(odd))
    unknown_csv = tmp_path / "numbers.csv"
    unknown_csv.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="numbers.csv"):
        read_source(str(unknown_csv))
    with pytest.raises(ValueError, match="no val_text.txt"):
        read_source(str(tmp_path))
    with pytest.raises(ValueError, match="limit"):
        read_source("demo", limit=-1)


def test_normalize_sentiment():
    assert [normalize_sentiment(v) for v in ("negative", "NEG", " Neu ", "positive", "pos", "", None)] == [
        "negative", "negative", "neutral", "positive", "positive", None, None]
    for value in ("LABEL_0", "2", "good"):
        with pytest.raises(ValueError):
            normalize_sentiment(value)
    assert set(SOURCE_KINDS) == {"demo", "tweeteval", "sentiment140", "airline", "csv", "jsonl"}
