from hypothesis import given, settings
from hypothesis import strategies as st

from prodemb.text import MAX_CHARS, clean, tokenize


def test_transliteration_lowercase_punctuation():
    assert clean("Kožená KABELKA, šál & čiapka!") == "kozena kabelka sal ciapka"


def test_twice_escaped_entities_do_not_become_words():
    assert tokenize("&amp;lt;p&amp;gt;Infinity&amp;nbsp;scarf nov&amp;yacute;&amp;lt;/p&amp;gt;") == [
        "infinity", "scarf", "novy"]


def test_html_entities_and_tags():
    assert clean("Hat&nbsp;&amp;&nbsp;Scarf &scaron;&aacute;l <b>NEW</b>") == "hat scarf sal new"


def test_apostrophes_and_hyphens():
    assert tokenize("Women's hat-and-scarf set") == ["womens", "hat", "and", "scarf", "set"]


def test_numbers_are_normalised():
    assert clean("Size 38, SKU AB-12345") == "size 00 sku ab 00000"


def test_max_tokens():
    assert len(tokenize("a " * 500)) == 64
    assert len(tokenize("a " * 500, max_tokens=5)) == 5
    assert len(tokenize("a " * 500, max_tokens=None)) == 500


def test_empty_and_none_and_nan():
    assert tokenize(None) == []
    assert tokenize(float("nan")) == []
    assert tokenize("   ") == []
    assert tokenize("!!! ... ???") == []


def test_non_latin_scripts_are_transliterated():
    assert clean("Шарф") == "sharf"
    assert clean("围巾")  # some ASCII transliteration, not empty


def test_emoji_disappear():
    assert clean("🧣 scarf 🔥") == "scarf"


def test_huge_input_is_bounded():
    out = clean("x" * 5_000_000)
    assert len(out) <= MAX_CHARS


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_cleaning_is_idempotent(s):
    once = clean(s)
    assert clean(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_output_is_lowercase_ascii_alnum(s):
    out = clean(s)
    assert out.isascii()
    assert all(c.isalnum() or c == " " for c in out)
    assert out == out.lower()
