"""Bad input through the Python API: ``Bundle.classify``, ``embed``, ``similar_words``,
``similar_products``, ``explain``, ``place_on_map`` and ``classify_frame``.

Every text of the corpus (``tests/bad_inputs.py``) and every text hypothesis generates
gives a sane result: at least one valid category path with a finite score in [0, 1],
finite unit-length embeddings, or, for a word that is not in the vocabulary, an
:class:`UnknownWordError` whose message names it. Huge input is cut to
:data:`prodemb.text.MAX_CHARS` characters (documented in :mod:`prodemb.text`): nothing past
them changes a result, so the work per text is bounded (checked without a clock).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from bad_inputs import BAD_TEXTS, MEGABYTE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    from prodemb.bundle import Bundle

    return Bundle.load(str(tiny_bundle))


def assert_sane_classification(bundle, c, text) -> None:
    from prodemb.text import MAX_TOKENS

    assert c.text == ("" if text is None else str(text))
    assert 1 <= len(c.paths) <= 3, f"no category for {text!r:.80}"
    for path, score in c.paths:
        assert isinstance(path, str) and path
        assert tuple(path.split(" > ")) in bundle.taxonomy, path
        assert math.isfinite(score) and 0.0 <= score <= 1.0
    assert c.top_path == c.paths[0][0]
    assert c.node_probs.shape == (bundle.taxonomy.n_nodes,)
    assert np.isfinite(c.node_probs).all()
    assert len(c.tokens) <= MAX_TOKENS
    assert all(t.isascii() and t.isalnum() and t == t.lower() for t in c.tokens)
    assert set(c.unknown_tokens) <= set(c.tokens)


# ---------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("name", list(BAD_TEXTS))
def test_bad_text_everywhere_in_the_api(bundle, name):
    from prodemb.bundle import UnknownWordError

    text = BAD_TEXTS[name]
    (c,) = bundle.classify([text])
    assert_sane_classification(bundle, c, text)

    emb = bundle.embed([text])
    assert emb.shape == (1, bundle.product_index.vectors.shape[1])
    assert np.isfinite(emb).all() and abs(float(np.linalg.norm(emb)) - 1.0) < 1e-3

    try:
        words = bundle.similar_words(text, 5)
        assert len(words) <= 5 and all(math.isfinite(s) for _, s in words)
    except UnknownWordError as e:
        message = str(e)
        assert "not in the vocabulary" in message
        assert len(message) < 1_000, "the message stays readable for huge input"

    found = bundle.similar_products(text, 5)
    assert 1 <= len(found) <= 5 and np.isfinite(found["similarity"]).all()
    found = bundle.similar_products(text, 5, by="text")
    assert len(found) == 5

    expl = bundle.explain(text)
    assert list(expl.columns) == ["position", "word", "delta"]
    assert len(expl) == min(len(c.tokens), 30) and np.isfinite(expl["delta"].to_numpy(float)).all()
    for method in bundle.map_methods:
        xy = bundle.place_on_map([text], method)
        assert xy.shape == (1, 2) and np.isfinite(xy).all()


def test_corpus_as_one_batch_matches_one_by_one(bundle):
    texts = list(BAD_TEXTS.values())
    batch = bundle.classify(texts)
    assert [c.top_path for c in batch] == [bundle.classify([t])[0].top_path for t in texts]
    frame = bundle.classify_frame(texts, batch_size=7)
    assert len(frame) == len(texts) and (frame["category"] != "").all()
    assert frame["score"].between(0, 1).all()


def test_megabyte_is_cut_to_max_chars_and_fast(bundle):
    import prodemb.text as text_mod
    from prodemb.text import MAX_CHARS, tokenize

    assert "MAX_CHARS" in (text_mod.__doc__ or ""), "the cut is documented in prodemb.text"
    huge = BAD_TEXTS["one_megabyte"]
    assert len(huge) == MEGABYTE > MAX_CHARS
    assert tokenize(huge, None) == tokenize(huge[:MAX_CHARS], None)
    # Bounded work, checked without a clock: nothing after the first MAX_CHARS characters
    # changes any result (the time per call is measured by `make bench`, not here).
    cut = huge[:MAX_CHARS]
    (c,) = bundle.classify([huge])
    np.testing.assert_array_equal(c.node_probs, bundle.classify([cut])[0].node_probs)
    np.testing.assert_array_equal(bundle.embed([huge * 4]), bundle.embed([cut]))
    pd.testing.assert_frame_equal(bundle.similar_products(huge, 10),
                                  bundle.similar_products(cut, 10))
    assert c.text == huge, "the result keeps the input as given"
    # a megabyte of one token and a megabyte of newlines are cut as well
    for s in ("x" * MEGABYTE, "\n" * MEGABYTE, "<" * MEGABYTE, "&amp;" * (MEGABYTE // 5)):
        assert len(" ".join(tokenize(s, None))) <= MAX_CHARS
        assert_sane_classification(bundle, bundle.classify([s])[0], s)


def test_non_string_and_missing_values(bundle):
    out = bundle.classify([None, float("nan"), "wool scarf"])
    assert len(out) == 3
    for c in out:
        assert c.paths and tuple(c.paths[0][0].split(" > ")) in bundle.taxonomy
    assert out[0].tokens == [] and out[1].tokens == [], "None and NaN are empty, not the word 'nan'"
    # Other non-str items are the caller's mistake (classifying the repr "b'bytes'" helps no
    # one): a TypeError naming the item (tests/test_bounded_inputs.py checks every method).
    for value in (0, -1.5, 10**30, True, b"bytes", ["a", "list"]):
        with pytest.raises(TypeError, match=r"texts\[1\] is"):
            bundle.classify(["wool scarf", value])
    assert bundle.classify([]) == []
    assert bundle.embed([]).shape[0] == 0
    assert len(bundle.classify_frame([])) == 0
    assert len(bundle.classify("one string, not a list")) == 1


def test_out_of_range_counts(bundle):
    from prodemb.bundle import UnknownWordError

    word = bundle.word_vectors.words[0]
    # A count below 1 is a mistake, not a request (k=-1 used to return the whole vocabulary).
    for k in (0, -1):
        with pytest.raises(ValueError, match="positive integer"):
            bundle.similar_words(word, k)
        with pytest.raises(ValueError, match="positive integer"):
            bundle.similar_products("wool scarf", k)
        with pytest.raises(ValueError, match="positive integer"):
            bundle.classify(["wool scarf"], max_paths=k)
    assert len(bundle.similar_words(word, 10**6)) == len(bundle.word_vectors) - 1
    assert len(bundle.similar_products("wool scarf", 10**7)) == len(bundle.products)
    assert len(bundle.classify(["wool scarf"], max_paths=1)[0].paths) == 1
    with pytest.raises(KeyError, match="no product with id"):
        bundle.similar_products(BAD_TEXTS["img_onerror"], 5, by="id")
    with pytest.raises(UnknownWordError) as info:
        bundle.similar_words(BAD_TEXTS["long_single_token"])
    assert "not in the vocabulary" in str(info.value)


# ---------------------------------------------------------------------- generated texts
def _mixed_text():
    """Arbitrary Unicode, corpus fragments and markup glued together."""
    pieces = st.one_of(
        st.text(max_size=80),
        st.sampled_from([v[:200] for v in BAD_TEXTS.values()]),
        st.sampled_from(["scarf", "wool", "<b>", "</script>", "&amp;", "\x00", "\u202e", "\u200d",
                         "🧣", "шарф", "围巾", "وشاح", " > ", "|", "\n", "0", "ﬁ", "ß", "İ"]),
    )
    return st.lists(pieces, max_size=12).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mixed_text(), min_size=1, max_size=4))
def test_generated_texts_always_get_a_valid_path(bundle, texts):
    out = bundle.classify(texts)
    assert len(out) == len(texts)
    for t, c in zip(texts, out):
        assert_sane_classification(bundle, c, t)
    emb = bundle.embed(texts)
    assert np.isfinite(emb).all()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_generated_words_are_neighbours_or_unknown(bundle, word):
    from prodemb.bundle import UnknownWordError

    try:
        result = bundle.similar_words(word, 3)
    except UnknownWordError as e:
        assert "not in the vocabulary" in str(e)
        assert isinstance(e.suggestions, list)
    else:
        assert len(result) <= 3
    assert len(bundle.similar_products(word, 3, by="text")) == 3
