"""Scoring requests in MLflow's JSON formats: the tweets they carry, or a 4xx that names the problem."""
from __future__ import annotations

import json

import pytest

from tweetsent_assets.lib.ml.scoring_requests import BadRequest, request_texts

MAX_BATCH = 8
TWEETS = ["great flight :)", "lost my bag again"]
GOOD = {
    "dataframe_split": {"dataframe_split": {"columns": ["id", "text"], "data": [[1, TWEETS[0]], [2, TWEETS[1]]]}},
    "dataframe_records": {"dataframe_records": [{"text": TWEETS[0], "id": 1}, {"text": TWEETS[1]}]},
    "inputs": {"inputs": TWEETS},
    "inputs-columns": {"inputs": {"text": TWEETS}},
    "instances": {"instances": [{"text": t} for t in TWEETS]},
}
# (body, HTTP status, a phrase of the message)
BAD = {
    "empty body": (b"", 400, "empty request body"),
    "malformed JSON": (b'{"inputs": ["a"', 400, "malformed JSON"),
    "not an object": (b'["a tweet"]', 400, "expected a JSON object"),
    "no format key": (b'{"text": ["a"]}', 400, "expected exactly one of the keys"),
    "two format keys": (b'{"inputs": ["a"], "instances": ["b"]}', 400, "expected exactly one of the keys"),
    "split without text": (b'{"dataframe_split": {"columns": ["tweet"], "data": [["a"]]}}', 400,
                           "no 'text' column: dataframe_split has columns ['tweet']"),
    "records without text": (b'{"dataframe_records": [{"tweet": "a"}]}', 400, "no 'text' column: record 0"),
    "columns without text": (b'{"inputs": {"tweet": ["a"]}}', 400, "no 'text' column: inputs has columns ['tweet']"),
    "number text": (b'{"inputs": ["a", 42]}', 400, "text of row 1 is a number, expected a string"),
    "null text": (b'{"dataframe_records": [{"text": null}]}', 400, "text of row 0 is null"),
    "no tweets": (b'{"inputs": []}', 400, "inputs holds no tweets"),
    "batch over the limit": (json.dumps({"inputs": ["a"] * (MAX_BATCH + 1)}).encode(), 413,
                             f"batch of {MAX_BATCH + 1} tweets is over the limit of {MAX_BATCH}"),
}


@pytest.mark.parametrize("payload", GOOD.values(), ids=GOOD.keys())
def test_each_format_gives_the_text_column(payload):
    assert request_texts(json.dumps(payload).encode(), MAX_BATCH) == TWEETS


@pytest.mark.parametrize("body, status, phrase", BAD.values(), ids=BAD.keys())
def test_bad_requests_name_the_problem(body, status, phrase):
    with pytest.raises(BadRequest) as caught:
        request_texts(body, MAX_BATCH)
    assert caught.value.status == status and phrase in str(caught.value)
