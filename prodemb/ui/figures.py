"""Plotly figures of the dashboard pages. Every catalogue or user text in a figure goes
through :func:`~prodemb.ui.text.plot_escape` (plotly renders a subset of HTML)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from .. import report
from ..serving import WORK
from .text import plot_escape

#: Colour of a predicted / supporting item, of an opposing item, of anything neutral.
POSITIVE, NEGATIVE, NEUTRAL = "#1a7f37", "#cf222e", "#8c959f"
PRIMARY = "#1f6feb"


# ---------------------------------------------------------------------- Classify and Neighbours
#: The categorical palette of every map (Classify's small map and the Embedding map): one
#: colour list, so a category has one colour on both.
PALETTE = list(dict.fromkeys(qualitative.D3 + qualitative.Set2 + qualitative.Dark24
                             + qualitative.Light24))
#: Colours of the groups that are no category.
#: Group of the products a subtree filter shows because they are predicted in the subtree
#: while their true category is elsewhere.
ELSEWHERE = "true category elsewhere"
FIXED_COLOURS = {"correct": "#2ca02c", "wrong": "#d62728", report.UNLABELLED: "#c9ccd1",
                 report.OTHER: "#a3a7ae", "(no prediction)": "#c9ccd1", ELSEWHERE: "#8c959f"}


def category_colours(groups, universe=None) -> dict[str, str]:
    """One colour per group, the same wherever the group is drawn.

    ``universe``: every category the groups are drawn from (e.g. all top-level categories
    of the tree, or all categories one level below a subtree), sorted or not: a category's
    colour is the palette entry of its rank in the sorted universe, so it does not depend
    on which categories a sample or a filter happens to show. Without a universe, or when
    it has more categories than the palette has colours (they could not all differ), the
    groups' own sorted order is used. :data:`FIXED_COLOURS` for correct / wrong / other /
    unlabelled."""
    named = sorted({str(g) for g in groups} - set(FIXED_COLOURS))
    ranked = sorted({str(u) for u in universe} - set(FIXED_COLOURS)) if universe is not None else []
    if not ranked or len(ranked) > len(PALETTE) or not set(named) <= set(ranked):
        ranked = named
    rank = {name: i for i, name in enumerate(ranked)}
    colours = {name: PALETTE[rank[name] % len(PALETTE)] for name in named}
    colours.update({g: c for g, c in FIXED_COLOURS.items()})
    return colours


def category_colors(names, universe=None) -> dict[str, str]:
    """:func:`category_colours` (kept for callers of the old name)."""
    return category_colours(names, universe)


def _layout(fig, height: int, **kw):
    kw.setdefault("showlegend", False)
    kw.setdefault("margin", dict(l=8, r=16, t=36, b=8))
    fig.update_layout(height=height, plot_bgcolor="rgba(0,0,0,0)", **kw)
    return fig


#: Where the node chart's percentages start (right of the 100 % line).
LABEL_X = 1.02


@WORK
def top_nodes_figure(top: pd.DataFrame):
    """Horizontal bars of the most probable nodes with each node's decision threshold.

    ``top``: :func:`prodemb.ui.data.node_chart_table` (a bar is the node's path
    probability, never above its parent's; blue: the node and every node above it reach
    their thresholds), or :meth:`prodemb.bundle.Bundle.top_nodes` (raw probabilities)."""
    top = top.iloc[::-1]
    names = [("● " if on else "") + plot_escape(n, 60)
             for n, on in zip(top["node"], top.get("on_path", [False] * len(top)))]
    value = top["path_probability"] if "path_probability" in top else top["probability"]
    passed = top["reachable"] if "reachable" in top else top["probability"] >= top["threshold"]
    raw_note = ["" if abs(r - v) < 5e-4 else f"<br>its own probability {r:.3f}, capped at the level above"
                for r, v in zip(top["probability"], value)]
    fig = go.Figure()
    fig.add_bar(x=value, y=names, orientation="h",
                marker_color=[PRIMARY if ok else NEUTRAL for ok in passed],
                customdata=np.stack([top["threshold"], top["level"], raw_note], axis=1),
                hovertemplate="%{y}<br>probability %{x:.3f}%{customdata[2]}"
                              "<br>threshold %{customdata[0]:.2f}<br>level %{customdata[1]}"
                              "<extra></extra>")
    fig.add_scatter(x=top["threshold"], y=names, mode="markers", name="threshold",
                    marker=dict(symbol="line-ns", size=18, line=dict(width=2, color="#24292f")),
                    hovertemplate="threshold %{x:.2f}<extra></extra>")
    # The percentages in a column of their own right of the 100 % line: never clipped,
    # never under a threshold tick (ticks are at most at 100 %).
    fig.add_scatter(x=[LABEL_X] * len(top), y=names, mode="text", text=[f"{v:.0%}" for v in value],
                    textposition="middle right", cliponaxis=False, hoverinfo="skip",
                    textfont=dict(size=12, color="#24292f"))
    fig.update_xaxes(range=[0, 1.16], tickvals=[0, 0.25, 0.5, 0.75, 1.0], tickformat=".0%",
                     title=None, gridcolor="#eaeef2")
    fig.update_yaxes(automargin=True)
    return _layout(fig, 60 + 26 * len(top), title=dict(
        text="Most probable categories (blue: predictable, │ threshold)", font=dict(size=13)))


def explain_label(delta: float) -> str:
    """A word's bar label: the score drop with its sign, ``0.000`` (not ``-0.000``) when it
    rounds to nothing."""
    return "0.000" if round(float(delta), 3) == 0 else f"{delta:+.3f}"


def explain_hover(delta: float) -> str:
    """What removing a word does to the predicted path's score, in words (a positive
    ``delta`` is a drop: the word supports the prediction)."""
    if round(float(delta), 3) == 0:
        return "removing it hardly changes the score"
    return (f"removing it lowers the score by {delta:.3f}" if delta > 0
            else f"removing it raises the score by {-delta:.3f}")


@WORK
def explain_figure(expl: pd.DataFrame):
    """Change in the predicted path's score when each word is removed: green supports it."""
    d = expl["delta"].to_numpy(float)
    fig = go.Figure(go.Bar(
        x=d, y=expl["position"], orientation="h",
        marker_color=[POSITIVE if v > 0 else NEGATIVE for v in d],
        text=[explain_label(v) for v in d], textposition="outside", cliponaxis=False,
        customdata=[f"{plot_escape(w)}: {explain_hover(v)}" for w, v in zip(expl["word"], d)],
        hovertemplate="%{customdata}<extra></extra>"))
    fig.update_yaxes(tickvals=expl["position"], ticktext=[plot_escape(w, 24) for w in expl["word"]],
                     autorange="reversed", automargin=True)
    span = max(float(np.abs(d).max()) if len(d) else 0.0, 0.01) * 1.35
    fig.update_xaxes(range=[-span, span], zeroline=True, zerolinecolor="#57606a", gridcolor="#eaeef2",
                     title=dict(text="score drop when the word is removed", font=dict(size=12)),
                     side="top")
    return _layout(fig, 90 + 24 * len(expl), margin=dict(l=8, r=16, t=48, b=8))


def map_figure(sample: pd.DataFrame, point: np.ndarray | None = None, label: str = "",
               height: int = 420, method: str = "", universe=None):
    """WebGL scatter of mapped products coloured by top-level category, plus a star for
    ``point``. ``universe``: every top-level category (:func:`category_colours`), so a
    category has the colour it has on the Embedding map."""
    colors = category_colours(sample["group"], universe)
    fig = go.Figure()
    order = sample["group"].value_counts().index
    for group in order:
        g = sample[sample["group"] == group]
        fig.add_trace(go.Scattergl(
            x=g["x"], y=g["y"], mode="markers", name=plot_escape(group, 30),
            marker=dict(size=4, color=colors[group], opacity=0.55 if group != "(unlabelled)" else 0.35),
            customdata=np.stack([[plot_escape(t, 80) for t in g["text"]],
                                 [plot_escape(t, 90) for t in g["true_path"]]], axis=1),
            hovertemplate="%{customdata[0]}<br><i>%{customdata[1]}</i><extra></extra>"))
    if point is not None:
        fig.add_trace(star_trace(point, label))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, height, showlegend=True, legend=dict(font=dict(size=11), itemsizing="constant"))
    return fig


def star_trace(point: np.ndarray, label: str):
    return go.Scattergl(
        x=[float(point[0])], y=[float(point[1])], mode="markers", name="this product",
        marker=dict(symbol="star", size=24, color="#ffd33d", line=dict(width=2, color="#24292f")),
        hovertemplate=plot_escape(label, 80) + "<extra>this product</extra>")


def similar_words_figure(words: list[tuple[str, float]], query: str):
    """Horizontal bars of the nearest words' cosine similarities, most similar on top."""
    sims = [float(s) for _, s in words]
    lo, hi = (min(sims), max(sims)) if sims else (0.0, 1.0)
    # Close neighbours are often all above 0.9: zoom in so their differences show
    # (the axis then does not start at 0, which its tick labels make plain).
    start = 0.0 if lo < 0.5 else max(0.0, lo - max(hi - lo, 0.02) * 0.6)
    end = hi + (hi - start) * 0.12
    fig = go.Figure(go.Bar(
        x=[s - start for s in sims], base=start, y=list(range(len(words))), orientation="h",
        marker_color=PRIMARY, text=[f"{s:.3f}" for s in sims], textposition="outside",
        cliponaxis=False, customdata=np.array([[plot_escape(w), f"{s:.3f}"] for w, s in words],
                                              dtype=object).reshape(-1, 2),
        hovertemplate="%{customdata[0]}: cosine %{customdata[1]}<extra></extra>"))
    fig.update_yaxes(tickvals=list(range(len(words))), ticktext=[plot_escape(w, 24) for w, _ in words],
                     autorange="reversed", automargin=True)
    fig.update_xaxes(range=[start, end], gridcolor="#eaeef2",
                     title=dict(text="cosine similarity", font=dict(size=12)))
    return _layout(fig, 70 + 26 * len(words), title=dict(
        text=f"Nearest words to “{plot_escape(query, 30)}”", font=dict(size=13)))


# ---------------------------------------------------------------------- Embedding map
#: Colour groups drawn at most (the rest are "other"), hover text length.
MAX_GROUPS = 30
HOVER_CHARS = 120


def show_paths(cell: object, first_only: bool = False) -> str:
    """Escaped display of a path cell for hover labels; with ``first_only`` extra paths
    are counted, not listed."""
    if not isinstance(cell, str) or not cell:
        return ""
    paths = cell.split(report.PATH_JOIN)
    shown = plot_escape(paths[0] if first_only else report.PATH_JOIN.join(paths))
    if first_only and len(paths) > 1:
        shown += f" (+{len(paths) - 1})"
    return shown


def hover_lines(text: object, true: object, pred: object, score: float) -> tuple[str, str, str]:
    """Escaped hover values: the text (cut to 120 characters), the true path and the
    predicted path (``same`` when it equals the true one)."""
    true_line, pred_line = path_lines(true, pred)
    return plot_escape(report.truncate(text, HOVER_CHARS)), true_line, scored(pred_line, score)


def path_lines(true: object, pred: object) -> tuple[str, str | None]:
    """The escaped true-path line and predicted-path line of a hover label, the latter
    without its score (:func:`scored`) and None when nothing is predicted. They depend on
    the two paths only, so a map of many products makes each pair once."""
    labelled = isinstance(true, str) and bool(true)
    predicted = isinstance(pred, str) and bool(pred)
    if labelled and predicted and true == pred:
        return show_paths(true), "same"
    return (show_paths(true) if labelled else "(unlabelled)",
            show_paths(pred, first_only=True) if predicted else None)


def scored(pred_line: str | None, score: float) -> str:
    """A predicted-path line with its score (none for a missing score), ``(none)`` for no
    prediction."""
    if pred_line is None:
        return "(none)"
    return f"{pred_line} ({score:.2f})" if score == score else pred_line


# The per-point strings travel in customdata ([row, text, true, predicted]) and the line
# breaks once per trace in the template: plotly's JSON writes every "<" as 6 bytes, so
# this keeps a 30,000-point map several MB lighter than per-point "<br>" hover texts.
HOVER_TEMPLATE = ("<b>%{customdata[1]}</b><br>true: %{customdata[2]}"
                  "<br>predicted: %{customdata[3]}<extra></extra>")


def point_data(rows: np.ndarray, hover: np.ndarray) -> np.ndarray:
    """customdata of points: ``[row, text, true path, predicted path]`` (row first: the
    selection reads it back). An object array: plotly validates it much faster than lists."""
    out = np.empty((len(rows), 4), dtype=object)
    out[:, 0] = rows.tolist()
    out[:, 1:] = hover[rows]
    return out


def robust_range(values: np.ndarray, pad: float = 0.08, tail: float = 0.02) -> list[float] | None:
    """An axis range around the bulk of ``values``: from the ``tail`` to the ``1 - tail``
    quantile, padded by ``pad`` of its width, so a few outliers do not shrink the points
    people look at to a dot (they stay reachable by zooming out). None without values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    lo, hi = (np.quantile(v, [tail, 1 - tail]) if len(v) >= 50 else (v.min(), v.max()))
    width = max(float(hi - lo), 1e-6)
    return [float(lo - pad * width), float(hi + pad * width)]


def catalogue_map_figure(xy: np.ndarray, rows: np.ndarray, labels: pd.Series, hover: np.ndarray,
                         highlight: np.ndarray, mine: dict | None, mine_text: str,
                         universe=None, view: str = "map",
                         focus: tuple[int, np.ndarray] | None = None) -> go.Figure:
    """Scatter of the sampled ``rows``; ``customdata`` of every point is its product row.

    ``universe``: the categories the colour groups come from (:func:`category_colours`);
    ``view``: a name of what is shown (method, filters): a new view zooms to its points
    (:func:`robust_range`), the same view keeps the reader's zoom. ``focus``: a clicked
    product's row and its nearest products' rows, drawn on top (ringed), wherever they
    are on the map (those without a position are left out)."""
    sub = labels.iloc[rows]
    sub = report.limit_groups(sub, MAX_GROUPS)
    order = report.group_order(sub)
    colours = category_colours(order, universe)
    any_highlight = bool(highlight[rows].any())
    n = len(rows)
    size = 5 if n <= 15_000 else 4 if n <= 40_000 else 3
    values = sub.to_numpy()
    # Traces as plain dicts, the figure built without validation (its ~60,000 per-point
    # values made validating and then copying it the bulk of a warm rerun of the page).
    traces = []
    # background groups ("other", unlabelled) are drawn first, under the named ones;
    # legendrank keeps the legend in size order
    drawing = [g for g in order if g in FIXED_COLOURS] + [g for g in order if g not in FIXED_COLOURS]
    for g in drawing:
        r = rows[values == g]
        traces.append(dict(
            type="scattergl", x=xy[r, 0], y=xy[r, 1], mode="markers", name=plot_escape(g),
            legendgroup=plot_escape(g), legendrank=1000 + order.index(g),
            customdata=point_data(r, hover), hovertemplate=HOVER_TEMPLATE,
            marker=dict(size=size, color=colours[g], opacity=0.15 if any_highlight else 0.8,
                        line=dict(width=0))))
    if any_highlight:
        h = rows[highlight[rows]]
        hcol = [colours[g] for g in values[highlight[rows]]]
        traces.append(dict(
            type="scattergl", x=xy[h, 0], y=xy[h, 1], mode="markers",
            name=f"highlighted ({len(h):,})", legendrank=2,
            customdata=point_data(h, hover), hovertemplate=HOVER_TEMPLATE,
            marker=dict(size=8, color=hcol, opacity=0.95, line=dict(width=0.8, color="#1b1f24"))))
    if focus is not None:
        clicked, near = focus
        near = np.asarray(near, dtype=np.int64)
        near = near[~np.isnan(xy[near]).any(axis=1)]
        traces.append(dict(
            type="scattergl", x=xy[near, 0], y=xy[near, 1], mode="markers",
            name=f"nearest to the clicked product ({len(near)})", legendrank=3,
            customdata=point_data(near, hover), hovertemplate=HOVER_TEMPLATE,
            marker=dict(symbol="circle-open", size=13, color="#1b1f24", line=dict(width=2))))
        if not np.isnan(xy[clicked]).any():
            one = np.array([clicked])
            traces.append(dict(
                type="scattergl", x=xy[one, 0], y=xy[one, 1], mode="markers",
                name="clicked product", legendrank=3, customdata=point_data(one, hover),
                hovertemplate=HOVER_TEMPLATE,
                marker=dict(symbol="diamond", size=14, color="#d1242f",
                            line=dict(width=1.5, color="#1b1f24"))))
    if mine is not None:
        traces.append(dict(
            type="scattergl", x=[mine["x"]], y=[mine["y"]], mode="markers", name="your product",
            legendrank=1,
            customdata=[[-1, "★ your product: " + plot_escape(report.truncate(mine_text, HOVER_CHARS)),
                         "(not in the catalogue)",
                         f"{show_paths(mine['path'])} ({mine['score']:.2f})"]],
            hovertemplate=HOVER_TEMPLATE,
            marker=dict(symbol="star", size=22, color="#ffd400", line=dict(width=1.5, color="#1b1f24"))))
    layout = dict(
        height=680, margin=dict(l=0, r=0, t=36, b=0), dragmode="pan",
        legend=dict(itemsizing="constant", font=dict(size=11), tracegroupgap=0,
                    title=dict(text="click to hide, double-click to isolate", font=dict(size=10))),
        xaxis=dict(visible=False, range=robust_range(xy[rows, 0]) if len(rows) else None),
        yaxis=dict(visible=False, range=robust_range(xy[rows, 1]) if len(rows) else None),
        hoverlabel=dict(align="left"), uirevision=view, plot_bgcolor="white")
    return go.Figure(data=traces, layout=layout, _validate=False)


# ---------------------------------------------------------------------- Per-class F1
def reliability_figure(table: pd.DataFrame, split: str = "") -> go.Figure:
    """Reliability diagram: per confidence bin, the mean confidence against the share of
    products whose top path is right (marker size and hover: the bin's products), with the
    diagonal of perfect calibration. ``table``: rows of
    :func:`prodemb.confidence.reliability_table` (``count, mean_confidence, accuracy``)."""
    counts = table["count"].to_numpy(float)
    size = 8 + 22 * np.sqrt(counts / max(counts.max(), 1.0)) if len(counts) else []
    fig = go.Figure()
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                    line=dict(color=NEUTRAL, dash="dash"), hoverinfo="skip")
    fig.add_scatter(x=table["mean_confidence"], y=table["accuracy"], mode="lines+markers",
                    name="this model", line=dict(color=PRIMARY), marker=dict(size=size, color=PRIMARY),
                    customdata=np.stack([table["count"], table["bin_low"], table["bin_high"]], axis=1)
                    if len(table) else None,
                    hovertemplate="confidence %{customdata[1]:.1f}–%{customdata[2]:.1f}: "
                                  "%{customdata[0]:,} products<br>mean confidence %{x:.3f}"
                                  "<br>right %{y:.3f}<extra></extra>")
    fig.update_xaxes(range=[0, 1.02], tickformat=".0%", title="confidence (calibrated)",
                     gridcolor="#eaeef2")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%", title="share with the right path",
                     gridcolor="#eaeef2")
    title = f"Reliability ({plot_escape(split)})" if split else "Reliability"
    return _layout(fig, 360, showlegend=True, legend=dict(orientation="h", y=-0.2),
                   title=dict(text=title, font=dict(size=13)))


LEVEL_COLOURS = ["#1f6feb", "#f28e2b", "#59a14f", "#b07aa1", "#e15759", "#76b7b2", "#edc948"]


def f1_figure(df: pd.DataFrame, subtree: str | None) -> go.Figure:
    df = df.sort_values(["f1", "class"], ascending=[False, True])
    labels = [plot_escape(report.relative_name(c, subtree)) for c in df["class"]]
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


def label_distribution_figure(dist: pd.DataFrame) -> go.Figure:
    tops = list(dict.fromkeys(dist["top_level"]))
    palette = ["#1f6feb", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1",
               "#ff9da7", "#9c755f", "#bab0ac", "#4e79a7", "#86bcb6", "#d37295", "#a0cbe8",
               "#8cd17d", "#f1ce63", "#499894", "#fabfd2", "#d4a6c8", "#79706e"]
    colour = {t: palette[i % len(palette)] for i, t in enumerate(sorted(tops))}
    x = np.arange(1, len(dist) + 1)
    support = dist["support"].clip(lower=0.8)  # zero-support leaves stay visible on the log axis
    fig = go.Figure(go.Bar(
        x=x, y=support, marker_color=[colour[t] for t in dist["top_level"]],
        customdata=np.stack([[plot_escape(c) for c in dist["class"]], dist["support"]], axis=1),
        hovertemplate="#%{x}: <b>%{customdata[0]}</b><br>%{customdata[1]:,} items<extra></extra>"))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), bargap=0.05,
                      yaxis=dict(type="log", title="labelled items (log scale)", dtick=1),
                      xaxis=dict(title="leaf classes, most common first"))
    return fig


def training_history_figure(hist: pd.DataFrame) -> go.Figure:
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


def confusion_figure(counts: pd.DataFrame) -> go.Figure:
    norm = report.row_normalise(counts)
    rows = [plot_escape(r) for r in counts.index]
    cols = [plot_escape(c) for c in counts.columns]
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


