"""Normalise tweet text for models and extract mentions and hashtags."""
from __future__ import annotations

import hashlib
import html
import re
import unicodedata

MENTION = re.compile(r"(?<![\w@])@(\w{1,30})")
HASHTAG = re.compile(r"(?<![\w#&])#(\w*[^\W\d_]\w*)")
URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
# UTF-8 decoded as Latin-1 then re-encoded leaves this replacement-character residue in Sentiment140.
_MOJIBAKE = re.compile("(?:ï¿½|\ufffd)+")


def clean_text(text: str) -> str:
    """The text a sentiment model should see: entities decoded, users and URLs as placeholders.

    Mentions become `@user` and URLs `http`, the convention the cardiffnlp Twitter models were
    trained with; mis-decoded replacement characters are dropped and whitespace is collapsed.
    """
    text = unicodedata.normalize("NFC", _unescape(text))
    text = _MOJIBAKE.sub("", text)
    text = URL.sub("http", text)
    text = MENTION.sub("@user", text)
    return _WHITESPACE.sub(" ", text).strip()


def extract_mentions(text: str) -> list[str]:
    """Lower-cased @handles in order of first appearance, without the @."""
    return _unique_lower(MENTION.findall(_unescape(text)))


def extract_hashtags(text: str) -> list[str]:
    """Lower-cased #tags in order of first appearance, without the #."""
    return _unique_lower(HASHTAG.findall(URL.sub(" ", _unescape(text))))


def content_hash_id(user: str | None, text: str) -> str:
    """A stable id for tweets that arrive without one: same user and text, same id."""
    digest = hashlib.sha1(f"{user or ''}\x1f{text}".encode("utf-8")).hexdigest()[:24]
    return f"h_{digest}"


def _unescape(text: str) -> str:
    """HTML entities decoded twice: scraped tweets are often escaped twice (`&amp;amp;`)."""
    return html.unescape(html.unescape(text))


def _unique_lower(items: list[str]) -> list[str]:
    return list(dict.fromkeys(item.lower() for item in items))
