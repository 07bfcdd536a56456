"""Embedding map: every catalogue product on a 2-D t-SNE / UMAP map of its embedding.

Run by ``app.py`` through ``st.navigation``. WebGL scatter (plotly ``Scattergl``) of up
to 100,000 products, coloured by category, predicted class or correctness; filter or
highlight a subtree, search the texts, select products with the box or lasso tool,
and see where a product pasted on the Classify page lands.

Deep links: ``?method=umap&subtree=Accessories > Scarves&q=loop&colour=level&level=3``
(``colour=correct&split=test`` for the model's mistakes on the test split). A parameter
that names nothing of this bundle is reported above the map, not silently dropped.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from prodemb import ui

# Into app.py's frame first (the real navigation), before anything heavy is imported:
# on a fresh server a deep link to this page starts it alone (see ui.ensure_frame).
ui.ensure_frame()

from prodemb import report  # noqa: E402

MAX_POINTS = 100_000
DEFAULT_POINTS = 30_000
NEAREST_K = 10  # nearest products ringed around a clicked one

bundle = ui.current_bundle()
products, taxonomy = bundle.products, bundle.taxonomy
key = ui.fingerprint(bundle, "products.parquet")

st.title("Embedding map")
methods = bundle.map_methods
if not methods or products.empty:
    st.warning("This bundle has no map coordinates (trained with `--maps none`?). Retrain it "
               "with maps: `prodemb train ... --maps umap` (or `tsne,umap`, the default; config "
               "`maps.methods`).")
    st.stop()
held = report.coverage_note(bundle.coverage())  # a sentence: "All 500 products ..."
st.caption(f"The map of `{bundle.name}` holds {held[0].lower()}{held[1:]} "
           "They are placed by the similarity of their embeddings: neighbours on the map are "
           "products the model sees as alike. Click a point for its nearest products; use the "
           "box or lasso tool (top right of the chart) to list products.")

# ---------------------------------------------------------------------- controls
SPLIT_LABELS = {"all": "All splits", "train": "Train", "validation": "Validation", "test": "Test"}
notices = []
c1, c2, c3, c4 = st.columns([1.3, 1.6, 1, 2])
# ?method=umap: read by hand (a bound segmented control would want the label, "UMAP")
if st.session_state.get("method") not in methods:
    wanted = st.query_params.get("method", "")
    if wanted and wanted not in methods:
        notices.append(f"This bundle has no “{ui.md_escape(wanted)}” map (the link's `method`); "
                       f"it has {', '.join(ui.method_label(m) for m in methods)}.")
    st.session_state["method"] = (wanted if wanted in methods
                                  else "umap" if "umap" in methods else methods[0])
method = c1.segmented_control("Map", methods, format_func=ui.method_label,
                              key="method", required=True) or methods[0]
if st.query_params.get("method") != method:
    st.query_params["method"] = method

# ?colour=level&level=3&split=test: read once per link, written back on every change
levels_all = list(range(1, taxonomy.depth + 1))
link = tuple(st.query_params.get(k) for k in ("colour", "level", "split"))
if any(link) and st.session_state.get("map_link") != link:
    st.session_state["map_link"] = link
    colour_q, level_q, split_q = link
    if colour_q in report.COLOUR_OPTIONS:
        st.session_state["colour"] = colour_q
    elif colour_q:
        notices.append(f"“{ui.md_escape(colour_q)}” is no colouring (the link's `colour`; one of "
                       f"{', '.join(report.COLOUR_OPTIONS)}).")
    if level_q and level_q.isdigit() and int(level_q) in levels_all:
        st.session_state["colour_level"] = int(level_q)
    elif level_q:
        notices.append(f"This tree has no level “{ui.md_escape(level_q)}” (the link's `level`; "
                       f"1 to {taxonomy.depth}).")
    if split_q in SPLIT_LABELS:
        st.session_state["map_split"] = split_q
    elif split_q:
        notices.append(f"“{ui.md_escape(split_q)}” is no split (the link's `split`; "
                       f"{', '.join(SPLIT_LABELS)}).")
by = c2.selectbox("Colour by", list(report.COLOUR_OPTIONS), key="colour",
                  format_func=report.COLOUR_OPTIONS.get)
level = 1
if by == "level":
    if st.session_state.get("colour_level") not in levels_all:
        st.session_state["colour_level"] = min(2, taxonomy.depth)
    level = c3.selectbox("Level", levels_all, key="colour_level")
split = "all"
if by == "correct":
    if st.session_state.get("map_split") not in SPLIT_LABELS:
        st.session_state["map_split"] = "test"
    split = c3.selectbox("Split", list(SPLIT_LABELS), key="map_split", format_func=SPLIT_LABELS.get,
                         help="Training products are nearly all right (the model has seen them): "
                              "the test split is the honest picture.")
for k, v in (("colour", None if by == "top" else by), ("level", level if by == "level" else None),
             ("split", split if by == "correct" else None)):
    if v is None:
        if k in st.query_params:
            del st.query_params[k]
    elif st.query_params.get(k) != str(v):
        st.query_params[k] = str(v)
st.session_state["map_link"] = tuple(st.query_params.get(k) for k in ("colour", "level", "split"))
n_total = len(products)
max_points = c4.slider("Max points", min_value=min(1_000, n_total),
                       max_value=max(min(MAX_POINTS, n_total), min(1_000, n_total) + 1),
                       value=min(DEFAULT_POINTS, n_total), step=1_000 if n_total > 5_000 else 100,
                       key="max_points",
                       help="A fixed random sample: more points add to it, never reshuffle it.")

d1, d2, d3 = st.columns([2.2, 1, 2])
subtree_options = [ui.ALL_CATEGORIES] + ui.node_names(key, taxonomy)
wanted_subtree = st.query_params.get("subtree")
if wanted_subtree and wanted_subtree not in subtree_options:
    notices.append(f"No category “{ui.md_escape(wanted_subtree)}” in this bundle's tree (the "
                   "link's `subtree`); showing all categories.")
subtree = d1.selectbox("Subtree", subtree_options, key="subtree",
                       bind="query-params",
                       help="Products whose true or predicted category is in this subtree.")
subtree = None if subtree in (None, ui.ALL_CATEGORIES) else subtree
mode = d2.segmented_control("Subtree view", ["Filter", "Highlight"], default="Filter",
                            key="subtree_mode", required=True, disabled=subtree is None) or "Filter"
query = d3.text_input("Search products", key="q", bind="query-params", max_chars=200,
                      placeholder=ui.search_placeholder(bundle),
                      help="Case-insensitive; also matches after cleaning (šál finds sal).")
query = (query or "").strip()
reproject = False
if subtree and mode == "Filter":
    reproject = st.toggle(
        f"Re-project this subtree on its own ({ui.method_label(method)})", key="reproject",
        help=f"{ui.method_label(method)} fitted on the subtree's products alone (at most "
             f"{ui.REPROJECT_MAX:,}, a random sample), so its categories spread over the whole "
             "plane instead of sharing a corner of the catalogue's map. Takes 10-40 s the first "
             "time, then it is kept for everyone.")
for notice in notices:
    st.warning(notice, icon=":material/link_off:")

classified = st.session_state.get(ui.CLASSIFIED_TEXT_KEY)
show_mine = False
if classified:
    show_mine = st.checkbox("Show my product (from the Classify page)", value=True,
                            key="show_mine")

# ---------------------------------------------------------------------- data
base = ui.map_base(key, products)
xcol, ycol = bundle.map_columns(method)
xy = products[[xcol, ycol]].to_numpy(np.float32)
reprojected = None  # rows of the subtree's own map
if reproject:
    try:
        with st.spinner(f"Re-projecting the subtree's products with {ui.method_label(method)} "
                        "(the first time only)…"):
            reprojected, sub_xy = ui.reprojected_map(key, bundle, subtree, method)
        xy = np.full_like(xy, np.nan)
        xy[reprojected] = sub_xy
    except Exception as e:  # the catalogue's map is still there
        st.warning(f"The subtree could not be re-projected ({type(e).__name__}); showing it on "
                   "the catalogue's map.")
        reprojected = None
mapped = ~np.isnan(xy).any(axis=1)
# filtered to a subtree, the categories are coloured one level below it
draw_by, draw_level, colour_note = ui.map_colouring(
    by, int(level), subtree if mode == "Filter" else None, taxonomy.depth)
labels = ui.colour_groups(key, products, draw_by, int(draw_level))
universe = ui.colour_universe(key, taxonomy, draw_by, int(draw_level),
                              subtree if mode == "Filter" else None)
if subtree and mode == "Filter" and universe:
    labels = ui.fold_outside(labels, universe)
in_sub = ui.subtree_rows(key, products, subtree) if subtree else np.ones(n_total, dtype=bool)
found = (ui.search_rows(key, products, ui.search_texts(key, products), query) if query
         else np.zeros(n_total, bool))

candidates = mapped & (in_sub if subtree and mode == "Filter" else True)
if split != "all":
    candidates = candidates & (products["split"] == split).to_numpy(bool)
highlight = found.copy()
if subtree and mode == "Highlight":
    highlight |= in_sub
rows = report.sample_points(candidates, int(max_points), keep=highlight & candidates)

mine = None
if show_mine and classified:
    try:
        mine = ui.place_text(key, bundle, str(classified), method)
    except Exception as e:  # a failed placement must not break the map
        st.warning(f"Your product could not be placed on the map ({type(e).__name__}).")

# ---------------------------------------------------------------------- summary line
parts = [f"**{len(rows):,}** of {int(candidates.sum()):,} products shown"
         + (" (a random sample)" if len(rows) < int(candidates.sum()) else "")]
if subtree and reprojected is None:
    parts.append(f"{int((in_sub & mapped).sum()):,} in the subtree")
if split != "all":
    parts.append(f"{SPLIT_LABELS[split].lower()} split only")
# Matches within the view's filters (subtree in Filter mode, split, a map position) are
# counted and listed; those outside them are only counted, and said to be outside.
found_here = found & candidates
n_elsewhere = int((found & ~candidates).sum())
if query:
    n_found = int(found_here.sum())
    n_shown = int(found[rows].sum())
    if not n_found:
        parts.append("no product " + ("here " if n_elsewhere else "") + "matches the search")
    else:
        parts.append(f"**{n_found:,}** match the search"
                     + (f" ({n_shown:,} of them in view)" if n_shown < n_found else ""))
    if n_elsewhere:
        parts.append(f"{n_elsewhere:,} more outside these filters")
if reprojected is not None:
    n_sub = int(in_sub.sum())
    parts.append(f"re-projected: {len(reprojected):,} of the subtree's {n_sub:,} products"
                 + (" (a random sample)" if len(reprojected) < n_sub else ""))
elif mapped.sum() < n_total:
    parts.append(f"{n_total - int(mapped.sum()):,} products have no map position")
st.markdown(" · ".join(parts))
if colour_note:
    st.caption(colour_note)
if mine is not None:
    st.caption(f"★ Your product is predicted as {ui.md_escape(report.truncate(mine['path'], 200))} "
               f"(score {mine['score']:.2f}).")

if len(rows) == 0 and mine is None:
    st.info("Nothing to show: no product matches these filters. Choose another subtree.")
    st.stop()

# A click on one point (the chart's state, kept from the rerun the click caused) rings
# its nearest products on the map and lists them below.
clicked = ui.clicked_product(st.session_state.get("map_chart"))
focus = near = None
if clicked is not None and clicked < n_total:
    near = bundle.nearest_rows(clicked, NEAREST_K)
    focus = (clicked, near[0])

view = repr((method, subtree, mode, split, reprojected is not None))  # a new view zooms to its points
fig = ui.catalogue_map_figure(xy, rows, labels, base["hover"], highlight, mine, str(classified or ""),
                              universe=universe, view=view, focus=focus)
event = st.plotly_chart(fig, key="map_chart", on_select="rerun",
                        selection_mode=("box", "lasso", "points"),
                        config={"scrollZoom": True, "displaylogo": False})

# ---------------------------------------------------------------------- selection / matches
points = []
try:
    points = event.selection.points if event is not None else []
except (AttributeError, KeyError):
    points = []
picked = [r for r in report.selected_rows(points) if 0 <= r < n_total]
if focus is not None:  # (the redrawn chart starts with no selection: picked is empty)
    near_rows, near_sims = near
    st.subheader("Nearest products to the clicked one")
    st.caption(f"Clicked: {ui.md_escape(report.truncate(ui.display_text(products['text'].iat[clicked]), 200))}"
               f" · ringed on the map (those outside the view's positions are listed only); "
               "click a ringed point to follow its own neighbours.")
    clicked_table = ui.map_table(products, [clicked])
    near_table = ui.map_table(products, near_rows)
    near_table.insert(0, "similarity", np.round(near_sims.astype(float), 3))
    st.dataframe(clicked_table, hide_index=True, width="stretch", key="clicked_table",
                 column_config=ui.map_table_columns())
    st.dataframe(near_table, hide_index=True, width="stretch", key="nearest_table",
                 column_config={**ui.map_table_columns(),
                                "similarity": st.column_config.NumberColumn(
                                    "Similarity", format="%.3f",
                                    help="Cosine similarity of the product embeddings")})
elif picked:
    st.subheader(f"Selected products ({len(picked):,})")
    sel = ui.map_table(products, picked)
    st.dataframe(sel.head(2_000), hide_index=True, width="stretch", key="selection_table",
                 column_config=ui.map_table_columns())
    if len(sel) > 2_000:
        st.caption("The first 2,000 are listed; download all of them below.")
    st.download_button("Download the selection (CSV)", ui.map_selection_csv(products, picked),
                       file_name="selected_products.csv", mime="text/csv", key="selection_csv")
else:
    st.caption("Tip: click a point to ring and list its nearest products; draw a box or "
               "lasso around points to list those products here.")
if query and found_here.any():
    hits = np.flatnonzero(found_here)
    with st.expander(f"Products matching the search ({len(hits):,})", expanded=not picked):
        st.dataframe(ui.map_table(products, hits[:500]), hide_index=True, width="stretch", key="search_table",
                     column_config=ui.map_table_columns())
        if len(hits) > 500:
            st.caption("The first 500 matches are listed.")

