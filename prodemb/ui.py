"""Streamlit glue shared by ``app.py`` and ``pages/``: finding, loading and choosing bundles.

The pages only render; everything they show comes from :class:`prodemb.Bundle`.
A bundle is loaded once per server process (``st.cache_resource``) and shared by
all sessions.

Environment:
    PRODEMB_ARTIFACTS: directory searched for bundles (default ``artifacts`` next to app.py).
    PRODEMB_BUNDLE: name or path of the bundle selected by default (default ``demo``).
"""

from __future__ import annotations

import html
import os
import re
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from .bundle import Bundle, BundleError, find_bundles, quick_check
from .neighbours import suggestable
from .serving import WORK, single_threaded_blas
from .utils import csv_safe, csv_safe_frame  # noqa: F401 (csv_safe: part of ui's API)

APP_ROOT = Path(__file__).resolve().parent.parent
SESSION_KEY = "bundle_path"


def artifacts_dir() -> str:
    return os.environ.get("PRODEMB_ARTIFACTS", str(APP_ROOT / "artifacts"))


def available_bundles() -> list[str]:
    """Paths of the bundles found under the artifacts directory, plus PRODEMB_BUNDLE if a path."""
    found = find_bundles(artifacts_dir())
    extra = os.environ.get("PRODEMB_BUNDLE")
    if extra and os.path.isdir(extra) and os.path.abspath(extra) not in map(os.path.abspath, found):
        found.append(extra)
    return found


def default_bundle(paths: list[str]) -> str | None:
    """PRODEMB_BUNDLE (default ``demo``) if it is usable, else the first usable bundle, so
    that one broken bundle does not greet every visitor with an error; when none is
    usable, the one asked for (its page then says what is wrong).

    "Usable" means it loads: the candidates are loaded in turn (a load is cached, and a
    failed one is remembered, so each broken bundle is tried once per server process)."""
    want = os.environ.get("PRODEMB_BUNDLE", "demo")
    wanted = [p for p in paths if os.path.abspath(p) == os.path.abspath(want)
              or os.path.basename(os.path.normpath(p)) == want]
    for p in dict.fromkeys(wanted + paths):
        if bundle_problem(p) is None and _loads(p):
            return p
    return (wanted or paths or [None])[0]


def _loads(path: str) -> bool:
    try:
        load_bundle(path)
    except Exception as e:  # remembered, and shown when the bundle is chosen
        remember_failure(path, e)
        return False
    return True


def bundle_problem(path: str) -> str | None:
    """Why the bundle at ``path`` cannot be used, or None: what :func:`quick_check` finds
    (its manifest, its files' presence and sizes; cheap), or why it failed to load before."""
    return _checked_manifest(path)[1]


@st.cache_resource(show_spinner=False)
def _load_failures() -> dict[str, tuple[tuple, str]]:
    """Bundle path -> (its manifest's stat, why it failed to load); shared by all sessions."""
    return {}


def _manifest_stamp(path: str) -> tuple:
    try:
        info = os.stat(os.path.join(path, "manifest.json"))
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def remember_failure(path: str, error: BaseException) -> None:
    """Record that ``path`` failed to load, until its manifest changes (e.g. a retraining)."""
    _load_failures()[os.path.abspath(path)] = (_manifest_stamp(path), _short_reason(str(error), path))


def _checked_manifest(path: str) -> tuple[dict | None, str | None]:
    """``(manifest, None)``, or ``(None, reason)`` for a bundle that cannot be used. Never
    raises: one bad bundle in the artifacts folder must not break the selector of the others."""
    try:
        manifest = quick_check(path)
    except BundleError as e:
        return None, _short_reason(str(e), path)
    except Exception as e:  # quick_check promises BundleError; be safe anyway
        return None, _short_reason(f"{type(e).__name__}: {e}", path)
    failed = _load_failures().get(os.path.abspath(path))
    if failed is not None and failed[0] == _manifest_stamp(path):
        return None, failed[1]
    return manifest, None


def _short_reason(message: str, path: str) -> str:
    """A bundle error without the bundle's path (the selector already says which bundle)."""
    for p in dict.fromkeys((path, os.path.abspath(path))):
        for where in (f"bundle {p!r}: ", f" in {p!r}", f"{p!r} "):
            message = message.replace(where, "")
    return message.strip()


def unusable_bundles(paths: list[str]) -> list[tuple[str, str]]:
    """``(name, reason)`` of every bundle among ``paths`` that cannot be used."""
    problems = [(bundle_name(p), bundle_problem(p)) for p in paths]
    return [(name, reason) for name, reason in problems if reason is not None]


@st.cache_resource(show_spinner="Loading the model bundle…", max_entries=4)
def load_bundle(path: str) -> Bundle:
    """Load (and verify) a bundle once per server process. The server answers many
    sessions at once: numpy's BLAS gets one thread per request (:mod:`prodemb.serving`)."""
    single_threaded_blas()
    return Bundle.load(path)


def bundle_label(path: str) -> str:
    """``name · created date · test macro-F1`` for the selector, or ``name · unusable: reason``."""
    name = bundle_name(path)
    m, problem = _checked_manifest(path)
    if m is None:
        return f"{name} · unusable: {shorten(problem, 70)}"
    f1 = m.get("metrics", {}).get("test", {}).get("macro_f1")
    date = str(m.get("created", ""))[:10]
    score = f" · F1 {f1:.3f}" if isinstance(f1, int | float) and not isinstance(f1, bool) and f1 else ""
    return f"{name} · {date}{score}"


def _ensure_navigation() -> None:
    """Make sure ``app.py`` (with ``st.navigation``) frames the page.

    Streamlit treats an app whose entry script has a ``pages/`` folder beside it as an
    old-style multipage app until a session has executed ``st.navigation``, and then runs
    a page script on its own. That happens to the first visitor after a server start who
    opens a deep link such as ``/neighbours?word=nike`` (and to every run under
    ``AppTest``): no bundle selector, no model card, the default narrow layout. When it
    happens, switch Streamlit to ``st.navigation`` mode and run ``app.py`` in place: it
    routes to this same page (its URL path is the file name in both modes), renders it
    with the sidebar, and the outer run of the bare page stops here. Pages call this
    (through :func:`current_bundle`) before rendering anything. Relies on a Streamlit
    internal; does nothing if it is absent.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # pragma: no cover - other Streamlit versions
        return
    main = APP_ROOT / "app.py"
    if not getattr(PagesManager, "uses_pages_directory", None) or not main.is_file():
        return
    PagesManager.uses_pages_directory = False
    runpy.run_path(str(main), run_name="__main__")
    st.stop()


def current_bundle() -> Bundle:
    """The bundle chosen in the sidebar; on any problem shows a clear message and stops the page."""
    _ensure_navigation()
    path = st.session_state.get(SESSION_KEY)
    if path is None:
        bundles = available_bundles()
        path = default_bundle(bundles)
        if path is None:
            st.error(f"No model bundle found under `{artifacts_dir()}`. Train one with "
                     "`prodemb train --data FILE --out artifacts/NAME`, or run `make demo-artifacts`.")
            st.stop()
        st.session_state[SESSION_KEY] = path
    try:
        return load_bundle(path)
    except BundleError as e:
        remember_failure(path, e)
        st.error(f"The bundle `{os.path.basename(path)}` cannot be used: {md_escape(e)}. "
                 "Choose another bundle in the sidebar, or retrain it with `prodemb train`.")
        st.stop()
    except Exception as e:  # never a traceback in the browser
        remember_failure(path, e)
        st.error(f"The bundle `{os.path.basename(path)}` failed to load ({type(e).__name__}: {md_escape(e)}).")
        st.stop()


# ====================================================================== dashboard helpers
# Everything below is formatting, sampling and chart building for the pages: the pages
# call these and only lay out the results.
#: Batch classification accepts at most this many rows per upload; more are cut off with a
#: warning (about a minute of CPU time on a laptop for the demo model).
BATCH_MAX_ROWS = 100_000
#: Products drawn on the small map of the Classify page.
CLASSIFY_MAP_SAMPLE = 5_000
#: Key of the last classified text in ``st.session_state`` (read by the Embedding map page).
CLASSIFIED_TEXT_KEY = "classified_text"
#: Colour of a predicted / supporting item, of an opposing item, of anything neutral.
POSITIVE, NEGATIVE, NEUTRAL = "#1a7f37", "#cf222e", "#8c959f"
PRIMARY = "#1f6feb"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: object) -> str:
    """``text`` made inert for ``st.markdown``: every Markdown/Streamlit special character
    (emphasis, links, HTML, ``:icons:``, ``$latex$``, lists, headings) is backslash-escaped
    and line breaks become spaces, so catalogue or user text is always shown literally."""
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", s)


def plot_escape(text: object, limit: int | None = None) -> str:
    """``text`` made literal for plotly labels and hover text (plotly interprets a few HTML
    tags such as ``<b>``/``<a>`` and decodes entities; escaping shows the text as typed)."""
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def shorten(text: object, limit: int = 40) -> str:
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def find_bundle(paths: list[str], name: str | None) -> str | None:
    """The bundle among ``paths`` whose directory name (or path) is ``name``."""
    if not name:
        return None
    for p in paths:
        if os.path.basename(os.path.normpath(p)) == name or os.path.abspath(p) == os.path.abspath(name):
            return p
    return None


def bundle_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def card_items(card: dict) -> list[tuple[str, str, str]]:
    """Model card facts as ``(label, value, help)`` for display."""

    def count(v):
        return "–" if v is None else f"{int(v):,}"

    def score(v):
        return "–" if v is None else f"{float(v):.3f}"

    date = str(card.get("trained_at") or "")[:10] or "–"
    return [
        ("Products", count(card.get("products")), f"Catalogue file: {card.get('catalogue') or 'unknown'}"),
        ("Labelled", count(card.get("labelled")), "Products with at least one category path"),
        ("Unlabelled", count(card.get("unlabelled")), "Products without a category (used for word vectors and maps)"),
        ("Classes", count(card.get("classes")), "Nodes of the category tree (every level is predicted)"),
        ("Leaves", count(card.get("leaves")), "Categories without children"),
        ("Levels", count(card.get("levels")), "Depth of the category tree"),
        ("Test macro-F1", score(card.get("test_macro_f1")), "Macro-F1 over all nodes on the held-out test split"),
        ("Trained", date, f"Vocabulary: {count(card.get('vocabulary'))} words"),
    ]


def card_markdown(card: dict) -> str:
    """The model card as a short Markdown list (values escaped)."""
    v = {label: md_escape(value) for label, value, _ in card_items(card)}
    return "\n".join([
        f"- **{v['Products']}** products: **{v['Labelled']}** labelled, **{v['Unlabelled']}** unlabelled",
        f"- **{v['Classes']}** classes, **{v['Leaves']}** leaves, **{v['Levels']}** levels",
        f"- Test macro-F1 **{v['Test macro-F1']}**",
        f"- Trained **{v['Trained']}**",
    ])


# ---------------------------------------------------------------------- examples
def example_products(bundle: Bundle, n: int = 5) -> pd.DataFrame:
    """``n`` test-split products to try on the Classify page, chosen deterministically.

    A scarf first when the tree has scarves (the classic confusable case), then one
    product from each of the largest top-level categories of the test split; within a
    category the prediction is preferably correct, the title of a readable length, the
    model sure of it; ties broken by id.
    """
    p = bundle.products
    pool = p[(p["split"] == "test") & (p["true_path"] != "")]
    if pool.empty:
        pool = p[p["true_path"] != ""]
    if pool.empty:
        pool = p
    if pool.empty:
        return pool.head(0)
    length = pool["text"].str.len()
    pool = pool.assign(
        _correct=pool["correct"].fillna(False).astype(bool),
        _readable=length.between(15, 140),
        _score=pool["pred_score"].astype(float),
        _id=pool["id"].astype(str),
    ).sort_values(["_correct", "_readable", "_score", "_id"], ascending=[False, False, False, True],
                  kind="mergesort")
    chosen: list[int] = []
    # A single-path scarf: a hat-and-scarf set would show another category first.
    scarves = pool[pool["true_path"].str.contains("scar", case=False, regex=False)
                   & ~pool["true_path"].str.contains("|", regex=False)]
    if len(scarves):
        chosen.append(scarves.index[0])
    tops = pool["true_top"].value_counts()
    tops = tops.sort_index(kind="mergesort").sort_values(ascending=False, kind="mergesort")
    for top in tops.index:
        if len(chosen) >= n:
            break
        taken = set(p.loc[chosen, "true_top"]) if chosen else set()
        if top in taken:
            continue
        chosen.append(pool[pool["true_top"] == top].index[0])
    for i in pool.index:  # fewer top-level categories than examples wanted
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return p.loc[chosen[:n], ["id", "text", "true_path"]].reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=16)
def examples(path: str, n: int = 5) -> pd.DataFrame:
    """:func:`example_products` of the bundle at ``path``, computed once."""
    return example_products(load_bundle(path), n)


def example_label(row) -> str:
    """Button label for an example product: the leaf of its category."""
    leaf = str(row["true_path"]).split(" | ")[0].split(" > ")[-1] or shorten(row["text"], 24)
    return leaf


# ---------------------------------------------------------------------- classification views
def path_levels(bundle: Bundle, display_path: str, node_probs: np.ndarray) -> list[tuple[str, float]]:
    """``[(node name, node probability), ...]`` from the top level down to the path's end."""
    parts = display_path.split(" > ")
    out = []
    for depth in range(1, len(parts) + 1):
        try:
            node = bundle.taxonomy.index(tuple(parts[:depth]))
            out.append((parts[depth - 1], float(node_probs[node])))
        except KeyError:
            out.append((parts[depth - 1], float("nan")))
    return out


def breadcrumb_markdown(levels: list[tuple[str, float]]) -> str:
    """``**Accessories** 93% › **Scarves** 81% › …`` with every name escaped."""
    return "  ›  ".join(f"**{md_escape(name)}** :gray[{prob:.0%}]" if prob == prob
                        else f"**{md_escape(name)}**" for name, prob in levels)


def vocabulary_note(tokens: list[str], unknown: list[str]) -> tuple[str, str] | None:
    """``(level, message)`` about out-of-vocabulary words, or None when all are known."""
    if tokens and len(unknown) == len(tokens):
        return ("warning", "None of these words are in the vocabulary: the category below is "
                "a guess from word pieces only. Try the product title as it appears in the "
                "catalogue, or add a few descriptive words.")
    if not tokens:
        return ("warning", "The text has no words the model can read once markup, numbers and "
                "punctuation are removed; the category below is a guess.")
    if unknown:
        return ("caption", "Not in the vocabulary (read from word pieces only): "
                + ", ".join(md_escape(u) for u in unknown[:15]) + ("…" if len(unknown) > 15 else ""))
    return None


def product_table(frame: pd.DataFrame, split: bool = False) -> pd.DataFrame:
    """The columns people compare: similarity, text, true path, predicted path, id (+ split).

    The predicted path is the product's most probable one; ``(unlabelled)`` marks a
    product without a true category."""
    cols = [c for c in ("similarity", "text", "true_path", "pred_path", "id") if c in frame]
    if split and "split" in frame:
        cols.append("split")
    out = frame[cols].copy()
    if "true_path" in out:
        out["true_path"] = out["true_path"].replace("", "(unlabelled)")
    if "pred_path" in out:
        out["pred_path"] = out["pred_path"].str.split(" | ", regex=False).str[0]
    return out.reset_index(drop=True)


def product_columns() -> dict:
    """``st.dataframe`` column configuration for :func:`product_table` output."""
    cc = st.column_config
    return {
        "similarity": cc.ProgressColumn("Similarity", min_value=0.0, max_value=1.0, format="%.3f",
                                        width=90),
        "text": cc.TextColumn("Product", width=300),
        "true_path": cc.TextColumn("True path", width=230),
        "pred_path": cc.TextColumn("Predicted path", width=230,
                                   help="The model's most probable path for the product"),
        "id": cc.TextColumn("Id", width=95),
        "split": cc.TextColumn("Split", width=80),
    }


@st.cache_data(show_spinner=False, max_entries=256)
def analyse(path: str, text: str, k_products: int = 10) -> dict:
    """Everything the Classify page shows for one text (cached per bundle and text;
    computed in one of the server's :data:`~prodemb.serving.WORK` slots)."""
    bundle = load_bundle(path)
    with WORK:
        c = bundle.classify([text])[0]
        out = {
            "classification": c,
            "levels": [(p, s, path_levels(bundle, p, c.node_probs)) for p, s in c.paths],
            "top_nodes": bundle.top_nodes(c.node_probs, 12),
            "explain": bundle.explain(text),
            "neighbours": product_table(bundle.similar_products(text, k_products, by="text")),
            "map": {m: bundle.place_on_map([text], m)[0] for m in bundle.map_methods},
        }
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def map_sample(path: str, method: str, n: int = CLASSIFY_MAP_SAMPLE, seed: int = 0) -> pd.DataFrame:
    """A fixed random sample of ``n`` mapped products: ``x, y, text, true_path, group``."""
    bundle = load_bundle(path)
    xcol, ycol = bundle.map_columns(method)
    p = bundle.products
    p = p[p[xcol].notna() & p[ycol].notna()]
    if len(p) > n:
        p = p.sample(n, random_state=seed)
    group = p["true_top"].where(p["true_top"] != "", "(unlabelled)")
    return pd.DataFrame({"x": p[xcol].to_numpy(), "y": p[ycol].to_numpy(), "text": p["text"].to_numpy(),
                         "true_path": p["true_path"].to_numpy(), "group": group.to_numpy()})


def category_colors(names) -> dict[str, str]:
    """A stable colour per category name (sorted), grey for ``(unlabelled)``."""
    import plotly.express as px

    palette = px.colors.qualitative.D3 + px.colors.qualitative.Set2 + px.colors.qualitative.Dark24 \
        + px.colors.qualitative.Light24
    named = sorted(n for n in set(names) if n != "(unlabelled)")
    colors = {name: palette[i % len(palette)] for i, name in enumerate(named)}
    colors["(unlabelled)"] = "#c9ced6"
    return colors


# ---------------------------------------------------------------------- charts
def _layout(fig, height: int, **kw):
    kw.setdefault("showlegend", False)
    kw.setdefault("margin", dict(l=8, r=16, t=36, b=8))
    fig.update_layout(height=height, plot_bgcolor="rgba(0,0,0,0)", **kw)
    return fig


@WORK
def top_nodes_figure(top: pd.DataFrame):
    """Horizontal bars of node probabilities with each node's decision threshold."""
    import plotly.graph_objects as go

    top = top.iloc[::-1]
    names = [plot_escape(n, 60) for n in top["node"]]
    passed = top["probability"] >= top["threshold"]
    fig = go.Figure()
    fig.add_bar(x=top["probability"], y=names, orientation="h",
                marker_color=[PRIMARY if ok else NEUTRAL for ok in passed],
                text=[f"{v:.0%}" for v in top["probability"]], textposition="outside",
                customdata=np.stack([top["threshold"], top["level"]], axis=1),
                hovertemplate="%{y}<br>probability %{x:.3f}<br>threshold %{customdata[0]:.2f}"
                              "<br>level %{customdata[1]}<extra></extra>")
    fig.add_scatter(x=top["threshold"], y=names, mode="markers", name="threshold",
                    marker=dict(symbol="line-ns", size=18, line=dict(width=2, color="#24292f")),
                    hovertemplate="threshold %{x:.2f}<extra></extra>")
    fig.update_xaxes(range=[0, 1.12], tickformat=".0%", title=None, gridcolor="#eaeef2")
    fig.update_yaxes(automargin=True)
    return _layout(fig, 60 + 26 * len(top), title=dict(
        text="Most probable nodes (blue: above its decision threshold │)", font=dict(size=13)))


@WORK
def explain_figure(expl: pd.DataFrame):
    """Change in the predicted path's score when each word is removed: green supports it."""
    import plotly.graph_objects as go

    d = expl["delta"].to_numpy(float)
    fig = go.Figure(go.Bar(
        x=d, y=expl["position"], orientation="h",
        marker_color=[POSITIVE if v > 0 else NEGATIVE for v in d],
        text=[f"{v:+.3f}" for v in d], textposition="outside", cliponaxis=False,
        customdata=[plot_escape(w) for w in expl["word"]],
        hovertemplate="%{customdata}: removing it changes the score by %{x:+.3f}<extra></extra>"))
    fig.update_yaxes(tickvals=expl["position"], ticktext=[plot_escape(w, 24) for w in expl["word"]],
                     autorange="reversed", automargin=True)
    span = max(float(np.abs(d).max()) if len(d) else 0.0, 0.01) * 1.35
    fig.update_xaxes(range=[-span, span], zeroline=True, zerolinecolor="#57606a", gridcolor="#eaeef2",
                     title=dict(text="score drop when the word is removed", font=dict(size=12)),
                     side="top")
    return _layout(fig, 90 + 24 * len(expl), margin=dict(l=8, r=16, t=48, b=8))


def map_figure(sample: pd.DataFrame, point: np.ndarray | None = None, label: str = "",
               height: int = 420, method: str = ""):
    """WebGL scatter of mapped products coloured by top-level category, plus a star for ``point``."""
    import plotly.graph_objects as go

    colors = category_colors(sample["group"])
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
        fig.add_trace(_star_trace(point, label))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    _layout(fig, height, showlegend=True, legend=dict(font=dict(size=11), itemsizing="constant"))
    return fig


def _star_trace(point: np.ndarray, label: str):
    import plotly.graph_objects as go

    return go.Scattergl(
        x=[float(point[0])], y=[float(point[1])], mode="markers", name="this product",
        marker=dict(symbol="star", size=24, color="#ffd33d", line=dict(width=2, color="#24292f")),
        hovertemplate=plot_escape(label, 80) + "<extra>this product</extra>")


@st.cache_resource(show_spinner=False, max_entries=16)
def _classify_map_base(path: str, method: str, height: int) -> tuple[dict, int]:
    """The Classify page's map without the star, as plotly JSON (built and validated once
    per bundle and method, then shared read-only by all sessions), and its product count."""
    sample = map_sample(path, method)
    return map_figure(sample, None, height=height).to_plotly_json(), len(sample)


def classify_map(path: str, method: str, point: np.ndarray, label: str = "",
                 height: int = 420) -> tuple[object, int]:
    """``(figure, products shown)``: :func:`map_figure` of :func:`map_sample` with a star
    at ``point``. The 5,000 sampled products are the same for every session, so only the
    star is built per call (about 0.1 s of Python per session less, the same figure)."""
    import copy

    import plotly.graph_objects as go

    base, shown = _classify_map_base(path, method, height)
    with WORK:
        star = _star_trace(point, label).to_plotly_json()
        fig = go.Figure(data=[*base["data"], star], layout=copy.deepcopy(base["layout"]),
                        _validate=False)  # the base was validated when it was built
    return fig, shown


def similar_words_figure(words: list[tuple[str, float]], query: str):
    """Horizontal bars of the nearest words' cosine similarities, most similar on top."""
    import plotly.graph_objects as go

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


# ---------------------------------------------------------------------- batch classification
_TEXT_COLUMN_HINTS = ("title", "name", "productdisplayname", "product_name", "text", "description",
                      "desc", "nazov", "popis")


def guess_text_columns(frame: pd.DataFrame) -> list[str]:
    """Likely text columns of an upload: known names (title, name, description, …) in file
    order, else the column with the longest texts on average."""
    hits = [c for c in frame.columns if str(c).strip().lower().replace(" ", "_") in _TEXT_COLUMN_HINTS]
    if hits:
        return hits
    if not len(frame.columns):
        return []
    head = frame.head(500)
    lengths = {c: head[c].astype(str).str.len().mean() for c in frame.columns}
    return [max(lengths, key=lambda c: lengths[c])]


def default_text_columns(bundle: Bundle, frame: pd.DataFrame) -> list[str]:
    """The text columns an upload is classified by unless the user picks others: the
    bundle's own (the reader options it was trained with, in their order) that the upload
    has, else :func:`guess_text_columns`."""
    own = [c for c in bundle.reader_options.text_columns if c in frame.columns]
    return own or guess_text_columns(frame)


def join_text_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The product text of each row: the chosen columns' non-empty values joined by ``" . "``
    (as the catalogue reader joins text fields)."""
    parts = frame[list(columns)].astype(str).to_numpy()
    return [" . ".join(v.strip() for v in row if v and v.strip()) for row in parts]


def batch_output(frame: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The uploaded rows with ``predicted_category``, ``predicted_score``, ``predicted_paths``."""
    out = frame.reset_index(drop=True).copy()
    out["predicted_category"] = predictions["category"].to_numpy()
    out["predicted_score"] = predictions["score"].astype(float).to_numpy()
    out["predicted_paths"] = predictions["all_paths"].to_numpy()
    return csv_safe_frame(out)


def batch_file_name(upload_name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(upload_name or "upload"))[0])
    return f"{stem or 'upload'}_predictions.csv"


# ---------------------------------------------------------------------- neighbours
def default_word(bundle: Bundle) -> str:
    """``nike`` (the published example) if the model knows it, else its most frequent word."""
    if "nike" in bundle.word_vectors:
        return "nike"
    frequent = frequent_words(bundle, 1)
    if frequent:
        return frequent[0]
    return bundle.word_vectors.words[0] if len(bundle.word_vectors) else ""


def frequent_words(bundle: Bundle, n: int = 8) -> list[str]:
    """The ``n`` most frequent words worth looking up: no function words or digit tokens
    (:func:`prodemb.neighbours.suggestable`)."""
    words = bundle.word_vectors.words
    return [w for w in words[: max(1000, 50 * n)] if suggestable(w)][:n]


def min_count(bundle: Bundle) -> int:
    return int(bundle.config.get("train", {}).get("word2vec", {}).get("min_count", 1))


def similar_words_table(similar: list[tuple[str, float]], bundle: Bundle | None = None) -> pd.DataFrame:
    """``rank, word, cosine`` (+ ``count`` when the bundle is given)."""
    out = pd.DataFrame({"rank": range(1, len(similar) + 1), "word": [w for w, _ in similar],
                        "cosine": [float(s) for _, s in similar]})
    if bundle is not None:
        wv = bundle.word_vectors
        out["count"] = [int(wv.counts[wv.index[w]]) if w in wv.index else 0 for w in out["word"]]
    return out


def default_product_id(bundle: Bundle) -> str:
    """The first example product's id (a test product), for the product search box."""
    ex = examples(bundle.path)
    return str(ex["id"].iloc[0]) if len(ex) else ""


def sample_ids(bundle: Bundle, n: int = 3) -> list[str]:
    return [str(i) for i in bundle.products["id"].head(n)]


def product_summary(bundle: Bundle, product_id: str) -> pd.DataFrame:
    """One product as a :func:`product_table` row (with its split)."""
    row = bundle.product_row(product_id)
    if row is None:
        return product_table(bundle.products.head(0), split=True)
    return product_table(bundle.products.iloc[[row]], split=True)
