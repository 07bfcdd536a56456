import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from prodemb.metrics import evaluate, macro_f1, micro_prf, per_label_prf
from prodemb.split import group_ids, split_report, stratified_split
from prodemb.taxonomy import Taxonomy


def random_multilabel(seed, n=400, labels=12):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, labels)) < rng.random(labels) * 0.3).astype(np.uint8)
    y_true[:, -1] = 0  # a label without support
    y_pred = np.where(rng.random((n, labels)) < 0.2, 1 - y_true, y_true).astype(np.uint8)
    return y_true, y_pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_agree_with_sklearn(seed):
    y_true, y_pred = random_multilabel(seed)
    present = np.flatnonzero(y_true.sum(axis=0) > 0)
    assert macro_f1(y_true, y_pred) == pytest.approx(
        f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    assert micro_prf(y_true, y_pred)[2] == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    p, r, f, s = per_label_prf(y_true, y_pred)
    sp, sr, sf, ss = precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    np.testing.assert_allclose(p, sp)
    np.testing.assert_allclose(r, sr)
    np.testing.assert_allclose(f, sf)
    np.testing.assert_array_equal(s, ss)


def test_evaluate_levels_leaves_and_confusion():
    tax = Taxonomy.from_paths([("A", "x"), ("A", "y"), ("B", "z")])
    paths = [[("A", "x")], [("A", "y")], [("B", "z")], [("A", "x")]]
    preds = [[("A", "x")], [("A", "x")], [("B", "z")], [("A", "y")]]
    r = evaluate(tax, tax.binarize(paths), tax.binarize(preds))
    assert r["level_macro_f1"]["1"] == pytest.approx(1.0)
    assert r["leaf_macro_f1"] == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    pair = r["most_confused"][0]
    assert {pair["a"], pair["b"]} == {"A > x", "A > y"} and pair["total"] == 2
    counts = {(t, p): n for t, p, n in r["confusion"]}
    x, y = tax.index(("A", "x")), tax.index(("A", "y"))
    assert counts[(x, y)] == 1 and counts[(y, x)] == 1 and counts[(x, x)] == 1
    assert r["hierarchical"]["f1"] == pytest.approx(r["micro_f1"])


def test_perfect_and_empty_predictions():
    tax = Taxonomy.from_paths([("A", "x"), ("B", "z")])
    y = tax.binarize([[("A", "x")], [("B", "z")]])
    assert evaluate(tax, y, y)["macro_f1"] == 1.0
    assert evaluate(tax, y, np.zeros_like(y))["macro_f1"] == 0.0


def make_labels(seed=0, n=3000, labels=30):
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(1, labels + 1)
    y = (rng.random((n, labels)) < freq * 0.4).astype(np.uint8)
    y[:12, -1] = 1  # a rare label with 12 examples
    y[12:, -1] = 0
    return y


def test_split_proportions_and_rare_labels_in_train():
    y = make_labels()
    split = stratified_split(y, proportions=(0.8, 0.1, 0.1), seed=0)
    counts = np.bincount(split, minlength=3) / len(y)
    np.testing.assert_allclose(counts, [0.8, 0.1, 0.1], atol=0.02)
    rep = split_report(y, split)
    assert rep["labels_missing_from_train"] == 0
    assert rep["max_proportion_gap_common_labels"] < 0.03
    # every label keeps roughly its share in train
    for label in range(y.shape[1]):
        total = y[:, label].sum()
        if total >= 50:
            assert y[split == 0, label].sum() / total == pytest.approx(0.8, abs=0.05)


def test_identical_texts_never_straddle_splits():
    rng = np.random.default_rng(1)
    texts = [f"title {rng.integers(0, 700)}" for _ in range(3000)]
    y = make_labels(1)
    groups = group_ids(texts)
    split = stratified_split(y, groups, seed=3)
    by_text = {}
    for t, s in zip(texts, split):
        by_text.setdefault(t, set()).add(int(s))
    assert all(len(s) == 1 for s in by_text.values())


def test_split_is_deterministic_for_a_seed():
    y = make_labels()
    a = stratified_split(y, seed=5)
    assert (a == stratified_split(y, seed=5)).all()
    assert (a != stratified_split(y, seed=6)).any()


def test_split_rejects_bad_proportions():
    with pytest.raises(ValueError):
        stratified_split(make_labels(), proportions=(0.8, 0.3, 0.1))
