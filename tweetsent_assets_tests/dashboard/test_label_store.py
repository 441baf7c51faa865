"""The labeling page's file logic: labels read back by labeled_tweets' reader, never lost or written twice."""
from __future__ import annotations

import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pandas as pd
import pytest

from dashboard import label_store
from tweetsent_assets.lib.insights.active_learning import labeled_ids, labeled_sources
from tweetsent_assets.lib.ml.labeled_data import read_labeled
from tweetsent_assets.lib.ml.models.labels import LABELS

from .labeling_queue import write_queue


def test_labels_are_read_back_by_the_labeled_tweets_reader(tmp_path):
    write_queue(tmp_path)
    queue = label_store.read_queue(tmp_path)
    chosen = dict(zip(queue["id"][:3], LABELS))
    for _, tweet in queue.head(3).iterrows():
        assert label_store.append_label(tmp_path, tweet.to_dict(), chosen[tweet["id"]])
    assert labeled_ids(tmp_path) == set(chosen)
    sources = labeled_sources(tmp_path)
    assert [s.path for s in sources] == [str(label_store.labels_path(tmp_path).resolve())]
    rows = [row for source in sources for row in read_labeled(source)]
    texts = dict(zip(queue["id"], queue["text"]))
    assert sorted((r["text"], r["label"], r["split"]) for r in rows) == sorted(
        (texts[i], label, "train") for i, label in chosen.items())


def test_next_tweet_is_the_first_neither_labeled_nor_skipped(tmp_path):
    write_queue(tmp_path)
    queue = label_store.read_queue(tmp_path)
    assert label_store.next_tweet(queue, set())["id"] == "t0"
    assert label_store.append_label(tmp_path, queue.iloc[0].to_dict(), "negative")
    assert label_store.next_tweet(queue, labeled_ids(tmp_path) | {"t1"})["id"] == "t2"
    assert label_store.next_tweet(queue, set(queue["id"])) is None
    assert label_store.read_queue(tmp_path / "none").empty


def test_an_id_labeled_in_any_labeled_file_is_not_written_again(tmp_path):
    write_queue(tmp_path)
    tweet = label_store.read_queue(tmp_path).iloc[0].to_dict()
    assert label_store.append_label(tmp_path, tweet, "positive")
    assert not label_store.append_label(tmp_path, tweet, "negative")
    pd.DataFrame({"id": ["t1"], "text": ["by hand"], "label": ["neutral"]}).to_csv(
        tmp_path / "labeled" / "by_hand.csv", index=False)
    assert not label_store.append_label(tmp_path, {"id": "t1", "text": "by hand"}, "positive")
    written = pd.read_csv(label_store.labels_path(tmp_path), dtype=str)
    assert list(written.columns) == list(label_store.COLUMNS)
    assert list(zip(written["id"], written["label"])) == [("t0", "positive")]


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="'great' for tweet t0"):
        label_store.append_label(tmp_path, {"id": "t0", "text": "x"}, "great")
    with pytest.raises(ValueError, match="without an id"):
        label_store.append_label(tmp_path, {"id": " ", "text": "x"}, "neutral")
    label_store.labels_path(tmp_path).parent.mkdir(parents=True)
    label_store.labels_path(tmp_path).write_text("tweet,sentiment\n1,positive\n")
    with pytest.raises(ValueError, match=r"dashboard\.csv has the columns \['tweet', 'sentiment'\]"):
        label_store.append_label(tmp_path, {"id": "t0", "text": "x"}, "neutral")
    (tmp_path / "queue.csv").write_text("rank,tweet\n1,hi\n")
    with pytest.raises(ValueError, match=r"queue\.csv lacks the queue columns \['id', 'text'"):
        label_store.read_queue(tmp_path)


def _label_all(folder, ids: list[str], worker: int, threads: int) -> list[str]:
    """Every thread labels every id, in its own order; the ids this process wrote."""
    def run(thread: int) -> list[str]:
        order = random.Random(worker * threads + thread).sample(ids, len(ids))
        label = LABELS[(worker + thread) % len(LABELS)]
        return [i for i in order if label_store.append_label(folder, {"id": i, "text": f"tweet {i}"}, label)]

    with ThreadPoolExecutor(threads) as pool:
        return [i for wrote in pool.map(run, range(threads)) for i in wrote]


def test_concurrent_writers_neither_lose_nor_repeat_a_label(tmp_path):
    ids = [f"c{i}" for i in range(40)]
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        wrote = [i for part in pool.map(_label_all, [tmp_path] * 4, [ids] * 4, range(4), [4] * 4) for i in part]
    written = pd.read_csv(label_store.labels_path(tmp_path), dtype=str)
    assert sorted(wrote) == sorted(ids)
    assert sorted(written["id"]) == sorted(ids)
    assert set(written["label"]) <= set(LABELS) and labeled_ids(tmp_path) == set(ids)
