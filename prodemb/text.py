"""Text cleaning: the one function that turns raw product text into tokens.

The same code serves training, the CLI, the app and the benchmarks, so a title is
tokenised identically everywhere. Steps, in order:

0. Input longer than :data:`MAX_CHARS` (10,000 characters) is cut to that length first, so
   a pasted megabyte costs no more than a long description.
1. HTML entities are unescaped (``&amp;`` -> ``&``, ``&scaron;`` -> ``š``; twice-escaped
   ones such as ``&amp;lt;p&amp;gt;`` too, up to three rounds) and tags dropped.
2. Non-ASCII characters are transliterated to the closest ASCII with ``unidecode``
   (``šál`` -> ``sal``, ``kožená`` -> ``kozena``). Characters with no transliteration
   (most emoji) disappear.
3. Lowercasing.
4. Apostrophes are deleted (``women's`` -> ``womens``); every other non-alphanumeric
   character becomes a space, so ``hat-and-scarf`` -> ``hat and scarf``.
5. Every digit becomes ``0`` (``size 38`` -> ``size 00``): sizes, years and SKU numbers
   keep their shape without blowing up the vocabulary.
6. Whitespace split; at most ``max_tokens`` tokens are kept.

Cleaning is idempotent: ``clean(clean(x)) == clean(x)``.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable

from unidecode import unidecode

#: Default cap on the number of tokens kept from one product text.
MAX_TOKENS = 64
#: Raw input longer than this (in characters) is cut before cleaning, so a pasted
#: megabyte costs no more than a long description.
MAX_CHARS = 10_000

_TAG = re.compile(r"<[^>]{0,200}>")
_APOSTROPHE = re.compile(r"['`\u2019]")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGIT = re.compile(r"[0-9]")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=65536)
def _transliterate(run: str) -> str:
    return unidecode(run)


def _transliterate_match(m: re.Match) -> str:
    # unidecode maps character by character, so transliterating only the non-ASCII runs
    # (mostly single accented letters, cached) gives its result 5-10x faster.
    return _transliterate(m.group())


def clean(text: object, max_tokens: int | None = MAX_TOKENS) -> str:
    """Return the cleaned text: ASCII, lowercase, tokens joined by single spaces.

    ``text`` may be any object; ``None`` and NaN give ``""``.
    """
    return " ".join(tokenize(text, max_tokens))


def strip_markup(s: str) -> str:
    """``s`` with HTML entities unescaped and tags replaced by a space (step 1 of
    :func:`tokenize`; the dashboard shows catalogue text through it too)."""
    for _ in range(3):
        # Feeds escape twice ("&amp;lt;p&amp;gt;", "&amp;yacute;"): unescape until nothing
        # changes, else "lt", "gt" and "yacute" become words.
        if "&" not in s or (unescaped := html.unescape(s)) == s:
            break
        s = unescaped
    if "<" in s:
        s = _TAG.sub(" ", s)
    return s


def tokenize(text: object, max_tokens: int | None = MAX_TOKENS) -> list[str]:
    """Clean ``text`` and split it into at most ``max_tokens`` tokens."""
    if text is None or (isinstance(text, float) and text != text):
        return []
    s = strip_markup(str(text)[:MAX_CHARS])
    if not s.isascii():
        # Transliteration can lengthen text (one CJK character -> "wei "): cut again
        # so the output is never longer than MAX_CHARS, which keeps cleaning idempotent.
        s = _NON_ASCII.sub(_transliterate_match, s)[:MAX_CHARS]
    s = s.lower()
    s = _APOSTROPHE.sub("", s)
    s = _NON_ALNUM.sub(" ", s)
    s = _DIGIT.sub("0", s)
    tokens = s.split()
    if max_tokens is not None:
        tokens = tokens[:max_tokens]
    return tokens


def tokenize_many(texts: Iterable[object], max_tokens: int | None = MAX_TOKENS) -> list[list[str]]:
    """Tokenise an iterable of texts; shape: one list of tokens per text."""
    return [tokenize(t, max_tokens) for t in texts]
