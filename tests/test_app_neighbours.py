"""AppTest of the Neighbours page: nearest words and nearest products.

The bundle is ``PRODEMB_BUNDLE`` (a path or a name under ``artifacts/``) if set, else
``artifacts/demo``; the tests are skipped when neither exists. Expected outputs come
from the Bundle API directly.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")


@pytest.fixture
def page(bundle_path, monkeypatch):
    """A function opening the Neighbours page (optionally with query parameters)."""
    monkeypatch.setenv("PRODEMB_BUNDLE", bundle_path)

    def open_page(query: dict | None = None):
        from streamlit.testing.v1 import AppTest

        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in (query or {}).items():
            at.query_params[k] = v
        at.run()
        at.switch_page("pages/neighbours.py").run()
        assert_clean(at)
        return at

    return open_page


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def table(at, key_columns: set[str]):
    for df in at.dataframe:
        if key_columns <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with {key_columns}: {[list(d.value.columns) for d in at.dataframe]}")


def unknown_word(bundle, base: str) -> str:
    """A misspelling of ``base`` that is not in the vocabulary."""
    for w in (base + "x", base[:-1] + "q" + base[-1], "x" + base):
        if w not in bundle.word_vectors:
            return w
    raise AssertionError("could not make an unknown word")


# ---------------------------------------------------------------------- words
def test_default_word_and_its_neighbours(page, bundle):
    from prodemb import ui

    at = page()
    word = ui.default_word(bundle)
    probes = ui.probe_words(bundle)  # the bundle's Word2Vec probe words ("nike" first on the demo)
    assert word == (probes[0] if probes else ui.frequent_words(bundle, 1)[0])
    assert at.text_input(key="neighbours_word").value == word
    t = table(at, {"word", "cosine"})
    want = ui.similar_words(bundle, word, 10)
    assert list(t["word"]) == [w for w, _ in want]
    assert not [w for w in t["word"] if any(c.isdigit() for c in w)], "no digit tokens (0f)"
    assert list(t["cosine"]) == pytest.approx([s for _, s in want])
    assert list(t["rank"]) == list(range(1, 11))
    assert (t["count"] > 0).all()


def test_k_changes_the_table(page, bundle):
    at = page()
    at.number_input(key="neighbours_k").set_value(5).run()
    assert_clean(at)
    assert len(table(at, {"word", "cosine"})) == 5


def test_other_word_and_deep_link(page, bundle):
    from prodemb import ui

    word = bundle.word_vectors.words[3]
    want = [w for w, _ in ui.similar_words(bundle, word, 10)]
    at = page()
    at.text_input(key="neighbours_word").set_value(word).run()
    assert_clean(at)
    assert list(table(at, {"word", "cosine"})["word"]) == want
    assert at.query_params["word"] in (word, [word])

    at = page({"word": word})
    assert at.text_input(key="neighbours_word").value == word
    assert list(table(at, {"word", "cosine"})["word"]) == want


def test_diacritics_are_cleaned(page, bundle):
    """Words are cleaned like product text, so 'NIKE' finds 'nike'."""
    from prodemb import ui

    word = ui.default_word(bundle)
    at = page()
    at.text_input(key="neighbours_word").set_value(word.upper()).run()
    assert_clean(at)
    assert list(table(at, {"word", "cosine"})["word"]) == [w for w, _ in ui.similar_words(bundle, word, 10)]


def test_two_words_are_said_to_be_two_words_not_unknown(page, bundle):
    """"nike adidas" was "not in the vocabulary of this model", both words being in it; the
    page says that similar words are found for one word at a time, and offers the words."""
    from prodemb import ui

    first = ui.default_word(bundle)
    second = next(w for w, _ in ui.similar_words(bundle, first, 10) if " " not in w)
    at = page()
    at.text_input(key="neighbours_word").set_value(f"{first} {second}").run()
    assert_clean(at)
    said = plain(at.warning[0].value)
    assert "is 2 words" in said and "one word at a time" in said
    assert "not in the vocabulary" not in said
    labels = [b.label for b in at.button if b.key and b.key.startswith("suggestion_")]
    assert ui.md_escape(first) in labels


def test_unknown_word_offers_clickable_suggestions(page, bundle):
    from prodemb import ui
    from prodemb.bundle import UnknownWordError
    from prodemb.neighbours import STOP_WORDS

    typo = unknown_word(bundle, ui.default_word(bundle))
    with pytest.raises(UnknownWordError) as err:
        bundle.similar_words(typo)
    suggestions = ui.unknown_word_suggestions(bundle.path, typo, tuple(err.value.suggestions))
    assert suggestions, "a one-letter typo has close words"
    assert ui.default_word(bundle) in suggestions
    assert not set(suggestions) & STOP_WORDS and not [w for w in suggestions
                                                      if any(c.isdigit() for c in w)]
    at = page()
    at.text_input(key="neighbours_word").set_value(typo).run()
    assert not at.exception
    assert at.warning and "is not in the vocabulary" in plain(at.warning[0].value)
    assert typo in plain(at.warning[0].value)
    buttons = [b for b in at.button if b.key and b.key.startswith("suggestion_")]
    assert [b.label for b in buttons] == [ui.md_escape(s) for s in suggestions]
    assert not [d for d in at.dataframe if "cosine" in d.value.columns]
    buttons[0].click().run()
    assert_clean(at)
    assert at.text_input(key="neighbours_word").value == suggestions[0]
    assert at.query_params["word"] in (suggestions[0], [suggestions[0]]), "bookmarkable"
    assert not at.warning
    assert list(table(at, {"word", "cosine"})["word"]) == [
        w for w, _ in ui.similar_words(bundle, suggestions[0], 10)]


def test_unknown_word_without_close_words(page, bundle):
    from prodemb import ui
    from prodemb.neighbours import STOP_WORDS

    at = page()
    at.text_input(key="neighbours_word").set_value("qqqqzzzzxxxx").run()
    assert not at.exception
    assert at.warning
    assert any("catalogue's words to try" in c.value for c in at.caption)
    labels = [b.label for b in at.button if b.key and b.key.startswith("suggestion_")]
    assert labels and len(labels) <= 8
    assert labels == [ui.md_escape(w) for w in ui.words_to_try(bundle, 8)]
    # never function words, digit tokens or the catalogue's filler ("00, pre, kod, na, z")
    words = [plain(label) for label in labels]
    assert not set(words) & (STOP_WORDS | {"00", "kod", "na", "z"})
    assert not [w for w in words if any(c.isdigit() for c in w) or len(w) < 3]


def test_empty_word_and_markup_are_harmless(page):
    at = page()
    at.text_input(key="neighbours_word").set_value("   ").run()
    assert_clean(at)
    assert at.info
    at.text_input(key="neighbours_word").set_value("<img src=x onerror=alert(1)>").run()
    assert not at.exception
    for m in [w.value for w in at.warning] + [m.value for m in at.markdown]:
        assert not re.search(r"(?<!\\)<img", m), "markup is escaped"
    assert "<img src=x onerror=alert(1)>" in plain(at.warning[0].value) or \
        "img src x onerror alert 1" in plain(at.warning[0].value)


# ---------------------------------------------------------------------- products
def test_similar_products_by_id(page, bundle):
    from prodemb import ui

    at = page()
    pid = ui.default_product_id(bundle)
    assert at.text_input(key="neighbours_query").value == pid
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    want = bundle.similar_products(pid, 10, by="id")
    assert list(t["id"]) == list(want["id"])
    assert pid not in list(t["id"]), "the product itself is left out"
    query = table(at, {"id", "text", "split"})
    assert list(query["id"]) == [pid]


def test_similar_products_by_text(page, bundle):
    text = bundle.products["text"].iloc[0]
    at = page()
    at.radio(key="neighbours_by").set_value("text").run()
    assert_clean(at)
    assert at.text_input(key="neighbours_query").value == ""
    assert at.info
    at.text_input(key="neighbours_query").set_value(text)
    at.number_input(key="neighbours_kp").set_value(7)
    at.run()
    assert_clean(at)
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    assert list(t["id"]) == list(bundle.similar_products(text, 7, by="text")["id"])


def test_unknown_product_id_is_a_warning(page, bundle):
    at = page()
    at.text_input(key="neighbours_query").set_value("no-such-id-123").run()
    assert not at.exception
    assert at.warning and "no product with id" in plain(at.warning[0].value)
    assert not [d for d in at.dataframe if "similarity" in d.value.columns]


# ---------------------------------------------------------------------- issue 16
def test_a_rare_spelling_gets_did_you_mean(page, bundle):
    """The demo has "nikke", a typo seen a few times, whose neighbours are other typos: the
    page says "did you mean nike", and one click shows nike's neighbours."""
    from prodemb import ui

    typo = next((w for w in bundle.word_vectors.words[::-1][:3000]
                 if ui.did_you_mean(bundle.path, w)), None)
    if "nikke" in bundle.word_vectors.index:
        typo = "nikke"
    if typo is None:
        pytest.skip("no rare misspelling of a frequent word in this vocabulary")
    better = ui.did_you_mean(bundle.path, typo)
    at = page({"word": typo})
    assert any("Did you mean" in i.value and ui.md_escape(better) in i.value for i in at.info)
    at.button(key="did_you_mean").click().run()
    assert_clean(at)
    assert at.text_input(key="neighbours_word").value == better
    assert not [i for i in at.info if "Did you mean" in i.value]
    if typo == "nikke":
        assert better == "nike"


def test_product_id_in_any_case(page, bundle):
    pid = str(bundle.products["id"].iloc[5])
    at = page()
    at.text_input(key="neighbours_query").set_value(pid.lower() if pid != pid.lower()
                                                    else pid.upper()).run()
    assert_clean(at)
    assert list(table(at, {"id", "text", "split"})["id"]) == [pid]
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    assert list(t["id"]) == list(bundle.similar_products(pid, 10, by="id")["id"])


def test_product_query_is_kept_in_the_url(page, bundle):
    text = "pletený šál z merino vlny"
    at = page()
    at.radio(key="neighbours_by").set_value("text").run()
    at.text_input(key="neighbours_query").set_value(text).run()
    assert_clean(at)
    assert at.query_params["by"] in ("text", ["text"])
    assert at.query_params["product"] in (text, [text])

    at = page({"by": "text", "product": text})
    assert at.radio(key="neighbours_by").value == "text"
    assert at.text_input(key="neighbours_query").value == text
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    assert list(t["id"]) == list(bundle.similar_products(text, 10, by="text")["id"])


def test_bad_product_link_is_said(page):
    at = page({"by": "colour", "product": "x"})
    assert any("colour" in plain(w.value) and "`by`" in w.value for w in at.warning)
    assert at.radio(key="neighbours_by").value == "id"


def test_product_texts_are_readable(page, bundle):
    """Catalogue text with HTML entities ("nov&yacute;", "&nbsp;") is shown unescaped."""
    p = bundle.products
    raw = p["text"].str.contains("&[a-z]+;", regex=True)
    if not raw.any():
        pytest.skip("no product text with HTML entities in this bundle")
    text = p["text"][raw].iloc[0]
    at = page({"by": "text", "product": text[:1500]})
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    assert not t["text"].str.contains("&[a-z]+;", regex=True).any()


def test_a_product_only_the_index_holds_can_be_searched_by_id(page, bundle):
    """The demo's index holds its whole catalogue, products.parquet a sample: a neighbour
    listed from outside the sample can be searched by its id (in any case) in turn."""
    ann = bundle.ann_index
    if ann is None or len(ann) <= len(bundle.products):
        pytest.skip("this bundle's neighbour search holds only its own products")
    outside = next(str(i) for i in ann.ids_at(range(len(ann))) if bundle.product_row(str(i)) is None)
    at = page()
    at.text_input(key="neighbours_query").set_value(outside.lower()).run()
    assert_clean(at)
    assert not at.warning
    query = table(at, {"id", "text", "split"})
    assert list(query["id"]) == [outside] and query["pred_path"].iloc[0]
    t = table(at, {"similarity", "text", "true_path", "pred_path"})
    assert list(t["id"]) == list(bundle.similar_products(outside, 10, by="id")["id"])


def opened_tab(at) -> int:
    """Index of the tab the page opens on (its tab container's default)."""
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    for node in walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is not None and type(node).__name__ == "Block" and proto.HasField("tab_container"):
            return proto.tab_container.default_tab_index
    raise AssertionError("no tabs on the page")


def test_a_product_link_opens_the_products_tab(page, bundle):
    """A bookmarked ``?product=ID`` opened on the words tab (the nearest words of the
    default word), its answer hidden behind the other tab."""
    from prodemb import ui

    assert opened_tab(page()) == 0
    assert opened_tab(page({"word": "nike"})) == 0
    assert opened_tab(page({"product": ui.default_product_id(bundle)})) == 1
    assert opened_tab(page({"by": "text", "product": "pletený šál"})) == 1
