"""Per-class F1: headline scores, per-class table and chart, label imbalance, training
curves, confused classes with a subtree heatmap and "consider merging" hints.

Run by ``app.py`` through ``st.navigation``; all numbers come from the bundle's
``metrics.json`` via :mod:`prodemb.report`. Deep link: ``?subtree=A > B`` focuses a subtree.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from prodemb import report
from prodemb.ui import current_bundle
from prodemb.ui import md_escape as md

LEVEL_COLOURS = ["#1f6feb", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948"]
ALL = "All categories"
MAX_HINTS = 6
SPLIT_LABELS = {"train": "Train", "validation": "Validation", "test": "Test"}


def esc(text: object) -> str:
    """Catalogue text for plotly labels: plotly renders a subset of HTML, so escape it."""
    return html.escape(str(text), quote=False)


def fingerprint(bundle) -> tuple[str, str]:
    """Cache key of a bundle: its path and the hash of its metrics file."""
    entry = bundle.manifest.get("files", {}).get("metrics.json", {})
    return bundle.path, str(entry.get("sha256") or bundle.manifest.get("created"))


# ---------------------------------------------------------------------- cached tables
@st.cache_data(show_spinner=False, max_entries=16)
def headline(key, _metrics) -> pd.DataFrame:
    return report.headline_table(_metrics)


@st.cache_data(show_spinner=False, max_entries=16)
def per_class(key, _metrics, split: str) -> pd.DataFrame:
    return report.per_class_table(_metrics["splits"][split])


@st.cache_data(show_spinner=False, max_entries=16)
def distribution(key, _metrics) -> pd.DataFrame:
    return report.label_distribution(_metrics)


@st.cache_data(show_spinner=False, max_entries=16)
def pairs(key, _metrics, _taxonomy, split: str, subtree: str | None) -> pd.DataFrame:
    return report.confused_pairs(_taxonomy, _metrics["splits"][split], subtree)


@st.cache_data(show_spinner=False, max_entries=32)
def confusion(key, _metrics, _taxonomy, split: str, subtree: str) -> pd.DataFrame:
    return report.confusion_matrix(_taxonomy, _metrics["splits"][split], subtree)


@st.cache_data(show_spinner=False, max_entries=16)
def focus_default(key, _metrics, _taxonomy, split: str) -> str | None:
    return report.default_subtree(_taxonomy, _metrics["splits"][split])


@st.cache_data(show_spinner=False, max_entries=16)
def subtree_choices(key, _taxonomy) -> list[str]:
    return report.subtree_options(_taxonomy)


# ---------------------------------------------------------------------- charts
def f1_chart(df: pd.DataFrame, subtree: str | None) -> go.Figure:
    df = df.sort_values(["f1", "class"], ascending=[False, True])
    labels = [esc(report.relative_name(c, subtree)) for c in df["class"]]
    fig = go.Figure()
    for k, level in enumerate(sorted(df["level"].unique())):
        sel = (df["level"] == level).to_numpy()
        fig.add_trace(go.Bar(
            x=df["f1"][sel], y=np.array(labels, dtype=object)[sel], orientation="h",
            name=f"level {level}", marker_color=LEVEL_COLOURS[k % len(LEVEL_COLOURS)],
            customdata=np.stack([df["precision"][sel], df["recall"][sel], df["support"][sel]], axis=1),
            hovertemplate="<b>%{y}</b><br>F1 %{x:.3f}<br>precision %{customdata[0]:.3f}"
                          "<br>recall %{customdata[1]:.3f}<br>support %{customdata[2]:,}<extra></extra>"))
    fig.update_layout(height=max(260, 18 * len(df) + 90), margin=dict(l=10, r=10, t=30, b=10),
                      xaxis=dict(range=[0, 1], title="F1", side="top"),
                      yaxis=dict(categoryorder="array", categoryarray=labels, autorange="reversed",
                                 automargin=True),
                      legend=dict(orientation="h", y=-0.02, yanchor="top"), bargap=0.25)
    return fig


def distribution_chart(dist: pd.DataFrame) -> go.Figure:
    tops = list(dict.fromkeys(dist["top_level"]))
    palette = ["#1f6feb", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
               "#ff9da7", "#9c755f", "#bab0ac", "#4e79a7", "#86bcb6", "#d37295", "#a0cbe8",
               "#8cd17d", "#f1ce63", "#499894", "#fabfd2", "#d4a6c8", "#79706e"]
    colour = {t: palette[i % len(palette)] for i, t in enumerate(sorted(tops))}
    x = np.arange(1, len(dist) + 1)
    support = dist["support"].clip(lower=0.8)  # zero-support leaves stay visible on the log axis
    fig = go.Figure(go.Bar(
        x=x, y=support, marker_color=[colour[t] for t in dist["top_level"]],
        customdata=np.stack([[esc(c) for c in dist["class"]], dist["support"]], axis=1),
        hovertemplate="#%{x}: <b>%{customdata[0]}</b><br>%{customdata[1]:,} items<extra></extra>"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), bargap=0.05,
                      yaxis=dict(type="log", title="labelled items (log scale)", dtick=1),
                      xaxis=dict(title="leaf classes, most common first"))
    return fig


def history_chart(hist: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Validation macro-F1"),
                        horizontal_spacing=0.12)
    fig.add_trace(go.Scatter(x=hist["epoch"], y=hist["train_loss"], name="train loss",
                             mode="lines+markers", line=dict(color="#1f6feb")), 1, 1)
    fig.add_trace(go.Scatter(x=hist["epoch"], y=hist["val_loss"], name="validation loss",
                             mode="lines+markers", line=dict(color="#f28e2b")), 1, 1)
    fig.add_trace(go.Scatter(x=hist["epoch"], y=hist["val_macro_f1"], name="val macro-F1",
                             mode="lines+markers", line=dict(color="#59a14f")), 1, 2)
    fig.update_xaxes(title_text="epoch", dtick=1 if len(hist) <= 20 else None)
    fig.update_yaxes(rangemode="tozero", tickformat=".2f", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", tickformat=".3f", row=1, col=2)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    return fig


def heatmap(counts: pd.DataFrame) -> go.Figure:
    norm = report.row_normalise(counts)
    rows = [esc(r) for r in counts.index]
    cols = [esc(c) for c in counts.columns]
    n = len(rows)
    fig = go.Figure(go.Heatmap(
        z=norm.to_numpy(), x=cols, y=rows, customdata=counts.to_numpy(), zmin=0, zmax=1,
        colorscale="Blues", xgap=1, ygap=1, colorbar=dict(title="share<br>of row", tickformat=".0%"),
        text=[[f"{v:.0%}" if c else "" for v, c in zip(zr, cr)]
              for zr, cr in zip(norm.to_numpy(), counts.to_numpy())],
        texttemplate="%{text}" if n <= 14 else None, textfont=dict(size=11),
        hovertemplate="true: <b>%{y}</b><br>predicted: <b>%{x}</b><br>%{z:.1%} of the row"
                      "<br>count: %{customdata:,}<extra></extra>"))
    fig.update_layout(height=max(320, 34 * n + 170), margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title="predicted", side="bottom", tickangle=-30, automargin=True),
                      yaxis=dict(title="true", autorange="reversed", automargin=True))
    return fig


# ---------------------------------------------------------------------- page
def main() -> None:
    bundle = current_bundle()
    metrics, taxonomy = bundle.metrics, bundle.taxonomy
    key = fingerprint(bundle)
    splits = [s for s in report.SPLITS if s in metrics.get("splits", {})]

    st.title("Per-class F1")
    st.caption(f"How well the model `{bundle.name}` does on every category, and which "
               "categories it mixes up. Scores use the tuned per-node thresholds.")
    if not splits:
        st.warning("This bundle has no evaluation (metrics.json lists no splits). "
                   "Retrain it with `prodemb train` to get per-class scores.")
        st.stop()

    # ---------------------------------------------------------------- headline
    head = headline(key, metrics)
    split = st.segmented_control("Split", splits, default="test" if "test" in splits else splits[0],
                                 format_func=lambda s: SPLIT_LABELS.get(s, s), key="f1_split",
                                 required=True)
    split = split or splits[0]
    row = head.loc[split]
    c1, c2, c3, c4, c5 = st.columns(5)
    plain = row["macro-F1 @0.5"]
    c1.metric("Macro-F1 (all nodes)", f"{row['macro-F1']:.3f}",
              delta=None if pd.isna(plain) else f"{row['macro-F1'] - plain:+.3f} vs 0.5 thresholds",
              help="Mean F1 over every category node with examples in this split.")
    c2.metric("Leaf macro-F1", f"{row['leaf macro-F1']:.3f}")
    c3.metric("Micro-F1", f"{row['micro-F1']:.3f}",
              help="Pooled over all node decisions (equals hierarchical F1).")
    c4.metric("Exact match", f"{row['exact match']:.1%}",
              help="Items whose predicted path set equals the true one.")
    c5.metric("Items", f"{int(row['items']):,}")

    head = head.drop(columns=["hierarchical F1"], errors="ignore")  # equals micro-F1 here
    fmt = {c: st.column_config.NumberColumn(c, format="%.3f", width="small")
           for c in head.columns if c != "items"}
    fmt["items"] = st.column_config.NumberColumn("items", format="%d")
    fmt["macro-F1 @0.5"] = st.column_config.NumberColumn(
        "macro-F1 @0.5", format="%.3f", help="The same model with every threshold at 0.5.")
    st.dataframe(head, column_config=fmt, width="stretch", key="headline_table")

    # ---------------------------------------------------------------- per-class table
    st.subheader("Classes")
    choices = subtree_choices(key, taxonomy)
    f1, f2, f3, f4 = st.columns([3, 2, 1, 1])
    subtree = f1.selectbox("Subtree", [ALL] + choices, key="subtree", bind="query-params",
                           help="Only the chosen category and the classes under it.")
    subtree = None if subtree in (None, ALL) else subtree
    all_levels = list(range(1, taxonomy.depth + 1))
    levels = f2.multiselect("Levels", all_levels, default=all_levels, key="f1_levels",
                            format_func=lambda lv: f"level {lv}")
    min_support = f3.number_input("Min support", min_value=0, value=1, step=1, key="f1_min_support",
                                  help="Classes with no items in the split are not in macro-F1.")
    leaves_only = f4.toggle("Leaves only", value=False, key="f1_leaves")

    table = report.filter_classes(per_class(key, metrics, split), subtree, levels or all_levels,
                                  int(min_support), leaves_only)
    if table.empty:
        st.info("No class matches these filters. Lower the minimum support or choose more levels.")
    else:
        scored = table[table["support"] > 0]
        st.caption(f"{len(table)} classes · mean F1 {scored['f1'].mean():.3f} over the "
                   f"{len(scored)} with support (click a column header to sort).")
        shown = table[["class", "level", "leaf", "top_level", "precision", "recall", "f1",
                       "support", "predicted"]]
        st.dataframe(
            shown, hide_index=True, width="stretch", height=min(38 + 35 * len(shown), 420),
            key="per_class_table",
            column_config={
                "class": st.column_config.TextColumn("class", width="large"),
                "top_level": st.column_config.TextColumn("top level"),
                "precision": st.column_config.NumberColumn("precision", format="%.3f"),
                "recall": st.column_config.NumberColumn("recall", format="%.3f"),
                "f1": st.column_config.ProgressColumn("F1", format="%.3f", min_value=0.0,
                                                      max_value=1.0),
                "support": st.column_config.NumberColumn("support", format="%d",
                                                         help="true items in the split"),
                "predicted": st.column_config.NumberColumn("predicted", format="%d",
                                                           help="items predicted as the class"),
            })
        with st.expander(f"F1 by class ({len(table)} classes)", expanded=len(table) <= 40):
            limit = 60
            chart_df = table
            if len(table) > limit:
                which = st.radio("Show", ["lowest F1", "highest F1", "all"], horizontal=True,
                                 key="f1_chart_which")
                if which == "lowest F1":
                    chart_df = table.nsmallest(limit, "f1")
                elif which == "highest F1":
                    chart_df = table.nlargest(limit, "f1")
            st.plotly_chart(f1_chart(chart_df, subtree), key="f1_chart",
                            config={"displayModeBar": False})

    # ---------------------------------------------------------------- confusions
    st.subheader("Confused categories")
    focus = subtree or focus_default(key, metrics, taxonomy, split)
    split_metrics = metrics["splits"][split]
    left, right = st.columns([3, 2], gap="large")
    with left:
        if focus is None:
            st.info("No confusions recorded for this split.")
        else:
            counts = confusion(key, metrics, taxonomy, split, focus)
            st.markdown(f"**Confusion heatmap: {md(focus)}**")
            st.caption("Rows are true classes, columns predictions; each row sums to 100 %. "
                       "*other* = predicted outside the subtree. Hover for counts."
                       + ("" if subtree else " Showing the subtree of the most confused pair; "
                          "choose a subtree above to focus on another one."))
            if counts.empty or counts.to_numpy().sum() == 0:
                st.info("No items of this subtree in the split.")
            else:
                st.plotly_chart(heatmap(counts), key="confusion_heatmap",
                                config={"displayModeBar": False})
    with right:
        threshold = st.slider("Merge-hint threshold", 0.0, 0.6, 0.15, 0.01, key="merge_threshold",
                              format="%.2f",
                              help="Suggest merging two classes when this share of their items "
                                   "(a→b + b→a) / (support a + support b) is confused with each other.")
        hints = report.merge_hints(taxonomy, split_metrics, threshold, subtree=focus)
        where = md(focus) if focus else "the tree"
        if hints.empty:
            st.success(f"No pair in {where} is confused above {threshold:.0%}: "
                       "no merge suggested.", icon=":material/check_circle:")
        for h in hints.head(MAX_HINTS).itertuples():
            a, b = report.relative_name(h.a, focus), report.relative_name(h.b, focus)
            st.warning(f"**Consider merging {md(a)} and {md(b)}**: {h.rate:.0%} of their "
                       f"{h.support_a + h.support_b:,} items are confused with each other "
                       f"({h.a_as_b:,} {md(a)} → {md(b)}, {h.b_as_a:,} back).",
                       icon=":material/call_merge:")
        if len(hints) > MAX_HINTS:
            st.caption(f"… and {len(hints) - MAX_HINTS} more pairs in {where} above the threshold.")

    all_pairs = pairs(key, metrics, taxonomy, split, None)
    above = all_pairs[all_pairs["rate"] > threshold] if not all_pairs.empty else all_pairs
    st.markdown("**Most confused pairs in the whole tree** (path ends, both directions; "
                f"{len(above):,} of {len(all_pairs):,} pairs above the threshold)")
    if all_pairs.empty:
        st.info("No confusions recorded for this split.")
    else:
        st.dataframe(
            all_pairs.head(100)[["a", "b", "a_as_b", "b_as_a", "total", "support_a", "support_b",
                                 "rate"]].assign(rate=lambda d: 100 * d["rate"]),
            hide_index=True, width="stretch", height=min(38 + 35 * len(all_pairs), 390),
            key="confused_table",
            column_config={
                "a": st.column_config.TextColumn("class a", width="medium"),
                "b": st.column_config.TextColumn("class b", width="medium"),
                "a_as_b": st.column_config.NumberColumn("a → b", format="%d"),
                "b_as_a": st.column_config.NumberColumn("b → a", format="%d"),
                "total": st.column_config.NumberColumn("total", format="%d"),
                "support_a": st.column_config.NumberColumn("support a", format="%d"),
                "support_b": st.column_config.NumberColumn("support b", format="%d"),
                "rate": st.column_config.ProgressColumn(
                    "mutual rate", format="%.1f%%", min_value=0.0, max_value=100.0,
                    help="(a→b + b→a) / (support a + support b)"),
            })

    # ---------------------------------------------------------------- imbalance + training
    st.subheader("Data and training")
    d1, d2 = st.columns(2, gap="large")
    with d1:
        dist = distribution(key, metrics)
        st.markdown("**Label distribution** (labelled items per leaf, all splits; "
                    "colour: top-level category)")
        if dist.empty:
            st.info("No labelled items.")
        else:
            nz = dist[dist["support"] > 0]
            st.plotly_chart(distribution_chart(dist), key="distribution_chart",
                            config={"displayModeBar": False})
            if len(nz):
                st.caption(f"{len(dist)} leaves · most common: {md(nz['class'].iloc[0])} "
                           f"({nz['support'].iloc[0]:,}) · rarest: {md(nz['class'].iloc[-1])} "
                           f"({nz['support'].iloc[-1]:,}) · ratio "
                           f"{nz['support'].iloc[0] / nz['support'].iloc[-1]:,.0f}:1")
    with d2:
        hist = report.history_frame(metrics)
        st.markdown("**Training curves**")
        if hist.empty:
            st.info("This bundle has no training history.")
        else:
            st.plotly_chart(history_chart(hist), key="history_chart",
                            config={"displayModeBar": False})
            secs = metrics.get("stage_seconds", {})
            if secs:
                st.caption("Training time: " + " · ".join(f"{md(k)} {v:,.0f} s"
                                                         for k, v in secs.items()))


main()
