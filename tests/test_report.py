"""Unit tests of prodemb.report on a hand-built taxonomy and metrics dict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prodemb import report
from prodemb.taxonomy import Taxonomy

PATHS = [("A", "S", "K"), ("A", "S", "L"), ("A", "S", "W"), ("A", "S2"), ("A", "H"), ("B", "X")]


@pytest.fixture()
def tax() -> Taxonomy:
    return Taxonomy.from_paths(PATHS)


def nid(tax: Taxonomy, name: str) -> int:
    return tax.index(tuple(name.split(" > ")))


def per_class(tax: Taxonomy, support: dict[str, int], f1: dict[str, float] | None = None) -> list[dict]:
    f1 = f1 or {}
    out = []
    for i in range(tax.n_nodes):
        name = tax.name(i)
        out.append({"node": i, "name": name, "level": int(tax.levels[i]), "leaf": bool(tax.is_leaf[i]),
                    "precision": 0.5, "recall": 0.5, "f1": f1.get(name, 0.5),
                    "support": support.get(name, 0), "predicted": support.get(name, 0)})
    return out


@pytest.fixture()
def split(tax: Taxonomy) -> dict:
    k, l_, w, h, x = (nid(tax, n) for n in ("A > S > K", "A > S > L", "A > S > W", "A > H", "B > X"))
    support = {"A": 35, "A > S": 29, "A > S > K": 10, "A > S > L": 9, "A > S > W": 10, "A > H": 6,
               "B": 10, "B > X": 10}
    return {
        "n_items": 45, "macro_f1": 0.6, "leaf_macro_f1": 0.5, "micro_f1": 0.7, "leaf_micro_f1": 0.65,
        "level_macro_f1": {"1": 0.9, "2": 0.6, "3": 0.4},
        "hierarchical": {"precision": 0.7, "recall": 0.7, "f1": 0.7}, "exact_match": 0.55,
        "per_class": per_class(tax, support, {"A > S > K": 0.2, "A > S > L": 0.9}),
        "confusion": [[k, k, 8], [k, l_, 2], [l_, l_, 5], [l_, k, 3], [l_, x, 1],
                      [w, w, 10], [h, h, 6], [x, x, 9], [x, k, 1]],
        "most_confused": [],
        "plain_0.5": {"n_items": 45, "macro_f1": 0.5, "level_macro_f1": {"1": 0.8}},
    }


@pytest.fixture()
def metrics(split: dict) -> dict:
    train = dict(split, macro_f1=0.9, n_items=300)
    train["per_class"] = [dict(c, support=c["support"] * 10) for c in split["per_class"]]
    val = dict(split, macro_f1=0.65, n_items=40)
    val.pop("plain_0.5")
    return {"splits": {"train": train, "validation": val, "test": split},
            "history": [{"epoch": 1, "train_loss": 0.3, "val_loss": 0.25, "val_macro_f1": 0.1,
                         "seconds": 2.0},
                        {"epoch": 2, "train_loss": 0.2, "val_loss": 0.21, "val_macro_f1": 0.3,
                         "seconds": 2.1}]}


# ---------------------------------------------------------------------- headline / per class
def test_headline_table(metrics):
    head = report.headline_table(metrics)
    assert list(head.index) == ["train", "validation", "test"]
    assert head.loc["test", "macro-F1"] == 0.6
    assert head.loc["train", "macro-F1"] == 0.9
    assert head.loc["test", "macro-F1 @0.5"] == 0.5
    assert np.isnan(head.loc["validation", "macro-F1 @0.5"])
    assert head.loc["test", "L3 macro-F1"] == 0.4
    assert head.loc["test", "micro-F1"] == 0.7
    assert head.loc["test", "items"] == 45
    cols = list(head.columns)
    assert cols.index("macro-F1 @0.5") == cols.index("macro-F1") + 1


def test_history_frame(metrics):
    hist = report.history_frame(metrics)
    assert list(hist["epoch"]) == [1, 2]
    assert report.history_frame({}).empty


def test_per_class_table_and_filters(split):
    df = report.per_class_table(split)
    assert set(report.PER_CLASS_COLUMNS) <= set(df.columns)
    row = df[df["class"] == "A > S > K"].iloc[0]
    assert (row["name"], row["top_level"], row["level"], bool(row["leaf"])) == ("K", "A", 3, True)

    sub = report.filter_classes(df, subtree="A > S")
    # the node itself and everything under it -- but not its sibling "A > S2"
    assert sorted(sub["class"]) == ["A > S", "A > S > K", "A > S > L", "A > S > W"]
    assert list(report.filter_classes(df, levels=[1])["class"]) == ["A", "B"]
    assert "A > H" not in set(report.filter_classes(df, min_support=7)["class"])
    assert report.filter_classes(df, leaves_only=True)["leaf"].all()
    assert len(report.filter_classes(df)) == len(df)


def test_label_distribution(metrics):
    dist = report.label_distribution(metrics)
    assert list(dist["support"]) == sorted(dist["support"], reverse=True)
    assert set(dist["class"]) == {"A > S > K", "A > S > L", "A > S > W", "A > S2", "A > H", "B > X"}
    k = dist[dist["class"] == "A > S > K"].iloc[0]
    assert k["support"] == 100 + 10 + 10  # train (x10) + validation + test
    assert k["test"] == 10
    assert dist["share"].sum() == pytest.approx(1.0)
    assert dist.iloc[-1]["class"] == "A > S2"  # no support: last, still listed


# ---------------------------------------------------------------------- confusion
def test_confusion_matrix_values(tax, split):
    cm = report.confusion_matrix(tax, split, "A > S")
    assert list(cm.index) == ["K", "L", "W"]
    assert list(cm.columns) == ["K", "L", "W", report.OTHER]
    assert cm.loc["K"].tolist() == [8, 2, 0, 0]
    assert cm.loc["L"].tolist() == [3, 5, 0, 1]  # L predicted as B > X: outside -> other
    assert cm.loc["W"].tolist() == [0, 0, 10, 0]
    # B > X predicted as K is not a row (its true class is outside the subtree)
    assert cm.to_numpy().sum() == 8 + 2 + 3 + 5 + 1 + 10

    norm = report.row_normalise(cm)
    assert norm.loc["L"].tolist() == pytest.approx([3 / 9, 5 / 9, 0, 1 / 9])
    assert norm.sum(axis=1).tolist() == pytest.approx([1, 1, 1])

    full = report.confusion_matrix(tax, split, "A > S", relative=False)
    assert full.index[0] == "A > S > K"


def test_confusion_matrix_inner_end_and_empty_rows(tax, split):
    s = nid(tax, "A > S")
    split = dict(split, confusion=split["confusion"] + [[s, s, 4]])
    cm = report.confusion_matrix(tax, split, "A > S")
    assert list(cm.index) == ["A > S", "K", "L", "W"]  # an inner node used as a path end
    assert cm.loc["A > S", "A > S"] == 4
    empty = report.confusion_matrix(tax, dict(split, confusion=[]), "A > S")
    assert report.row_normalise(empty).to_numpy().sum() == 0


def test_confused_pairs_and_merge_hints(tax, split):
    pairs = report.confused_pairs(tax, split)
    top = pairs.iloc[0]
    assert (top["a"], top["b"], top["a_as_b"], top["b_as_a"], top["total"]) == \
        ("A > S > K", "A > S > L", 2, 3, 5)
    assert top["rate"] == pytest.approx(5 / 19)
    assert len(pairs) == 3

    hints = report.merge_hints(tax, split, threshold=0.15)
    assert list(zip(hints["a"], hints["b"])) == [("A > S > K", "A > S > L")]
    assert report.merge_hints(tax, split, threshold=0.3).empty
    # L -> X and X -> K are one-way confusions: never a hint, as never a Review proposal.
    assert list(zip(*report.merge_hints(tax, split, threshold=0.0)[["a", "b"]].T.values)) == \
        [("A > S > K", "A > S > L")]
    assert len(report.merge_hints(tax, split, threshold=0.0, subtree="A > S")) == 1
    assert report.merge_hints(tax, split, threshold=0.0, min_total=2)["total"].min() >= 2


def test_pairs_of_a_category_and_one_inside_it_are_marked_and_never_merged():
    """A catalogue labelled partly to level 2: products labelled 'Men > Apparel' that the
    model put in 'Men > Apparel > Tshirts' filled the most-confused list, set the heatmap's
    default subtree and could be offered as a merge. They are a difference of depth."""
    tax = Taxonomy.from_paths([("Men", "Apparel", "Tshirts"), ("Men", "Apparel", "Shirts"),
                               ("Men", "Shoes", "Boots")])
    apparel, tshirts, shirts, boots = (tax.index(p) for p in (
        ("Men", "Apparel"), ("Men", "Apparel", "Tshirts"), ("Men", "Apparel", "Shirts"),
        ("Men", "Shoes", "Boots")))
    support = {"Men > Apparel": 20, "Men > Apparel > Tshirts": 30, "Men > Apparel > Shirts": 30,
               "Men > Shoes > Boots": 10}
    split = {"per_class": per_class(tax, support),
             "confusion": [[apparel, tshirts, 15], [tshirts, apparel, 2], [tshirts, shirts, 3],
                           [shirts, tshirts, 2], [boots, boots, 10]]}
    pairs = report.confused_pairs(tax, split)
    assert list(zip(pairs["a"], pairs["b"], pairs["nested"])) == [
        ("Men > Apparel", "Men > Apparel > Tshirts", True),
        ("Men > Apparel > Shirts", "Men > Apparel > Tshirts", False)]
    hints = report.merge_hints(tax, split, threshold=0.0)
    assert list(zip(hints["a"], hints["b"])) == [("Men > Apparel > Shirts", "Men > Apparel > Tshirts")]
    assert report.default_subtree(tax, split) == "Men > Apparel"  # of Tshirts/Shirts
    only_depth = dict(split, confusion=[[apparel, tshirts, 15], [tshirts, apparel, 2]])
    assert report.default_subtree(tax, only_depth) == "Men > Apparel"  # no other pairs
    assert report.merge_hints(tax, only_depth, threshold=0.0).empty


def test_merge_hints_and_review_proposals_share_one_rule():
    """Was: Per-class F1 suggested merging Flats and Heels (0 Flats -> Heels, 10 back) while
    Review said nothing to merge. Both now use prodemb.review.worth_merging."""
    from prodemb.review import merge_proposals, worth_merging

    tax = Taxonomy.from_paths([("Shoes", "Flats"), ("Shoes", "Heels"), ("Shoes", "Boots")])
    flats, heels, boots = (tax.index(("Shoes", n)) for n in ("Flats", "Heels", "Boots"))
    support = {"Shoes > Flats": 30, "Shoes > Heels": 40, "Shoes > Boots": 30}
    split = {"per_class": per_class(tax, support),
             "confusion": [[flats, flats, 30], [heels, heels, 30], [heels, flats, 10],
                           [boots, boots, 30]]}
    assert report.merge_hints(tax, split, threshold=0.1).empty
    rows = [("test", "Shoes > Flats", "Shoes > Flats")] * 30 + \
        [("test", "Shoes > Heels", "Shoes > Heels")] * 30 + \
        [("test", "Shoes > Heels", "Shoes > Flats")] * 10
    products = pd.DataFrame([{"id": f"P{i}", "split": s, "text": "", "true_path": t,
                              "pred_path": p, "pred_score": 0.5} for i, (s, t, p) in enumerate(rows)])
    assert merge_proposals(products, tax, min_rate=0.1) == []
    assert not worth_merging(0, 10, 70, 0.1) and worth_merging(1, 10, 70, 0.1)
    # One confusion back makes it a hint and a proposal alike.
    split["confusion"].append([flats, heels, 1])
    assert len(report.merge_hints(tax, split, threshold=0.1)) == 1
    rows.append(("test", "Shoes > Flats", "Shoes > Heels"))
    products = pd.DataFrame([{"id": f"P{i}", "split": s, "text": "", "true_path": t,
                              "pred_path": p, "pred_score": 0.5} for i, (s, t, p) in enumerate(rows)])
    assert [p.leaves for p in merge_proposals(products, tax, min_rate=0.1)] == [
        ["Shoes > Flats", "Shoes > Heels"]]


def test_default_subtree(tax, split):
    assert report.default_subtree(tax, split) == "A > S"
    assert report.default_subtree(tax, dict(split, confusion=[])) is None
    assert report.lowest_common_ancestor("A > S > K", "B > X") is None
    assert report.lowest_common_ancestor("A > S", "A > S > K") == "A > S"


# ---------------------------------------------------------------------- map frames
@pytest.fixture()
def products() -> pd.DataFrame:
    return pd.DataFrame({
        "id": ["1", "2", "3", "4", "5", "6"],
        "text": ["Pletený Šál zimný", "Loop scarf grey", "Leather belt", "Kids hat",
                 "<img src=x onerror=alert(1)> scarf", "Shawl (silk) 100%"],
        "true_path": ["A > S > K", "B > X | A > S > L", "A > S2", None, "A > H", "A > S > W"],
        "pred_path": ["A > S > K", "A > S > K", "A > S2", "A > S > L", "B > X", "A > S > W | B > X"],
        "correct": pd.array([True, False, True, pd.NA, False, False], dtype="boolean"),
    })


def test_subtree_mask(products):
    assert report.subtree_mask(products, "A > S", on=("true",)).tolist() == \
        [True, True, False, False, False, True]
    # predicted paths count too; "A > S2" is not under "A > S"
    assert report.subtree_mask(products, "A > S").tolist() == [True, True, False, True, False, True]
    assert report.subtree_mask(products, "B").tolist() == [False, True, False, False, True, True]
    assert report.subtree_mask(products, None).all()
    assert not report.subtree_mask(products, "A > S > K (x").any()  # regex characters are literal


def test_colour_labels(products):
    assert report.colour_labels(products, "top").tolist() == \
        ["A", "B", "A", report.UNLABELLED, "A", "A"]
    assert report.colour_labels(products, "level", 2).tolist() == \
        ["A > S", "B > X", "A > S2", report.UNLABELLED, "A > H", "A > S"]
    assert report.colour_labels(products, "pred").tolist()[-1] == "A > S > W"
    assert report.colour_labels(products, "correct").tolist() == \
        ["correct", "wrong", "correct", report.UNLABELLED, "wrong", "wrong"]
    with pytest.raises(ValueError):
        report.colour_labels(products, "nope")


def test_limit_groups_and_order():
    labels = pd.Series(["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] + [report.UNLABELLED] * 2)
    out = report.limit_groups(labels, max_groups=2)
    assert set(out) == {"a", "b", report.OTHER, report.UNLABELLED}
    assert (out == report.OTHER).sum() == 3
    assert report.group_order(out) == ["a", "b", report.OTHER, report.UNLABELLED]


def test_search_mask(products):
    texts = products["text"]
    assert report.search_mask(texts, "SCARF").tolist() == [False, True, False, False, True, False]
    # cleaned matching: "sal" finds "Šál", "zimny" finds "zimný"
    assert report.search_mask(texts, "sal").tolist()[0]
    assert report.search_mask(texts, "šál zimný").tolist() == [True] + [False] * 5
    assert not report.search_mask(texts, "").any()
    assert not report.search_mask(texts, "   ").any()
    assert not report.search_mask(texts, None).any()
    # hostile / regex-like queries: literal substrings, no crash
    assert report.search_mask(texts, "<img src=x onerror=alert(1)>").tolist()[4]
    assert report.search_mask(texts, "(silk) 100%").tolist()[5]
    assert not report.search_mask(texts, "[").any()
    cleaned = report.cleaned_texts(texts)
    assert report.search_mask(texts, "loop", cleaned).tolist() == report.search_mask(texts, "loop").tolist()


def test_sample_points_deterministic():
    n = 10_000
    cand = np.ones(n, dtype=bool)
    a = report.sample_points(cand, 1_000)
    b = report.sample_points(cand, 1_000)
    assert np.array_equal(a, b) and len(a) == 1_000
    assert np.all(np.diff(a) > 0)  # sorted, unique
    bigger = report.sample_points(cand, 2_000)
    assert set(a) <= set(bigger)  # more points only add
    assert not np.array_equal(a, report.sample_points(cand, 1_000, seed=1))
    # everything when it fits
    assert len(report.sample_points(cand, n + 5)) == n


def test_sample_points_keep_and_filter():
    n = 5_000
    cand = np.zeros(n, dtype=bool)
    cand[::2] = True
    keep = np.zeros(n, dtype=bool)
    keep[[0, 2, 4, 4000]] = True
    rows = report.sample_points(cand, 100, keep=keep)
    assert len(rows) == 100
    assert cand[rows].all()
    assert {0, 2, 4, 4000} <= set(rows.tolist())
    # the points a filter keeps are the ones the full sample had among the filtered rows
    full = report.sample_points(np.ones(n, dtype=bool), 1_000)
    filt = report.sample_points(cand, 500)
    assert len(set(full.tolist()) & set(filt.tolist())) > 200
    # more kept rows than room: still at most max_points, all of them kept rows
    many = np.zeros(n, dtype=bool)
    many[:1000:2] = True
    rows = report.sample_points(cand, 50, keep=many)
    assert len(rows) == 50 and many[rows].all()
    assert len(report.sample_points(cand, 0)) == 0


def test_selected_rows_and_helpers():
    pts = [{"customdata": 5}, {"customdata": [7]}, {"customdata": 5}, {"x": 1}, {"customdata": "x"},
           {"customdata": [3, "extra"]}]
    assert report.selected_rows(pts) == [5, 7, 3]
    assert report.selected_rows([]) == []
    assert report.truncate("abc", 10) == "abc"
    assert len(report.truncate("x" * 300, 120)) == 120
    assert report.truncate(None) == ""
    assert report.truncate_path("A > S > K | B > X", 2) == "A > S"
    assert report.truncate_path(None, 2) == ""
    assert report.relative_name("A > S > K", "A > S") == "K"
    assert report.relative_name("A > S2", "A > S") == "A > S2"
    assert report.in_subtree("A > S", "A > S") and not report.in_subtree("A > S2", "A > S")


def test_subtree_options(tax):
    opts = report.subtree_options(tax)
    assert "A > S" in opts and "A > S > K" not in opts
    assert len(report.subtree_options(tax, inner_only=False)) == tax.n_nodes


def test_split_without_pairs_or_classes(tax):
    bare = {"n_items": 0, "macro_f1": 0.0, "per_class": [], "level_macro_f1": {}}
    assert report.per_class_table(bare).empty
    assert report.confused_pairs(tax, bare).empty
    assert report.merge_hints(tax, bare).empty
    assert report.default_subtree(tax, bare) is None
    cm = report.confusion_matrix(tax, bare, "A > S")
    assert list(cm.index) == ["K", "L", "W"] and cm.to_numpy().sum() == 0
    head = report.headline_table({"splits": {"test": bare}})
    assert list(head.index) == ["test"] and np.isnan(head.loc["test", "micro-F1"])
    assert report.label_distribution({"splits": {}}).empty


def test_batch_download_neutralises_spreadsheet_formulas():
    import pandas as pd

    from prodemb.ui import batch_output

    frame = pd.DataFrame({"title": ["=HYPERLINK(\"http://x\")", "šál", "-2+3", "@SUM(A1)"]})
    preds = pd.DataFrame({"category": ["A", "B", "C", "D"], "score": [0.9, 0.8, 0.7, 0.6],
                          "all_paths": ["A (0.90)", "B", "C", "D"],
                          "status": ["ok"] * 4, "confidence": [0.9] * 4,
                          "flags": ["", "", "", "low_confidence"]})
    out = batch_output(frame, preds)
    assert out["title"].tolist() == ["'=HYPERLINK(\"http://x\")", "šál", "'-2+3", "'@SUM(A1)"]
    assert out["predicted_score"].tolist() == [0.9, 0.8, 0.7, 0.6]


def test_coverage_note_says_what_is_shown_and_searched():
    from prodemb.report import coverage_note

    c = {"catalogue": 300_000, "in_bundle": 60_000, "labelled": 50_000,
         "unlabelled_sample": 10_000, "indexed": None}
    assert coverage_note(c) == ("60,000 of the catalogue's 300,000 products: all 50,000 "
                                "labelled and a random 10,000 of the 250,000 unlabelled.")
    searched = coverage_note(c, search=True)
    assert searched.startswith("Searching 60,000 of the catalogue's 300,000") and "prodemb index" in searched
    assert coverage_note({**c, "indexed": 300_000}, search=True) == \
        "Searching all 300,000 products of the catalogue (its ANN index)."
    assert "the catalogue read at training held 300,000" in coverage_note({**c, "indexed": 1_000},
                                                                           search=True)
    whole = {**c, "catalogue": 60_000}
    assert coverage_note(whole) == "All 60,000 products of the catalogue."
    assert coverage_note(whole, search=True) == "Searching all 60,000 products of the catalogue."
    # An older manifest without the counts: no claim about the catalogue.
    assert coverage_note({"catalogue": None, "in_bundle": 500}) == "All 500 products of the catalogue."
