"""Scoring requests in MLflow's JSON formats, checked before they reach a model server: their tweets, or a 4xx naming the problem."""
from __future__ import annotations

import json
from typing import Any

FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")
EXAMPLE = '{"inputs": ["a tweet"]}'
_JSON_TYPES = {dict: "an object", list: "an array", bool: "a boolean", int: "a number", float: "a number",
               type(None): "null", str: "a string"}


class BadRequest(ValueError):
    """A request the server refuses, with the HTTP status to answer and a message naming the problem."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def request_texts(body: bytes, max_batch: int) -> list[str]:
    """The tweets of a JSON request body in any of FORMATS with a `text` column; BadRequest when there is none."""
    if not body.strip():
        raise BadRequest(f"empty request body: send JSON such as {EXAMPLE}")
    try:
        payload = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"expected a JSON object with one of the keys {', '.join(FORMATS)}, got {_kind(payload)}")
    keys = [key for key in FORMATS if key in payload]
    others = sorted(set(payload) - set(FORMATS))
    if len(keys) != 1 or others:
        raise BadRequest(f"expected exactly one of the keys {', '.join(FORMATS)}, got keys {sorted(payload)}")
    values = _text_column(keys[0], payload[keys[0]])
    if not values:
        raise BadRequest(f"{keys[0]} holds no tweets")
    if len(values) > max_batch:
        raise BadRequest(f"batch of {len(values)} tweets is over the limit of {max_batch} per request "
                         "(--max-batch, TWEETSENT_SERVE_MAX_BATCH)", status=413)
    for row, value in enumerate(values):
        if not isinstance(value, str):
            raise BadRequest(f"text of row {row} is {_kind(value)}, expected a string")
    return values


def _text_column(key: str, value: Any) -> list[Any]:
    """The `text` values of one format's payload, not yet checked to be strings."""
    if key == "dataframe_split":
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            raise BadRequest('dataframe_split must be an object with "columns" and "data" (a list of rows)')
        columns = value.get("columns")
        if not isinstance(columns, list) or "text" not in columns:
            raise BadRequest(f"no 'text' column: dataframe_split has columns {columns}")
        at = columns.index("text")
        for row, values in enumerate(value["data"]):
            if not isinstance(values, list) or len(values) != len(columns):
                raise BadRequest(f"row {row} of dataframe_split is not a list of {len(columns)} values")
        return [values[at] for values in value["data"]]
    if isinstance(value, dict) and key != "dataframe_records":
        if "text" not in value:
            raise BadRequest(f"no 'text' column: {key} has columns {sorted(value)}")
        return value["text"] if isinstance(value["text"], list) else [value["text"]]
    if not isinstance(value, list):
        raise BadRequest(f"{key} must be a list, got {_kind(value)}")
    if key != "dataframe_records" and all(not isinstance(item, dict) for item in value):
        return value
    texts = []
    for row, record in enumerate(value):
        if not isinstance(record, dict) or "text" not in record:
            raise BadRequest(f"no 'text' column: record {row} of {key} is "
                             + (f"an object with keys {sorted(record)}" if isinstance(record, dict) else _kind(record)))
        texts.append(record["text"])
    return texts


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)
