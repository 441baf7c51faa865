"""Parse tweet timestamps from the forms our sources use into aware UTC datetimes."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_ZONE_OFFSETS_HOURS = {
    "UTC": 0, "GMT": 0, "Z": 0,
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
    "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
    "AKST": -9, "AKDT": -8, "HST": -10,
    "BST": 1, "CET": 1, "CEST": 2, "IST": 5.5, "JST": 9,
}
_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1)}

# Sentiment140 / Twitter API v1: "Mon Apr 06 22:19:45 PDT 2009" (API v1 also uses "+0000" as the zone).
_TWITTER_FORM = re.compile(
    r"^\s*[A-Za-z]{3}\s+(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})\s+(?P<zone>[A-Za-z]{1,5}|[+-]\d{4})\s+(?P<year>\d{4})\s*$"
)
# "2015-02-24 11:35:52 -0800" (airline data): ISO-like, with a space before a compact offset.
_SPACED_OFFSET = re.compile(r"^(?P<base>.*\d)\s+(?P<sign>[+-])(?P<hh>\d{2}):?(?P<mm>\d{2})$")


def _offset(zone: str) -> timezone | None:
    if zone[0] in "+-":
        sign = 1 if zone[0] == "+" else -1
        return timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
    hours = _ZONE_OFFSETS_HOURS.get(zone.upper())
    return None if hours is None else timezone(timedelta(hours=hours))


def _parse_twitter_form(value: str) -> datetime | None:
    match = _TWITTER_FORM.match(value)
    if not match:
        return None
    month = _MONTHS.get(match["mon"].title())
    try:
        tz = _offset(match["zone"])
        if month is None or tz is None:
            return None
        local = datetime(int(match["year"]), month, int(match["day"]),
                         int(match["h"]), int(match["m"]), int(match["s"]), tzinfo=tz)
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # Feb 31, hour 25, offset +9999, year 0, out of range
        return None


def _parse_iso(value: str) -> datetime | None:
    text = value.strip()
    spaced = _SPACED_OFFSET.match(text)
    if spaced:
        text = f"{spaced['base']}{spaced['sign']}{spaced['hh']}:{spaced['mm']}"
    try:
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):  # OverflowError: e.g. 0001-01-01T00:00+01:00 shifted out of range
        return None


def parse_tweet_timestamp(value: object) -> datetime | None:
    """UTC datetime for a Sentiment140/Twitter-style date, an ISO-8601 string or epoch seconds/millis.

    Returns None for anything else (including unknown zone abbreviations), never a guess.
    Naive ISO values are taken as UTC.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    return _parse_twitter_form(value) or _parse_iso(value)
