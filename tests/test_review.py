"""Merge proposals, what-if metrics and confused products (prodemb.review)."""

import numpy as np
import pandas as pd
import pytest

from prodemb import review as R
from prodemb.taxonomy import Taxonomy, parse_path

A, B, C, D = ("T > X > a", "T > X > b", "T > X > c", "T > Y > d")


def products(rows):
    """rows: (split, true, pred) display paths -> a products.parquet-like frame."""
    return pd.DataFrame([{"id": f"P{i}", "split": s, "text": f"text {i}", "true_path": t,
                          "pred_path": p, "pred_score": 0.5} for i, (s, t, p) in enumerate(rows)])


TAX = Taxonomy.from_paths(parse_path(p) for p in (A, B, C, D))


def trio_frame():
    rows = []
    for split in ("validation", "test"):
        rows += [(split, A, A)] * 6 + [(split, A, B)] * 2 + [(split, B, B)] * 6 + [(split, B, A)] * 2
        rows += [(split, B, C)] * 2 + [(split, C, B)] * 2 + [(split, C, C)] * 6
        rows += [(split, D, D)] * 10 + [(split, D, A)]  # one-way confusion: no link
    return products(rows)


def test_mutually_confused_leaves_form_one_proposal():
    props = R.merge_proposals(trio_frame(), TAX)
    assert len(props) == 1
    p = props[0]
    assert p.leaves == [A, B, C]  # a-b and b-c linked: one group, not two pairs
    assert p.into == "T > X > a + b + c"
    assert {(d["a"], d["b"]) for d in p.links} == {(A, B), (B, C)}
    assert p.confusions == 2 * (2 + 2 + 2 + 2) and p.products == 2 * 26
    # a higher bar leaves no link
    assert R.merge_proposals(trio_frame(), TAX, min_rate=0.9) == []


def test_what_if_merge_recomputes_metrics_from_stored_predictions():
    out = R.what_if_merge(trio_frame(), TAX, [A, B, C])
    test = out["splits"]["test"]
    assert test["before"]["n_leaves"] == 4 and test["after"]["n_leaves"] == 2
    # after the merge only d's one product predicted as the merged leaf is wrong
    merged = test["after"]["class"]
    assert merged["name"] == "T > X > a + b + c" and merged["support"] == 26
    assert merged["precision"] == pytest.approx(26 / 27, abs=1e-4) and merged["recall"] == 1.0
    assert test["after"]["leaf_macro_f1"] > test["before"]["leaf_macro_f1"]
    assert {c["name"] for c in test["before"]["classes"]} == {A, B, C}
    assert test["moved_products"] == 26


def test_what_if_merge_into_the_parent_and_bad_groups():
    out = R.what_if_merge(trio_frame(), TAX, [A, B, C], into="T > X")
    assert out["splits"]["test"]["after"]["class"]["name"] == "T > X"
    with pytest.raises(R.ReviewError, match="at least two"):
        R.what_if_merge(trio_frame(), TAX, [A])
    with pytest.raises(R.ReviewError, match="not a category"):
        R.what_if_merge(trio_frame(), TAX, [A, "T > X > zzz"])
    with pytest.raises(R.ReviewError, match="not a leaf"):
        R.what_if_merge(trio_frame(), TAX, [A, "T > X"])


def test_confused_products_are_the_cell_of_the_confusion_matrix():
    frame = trio_frame()
    rows = R.confused_products(frame, TAX, A, B)
    assert len(rows) == 4 and (rows["true_path"] == A).all() and (rows["pred_path"] == B).all()
    assert len(R.confused_products(frame, TAX, D, D)) == 20
    with pytest.raises(R.ReviewError):
        R.confused_products(frame, TAX, "nope", A)


def test_merged_path_is_under_the_deepest_common_ancestor():
    assert R.merged_path([B, A]) == "T > X > a + b"
    assert R.merged_path([A, D]) == "T > a + d"
    assert R.merged_path(["P > a", "Q > b"]) == "a + b"


def test_on_the_bundle_the_scarf_trio_is_the_first_proposal(bundle):
    """Acceptance of issue 14: the trio is one proposal and merging it raises leaf macro-F1."""
    trio = {"Accessories > Scarves > Knit scarf", "Accessories > Scarves > Scarf / Shawl",
            "Accessories > Scarves > Snood / Loop scarf"}
    names = {bundle.taxonomy.name(i) for i in range(bundle.taxonomy.n_nodes)}
    if not trio <= names:
        pytest.skip("PRODEMB_BUNDLE is not a demo bundle (no scarf trio)")
    props = bundle.merge_proposals()
    assert set(props[0].leaves) == trio
    out = bundle.what_if_merge(sorted(trio))
    for split in ("validation", "test"):
        before, after = out["splits"][split]["before"], out["splits"][split]["after"]
        assert after["leaf_macro_f1"] > before["leaf_macro_f1"]
        assert after["class"]["f1"] > max(c["f1"] for c in out["splits"][split]["before"]["classes"])
    # "before" is what the bundle stored when it was trained
    stored = bundle.metrics["splits"]["test"]
    assert out["splits"]["test"]["before"]["leaf_macro_f1"] == pytest.approx(stored["leaf_macro_f1"], abs=1e-4)
    assert out["splits"]["test"]["before"]["macro_f1"] == pytest.approx(stored["macro_f1"], abs=1e-4)
    assert np.isfinite(out["splits"]["test"]["after"]["macro_f1"])


def test_compare_bundles_lists_deltas_and_changed_predictions():
    frame_a = trio_frame()
    frame_b = frame_a.copy()
    flip = frame_b.index[(frame_b["split"] == "test") & (frame_b["true_path"] == A)
                         & (frame_b["pred_path"] == B)]
    frame_b.loc[flip, "pred_path"] = A  # B fixes a's two confusions with b
    from prodemb.metrics import evaluate

    def metrics(frame):
        rows, true, pred = R.stored_paths(frame, TAX, ("test",))
        return {"splits": {"test": evaluate(TAX, TAX.binarize(true), TAX.binarize(pred))}}
    out = R.compare_bundles(metrics(frame_a), frame_a, metrics(frame_b), frame_b)
    assert out["changed"] == {"common": len(frame_a[frame_a["split"] == "test"]), "changed": 2,
                              "share": round(2 / 37, 4), "levels": None}
    rows = out["classes"].set_index("name")
    assert rows.loc[A, "delta"] > 0 and rows.loc[D, "delta"] == 0
    head = {r["metric"]: r for r in out["headline"]}
    assert head["leaf_macro_f1"]["delta"] > 0
    with pytest.raises(R.ReviewError):
        R.compare_bundles({"splits": {}}, frame_a, metrics(frame_b), frame_b)


def test_compare_bundles_same_paths_in_another_order_or_a_deeper_tree_are_not_changes():
    # Compare bundles said "563 of 563 test products changed prediction: 100%" between a
    # bundle trained with --max-depth 2 and the same catalogue's 4-level bundle (every path
    # string differs), and counted a multi-path product's two paths listed in another order
    # as a change; 'Men > Apparel', a leaf only of the 2-level tree, was shown as a leaf.
    from prodemb.metrics import evaluate

    deep = ("M > App > Top > Tee", "W > App > Top > Tee", "M > Acc > Bag > Pack", "W > Acc > Bag > Pack")
    tax4 = Taxonomy.from_paths(parse_path(p) for p in deep)
    tax2 = Taxonomy.from_paths(parse_path(p) for p in ("M > App", "W > App", "M > Acc", "W > Acc"))
    two = "M > Acc > Bag > Pack | W > Acc > Bag > Pack"
    frame_4 = products([("test", deep[0], deep[0]), ("test", two, two), ("test", deep[1], deep[2])])
    frame_2 = products([("test", "M > App", "M > App"), ("test", "M > Acc | W > Acc", "W > Acc | M > Acc"),
                        ("test", "W > App", "W > App")])

    def metrics(frame, tax):
        rows, true, pred = R.stored_paths(frame, tax, ("test",))
        return {"splits": {"test": evaluate(tax, tax.binarize(true), tax.binarize(pred))}}
    out = R.compare_bundles(metrics(frame_2, tax2), frame_2, metrics(frame_4, tax4), frame_4)
    assert out["changed"] == {"common": 3, "changed": 1, "share": round(1 / 3, 4), "levels": 2}
    leaf = out["classes"].set_index("name")["leaf"]
    assert not leaf["M > App"] and leaf["M > App > Top > Tee"]
    same_order = frame_4.copy()
    same_order.loc[1, "pred_path"] = "W > Acc > Bag > Pack | M > Acc > Bag > Pack"
    again = R.compare_bundles(metrics(same_order, tax4), same_order, metrics(frame_4, tax4), frame_4)
    assert again["changed"]["changed"] == 0 and again["changed"]["levels"] is None


def test_review_queue_shows_odds_that_tell_apart_doubts_rounding_to_one():
    """Doubts stored as float32 that all show as 1.000 get odds against the label that
    differ; the queue's order stays the doubt's."""
    doubt = np.array([0.5, 0.99999, 0.9999999, 1.0, 0.99, 0.9999], dtype=np.float32)
    frame = products([("train", A, A)] * len(doubt)).assign(label_doubt=doubt)
    q = R.review_queue(frame)
    assert q["id"].tolist() == ["P3", "P2", "P1", "P5", "P4", "P0"]    # by doubt, unchanged
    assert q["label_doubt"].round(3).iloc[:4].eq(1.0).all()            # the old, tied display
    odds = q["doubt_odds"].to_numpy()
    assert (np.diff(odds) < 0).all() and odds[0] == R.MAX_ODDS_AGAINST
    assert 5e6 < odds[1] < 1e7 and odds[2] == pytest.approx(1e5, rel=1e-2)
    assert odds[-1] == pytest.approx(1.0) and odds[-2] == pytest.approx(99.0, rel=1e-4)
    assert np.isnan(R.odds_against([np.nan])).all()


def test_label_doubts_do_not_doubt_a_label_that_stops_above_the_model_s_leaf():
    # Label review put products labelled only 'Men > Apparel' first, at doubt 1.000, because
    # the out-of-fold model put them in 'Men > Apparel > Topwear > Tshirts': a deeper
    # category of the same label, not another one.
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(60):
        texts.append(f"cotton tshirt crew {rng.integers(5)}")
        labels.append("Men > Apparel" if i % 6 == 0 else "Men > Apparel > Topwear > Tshirts")
        texts.append(f"leather wallet slim {rng.integers(5)}")
        labels.append("Men > Accessories > Wallets")
    texts.append("cotton tshirt crew 1")
    labels.append("Men > Accessories > Wallets")             # a wrong label
    doubt, suggestion = R.label_doubts(texts, labels, folds=3, seed=0)
    shallow = np.array([lb == "Men > Apparel" for lb in labels])
    assert doubt[shallow].max() < 0.5
    assert doubt[-1] > 0.5 and suggestion[-1].startswith("Men > Apparel")
    assert not any(s.startswith("Men > Apparel") for s in suggestion[shallow])  # outside the label
