"""The dashboard's plain helpers behind issue 16 ("the dashboard as a category manager
meets it"): readable catalogue text, batch upload columns and encodings, spelling, map
colours and zoom, numbers and notes. No Streamlit server: plain function calls (the
demo bundle is used where the helper reads one)."""

from __future__ import annotations

import codecs

import numpy as np
import pandas as pd
import pytest

from prodemb import ui


# ---------------------------------------------------------------------- readable text
@pytest.mark.parametrize("raw,shown", [
    ("nov&yacute; D&aacute;mske", "nový Dámske"),
    ("Infinity&nbsp;scarf", "Infinity scarf"),
    ("&amp;yacute; twice &amp;lt;b&amp;gt;", "ý twice"),           # twice escaped, tag dropped
    ("<p>Handmade&nbsp;–&nbsp;wallet</p><br>x", "Handmade – wallet x"),
    ("plain text", "plain text"),
    (None, ""),
    (float("nan"), ""),
])
def test_display_text_unescapes_entities_and_drops_tags(raw, shown):
    assert ui.display_text(raw) == shown


def test_display_text_stays_plain_text_for_escaping():
    """The readable text is still escaped wherever it is shown as markup or in a plot."""
    raw = "&lt;img src=x onerror=alert(1)&gt; **bold**"
    shown = ui.display_text(raw)
    assert shown == "**bold**"  # the decoded <img ...> is a tag: dropped, never rendered
    assert ui.md_escape(shown) == r"\*\*bold\*\*"
    assert "<" not in ui.plot_escape(ui.display_text("a &lt; b"))


def test_md_message_shows_command_spans_as_code_and_the_rest_escaped():
    """A core message written for the command line shows `prodemb evaluate --split test` as
    code in the dashboard, not with its backticks; everything else stays inert."""
    note = "scores are *optimistic*; `prodemb evaluate --split test` scores <b>held-out</b> ones"
    shown = ui.md_message(note)
    assert "`prodemb evaluate --split test`" in shown
    assert r"\*optimistic\*" in shown and r"\<b\>" in shown
    # Inside a code span Markdown is literal: the user's backslash is kept as typed.
    assert ui.md_message(r"file `C:\data\x.csv` missing") == r"file `C:\data\x.csv` missing"
    assert ui.md_message("one ` backtick") == ui.md_escape("one ` backtick")


def test_product_table_shows_readable_text():
    frame = pd.DataFrame({"similarity": [0.9], "text": ["nov&yacute;&nbsp;šál"],
                          "true_path": ["A > B"], "pred_path": ["A > B"], "id": ["p1"]})
    assert ui.product_table(frame)["text"].tolist() == ["nový šál"]


# ---------------------------------------------------------------------- batch upload
@pytest.mark.parametrize("columns,expected", [
    (["sku", "nazov_produktu", "popis", "cena_eur"], ["nazov_produktu", "popis"]),
    (["id", "Názov produktu", "Popis", "Kód", "EAN"], ["Názov produktu", "Popis"]),
    (["id", "productDisplayName", "category"], ["productDisplayName"]),
    (["ID", "Title", "Long Description", "Price"], ["Title", "Long Description"]),
    (["product_id", "nazev", "kategorie"], ["nazev"]),
])
def test_text_columns_are_found_across_languages_and_spellings(columns, expected):
    frame = pd.DataFrame([["x"] * len(columns)], columns=columns)
    assert ui.guess_text_columns(frame) == expected


def test_text_columns_without_a_known_name_fall_back_to_the_longest():
    frame = pd.DataFrame({"a": ["1", "2"], "b": ["a long product text", "another long one"]})
    assert ui.guess_text_columns(frame) == ["b"]


def test_column_words_fold_case_spacing_and_diacritics():
    assert ui.column_words("Názov produktu") == ["nazov", "produktu"]
    assert ui.column_words("productDisplayName") == ["product", "display", "name"]


SLOVAK_CSV = ("sku;nazov_produktu;popis;cena_eur\r\n"
              "1001;Pletený šál;merino vlna, sivý, 180 cm;24,90\r\n"
              "1002;Kožená kabelka;čierna, zips;59,00\r\n"
              "1003;Čiapka;zimná, pletená, čierna;12,50\r\n")


def test_windows_1250_is_detected_by_the_words_the_model_knows(bundle):
    data = SLOVAK_CSV.encode("cp1250")
    text, used = ui.decode_upload(data, "auto", bundle.word_vectors.index)
    assert used == "cp1250"
    assert "Pletený šál" in text and "čierna" in text


@pytest.mark.parametrize("encoding,data", [
    ("utf-8", SLOVAK_CSV.encode("utf-8")),
    ("utf-8-sig", codecs.BOM_UTF8 + SLOVAK_CSV.encode("utf-8")),
])
def test_utf8_with_and_without_bom(encoding, data):
    text, used = ui.decode_upload(data, "auto", None)
    assert used == encoding and text == SLOVAK_CSV


def test_latin1_text_is_read_as_latin1_when_its_words_say_so():
    """A Western European file: read as Windows-1250 its "è" would be "č"; the words the
    model knows decide (here a small vocabulary with the French words)."""
    data = "title\nchemise légère à manches\nrobe d'été\n".encode("latin-1")
    text, used = ui.decode_upload(data, "auto", {"chemise", "legere", "a", "manches", "robe", "ete"})
    assert used == "latin-1" and "légère" in text


def test_a_tie_goes_to_the_encoding_of_the_bundles_catalogue():
    """A bundle trained on a Windows-1252 export: an upload whose known words read alike in
    every candidate is read as Windows-1252, not Windows-1250 ("Crème" stayed "Crčme" and
    the page said "Read as Windows-1250")."""
    data = "Bezeichnung;Preis\r\nKurta – Crème ‘Slim’;12,50\r\nT-Shirt für Herren;9,99\r\n"
    vocabulary = {"kurta", "slim", "shirt", "fur", "herren"}
    text, used = ui.decode_upload(data.encode("cp1252"), "auto", vocabulary, "cp1252")
    assert used == "cp1252" and text == data
    assert ui.UPLOAD_ENCODINGS[used] == "Windows-1252 (Western European)"  # named, and a choice
    assert ui.decode_upload(data.encode("cp1252"), "auto", vocabulary)[1] == "cp1250"
    latin = "title\nrobe crème\n"
    assert ui.decode_upload(latin.encode("latin-1"), "auto", {"robe"}, "latin-1") == (latin, "latin-1")


def test_a_chosen_encoding_is_used_or_refused():
    data = SLOVAK_CSV.encode("cp1250")
    assert ui.decode_upload(data, "cp1250")[1] == "cp1250"
    assert "čierna" not in ui.decode_upload(data, "latin-1")[0]  # what the reader then sees
    with pytest.raises(UnicodeDecodeError):
        ui.decode_upload(data, "utf-8")


def test_binary_and_excel_bytes_are_left_to_the_reader():
    assert ui.decode_upload(b"PK\x03\x04rest", "auto") == (b"PK\x03\x04rest", None)
    assert ui.decode_upload(b"a\x00b", "auto") == (b"a\x00b", None)


def test_semicolon_windows_1250_file_reads_into_columns(bundle):
    from prodemb.catalogue import read_texts

    text, _ = ui.decode_upload(SLOVAK_CSV.encode("cp1250"), "auto", bundle.word_vectors.index)
    frame = read_texts(text, name="export.csv")
    assert list(frame.columns) == ["sku", "nazov_produktu", "popis", "cena_eur"]
    assert frame["cena_eur"].tolist() == ["24,90", "59,00", "12,50"]
    assert ui.default_text_columns(bundle, frame) == ["nazov_produktu", "popis"]


# ---------------------------------------------------------------------- spelling
@pytest.mark.parametrize("a,b,d", [("nike", "nike", 0), ("nikke", "nike", 1), ("nkie", "nike", 1),
                                   ("reebook", "reebok", 1), ("kappaa", "kapa", 2),
                                   ("scarf", "shoes", 3)])
def test_edit_distance(a, b, d):
    assert ui.edit_distance(a, b, limit=2) == min(d, 3)


def test_spelling_candidates_prefer_near_then_frequent_and_skip_noise():
    words = ["nike", "pre", "0f", "nikon", "mike", "nikke"]
    counts = [5000, 9000, 800, 10, 40, 3]
    found = ui.spelling_candidates("nikke", words, counts, 3)
    assert [w for w, _, _ in found][:1] == ["nike"]
    assert all(w not in ("pre", "0f", "nikke") for w, _, _ in found)
    assert ui.spelling_candidates("nikke", words, counts, 3, min_ratio=20, own_count=3)[0][0] == "nike"
    assert ui.spelling_candidates("zzzzzz", words, counts) == []


def test_demo_typo_gets_did_you_mean(bundle):
    wv = bundle.word_vectors
    if "nikke" not in wv.index or "nike" not in wv.index:
        pytest.skip("not the demo vocabulary")
    assert ui.did_you_mean(bundle.path, "nikke") == "nike"
    assert ui.did_you_mean(bundle.path, "nike") is None, "a frequent word is no typo"


def test_similar_words_leave_out_digit_tokens(bundle):
    word = ui.default_word(bundle)
    shown = ui.similar_words(bundle, word, 10)
    assert len(shown) == min(10, len(bundle.word_vectors) - 1)
    assert not [w for w, _ in shown if any(c.isdigit() for c in w)]
    raw = bundle.similar_words(word, 10)
    kept = [(w, s) for w, s in raw if not any(c.isdigit() for c in w)]
    assert shown[: len(kept)] == kept, "same order and scores, digit tokens left out"


def test_unknown_word_suggestions_are_words(bundle):
    from prodemb.neighbours import STOP_WORDS

    word = ui.default_word(bundle)
    typo = word[:-1] + "qq"
    got = ui.unknown_word_suggestions(bundle.path, typo, ("00", "pre", "na"))
    assert got and not set(got) & (STOP_WORDS | {"00", "na"})
    assert not [w for w in got if any(c.isdigit() for c in w) or len(w) < 3]
    tries = ui.words_to_try(bundle, 8)
    assert tries and not set(tries) & STOP_WORDS
    assert not [w for w in tries if any(c.isdigit() for c in w)]


def test_product_ids_in_any_case(bundle):
    pid = str(bundle.products["id"].iloc[0])
    assert ui.find_product_id(bundle, pid) == pid
    assert ui.find_product_id(bundle, f"  {pid.lower()} ") == pid
    assert ui.find_product_id(bundle, pid.swapcase()) == pid
    assert ui.find_product_id(bundle, "no-such-id-123") is None


# ---------------------------------------------------------------------- map
def test_a_category_has_one_colour_whatever_else_is_shown():
    universe = ["Bags", "Hats", "Shoes", "Socks"]
    a = ui.category_colours(["Hats", "Socks"], universe)
    b = ui.category_colours(["Socks", "Bags", "Shoes", "Hats"], universe)
    assert a["Hats"] == b["Hats"] and a["Socks"] == b["Socks"]
    assert len({b[g] for g in universe}) == 4
    assert a["correct"] != a["wrong"]


def test_classify_map_and_map_page_colour_top_levels_alike(bundle):
    """Classify's small map colours by top-level category with the tree's top levels as
    universe; the map page colours "top" with the same universe: one colour each."""
    tops = ui.top_level_names(bundle)
    key = ui.fingerprint(bundle, "products.parquet")
    universe = ui.colour_universe(key, bundle.taxonomy, "top", 1, None)
    assert universe == tops
    few = ui.category_colours(tops[:3], tops)
    every = ui.category_colours(tops, universe)
    assert all(few[t] == every[t] for t in tops[:3])


def test_subtree_filter_colours_the_level_below():
    assert ui.map_colouring("top", 1, None, 4) == ("top", 1, None)
    by, level, note = ui.map_colouring("top", 1, "Accessories > Scarves", 4)
    assert (by, level) == ("level", 3) and "level 3" in note
    assert ui.map_colouring("level", 4, "Accessories > Scarves", 4)[:2] == ("level", 4), \
        "a deeper level chosen by hand is kept"
    assert ui.map_colouring("correct", 1, "Accessories", 4) == ("correct", 1, None)
    assert ui.map_colouring("top", 1, "A > B > C > D", 4)[:2] == ("top", 1), "a leaf has no level below"


def test_zoom_ignores_outliers():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, 5000), [500.0, -800.0]])
    lo, hi = ui.robust_range(x)
    assert -6 < lo < -2 and 2 < hi < 6
    assert ui.robust_range(np.array([])) is None
    lo, hi = ui.robust_range(np.array([1.0, 1.0]))
    assert lo < 1 < hi


# ---------------------------------------------------------------------- numbers and notes
def test_threshold_delta_of_zero_is_no_improvement():
    assert ui.threshold_delta(0.8791, 0.8789) == ("same as with 0.5 thresholds", "off")
    assert ui.threshold_delta(0.88, 0.85) == ("+0.030 vs 0.5 thresholds", "normal")
    assert ui.threshold_delta(0.85, 0.88)[0].startswith("-0.030")
    assert ui.threshold_delta(0.85, float("nan")) == (None, "off")


def test_explain_note_says_when_words_are_cut():
    assert ui.explain_note(12, 12) is None
    assert "first 30 of the 64 words" in ui.explain_note(64, 30)


def test_unknown_words_are_listed_once():
    level, note = ui.vocabulary_note(["a", "qq", "qq", "zz"], ["qq", "qq", "zz"])
    assert level == "caption" and note.count("qq") == 1


def test_loss_note_names_both_losses():
    assert "training loss" in ui.LOSS_NOTE and "validation loss" in ui.LOSS_NOTE


# ---------------------------------------------------------------------- model card
def test_languages_come_from_the_text():
    english = ["a warm scarf for women, made with wool"] * 20
    slovak = ["teplý šál pre ženu, ideálny darček, veľkosť M"] * 20
    assert ui.text_languages(english) == ["English"]
    assert ui.text_languages(slovak) == ["Slovak"]
    assert set(ui.text_languages(english + slovak)) == {"English", "Slovak"}
    assert ui.text_languages(["0000 xx"]) == []


def test_model_card_says_what_the_model_is(bundle):
    summary = ui.model_summary(bundle.config)
    assert "Word2Vec" in summary and "BiLSTM" in summary
    members = bundle.config["train"]["classifier"].get("members", 1)
    assert summary.startswith(f"{members} networks averaged, each Word2Vec" if members > 1
                              else "Word2Vec")
    if bundle.config["train"]["classifier"].get("wide"):
        assert "wide path" in summary
    card = bundle.card()
    languages = ui.bundle_languages(ui.fingerprint(bundle, "word_vectors.npy"))
    assert languages, "the demo's training text has languages"
    md = ui.card_markdown(card, summary, languages)
    assert "BiLSTM" in md and ui.md_escape(languages[0]) in md
    assert ui.md_escape(f"{card['test_leaf_macro_f1']:.3f}") in md


def test_languages_from_word_counts():
    counts = [("the", 500), ("and", 300), ("pre", 100), ("sa", 50), ("na", 10_000)]
    assert ui.word_count_languages(counts) == ["English", "Slovak"]
    assert ui.word_count_languages(counts, min_share=0.5) == ["English"]
    assert ui.word_count_languages([("na", 5), ("je", 3)]) == [], "shared words count for none"


def test_readable_texts_equal_display_text(bundle):
    texts = pd.concat([bundle.products["text"].head(3000),
                       pd.Series([" lead", "trail ", "a\tb", "a\u00a0b", "x  y", None, "&amp;x"])],
                      ignore_index=True)
    assert ui.readable_texts(texts).tolist() == [ui.display_text(t) for t in texts]


# Python's \s knows more white space than RE2's: each of these must be found by the
# vectorised test of readable_texts exactly as by the regular expression it stands for.
TRICKY_TEXTS = ["a\xa0b", "a  b", " a", "a ", "a\tb", "x&amp;y", "<p>x</p>", "plain text",
                "a\u2009b", "a\x0bb", "a\x1cb", "a\x85b", "a\u3000b", "a\u200bb", "ok ok",
                "nov&yacute; šál", "", "é" * 130, "a <b> & c " + "y" * 130, "word " * 30]


def test_readable_texts_and_hover_heads_match_the_per_text_functions():
    from prodemb.ui.data import hover_heads, readable_texts
    from prodemb.ui.figures import hover_lines
    from prodemb.ui.text import display_text

    texts = pd.Series(TRICKY_TEXTS + [None, float("nan")])
    shown = readable_texts(texts)
    assert shown.tolist() == [display_text(t) for t in texts]
    assert hover_heads(shown).tolist() == [hover_lines(t, "", "", float("nan"))[0]
                                           for t in shown]


def test_map_hover_lines_share_one_string_per_path_and_say_the_score():
    from prodemb.ui.data import map_base
    from prodemb.ui.figures import hover_lines
    from prodemb.ui.text import display_text

    products = pd.DataFrame({
        "text": ["Red scarf", "Blue scarf", "Bag <b>", "Hat"],
        "true_path": ["A > B", "A > B", "", "C"],
        "pred_path": ["A > B", "A > C | A > B", "A > C", ""],
        "pred_score": [0.914, 0.5, float("nan"), 0.2]})
    hover = map_base("test-hover", products)["hover"]
    want = [hover_lines(*row) for row in zip(products["text"].map(display_text), products["true_path"],
                                             products["pred_path"], products["pred_score"])]
    assert [tuple(h) for h in hover] == want
    assert hover[0, 1] is hover[1, 1]


def test_example_labels_tell_apart_examples_of_the_same_leaf_name():
    # Classify's example buttons read "Tshirts, Handbags, Tops, Tshirts, Tshirts" on a catalogue
    # whose top levels are Men, Women, Boys, Girls: three buttons alike.
    ex = pd.DataFrame({"id": ["1", "2", "3", "4"], "text": ["a", "b", "c", "d"],
                       "true_path": ["Men > Apparel > Topwear > Tshirts", "Women > Bags > Handbags",
                                     "Boys > Apparel > Topwear > Tshirts | Girls > Apparel > Topwear > Tshirts",
                                     ""]})
    assert ui.example_labels(ex) == ["Men › Tshirts", "Handbags", "Boys › Tshirts", "d"]
    assert ui.example_labels(ex.iloc[[1]]) == ["Handbags"]


def test_example_products_fill_up_with_other_categories_not_the_same_one_again():
    # With 4 top-level categories (Men, Women, Boys, Girls) the fifth example was the next
    # best product of the pool: a second 'Men > Apparel > Topwear > Tshirts', shown as a
    # second identical button.
    from types import SimpleNamespace

    from prodemb.taxonomy import Taxonomy, parse_path

    paths = ["Men > Top > Tshirts"] * 3 + ["Men > Top > Shirts", "Women > Bags", "Boys > Top > Tshirts"]
    products = pd.DataFrame({"id": [f"P{i}" for i in range(len(paths))], "split": "test",
                             "text": [f"product number {i} title" for i in range(len(paths))],
                             "true_path": paths, "pred_path": paths, "correct": True,
                             "true_top": [p.split(" > ")[0] for p in paths],
                             "pred_score": [0.9, 0.8, 0.7, 0.1, 0.5, 0.5]})
    bundle = SimpleNamespace(products=products, metrics={"word2vec": {"probe_words": ["tshirts"]}},
                             word_vectors={"tshirts": 0}, config={},
                             taxonomy=Taxonomy.from_paths(parse_path(p) for p in set(paths)))
    ex = ui.example_products(bundle, n=4)
    assert ex["true_path"].tolist() == ["Men > Top > Tshirts", "Boys > Top > Tshirts", "Women > Bags",
                                        "Men > Top > Shirts"]
    assert len(ui.example_products(bundle, n=6)) == 6  # then any product, repeats allowed


# ---------------------------------------------------------------------- out-of-catalogue reasons
def test_out_of_catalogue_reasons_never_show_a_similarity_equal_to_its_bound():
    """A text just below the nearness threshold (Fashion: 0.8496 against 0.8517) said
    "similarity 0.85 to the nearest, while almost all ... are above 0.85"; a weak one near
    a threshold of 0.9966 said "below 1.00". The numbers now differ as the values do."""
    import re

    from prodemb.confidence import Verdicts

    v = Verdicts(min_confidence=0.5, min_similarity=0.8517, ooc_confidence=0.667,
                 ooc_similarity=0.9966)
    far = ui.out_of_catalogue_reasons(["out_of_catalogue"], 0.667, 0.8496, v)[0]
    weak = ui.out_of_catalogue_reasons(["out_of_catalogue"], 0.5, 0.8534, v)[0]
    for reason, (near, bound) in ((far, (0.8496, 0.8517)), (weak, (0.8534, 0.9966))):
        shown = [float(x) for x in re.findall(r"\d\.\d+", reason)]
        assert len(shown) == 2 and shown[0] < shown[1], reason
        assert abs(shown[0] - near) < 0.001 and abs(shown[1] - bound) < 0.001, reason
    assert "0.850" in far and "0.852" in far
    assert "1.00" not in weak and "0.997" in weak
    # two decimals when they suffice
    assert "similarity 0.62 to the nearest" in ui.out_of_catalogue_reasons(
        ["out_of_catalogue"], 0.0, 0.62, v)[0]


# ---------------------------------------------------------------------- explanation chart
def test_explain_chart_labels_and_hover_say_the_direction():
    """A word whose removal lowers the score by 0.751 was hovered as "changes the score by
    +0.751" (a rise, read literally), and a tiny negative drop was labelled "-0.000"."""
    expl = pd.DataFrame({"position": [0, 1, 2], "word": ["belt", "allen", "soft"],
                         "delta": [0.751, -0.0001, -0.056]})
    bar = ui.explain_figure(expl).data[0]
    assert list(bar.text) == ["+0.751", "0.000", "-0.056"]
    assert list(bar.customdata) == ["belt: removing it lowers the score by 0.751",
                                    "allen: removing it hardly changes the score",
                                    "soft: removing it raises the score by 0.056"]
