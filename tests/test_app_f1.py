"""AppTest of the Per-class F1 page (pages/per_class_f1.py) on a real bundle.

The bundle is ``PRODEMB_BUNDLE`` (a path) if set, else ``artifacts/demo``; the tests
are skipped when neither exists.
"""

from __future__ import annotations

from pathlib import Path

import page_helpers
import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_HINTS = 6  # warnings shown at most (pages/per_class_f1.py)


def run_page(bundle_path: str, query: dict | None = None, state: dict | None = None):
    return page_helpers.run_page("per_class_f1", bundle_path, query, state)


def tables(at) -> dict:
    """The page's dataframes, recognised by their columns."""
    out = {}
    for df in at.dataframe:
        v = df.value
        cols = set(v.columns)
        if "macro-F1" in cols:
            out["headline_table"] = v
        elif {"class", "f1", "support"} <= cols:
            out["per_class_table"] = v
        elif {"a", "b", "a_as_b"} <= cols:
            out.setdefault("confused_table", v)
    return out


def test_renders_with_headline_values(bundle_path, bundle):
    at = run_page(bundle_path)
    head = tables(at)["headline_table"]
    splits = bundle.metrics["splits"]
    for split in ("train", "validation", "test"):
        if split not in splits:
            continue
        m = splits[split]
        assert head.loc[split, "macro-F1"] == pytest.approx(m["macro_f1"])
        assert head.loc[split, "leaf macro-F1"] == pytest.approx(m["leaf_macro_f1"])
        assert head.loc[split, "micro-F1"] == pytest.approx(m["micro_f1"])
        for lv, v in m["level_macro_f1"].items():
            assert head.loc[split, f"L{lv} macro-F1"] == pytest.approx(v)
        if "plain_0.5" in m:
            assert head.loc[split, "macro-F1 @0.5"] == pytest.approx(m["plain_0.5"]["macro_f1"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Macro-F1 (all nodes)"] == f"{splits['test']['macro_f1']:.3f}"
    assert metrics["Micro-F1"] == f"{splits['test']['micro_f1']:.3f}"
    # charts: F1 by class (maybe collapsed), distribution, training curves, heatmap
    assert len(at.get("plotly_chart")) >= 3


def test_split_selector_switches_table(bundle_path, bundle):
    at = run_page(bundle_path)
    at.segmented_control(key="f1_split").set_value("train").run()
    assert not at.exception
    train = bundle.metrics["splits"]["train"]
    assert {m.label: m.value for m in at.metric}["Macro-F1 (all nodes)"] == f"{train['macro_f1']:.3f}"
    table = tables(at)["per_class_table"]
    support = {c["name"]: c["support"] for c in train["per_class"]}
    assert all(table["support"] == table["class"].map(support))


def test_subtree_filter_narrows_table(bundle_path, bundle):
    from prodemb import report

    at = run_page(bundle_path)
    full = tables(at)["per_class_table"]
    subtree = report.default_subtree(bundle.taxonomy, bundle.metrics["splits"]["test"]) \
        or report.subtree_options(bundle.taxonomy)[0]
    at.selectbox(key="subtree").set_value(subtree).run()
    assert not at.exception
    narrowed = tables(at)["per_class_table"]
    assert 0 < len(narrowed) < len(full)
    assert all(c == subtree or c.startswith(subtree + " > ") for c in narrowed["class"])

    # level filter narrows further
    deepest = int(narrowed["level"].max())
    at.multiselect(key="f1_levels").set_value([deepest]).run()
    levelled = tables(at)["per_class_table"]
    assert set(levelled["level"]) == {deepest} and len(levelled) < len(narrowed)


def test_deep_link_selects_subtree(bundle_path, bundle):
    from prodemb import report

    subtree = report.subtree_options(bundle.taxonomy)[-1]
    at = run_page(bundle_path, {"subtree": subtree})
    assert at.selectbox(key="subtree").value == subtree
    table = tables(at)["per_class_table"] if "per_class_table" in tables(at) else None
    if table is not None:
        assert all(c == subtree or c.startswith(subtree + " > ") for c in table["class"])
    assert any("Confusion heatmap" in m.value for m in at.markdown)


def test_merge_hints_follow_threshold(bundle_path, bundle):
    from prodemb import report

    at = run_page(bundle_path)
    at.slider(key="merge_threshold").set_value(0.0).run()
    assert not at.exception
    split = bundle.metrics["splits"]["test"]
    focus = report.default_subtree(bundle.taxonomy, split)
    expected = report.merge_hints(bundle.taxonomy, split, 0.0, subtree=focus)
    hints = [w for w in at.warning if "Consider merging" in w.value]
    assert len(hints) == min(len(expected), MAX_HINTS)
    at.slider(key="merge_threshold").set_value(0.6).run()
    expected = report.merge_hints(bundle.taxonomy, split, 0.6, subtree=focus)
    assert len([w for w in at.warning if "Consider merging" in w.value]) == min(len(expected), MAX_HINTS)


def test_min_support_filter(bundle_path):
    at = run_page(bundle_path)
    at.number_input(key="f1_min_support").set_value(50).run()
    assert not at.exception
    table = tables(at).get("per_class_table")
    assert table is None or (table["support"] >= 50).all()


# ---------------------------------------------------------------------- calibration (issue 12)
def test_calibration_section_of_a_calibrated_bundle(tiny_bundle):
    """ECE per split and the reliability diagram of the chosen split, from metrics.json."""
    import json

    from prodemb import ui

    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    at = run_page(str(tiny_bundle))
    table = next(d.value for d in at.dataframe if "ECE" in d.value.columns)
    for split, report in metrics["confidence"].items():
        assert table.loc[split, "ECE"] == pytest.approx(report["ece"])
        assert table.loc[split, "ECE (raw score)"] == pytest.approx(report["ece_raw"])
    chart = [c for c in at.get("plotly_chart") if "Reliability" in c.proto.spec]
    assert chart, "a reliability diagram"
    fig = ui.reliability_figure(ui.reliability_rows(metrics, "test"), "Test")
    diagonal, model = fig.data
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    rel = metrics["confidence"]["test"]["reliability"]
    assert list(model.x) == pytest.approx([r["mean_confidence"] for r in rel])
    assert list(model.y) == pytest.approx([r["accuracy"] for r in rel])
    assert [int(c[0]) for c in model.customdata] == [r["count"] for r in rel]
    assert not any("trained before calibration" in i.value for i in at.info)


def test_calibration_section_of_an_older_bundle(bundle_path, bundle):
    at = run_page(bundle_path)
    if (bundle.metrics or {}).get("confidence"):
        pytest.skip("this bundle was trained with calibration")
    assert any("trained before calibration" in i.value for i in at.info)
    assert not [d for d in at.dataframe if "ECE" in d.value.columns]


# ---------------------------------------------------------------------- issue 16
def test_unknown_subtree_link_is_said(bundle_path):
    at = run_page(bundle_path, {"subtree": "No > Such"})
    assert any("No \\> Such" in w.value and "subtree" in w.value for w in at.warning)
    assert at.selectbox(key="subtree").value == "All categories"
    assert at.warning[0].icon == ":material/link_off:", "said first, at the top of the page"
    assert not [w for w in run_page(bundle_path).warning if "link" in w.value]


def test_threshold_delta_is_grey_unless_it_moves(bundle_path, bundle):
    """"+0.000 vs 0.5 thresholds" was shown as a green improvement: a change that rounds to
    zero is said in grey, without an arrow."""
    from streamlit.proto.Metric_pb2 import Metric as MetricProto

    from prodemb import ui

    at = run_page(bundle_path)
    head = tables(at)["headline_table"]
    for split in bundle.metrics["splits"]:
        at.segmented_control(key="f1_split").set_value(split).run()
        row = head.loc[split]
        text, colour = ui.threshold_delta(row["macro-F1"], row["macro-F1 @0.5"])
        metric = next(m for m in at.metric if m.label == "Macro-F1 (all nodes)")
        assert (metric.proto.delta or None) == text
        assert "+0.000" not in metric.proto.delta
        if colour == "off" and text:
            assert metric.proto.color == MetricProto.MetricColor.GRAY
            assert metric.proto.direction == MetricProto.MetricDirection.NONE


def test_training_curves_say_why_the_losses_differ(bundle_path, bundle):
    from prodemb import report, ui

    at = run_page(bundle_path)
    if report.history_frame(bundle.metrics).empty:
        pytest.skip("no training history")
    assert ui.LOSS_NOTE in [c.value for c in at.caption]
