"""Neighbours: nearest words (Word2Vec cosine) and nearest catalogue products (embedding cosine).

Deep links: ``?word=nike``; ``?by=text&product=...`` or ``?product=ID`` (the products tab's
query, kept in the URL as it is typed).
"""

from __future__ import annotations

import streamlit as st

from prodemb import ui

# Into app.py's frame first (the real navigation), before anything heavy is imported:
# on a fresh server a deep link to this page starts it alone (see ui.ensure_frame).
ui.ensure_frame()

from prodemb import report  # noqa: E402
from prodemb.bundle import UnknownWordError  # noqa: E402

bundle = ui.current_bundle()
path = st.session_state[ui.SESSION_KEY]

WORD_KEY = "neighbours_word"
PRODUCT_KEY = "neighbours_query"
BY_KEY = "neighbours_by"
BY_LABELS = {"id": "Product id", "text": "Text"}
URL_MAX_CHARS = 1_500  # longer product texts are not put into the URL


def _set_word(word: str) -> None:
    st.session_state[WORD_KEY] = word
    _on_word_change()


def _on_word_change() -> None:
    word = (st.session_state.get(WORD_KEY) or "").strip()
    if word:
        st.query_params["word"] = word
    elif "word" in st.query_params:
        del st.query_params["word"]


def _on_by_change() -> None:
    # switching between id and text search: start from a sensible query
    st.session_state[PRODUCT_KEY] = (ui.default_product_id(bundle)
                                     if st.session_state[BY_KEY] == "id" else "")
    _on_product_change()


def _on_product_change() -> None:
    """The products tab's query in the URL (``by`` only when it is not the default)."""
    query = (st.session_state.get(PRODUCT_KEY) or "").strip()
    by = st.session_state.get(BY_KEY, "id")
    if by == "text":
        st.query_params["by"] = "text"
    elif "by" in st.query_params:
        del st.query_params["by"]
    if query and len(query) <= URL_MAX_CHARS:
        st.query_params["product"] = query
    elif "product" in st.query_params:
        del st.query_params["product"]


if st.session_state.get("neighbours_bundle") != path:  # first visit, or another bundle chosen
    for key in (WORD_KEY, PRODUCT_KEY, BY_KEY):
        st.session_state.pop(key, None)
    st.session_state["neighbours_bundle"] = path
linked = st.query_params.get("word")
if linked and linked.strip() and st.session_state.get("neighbours_linked") != linked:
    st.session_state[WORD_KEY] = linked.strip()
    st.session_state["neighbours_linked"] = linked
if WORD_KEY not in st.session_state:
    st.session_state[WORD_KEY] = ui.default_word(bundle)
link_notice = None
linked_by, linked_product = st.query_params.get("by"), st.query_params.get("product")
if (linked_by or linked_product) and st.session_state.get("neighbours_linked_product") != (
        linked_by, linked_product):
    st.session_state["neighbours_linked_product"] = (linked_by, linked_product)
    if linked_by in BY_LABELS:
        st.session_state[BY_KEY] = linked_by
    elif linked_by:
        link_notice = (f"“{ui.md_escape(linked_by)}” is no way to search products (the link's "
                       "`by`: `id` or `text`); searching by id.")
    if linked_product and linked_product.strip():
        st.session_state[PRODUCT_KEY] = linked_product.strip()[:2000]
        if linked_by not in BY_LABELS:
            st.session_state[BY_KEY] = "id"
if BY_KEY not in st.session_state:
    st.session_state[BY_KEY] = "id"
if PRODUCT_KEY not in st.session_state:
    st.session_state[PRODUCT_KEY] = ui.default_product_id(bundle)

st.title("Neighbours")
st.caption("What the model has learnt: words used in similar contexts (Word2Vec) and products "
           "the classifier sees as alike (product embeddings).")
if link_notice:
    st.warning(link_notice, icon=":material/link_off:")

# A product link (?product=, ?by=) opens the page on the products tab, where its answer is.
PRODUCTS_TAB = ":material/inventory_2: Similar products"
words_tab, products_tab = st.tabs(
    [":material/match_word: Similar words", PRODUCTS_TAB],
    default=PRODUCTS_TAB if st.session_state.get("neighbours_linked_product") else None)

# ---------------------------------------------------------------------- words
with words_tab:
    c1, c2 = st.columns([3, 1])
    c1.text_input("Word", key=WORD_KEY, on_change=_on_word_change, max_chars=100,
                  help="Words are cleaned like product text: lower case, no diacritics (Šál → sal).")
    k = c2.number_input("How many", min_value=1, max_value=100, value=10, step=1, key="neighbours_k")
    word = (st.session_state.get(WORD_KEY) or "").strip()
    if not word:
        st.info("Type a word from the catalogue, e.g. a brand, a material or a product type.")
    else:
        try:
            similar = ui.similar_words(bundle, word, int(k))
        except UnknownWordError as e:
            similar = None
            n_words = len(e.word.split())
            if n_words > 1:  # "nike adidas", "T-Shirt" (cleaned to "t shirt")
                st.warning(f"“{ui.md_escape(e.word)}” is {n_words} words (as the model reads "
                           "it): similar words are found for one word at a time.",
                           icon=":material/search_off:")
            else:
                st.warning(f"“{ui.md_escape(e.word)}” is not in the vocabulary of this model "
                           f"({len(bundle.word_vectors):,} words seen at least "
                           f"{ui.min_count(bundle)} times in the catalogue).",
                           icon=":material/search_off:")
            close = ui.unknown_word_suggestions(path, e.word, tuple(e.suggestions))
            options = close or ui.words_to_try(bundle, 8)
            st.caption("Did you mean:" if close else
                       "No close spelling found; some of the catalogue's words to try:")
            row = st.container(horizontal=True)
            for i, s in enumerate(options):
                row.button(ui.md_escape(s), key=f"suggestion_{i}", on_click=_set_word, args=(s,))
        if similar:
            cleaned = " ".join(bundle.tokenize(word)[0]) or word
            better = ui.did_you_mean(path, cleaned)
            if better:
                wv = bundle.word_vectors
                note = st.container(horizontal=True, vertical_alignment="center")
                note.info(f"“{ui.md_escape(cleaned)}” is a rare word here "
                          f"({int(wv.counts[wv.index[cleaned]]):,} times), maybe a misspelling: "
                          f"its neighbours are often other misspellings. Did you mean "
                          f"**{ui.md_escape(better)}** ({int(wv.counts[wv.index[better]]):,} "
                          "times)?", icon=":material/spellcheck:")
                note.button(f"Show {ui.md_escape(better)}", key="did_you_mean", on_click=_set_word,
                            args=(better,))
            left, right = st.columns([1.1, 1], gap="large")
            table = ui.similar_words_table(similar, bundle)
            left.dataframe(table, hide_index=True, key="similar_words_table", column_config={
                "rank": st.column_config.NumberColumn("#", width=40),
                "word": st.column_config.TextColumn("Word", width=150),
                "cosine": st.column_config.ProgressColumn("Cosine", min_value=0.0, max_value=1.0,
                                                          format="%.3f", width=150),
                "count": st.column_config.NumberColumn(
                    "Count", format="%d", width=80,
                    help="How often the word occurs in the catalogue's product texts"),
            })
            right.plotly_chart(ui.similar_words_figure(similar, word), key="similar_words_chart",
                               config={"displayModeBar": False})

# ---------------------------------------------------------------------- products
with products_tab:
    c1, c2, c3 = st.columns([1.2, 4, 1])
    by = c1.radio("Search by", ["id", "text"], format_func=BY_LABELS.get, key=BY_KEY,
                  on_change=_on_by_change)
    c2.text_input("Product id" if by == "id" else "Product text", key=PRODUCT_KEY, max_chars=2000,
                  placeholder="a product id of this catalogue (any case)" if by == "id"
                  else "a title and description", on_change=_on_product_change)
    kp = c3.number_input("How many", min_value=1, max_value=200, value=10, step=1,
                         key="neighbours_kp")
    st.caption(report.coverage_note(bundle.coverage(), search=True))
    query = (st.session_state.get(PRODUCT_KEY) or "").strip()
    if not query:
        st.info("Enter a product id from the catalogue, or switch to **Text** and paste a product.")
    else:
        if by == "id":
            query = ui.find_product_id(bundle, query) or query
        try:
            found = bundle.similar_products(query, int(kp), by=by)
        except KeyError:
            found = None
            st.warning(f"There is no product with id “{ui.md_escape(query)}” in this bundle. "
                       f"Ids look like {', '.join(ui.md_escape(i) for i in ui.sample_ids(bundle))}; "
                       "or switch to **Text** to search by a title.", icon=":material/search_off:")
        if found is not None:
            if by == "id":
                st.caption("Query product")
                st.dataframe(ui.product_summary(bundle, query), hide_index=True,
                             key="query_product", column_config=ui.product_columns())
                st.caption(f"The {len(found)} most similar products (cosine of the product "
                           "embeddings; the query itself is left out)")
            st.dataframe(ui.product_table(found, split=True), hide_index=True,
                         key="similar_products_table", column_config=ui.product_columns())
