"""The model normalisation: placeholders, emoji words, hashtag splitting, one hash for equivalent texts."""
from __future__ import annotations

from tweetsent_assets.lib.ingest.text_cleaning import clean_text
from tweetsent_assets.lib.ml.normalise import normalise_tweet, text_hash


def test_placeholders_emoji_and_hashtags():
    assert normalise_tweet("@Bob loved it 😂 #BestDayEver https://t.co/x") == \
        "@user loved it face with tears of joy Best Day Ever http"
    assert normalise_tweet("❤️👍🏽 #fail #jan1 #iPhone6") == \
        "heavy black heart thumbs up sign fail jan 1 i Phone 6"
    assert normalise_tweet("a#b c# &amp;amp; ok") == "a#b c# & ok"
    assert normalise_tweet(None) == "" and normalise_tweet("   ") == ""


def test_idempotent_and_same_after_clean_text():
    texts = ["@a great 😀 #NoWay http://x.y", "plain text", "#Yes!!! &lt;3", "ï¿½oops @user"]
    for text in texts:
        once = normalise_tweet(text)
        assert normalise_tweet(once) == once
        assert normalise_tweet(clean_text(text)) == once
        assert text_hash(clean_text(text)) == text_hash(text)


def test_hash_ignores_case_whitespace_handles_and_links():
    assert text_hash("Great  Day @alice http://a.b") == text_hash("great day @bob https://c.d")
    assert text_hash("great day") != text_hash("bad day")
    assert len(text_hash("x")) == 16
