"""Neighbours: nearest words (Word2Vec cosine) and nearest catalogue products (embedding cosine).

Deep link: ``?word=nike``.
"""

from __future__ import annotations

import streamlit as st

from prodemb import ui
from prodemb.bundle import UnknownWordError

bundle = ui.current_bundle()
path = st.session_state[ui.SESSION_KEY]

WORD_KEY = "neighbours_word"
PRODUCT_KEY = "neighbours_query"
BY_KEY = "neighbours_by"
BY_LABELS = {"id": "Product id", "text": "Text"}


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
if BY_KEY not in st.session_state:
    st.session_state[BY_KEY] = "id"
if PRODUCT_KEY not in st.session_state:
    st.session_state[PRODUCT_KEY] = ui.default_product_id(bundle)

st.title("Neighbours")
st.caption("What the model has learnt: words used in similar contexts (Word2Vec) and products "
           "the classifier sees as alike (product embeddings).")

words_tab, products_tab = st.tabs([":material/match_word: Similar words",
                                   ":material/inventory_2: Similar products"])

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
            similar = bundle.similar_words(word, int(k))
        except UnknownWordError as e:
            similar = None
            st.warning(f"“{ui.md_escape(e.word)}” is not in the vocabulary of this model "
                       f"({len(bundle.word_vectors):,} words seen at least "
                       f"{ui.min_count(bundle)} times in the catalogue).",
                       icon=":material/search_off:")
            options = e.suggestions or ui.frequent_words(bundle, 8)
            st.caption("Did you mean:" if e.suggestions else
                       "No close spelling found; some frequent words to try:")
            row = st.container(horizontal=True)
            for i, s in enumerate(options):
                row.button(ui.md_escape(s), key=f"suggestion_{i}", on_click=_set_word, args=(s,))
        if similar:
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
                  placeholder="a product id of this catalogue" if by == "id"
                  else "a title and description")
    kp = c3.number_input("How many", min_value=1, max_value=200, value=10, step=1,
                         key="neighbours_kp")
    query = (st.session_state.get(PRODUCT_KEY) or "").strip()
    if not query:
        st.info("Enter a product id from the catalogue, or switch to **Text** and paste a product.")
    else:
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
