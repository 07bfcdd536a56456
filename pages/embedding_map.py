"""Embedding map: every catalogue product on a 2-D t-SNE / UMAP map of its embedding.

Run by ``app.py`` through ``st.navigation``. WebGL scatter (plotly ``Scattergl``) of up
to 100,000 products, coloured by category, predicted class or correctness; filter or
highlight a subtree, search the texts, select products with the box or lasso tool,
and see where a product pasted on the Classify page lands.

Deep links: ``?method=umap&subtree=Accessories > Scarves&q=loop``.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.colors import qualitative

from prodemb import report
from prodemb.ui import current_bundle
from prodemb.ui import md_escape as md

METHOD_LABELS = {"tsne": "t-SNE", "umap": "UMAP"}
ALL = "All categories"
MAX_POINTS = 100_000
DEFAULT_POINTS = 30_000
MAX_GROUPS = 30
HOVER_CHARS = 120
PALETTE = qualitative.Dark24 + qualitative.Light24
FIXED_COLOURS = {"correct": "#2ca02c", "wrong": "#d62728", report.UNLABELLED: "#c9ccd1",
                 report.OTHER: "#a3a7ae", "(no prediction)": "#c9ccd1"}
TABLE_COLUMNS = ["id", "text", "split", "true_path", "pred_path", "pred_score", "correct"]


def table_config() -> dict:
    return {"text": st.column_config.TextColumn("text", width="large"),
            "true_path": st.column_config.TextColumn("true category"),
            "pred_path": st.column_config.TextColumn("predicted category"),
            "pred_score": st.column_config.NumberColumn("score", format="%.2f"),
            "correct": st.column_config.CheckboxColumn("correct")}


def esc(text: object) -> str:
    """Catalogue or user text for plotly: plotly renders a subset of HTML, so escape it."""
    return html.escape(str(text), quote=False)


def fingerprint(bundle) -> tuple[str, str]:
    """Cache key of a bundle: its path and the hash of its products file."""
    entry = bundle.manifest.get("files", {}).get("products.parquet", {})
    return bundle.path, str(entry.get("sha256") or bundle.manifest.get("created"))


def show_paths(cell: object, first_only: bool = False) -> str:
    """Escaped display of a path cell for hover labels; with ``first_only`` extra paths
    are counted, not listed."""
    if not isinstance(cell, str) or not cell:
        return ""
    paths = cell.split(report.PATH_JOIN)
    shown = esc(paths[0] if first_only else report.PATH_JOIN.join(paths))
    if first_only and len(paths) > 1:
        shown += f" (+{len(paths) - 1})"
    return shown


def hover_lines(text: object, true: object, pred: object, score: float) -> tuple[str, str, str]:
    """Escaped hover values: the text (cut to 120 characters), the true path and the
    predicted path (``same`` when it equals the true one)."""
    head = esc(report.truncate(text, HOVER_CHARS))
    sc = f" ({score:.2f})" if score == score else ""
    labelled = isinstance(true, str) and bool(true)
    predicted = isinstance(pred, str) and bool(pred)
    if labelled and predicted and true == pred:
        return head, show_paths(true), f"same{sc}"
    return (head, show_paths(true) if labelled else "(unlabelled)",
            f"{show_paths(pred, first_only=True)}{sc}" if predicted else "(none)")


# The per-point strings travel in customdata ([row, text, true, predicted]) and the line
# breaks once per trace in the template: plotly's JSON writes every "<" as 6 bytes, so
# this keeps a 30,000-point map several MB lighter than per-point "<br>" hover texts.
HOVER_TEMPLATE = ("<b>%{customdata[1]}</b><br>true: %{customdata[2]}"
                  "<br>predicted: %{customdata[3]}<extra></extra>")


# ---------------------------------------------------------------------- cached per bundle
@st.cache_resource(show_spinner="Preparing the map…", max_entries=4)
def base_frame(key, _products: pd.DataFrame) -> dict:
    """Read-only arrays derived once per bundle: hover texts and cleaned texts for search."""
    p = _products
    score = p["pred_score"].to_numpy(float) if "pred_score" in p else np.full(len(p), np.nan)
    hover = np.empty((len(p), 3), dtype=object)
    for i, (text, true, pred, sc) in enumerate(zip(p["text"], p["true_path"], p["pred_path"], score)):
        hover[i] = hover_lines(text, true, pred, sc)
    return {"hover": hover, "cleaned": report.cleaned_texts(p["text"])}


@st.cache_resource(show_spinner=False, max_entries=16)
def colour_groups(key, _products: pd.DataFrame, by: str, level: int) -> pd.Series:
    return report.colour_labels(_products, by, level)


@st.cache_resource(show_spinner=False, max_entries=32)
def subtree_rows(key, _products: pd.DataFrame, subtree: str) -> np.ndarray:
    return report.subtree_mask(_products, subtree)


@st.cache_resource(show_spinner=False, max_entries=32)
def search_rows(key, _products: pd.DataFrame, _cleaned: pd.Series, query: str) -> np.ndarray:
    return report.search_mask(_products["text"], query, _cleaned)


@st.cache_data(show_spinner=False, max_entries=16)
def node_names(key, _taxonomy) -> list[str]:
    return [_taxonomy.name(i) for i in range(_taxonomy.n_nodes)]


@st.cache_data(show_spinner="Placing your product on the map…", max_entries=64)
def place_text(key, _bundle, text: str, method: str) -> dict:
    c = _bundle.classify([text])[0]
    xy = _bundle.place_on_map([text], method)[0]
    return {"x": float(xy[0]), "y": float(xy[1]), "path": c.top_path,
            "score": float(c.paths[0][1]) if c.paths else float("nan")}


# ---------------------------------------------------------------------- figure
def point_data(rows: np.ndarray, hover: np.ndarray) -> np.ndarray:
    """customdata of points: ``[row, text, true path, predicted path]`` (row first: the
    selection reads it back). An object array: plotly validates it much faster than lists."""
    out = np.empty((len(rows), 4), dtype=object)
    out[:, 0] = rows.tolist()
    out[:, 1:] = hover[rows]
    return out


def build_figure(xy: np.ndarray, rows: np.ndarray, labels: pd.Series, hover: np.ndarray,
                 highlight: np.ndarray, mine: dict | None, mine_text: str) -> go.Figure:
    """Scatter of the sampled ``rows``; ``customdata`` of every point is its product row."""
    sub = labels.iloc[rows]
    sub = report.limit_groups(sub, MAX_GROUPS)
    order = report.group_order(sub)
    colours, k = {}, 0
    for g in order:
        if g in FIXED_COLOURS:
            colours[g] = FIXED_COLOURS[g]
        else:
            colours[g] = PALETTE[k % len(PALETTE)]
            k += 1
    any_highlight = bool(highlight[rows].any())
    n = len(rows)
    size = 5 if n <= 15_000 else 4 if n <= 40_000 else 3
    fig = go.Figure()
    values = sub.to_numpy()
    # background groups ("other", unlabelled) are drawn first, under the named ones;
    # legendrank keeps the legend in size order
    drawing = [g for g in order if g in FIXED_COLOURS] + [g for g in order if g not in FIXED_COLOURS]
    for g in drawing:
        r = rows[values == g]
        fig.add_trace(go.Scattergl(
            x=xy[r, 0], y=xy[r, 1], mode="markers", name=esc(g), legendgroup=esc(g),
            legendrank=1000 + order.index(g),
            customdata=point_data(r, hover), hovertemplate=HOVER_TEMPLATE,
            marker=dict(size=size, color=colours[g], opacity=0.15 if any_highlight else 0.8,
                        line=dict(width=0))))
    if any_highlight:
        h = rows[highlight[rows]]
        hcol = [colours[g] for g in values[highlight[rows]]]
        fig.add_trace(go.Scattergl(
            x=xy[h, 0], y=xy[h, 1], mode="markers", name=f"highlighted ({len(h):,})", legendrank=2,
            customdata=point_data(h, hover), hovertemplate=HOVER_TEMPLATE,
            marker=dict(size=8, color=hcol, opacity=0.95, line=dict(width=0.8, color="#1b1f24"))))
    if mine is not None:
        fig.add_trace(go.Scattergl(
            x=[mine["x"]], y=[mine["y"]], mode="markers", name="your product", legendrank=1,
            customdata=[[-1, "★ your product: " + esc(report.truncate(mine_text, HOVER_CHARS)),
                         "(not in the catalogue)",
                         f"{show_paths(mine['path'])} ({mine['score']:.2f})"]],
            hovertemplate=HOVER_TEMPLATE,
            marker=dict(symbol="star", size=22, color="#ffd400", line=dict(width=1.5, color="#1b1f24"))))
    fig.update_layout(
        height=680, margin=dict(l=0, r=0, t=36, b=0), dragmode="pan",
        legend=dict(itemsizing="constant", font=dict(size=11), tracegroupgap=0,
                    title=dict(text="click to hide, double-click to isolate", font=dict(size=10))),
        xaxis=dict(visible=False), yaxis=dict(visible=False),
        hoverlabel=dict(align="left"), uirevision="map", plot_bgcolor="white")
    return fig


# ---------------------------------------------------------------------- page
def main() -> None:
    bundle = current_bundle()
    products, taxonomy = bundle.products, bundle.taxonomy
    key = fingerprint(bundle)

    st.title("Embedding map")
    methods = bundle.map_methods
    if not methods or products.empty:
        st.warning("This bundle has no map coordinates. Retrain it with maps enabled "
                   "(config `maps.methods`, e.g. `[\"tsne\", \"umap\"]`).")
        st.stop()
    st.caption(f"{len(products):,} products of `{bundle.name}`, placed by the similarity of their "
               "embeddings: neighbours on the map are products the model sees as alike. "
               "Use the box or lasso tool (top right of the chart) to list products.")

    # ---------------------------------------------------------------- controls
    c1, c2, c3, c4 = st.columns([1.3, 1.6, 1, 2])
    # ?method=umap: read by hand (a bound segmented control would want the label, "UMAP")
    if st.session_state.get("method") not in methods:
        wanted = st.query_params.get("method", "")
        st.session_state["method"] = (wanted if wanted in methods
                                      else "umap" if "umap" in methods else methods[0])
    method = c1.segmented_control("Map", methods, format_func=lambda m: METHOD_LABELS.get(m, m),
                                  key="method", required=True) or methods[0]
    if st.query_params.get("method") != method:
        st.query_params["method"] = method
    by = c2.selectbox("Colour by", list(report.COLOUR_OPTIONS), key="colour",
                      format_func=report.COLOUR_OPTIONS.get)
    level = 1
    if by == "level":
        level = c3.selectbox("Level", list(range(1, taxonomy.depth + 1)), key="colour_level",
                             index=min(1, taxonomy.depth - 1))
    n_total = len(products)
    max_points = c4.slider("Max points", min_value=min(1_000, n_total),
                           max_value=max(min(MAX_POINTS, n_total), min(1_000, n_total) + 1),
                           value=min(DEFAULT_POINTS, n_total), step=1_000 if n_total > 5_000 else 100,
                           key="max_points",
                           help="A fixed random sample: more points add to it, never reshuffle it.")

    d1, d2, d3 = st.columns([2.2, 1, 2])
    subtree = d1.selectbox("Subtree", [ALL] + node_names(key, taxonomy), key="subtree",
                           bind="query-params",
                           help="Products whose true or predicted category is in this subtree.")
    subtree = None if subtree in (None, ALL) else subtree
    mode = d2.segmented_control("Subtree view", ["Filter", "Highlight"], default="Filter",
                                key="subtree_mode", required=True, disabled=subtree is None) or "Filter"
    query = d3.text_input("Search products", key="q", bind="query-params", max_chars=200,
                          placeholder="e.g. loop scarf, šál, nike",
                          help="Case-insensitive; also matches after cleaning (šál finds sal).")
    query = (query or "").strip()

    classified = st.session_state.get("classified_text")
    show_mine = False
    if classified:
        show_mine = st.checkbox("Show my product (from the Classify page)", value=True,
                                key="show_mine")

    # ---------------------------------------------------------------- data
    base = base_frame(key, products)
    xcol, ycol = bundle.map_columns(method)
    xy = products[[xcol, ycol]].to_numpy(np.float32)
    mapped = ~np.isnan(xy).any(axis=1)
    labels = colour_groups(key, products, by, int(level))
    in_sub = subtree_rows(key, products, subtree) if subtree else np.ones(n_total, dtype=bool)
    found = search_rows(key, products, base["cleaned"], query) if query else np.zeros(n_total, bool)

    candidates = mapped & (in_sub if subtree and mode == "Filter" else True)
    highlight = found.copy()
    if subtree and mode == "Highlight":
        highlight |= in_sub
    rows = report.sample_points(candidates, int(max_points), keep=highlight & candidates)

    mine = None
    if show_mine and classified:
        try:
            mine = place_text(key, bundle, str(classified), method)
        except Exception as e:  # a failed placement must not break the map
            st.warning(f"Your product could not be placed on the map ({type(e).__name__}).")

    # ---------------------------------------------------------------- summary line
    parts = [f"**{len(rows):,}** of {int(candidates.sum()):,} products shown"]
    if subtree:
        parts.append(f"{int((in_sub & mapped).sum()):,} in the subtree")
    if query:
        n_found = int((found & mapped).sum())
        n_shown = int(found[rows].sum())
        if not n_found:
            parts.append("no product matches the search")
        else:
            parts.append(f"**{n_found:,}** match the search"
                         + (f" ({n_shown:,} of them in view)" if n_shown < n_found else ""))
    if mapped.sum() < n_total:
        parts.append(f"{n_total - int(mapped.sum()):,} products have no map position")
    st.markdown(" · ".join(parts))
    if mine is not None:
        st.caption(f"★ Your product is predicted as {md(report.truncate(mine['path'], 200))} "
                   f"(score {mine['score']:.2f}).")

    if len(rows) == 0 and mine is None:
        st.info("Nothing to show: no product matches these filters. Choose another subtree.")
        return

    fig = build_figure(xy, rows, labels, base["hover"], highlight, mine, str(classified or ""))
    event = st.plotly_chart(fig, key="map_chart", on_select="rerun",
                            selection_mode=("box", "lasso", "points"),
                            config={"scrollZoom": True, "displaylogo": False})

    # ---------------------------------------------------------------- selection / matches
    points = []
    try:
        points = event.selection.points if event is not None else []
    except (AttributeError, KeyError):
        points = []
    picked = [r for r in report.selected_rows(points) if 0 <= r < n_total]
    if picked:
        st.subheader(f"Selected products ({len(picked):,})")
        sel = products.iloc[picked][[c for c in TABLE_COLUMNS if c in products.columns]]
        st.dataframe(sel.head(2_000), hide_index=True, width="stretch", key="selection_table",
                     column_config=table_config())
        if len(sel) > 2_000:
            st.caption("The first 2,000 are listed; download all of them below.")
        st.download_button("Download the selection (CSV)", sel.to_csv(index=False).encode("utf-8"),
                           file_name="selected_products.csv", mime="text/csv", key="selection_csv")
    else:
        st.caption("Tip: draw a box or lasso around points to list those products here.")
    if query and found.any():
        hits = np.flatnonzero(found)
        with st.expander(f"Products matching the search ({len(hits):,})", expanded=not picked):
            st.dataframe(products.iloc[hits[:500]][[c for c in TABLE_COLUMNS if c in products.columns]],
                         hide_index=True, width="stretch", key="search_table",
                         column_config=table_config())
            if len(hits) > 500:
                st.caption("The first 500 matches are listed.")


main()
