"""The one text normalisation a model sees at training and at scoring time, and the text hash built on it.

On top of `clean_text` (`@user`, `http`, entities, mojibake): emoji become their Unicode names in
words (MiniLM's vocabulary maps most emoji to [UNK]) and hashtags are split into words.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

from ..ingest.text_cleaning import clean_text

NORMALISATION = "tweet-norm-v1: clean_text (@user, http) + emoji names + hashtag split"
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_WHITESPACE = re.compile(r"\s+")
_DROPPED = {"\u200d", "\ufe0e", "\ufe0f"}


def normalise_tweet(text: str | None) -> str:
    """`clean_text`, then emoji as words and hashtags split (`#BestDayEver` -> `best day ever`)."""
    text = clean_text(text or "")
    text = _HASHTAG.sub(lambda m: " ".join(_CAMEL.findall(m.group(1))) or m.group(1), text)
    text = "".join(_emoji_words(ch) for ch in text)
    return _WHITESPACE.sub(" ", text).strip()


def text_hash(text: str | None) -> str:
    """Hash of the normalised, lower-cased text: the identity used for folds and leakage checks."""
    return hashlib.sha1(normalise_tweet(text).lower().encode("utf-8")).hexdigest()[:16]


def _emoji_words(ch: str) -> str:
    if ch in _DROPPED:
        return ""
    category = unicodedata.category(ch)
    if category == "Sk" and ord(ch) >= 0x1F3FB:
        return ""
    if category == "So" and ord(ch) >= 0x2190:
        name = unicodedata.name(ch, "")
        return f" {name.lower()} " if name else " "
    return ch
