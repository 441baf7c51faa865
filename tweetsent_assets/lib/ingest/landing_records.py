"""Turn the bytes of one landing object into bronze records and quarantine entries.

Every unit of landed input ends up in exactly one of the two lists, so
`landed == len(records) + len(quarantined)` always holds for an object.
"""
from __future__ import annotations

import gzip
import json
import re
import zlib
from dataclasses import dataclass, field

KNOWN_FIELDS = ("id", "date", "user", "text", "sentiment", "lang")
MAX_TEXT_CHARS = 10_000
MAX_LINE_BYTES = 2_000_000
MAX_RAW_CHARS = 1_100_000
_COLUMN_SAFE = re.compile(r"[^0-9a-z_]+")


@dataclass
class ParsedObject:
    """What one object held: well-formed tweet records and quarantined units with reasons."""

    records: list[dict] = field(default_factory=list)
    quarantined: list[dict] = field(default_factory=list)

    @property
    def landed(self) -> int:
        return len(self.records) + len(self.quarantined)


def extra_column_name(field_name: str) -> str:
    """Delta-safe column name for an unknown top-level field: `x_` + lower-case snake case."""
    return "x_" + (_COLUMN_SAFE.sub("_", field_name.lower()).strip("_") or "field")[:60]


def parse_object(data: bytes, key: str, max_text_chars: int = MAX_TEXT_CHARS) -> ParsedObject:
    """Parse JSON lines (or one JSON array/object, optionally gzip-compressed) from a landing object."""
    result = ParsedObject()
    if not data:
        _quarantine(result, 0, "", "empty object (0 bytes)")
        return result
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            _quarantine(result, 0, _preview(data), f"corrupt gzip object: {exc}")
            return result
    data = data.removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in data[:4096]:
        _quarantine(result, 0, _preview(data), f"binary content, not JSON text (key {key!r})")
        return result

    whole = _parse_whole_document(data)
    if whole is not None:
        items = whole if isinstance(whole, list) else [whole]
        for index, item in enumerate(items):
            _add_value(result, index, json.dumps(item, ensure_ascii=False), item, max_text_chars)
        if not items:
            _quarantine(result, 0, "[]", "empty JSON array")
        return result

    for index, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        _add_line(result, index, line, max_text_chars)
    if not result.landed:
        _quarantine(result, 0, _preview(data), "object holds only whitespace")
    return result


def _parse_whole_document(data: bytes):
    """The decoded JSON value when the whole object is one JSON array or object, else None."""
    stripped = data.lstrip()
    if not stripped[:1] in (b"[", b"{"):
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, (list, dict)) else None


def _add_line(result: ParsedObject, index: int, line: bytes, max_text_chars: int) -> None:
    if len(line) > MAX_LINE_BYTES:
        _quarantine(result, index, _preview(line), f"line of {len(line)} bytes exceeds {MAX_LINE_BYTES}")
        return
    try:
        raw = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        _quarantine(result, index, line.decode("utf-8", "backslashreplace"), f"invalid UTF-8: {exc.reason} at byte {exc.start}")
        return
    try:
        value = json.loads(raw)
    except RecursionError:
        _quarantine(result, index, raw, "JSON nested too deeply")
        return
    except ValueError as exc:
        _quarantine(result, index, raw, f"malformed JSON: {exc}")
        return
    _add_value(result, index, raw, value, max_text_chars)


def _add_value(result: ParsedObject, index: int, raw: str, value, max_text_chars: int) -> None:
    problem = _schema_problem(value, max_text_chars)
    if problem:
        _quarantine(result, index, raw, problem)
        return
    record = {"record_index": index, "raw": raw}
    for name in KNOWN_FIELDS:
        record[name] = _as_text(value.get(name))
    for name, item in value.items():
        if name not in KNOWN_FIELDS:
            record.setdefault(extra_column_name(name),
                              item if isinstance(item, str) or item is None else _compact_json(item))
    result.records.append(record)


def _schema_problem(value, max_text_chars: int) -> str | None:
    if not isinstance(value, dict):
        return f"expected a JSON object per record, got {_json_type(value)}"
    for name in ("id", "date", "user", "sentiment", "lang"):
        item = value.get(name)
        if isinstance(item, bool) or (item is not None and not isinstance(item, (str, int, float))):
            return f"field {name!r} has type {_json_type(item)}, expected string or number"
    text = value.get("text")
    if text is not None and not isinstance(text, str):
        return f"field 'text' has type {_json_type(text)}, expected string"
    if isinstance(text, str) and len(text) > max_text_chars:
        return f"field 'text' has {len(text)} characters, more than the limit of {max_text_chars}"
    try:
        _compact_json(value)
    except RecursionError:
        return "JSON nested too deeply"
    return None


def _as_text(item) -> str | None:
    if item is None:
        return None
    if isinstance(item, float) and item.is_integer():
        return str(int(item))
    return str(item)


def _compact_json(item) -> str:
    return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _json_type(item) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(item), "number")


def _preview(data: bytes) -> str:
    return data[:4096].decode("utf-8", "backslashreplace")


def _quarantine(result: ParsedObject, index: int, raw: str, reason: str) -> None:
    result.quarantined.append({"record_index": index, "raw": raw[:MAX_RAW_CHARS], "reason": reason})
