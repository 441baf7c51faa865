"""clean_text, mention/hashtag extraction and content hash ids."""
from __future__ import annotations

import pytest

from tweetsent_assets.lib.ingest.text_cleaning import clean_text, content_hash_id, extract_hashtags, extract_mentions


@pytest.mark.parametrize("text, expected", [
    ("Fish &amp; Chips", "Fish & Chips"),
    ("i &lt;3 u &gt; all", "i <3 u > all"),
    ("&quot;quoted&quot;", '"quoted"'),
    ("AT&amp;amp;T", "AT&T"),
    ("&amp;lt;3", "<3"),
    ("it&#39;s fine", "it's fine"),
])
def test_clean_text_decodes_html_entities(text, expected):
    assert clean_text(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("see http://t.co/abc now", "see http now"),
    ("see https://Example.com/a?b=1&c=2#frag now", "see http now"),
    ("see HTTPS://EXAMPLE.COM now", "see http now"),
    ("see www.foo.org/bar now", "see http now"),
    ("two http://a.b/c https://d.e/f", "two http http"),
])
def test_clean_text_replaces_urls(text, expected):
    assert clean_text(text) == expected


def test_clean_text_replaces_mentions_but_not_emails():
    assert clean_text("@Alice hi @bob_99, mail john.doe@example.com") == "@user hi @user, mail john.doe@example.com"
    assert clean_text("RT @Foo: yes") == "RT @user: yes"
    assert clean_text("me@mail.com") == "me@mail.com"


def test_clean_text_mention_inside_url_is_part_of_the_url():
    assert clean_text("look https://twitter.com/@someone ok") == "look http ok"


def test_clean_text_drops_mojibake_and_collapses_whitespace():
    assert clean_text("so sad ï¿½ï¿½ today \ufffd") == "so sad today"
    assert clean_text("  lots\t of \n\n  space  ") == "lots of space"
    assert clean_text("caf\u00efb") == "caf\u00efb"


def test_clean_text_keeps_case_and_normalises_unicode():
    assert clean_text("MiXeD CaSe #Tag") == "MiXeD CaSe #Tag"
    assert clean_text("cafe\u0301") == "caf\u00e9"


def test_clean_text_empty():
    assert clean_text("") == ""
    assert clean_text("   ") == ""


def test_extract_mentions_lowercased_unique_in_order():
    assert extract_mentions("RT @Foo: hi @bar @foo @BAR @baz_1") == ["foo", "bar", "baz_1"]


def test_extract_mentions_ignores_emails_and_double_at():
    assert extract_mentions("mail me@mail.com or john.doe@example.com, @real") == ["real"]
    assert extract_mentions("@@x") == []
    assert extract_mentions("no mentions here") == []


def test_extract_mentions_after_entities_and_punctuation():
    assert extract_mentions("&quot;@Quoted&quot; (@paren) .@dot") == ["quoted", "paren", "dot"]


def test_extract_hashtags_lowercased_unique_in_order():
    assert extract_hashtags("#Great day #fun #great #FUN #new") == ["great", "fun", "new"]


def test_extract_hashtags_not_confused_by_entities():
    assert extract_hashtags("it&#39;s &amp;#39; &#x27; #ok") == ["ok"]


def test_extract_hashtags_numbers_only_excluded():
    assert extract_hashtags("we're #1 and #2 #_1 but #1st #_x #2009vibes") == ["1st", "_x", "2009vibes"]


def test_extract_hashtags_url_fragments_excluded():
    assert extract_hashtags("read http://x.com/page#section www.y.com#frag https://z.io/#/route #real") == ["real"]


def test_extract_hashtags_needs_a_boundary():
    assert extract_hashtags("abc#def ##double #good") == ["good"]


def test_content_hash_id_stable_and_discriminating():
    first = content_hash_id("alice", "hello world")
    assert first == content_hash_id("alice", "hello world")
    assert first.startswith("h_") and len(first) == 2 + 24
    assert all(c in "0123456789abcdef" for c in first[2:])
    assert content_hash_id("bob", "hello world") != first
    assert content_hash_id("alice", "hello world!") != first
    assert content_hash_id(None, "x") == content_hash_id("", "x")
    assert content_hash_id("a", "bc") != content_hash_id("ab", "c")
