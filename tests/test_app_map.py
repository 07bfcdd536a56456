"""AppTest of the Embedding map page (pages/embedding_map.py) on a real bundle.

The bundle is ``PRODEMB_BUNDLE`` (a path) if set, else ``artifacts/demo``; the tests
are skipped when neither exists.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import page_helpers
import pytest

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "<img src=x onerror=alert(1)>"


def run_page(bundle_path: str, query: dict | None = None, state: dict | None = None):
    return page_helpers.run_page("embedding_map", bundle_path, query, state)


def figure(at) -> dict:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def array(value) -> np.ndarray:
    """A plotly JSON array: a list, or a base64 typed array ``{"dtype", "bdata"}``."""
    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    return np.asarray(value)


def points(fig: dict, highlighted: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rows (customdata[0]) and x coordinates of the product points of the figure."""
    rows, xs = [], []
    for tr in fig["data"]:
        is_h = tr.get("name", "").startswith("highlighted")
        if tr.get("name") == "your product" or (highlighted is not None and is_h != highlighted):
            continue
        cd = tr["customdata"]
        rows.append(np.array([c[0] for c in cd], dtype=np.int64))
        xs.append(array(tr["x"]).astype(np.float64))
    if not rows:
        return np.array([], dtype=np.int64), np.array([])
    return np.concatenate(rows), np.concatenate(xs)


def test_renders_default_sample(bundle_path, bundle):
    at = run_page(bundle_path)
    fig = figure(at)
    rows, xs = points(fig, highlighted=False)
    assert 0 < len(rows) <= 30_000
    assert len(set(rows.tolist())) == len(rows)
    method = at.segmented_control(key="method").value
    assert method in bundle.map_methods
    x = bundle.products[f"{method}_x"].to_numpy(np.float64)
    assert np.allclose(xs, x[rows], atol=1e-3)
    # colour groups: at most 30 named groups plus "other"/"(unlabelled)"
    assert len(fig["data"]) <= 32
    # hover text is in customdata, escaped: no raw "<" from catalogue text in any value
    for tr in fig["data"]:
        for cd in tr["customdata"][:500]:
            assert all("<" not in str(v) for v in cd[1:])


def test_sample_is_deterministic(bundle_path):
    a, _ = points(figure(run_page(bundle_path)))
    b, _ = points(figure(run_page(bundle_path)))
    assert np.array_equal(np.sort(a), np.sort(b))


def test_switch_method(bundle_path, bundle):
    if len(bundle.map_methods) < 2:
        pytest.skip("bundle has a single map method")
    at = run_page(bundle_path)
    for method in bundle.map_methods:
        at.segmented_control(key="method").set_value(method).run()
        assert not at.exception
        rows, xs = points(figure(at), highlighted=False)
        x = bundle.products[f"{method}_x"].to_numpy(np.float64)
        assert np.allclose(xs, x[rows], atol=1e-3)


def test_search_highlights(bundle_path, bundle):
    from prodemb import report

    # a word that occurs in some but not all products
    words = bundle.products["text"].head(200).str.split().explode().str.lower()
    word = next(w for w in words.value_counts().index if w.isalpha() and len(w) > 3)
    at = run_page(bundle_path)
    at.text_input(key="q").input(word).run()
    assert not at.exception
    fig = figure(at)
    h_rows, _ = points(fig, highlighted=True)
    expected = report.search_mask(bundle.products["text"], word)
    assert len(h_rows) > 0 and expected[h_rows].all()
    names = [tr["name"] for tr in fig["data"]]
    assert any(n.startswith("highlighted") for n in names)
    # the others are dimmed
    dims = [tr["marker"]["opacity"] for tr in fig["data"] if not tr["name"].startswith("highlighted")]
    assert max(dims) < 0.5
    assert any("match the search" in m.value for m in at.markdown)


def test_search_with_a_subtree_filter_lists_only_matches_inside(bundle_path, bundle):
    """Matches outside the Filter subtree are counted as such, not listed as matches."""
    from prodemb import report

    tax = bundle.taxonomy
    subtree = report.default_subtree(tax, bundle.metrics["splits"]["test"]) \
        or report.subtree_options(tax)[0]
    in_sub = report.subtree_mask(bundle.products, subtree)
    texts = bundle.products["text"]
    # a word found both inside and outside the subtree
    words = texts[in_sub].head(300).str.lower().str.split().explode().value_counts().index
    word = next(w for w in words if w.isalpha() and len(w) > 3
                and report.search_mask(texts[~in_sub], w).any())
    found = report.search_mask(texts, word)
    at = run_page(bundle_path, {"subtree": subtree, "q": word})
    assert not at.exception
    line = next(m.value for m in at.markdown if "match the search" in m.value)
    assert f"{int((found & ~in_sub).sum()):,} more outside these filters" in line
    listed = at.dataframe[-1].value  # the last table: the matches (nothing is selected)
    from prodemb import ui
    expected = ui.map_table(bundle.products, np.flatnonzero(found & in_sub)[:500])
    assert listed["text"].tolist() == expected["text"].tolist()


def test_hostile_search_text(bundle_path):
    at = run_page(bundle_path)
    at.text_input(key="q").input(HOSTILE).run()
    assert not at.exception and not at.error
    spec = at.get("plotly_chart")[0].proto.spec if at.get("plotly_chart") else ""
    assert "<img" not in spec and "\\u003cimg" not in spec
    # deep link with the same text
    at = run_page(bundle_path, {"q": HOSTILE + " %{x} ' \" ` $x$"})
    assert not at.exception


def test_deep_link_restores_state(bundle_path, bundle):
    from prodemb import report

    tax = bundle.taxonomy
    subtree = report.default_subtree(tax, bundle.metrics["splits"]["test"]) \
        or report.subtree_options(tax)[0]
    method = bundle.map_methods[0]
    at = run_page(bundle_path, {"method": method, "subtree": subtree, "q": "a"})
    assert at.segmented_control(key="method").value == method
    assert at.selectbox(key="subtree").value == subtree
    assert at.text_input(key="q").value == "a"
    rows, _ = points(figure(at))
    mask = report.subtree_mask(bundle.products, subtree)
    assert mask[rows].all()  # filtered to the subtree


def test_subtree_highlight_and_colour_options(bundle_path, bundle):
    from prodemb import report

    tax = bundle.taxonomy
    subtree = report.subtree_options(tax)[0]
    at = run_page(bundle_path, {"subtree": subtree})
    at.segmented_control(key="subtree_mode").set_value("Highlight").run()
    assert not at.exception
    fig = figure(at)
    h_rows, _ = points(fig, highlighted=True)
    assert report.subtree_mask(bundle.products, subtree)[h_rows].all()
    all_rows, _ = points(fig, highlighted=False)
    assert not report.subtree_mask(bundle.products, subtree)[all_rows].all()  # others still shown

    for option in report.COLOUR_OPTIONS:
        at.selectbox(key="colour").set_value(option).run()
        assert not at.exception, option
        names = {tr["name"] for tr in figure(at)["data"]}
        if option == "correct":
            assert names & {"correct", "wrong", report.UNLABELLED}
    at.selectbox(key="colour").set_value("level").run()
    at.selectbox(key="colour_level").set_value(int(tax.depth)).run()
    assert not at.exception


def test_max_points_slider(bundle_path, bundle):
    at = run_page(bundle_path)
    slider = at.slider(key="max_points")
    small = max(slider.min, 1_000) if len(bundle.products) > 1_000 else slider.min
    slider.set_value(small).run()
    rows_small, _ = points(figure(at))
    assert len(rows_small) <= small
    bigger = min(at.slider(key="max_points").max, small + 4_000)
    at.slider(key="max_points").set_value(bigger).run()
    rows_big, _ = points(figure(at))
    assert set(rows_small.tolist()) <= set(rows_big.tolist())  # more points only add


def test_shows_classified_product(bundle_path, bundle):
    text = "Pletený vlnený šál, knit scarf " + HOSTILE
    at = run_page(bundle_path, state={"classified_text": text})
    assert at.checkbox(key="show_mine").value is True
    fig = figure(at)
    star = [tr for tr in fig["data"] if tr["name"] == "your product"]
    assert len(star) == 1 and star[0]["marker"]["symbol"] == "star"
    assert "<img" not in json.dumps(star[0])
    assert any("Your product is predicted as" in c.value for c in at.caption)
    at.checkbox(key="show_mine").uncheck().run()
    assert not [tr for tr in figure(at)["data"] if tr["name"] == "your product"]


# ---------------------------------------------------------------------- issue 16
def test_invalid_link_parameters_are_said(bundle_path, bundle):
    at = run_page(bundle_path, {"method": "pca", "subtree": "No > Such > Category"})
    warnings = " ".join(w.value for w in at.warning)
    assert "pca" in warnings and "method" in warnings
    assert "No \\> Such \\> Category" in warnings and "subtree" in warnings
    assert at.segmented_control(key="method").value in bundle.map_methods
    assert at.selectbox(key="subtree").value == "All categories"
    at = run_page(bundle_path, {"colour": "rainbow", "level": "99"})
    warnings = " ".join(w.value for w in at.warning)
    assert "rainbow" in warnings and "99" in warnings
    assert not run_page(bundle_path).warning, "a plain visit has no notice"


def test_colour_level_and_split_are_kept_in_the_url(bundle_path, bundle):
    tax = bundle.taxonomy
    at = run_page(bundle_path)
    at.selectbox(key="colour").set_value("level").run()
    at.selectbox(key="colour_level").set_value(int(tax.depth)).run()
    assert at.query_params["colour"] in ("level", ["level"])
    assert at.query_params["level"] in (str(tax.depth), [str(tax.depth)])
    at = run_page(bundle_path, {"colour": "level", "level": str(tax.depth)})
    assert at.selectbox(key="colour").value == "level"
    assert at.selectbox(key="colour_level").value == int(tax.depth)
    at = run_page(bundle_path, {"colour": "correct", "split": "validation"})
    assert at.selectbox(key="map_split").value == "validation"


def test_correct_vs_wrong_on_one_split(bundle_path, bundle):
    """Colouring by correct vs wrong shows the test split unless another is chosen:
    training products are nearly all right."""
    at = run_page(bundle_path, {"colour": "correct"})
    assert at.selectbox(key="map_split").value == "test"
    rows, _ = points(figure(at))
    assert len(rows) and (bundle.products["split"].to_numpy()[rows] == "test").all()
    at.selectbox(key="map_split").set_value("train").run()
    rows, _ = points(figure(at))
    assert (bundle.products["split"].to_numpy()[rows] == "train").all()
    assert at.query_params["split"] in ("train", ["train"])
    at.selectbox(key="map_split").set_value("all").run()
    rows, _ = points(figure(at))
    assert len(set(bundle.products["split"].to_numpy()[rows])) > 1


def test_subtree_filter_colours_the_level_below(bundle_path, bundle):
    from prodemb import report, ui

    tax = bundle.taxonomy
    subtree = next(s for s in report.subtree_options(tax)
                   if len(s.split(" > ")) < tax.depth)
    depth = len(subtree.split(" > "))
    at = run_page(bundle_path, {"subtree": subtree})
    assert any(f"level {depth + 1}" in c.value for c in at.caption)
    names = {html.unescape(tr["name"]) for tr in figure(at)["data"]}
    children = {tax.name(i) for i in range(tax.n_nodes)
                if int(tax.levels[i]) == depth + 1 and tax.name(i).startswith(subtree + " > ")}
    named = names - {report.UNLABELLED, report.OTHER, ui.ELSEWHERE}
    # every group is a category right below the subtree (products predicted into it from
    # elsewhere are one grey group); they get the first colours, in the order of the tree
    assert named and named <= children, (named, children)
    assert len(named) >= min(2, len(children))
    want = ui.category_colours(children, children)
    for tr in figure(at)["data"]:
        if html.unescape(tr["name"]) in named:
            assert tr["marker"]["color"] == want[html.unescape(tr["name"])]


def test_zoom_fits_the_shown_points(bundle_path, bundle):
    from prodemb import report

    subtree = report.default_subtree(bundle.taxonomy, bundle.metrics["splits"]["test"]) \
        or report.subtree_options(bundle.taxonomy)[0]
    fig = figure(run_page(bundle_path, {"subtree": subtree}))
    rows, xs = points(fig)
    lo, hi = fig["layout"]["xaxis"]["range"]
    inside = (xs >= lo) & (xs <= hi)
    assert inside.mean() > 0.9
    whole = run_page(bundle_path)
    x = bundle.products[f"{whole.segmented_control(key='method').value}_x"]
    full = float(np.nanmax(x) - np.nanmin(x))
    assert hi - lo < full, "zoomed in on the subtree, not the whole map"
    assert figure(whole)["layout"]["uirevision"] != fig["layout"]["uirevision"], "a new view zooms anew"


def test_top_level_colours_match_the_classify_map(bundle_path, bundle):
    from prodemb import ui

    tops = ui.top_level_names(bundle)
    want = ui.category_colours(tops, tops)
    fig = figure(run_page(bundle_path))
    for tr in fig["data"]:
        if tr["name"] in want:
            assert tr["marker"]["color"] == want[tr["name"]], tr["name"]
    method = "umap" if "umap" in bundle.map_methods else bundle.map_methods[0]
    small, _ = ui.classify_map(bundle.path, method, np.zeros(2), "x")
    for tr in small.to_plotly_json()["data"]:
        if tr.get("name") in want:
            assert tr["marker"]["color"] == want[tr["name"]], tr["name"]


def test_map_lists_show_readable_text(bundle_path, bundle):
    p = bundle.products
    raw = p["text"].str.contains("&[a-z]+;", regex=True)
    if not raw.any():
        pytest.skip("no product text with HTML entities in this bundle")
    at = run_page(bundle_path, {"q": "yacute"})
    shown = [d.value for d in at.dataframe if "text" in d.value.columns]
    assert shown and len(shown[0])
    assert not shown[0]["text"].str.contains("&[a-z]+;", regex=True).any()
    hover = [cd[1] for tr in figure(at)["data"] for cd in tr["customdata"][:300]]
    assert not [h for h in hover if "&amp;yacute;" in h or "&yacute;" in h]


# ---------------------------------------------------------------------- click, re-project
def small_subtree(bundle, lo: int = 60, hi: int = 400) -> str:
    """A subtree with a few hundred products (quick to re-project)."""
    from prodemb import report

    for name in report.subtree_options(bundle.taxonomy):
        if lo <= int(report.subtree_mask(bundle.products, name).sum()) <= hi:
            return name
    pytest.skip(f"no subtree with {lo}-{hi} products in this bundle")


def test_reprojected_subtree_is_its_own_map(bundle_path, bundle):
    from prodemb import report

    if "tsne" not in bundle.map_methods:
        pytest.skip("the bundle has no t-SNE map")
    subtree = small_subtree(bundle)
    at = run_page(bundle_path, {"subtree": subtree, "method": "tsne"})
    before = points(figure(at))
    at.toggle(key="reproject").set_value(True).run()
    assert not at.exception and not at.error
    rows, xs = points(figure(at))
    in_sub = report.subtree_mask(bundle.products, subtree)
    assert len(rows) == int(in_sub.sum()) and in_sub[rows].all()
    assert set(rows.tolist()) == set(before[0].tolist())  # the same products ...
    stored = bundle.products["tsne_x"].to_numpy()[rows]
    assert not np.allclose(xs, stored)  # ... at new positions, from their own map
    assert any("re-projected" in m.value for m in at.markdown)
    # Off again: the catalogue's map.
    at.toggle(key="reproject").set_value(False).run()
    np.testing.assert_allclose(np.sort(points(figure(at))[1]), np.sort(before[1]))


def test_reproject_is_offered_only_for_a_filtered_subtree(bundle_path, bundle):
    assert not run_page(bundle_path).get("toggle") or \
        "reproject" not in [t.key for t in run_page(bundle_path).toggle]
    at = run_page(bundle_path, {"subtree": small_subtree(bundle)})
    assert "reproject" in [t.key for t in at.toggle]


def test_clicked_product_reads_one_clicked_point():
    from prodemb import ui

    def state(*rows):
        return {"selection": {"points": [{"customdata": [r, "t", "a", "b"]} for r in rows]}}

    assert ui.clicked_product(state(7)) == 7
    assert ui.clicked_product(state(7, 9)) is None  # a box or lasso of several
    assert ui.clicked_product(state(-1)) is None  # your own product (not in the catalogue)
    assert ui.clicked_product(None) is None and ui.clicked_product({}) is None
    assert ui.clicked_product({"selection": {"points": [{"x": 1}]}}) is None


def test_focus_rings_the_nearest_products(bundle):
    from prodemb import ui

    p = bundle.products
    method = bundle.map_methods[0]
    xy = p[[f"{method}_x", f"{method}_y"]].to_numpy(np.float32)
    rows = np.arange(0, len(p), 50)
    clicked = int(rows[3])
    near, sims = bundle.nearest_rows(clicked, 10)
    labels = p["true_top"].astype(str)
    fig = ui.catalogue_map_figure(xy, rows, labels, ui.map_base("k", p)["hover"],
                                  np.zeros(len(p), bool), None, "", focus=(clicked, near))
    traces = {t.name: t for t in fig.data}
    ringed = traces["nearest to the clicked product (10)"]
    assert [int(c[0]) for c in ringed.customdata] == near.tolist()
    assert [int(c[0]) for c in traces["clicked product"].customdata] == [clicked]
    assert clicked not in near.tolist() and (np.diff(sims) <= 1e-6).all()


def test_selection_download_neutralises_formulas():
    """The map's "Download the selection" CSV: catalogue texts and ids that a spreadsheet
    would run as formulas come back as text, like every other download."""
    import io

    import pandas as pd

    from prodemb import ui

    products = pd.DataFrame({"id": ["P1", "=1+1", "P3"],
                             "text": ["knit scarf", '=HYPERLINK("http://x")', "@SUM(A1)"],
                             "path": ["A > B", "A > C", "A > B"], "split": ["train"] * 3})
    back = pd.read_csv(io.BytesIO(ui.map_selection_csv(products, [1, 2])), dtype=str,
                       keep_default_na=False)
    assert back["text"].tolist() == ["'=HYPERLINK(\"http://x\")", "'@SUM(A1)"]
    assert back["id"].tolist() == ["'=1+1", "P3"]


def test_a_bundle_without_maps_says_how_to_make_them(bundle_path, monkeypatch):
    # The page said to set config maps.methods only; `prodemb train --maps` is how a
    # bundle gets trained without maps, and how to get them back.
    from prodemb.bundle import Bundle

    monkeypatch.setattr(Bundle, "map_methods", property(lambda self: []))
    at = run_page(bundle_path)
    said = " ".join(w.value for w in at.warning)
    assert "no map coordinates" in said and "--maps umap" in said
    assert not at.get("plotly_chart")
