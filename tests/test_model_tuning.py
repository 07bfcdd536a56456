"""The mixing weights chosen after training and the mechanics around them: predict_logits /
combine, tune_mix and tune_leaf_mixing, prune_wide, the leaf macro-F1 that picks the kept
epoch, keep / patience, repeat-factor sampling and Word2Vec's passes over a small corpus.

Every fit here is tiny (about 160 training products, hidden sizes of 8, a few epochs) and
seeded; the models are fitted once per module and copied before a test changes them.
"""

from __future__ import annotations

import copy
import math
from collections import Counter

import numpy as np
import pytest
import scipy.special
import torch
from test_wide_path import rare_leaf_data, small_config

import prodemb.classifier as classifier_module
import prodemb.pipeline as pipeline
from prodemb.classifier import (
    Classifier,
    leaf_argmax_macro_f1,
    prune_wide,
    repeat_factors,
)
from prodemb.config import ClassifierConfig, TrainConfig
from prodemb.decoding import TreeDecoder
from prodemb.metrics import macro_f1
from prodemb.taxonomy import Taxonomy

pytestmark = pytest.mark.filterwarnings(
    # torch's Adagrad on sparse gradients says this once per process; harmless here.
    "ignore:Sparse invariant checks are implicitly disabled:UserWarning")


def tiny_config(**changes) -> ClassifierConfig:
    """small_config made smaller, with the settings these tests depend on pinned."""
    settings = dict(lstm_hidden=8, embedding_dim=8, subword_buckets=0, epochs=3, min_steps=0,
                    wide_learning_rate=1.0, leaf_logit_adjust=1.0, repeat_threshold=0.0,
                    keep="last", patience=0, wide_prune=0.0, average_epochs=0.0)
    settings.update(changes)
    return small_config(**settings)


@pytest.fixture(scope="module")
def data():
    # 4 common leaves of 40 products, 3 rare leaves (1, 2, 1); 43 validation products.
    return rare_leaf_data(0, n_common=40)


@pytest.fixture(scope="module")
def fits(data):
    """Fitted classifiers: "deep" (leaf head, no wide path), "wide" (leaf head and a wide
    path with node and leaf pairs) and "flat" (wide path, no taxonomy, so no leaf head)."""
    tax, tr, ytr, va, yva = data
    out = {}
    out["deep"] = Classifier(tiny_config(wide=False), seed=0).fit(
        tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    out["wide"] = Classifier(tiny_config(wide=True, wide_max_nodes=4), seed=0).fit(
        tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    out["flat"] = Classifier(tiny_config(wide=True), seed=0).fit(
        tr, ytr, va, yva, show_progress=False)
    assert out["deep"].model.wide_weight is None and out["deep"].model.leaf_out is not None
    assert out["wide"].model.wide_weight is not None and out["wide"].model.leaf_out is not None
    assert out["flat"].model.wide_weight is not None and out["flat"].model.leaf_out is None
    return out


def clone(clf: Classifier) -> Classifier:
    """A copy whose model config can be changed without touching the module's fits."""
    return copy.deepcopy(clf)


def set_weights(clf: Classifier, wide_mix: float, leaf_prior_weight: float,
                sigmoid_weight: float) -> None:
    c = clf.model.config
    c.wide_mix, c.leaf_prior_weight, c.sigmoid_weight = wide_mix, leaf_prior_weight, sigmoid_weight


def softmax(z: np.ndarray) -> np.ndarray:
    return scipy.special.softmax(np.asarray(z, dtype=np.float64), axis=1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return scipy.special.expit(np.asarray(z, dtype=np.float64))


def mixed_texts(va):
    """Texts of many lengths in no particular order, an empty one and unseen words."""
    return ([va[5], ["clutch"], [], va[0] + va[1] + va[2], ["yellow", "bandana", "cotton"],
             ["unseen", "words", "only"]] + va[10:20] + [va[3][:2], va[4] * 3])


# ---------------------------------------------------------------------- 1. predict_logits + combine
WEIGHT_GRID = [(wm, lp, sw) for wm in (0.0, 0.3, 1.0) for lp in (0.0, 0.5, 1.0)
               for sw in (0.0, 0.25, 1.0)]


@pytest.mark.parametrize("kind", ["deep", "wide", "flat"])
def test_predict_logits_and_combine_reproduce_predict_proba(fits, data, kind):
    _, _, _, va, _ = data
    clf = clone(fits[kind])
    texts = mixed_texts(va)
    parts = clf.predict_logits(texts)
    m = clf.model.config
    assert parts[0].shape == (len(texts), m.n_labels)
    assert (parts[1] is None) == (kind == "flat")
    assert (parts[2] is None) == (kind != "wide")
    for p in parts[1:]:
        if p is not None:
            assert p.shape == (len(texts), m.n_leaves)
    seen = {}
    for weights in WEIGHT_GRID:
        set_weights(clf, *weights)
        probs = clf.predict_proba(texts)
        np.testing.assert_allclose(clf.combine(parts), probs, rtol=0, atol=1e-6,
                                   err_msg=str(weights))
        seen[weights] = probs
    # Not vacuous: the weights that apply to the model change its probabilities.
    if kind != "flat":
        assert not np.allclose(seen[(0.0, 0.0, 0.0)], seen[(0.0, 0.0, 1.0)], atol=1e-4)
        assert not np.allclose(seen[(0.0, 0.0, 0.0)], seen[(0.0, 1.0, 0.0)], atol=1e-4)
    if kind == "wide":
        assert not np.allclose(seen[(0.0, 0.0, 0.0)], seen[(1.0, 0.0, 0.0)], atol=1e-4)
    if kind == "flat":  # sigmoids only: nothing to mix
        for probs in seen.values():
            np.testing.assert_array_equal(probs, seen[(0.0, 0.0, 0.0)])


@pytest.mark.parametrize("kind", ["deep", "wide", "flat"])
def test_predict_logits_keep_the_order_of_the_texts(fits, data, kind):
    _, _, _, va, _ = data
    clf = clone(fits[kind])
    set_weights(clf, 0.3, 0.5, 0.25)
    texts = mixed_texts(va)
    assert len({len(t) for t in texts}) >= 5
    # Several batches, each sorted by length inside predict_logits.
    parts = clf.predict_logits(texts, batch_size=4)
    one_by_one = [clf.predict_logits([t]) for t in texts]
    for k, part in enumerate(parts):
        if part is None:
            assert all(single[k] is None for single in one_by_one)
            continue
        want = np.concatenate([single[k] for single in one_by_one])
        np.testing.assert_allclose(part, want, rtol=0, atol=1e-5, err_msg=f"part {k}")
    probs = clf.predict_proba(texts)
    np.testing.assert_allclose(clf.combine(parts), probs, rtol=0, atol=1e-5)
    singles = np.concatenate([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(probs, singles, rtol=0, atol=1e-5)
    # The rows do differ from text to text (a shuffled result would be seen).
    assert len({tuple(np.round(row, 4)) for row in probs}) > len(texts) // 2


# ---------------------------------------------------------------------- 2. ProductClassifier.combine
def leaf_columns(probs: np.ndarray, tax: Taxonomy) -> np.ndarray:
    """With sigmoid_weight 0 the leaves' node probabilities are the leaf distribution."""
    return np.asarray(probs, dtype=np.float64)[:, tax.leaves]


@pytest.mark.parametrize("kind", ["deep", "wide"])
def test_leaf_prior_weight_one_puts_the_whole_log_prior_back(fits, data, kind):
    tax, _, ytr, va, _ = data
    clf = clone(fits[kind])
    assert clf.config.leaf_logit_adjust == 1.0
    # the prior the model holds: add-one smoothed leaf shares of the training products
    # (stored as float16, like every float of a bundle)
    counts = ytr[:, tax.leaves].sum(axis=0)
    log_prior = clf.model.leaf_log_prior.numpy().astype(np.float64)
    smoothed = np.log((counts + 1) / (counts.sum() + len(counts)))
    np.testing.assert_array_equal(log_prior, smoothed.astype(np.float32).astype(np.float16))
    parts = clf.predict_logits(va)
    by_weight = {}
    for weight in (0.0, 0.5, 1.0):
        set_weights(clf, 0.0, weight, 0.0)
        got = leaf_columns(clf.combine(parts), tax)
        np.testing.assert_allclose(got, softmax(parts[1] + weight * log_prior), atol=1e-6)
        np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
        by_weight[weight] = got
    # The prior moves probability from the rare leaves to the common ones.
    rare = [tax.leaves.index(i) for i in np.flatnonzero(ytr.sum(axis=0) <= 2) if i in tax.leaves]
    assert len(rare) == 3
    assert by_weight[1.0][:, rare].mean() < by_weight[0.5][:, rare].mean() \
        < by_weight[0.0][:, rare].mean()


def test_combine_follows_the_documented_formula(fits, data):
    tax, _, _, va, _ = data
    clf = clone(fits["wide"])
    parts = clf.predict_logits(va)
    node, deep, wide = (p.astype(np.float64) for p in parts)
    log_prior = clf.model.leaf_log_prior.numpy().astype(np.float64)
    l2n = tax.binarize([[tax.nodes[i]] for i in tax.leaves]).astype(np.float64)
    np.testing.assert_array_equal(clf.model.leaf_to_nodes.numpy(), l2n)
    for wm, lp, sw in [(0.3, 0.5, 0.25), (0.75, 1.0, 0.5), (0.0, 0.25, 0.0)]:
        set_weights(clf, wm, lp, sw)
        leaf = (1 - wm) * softmax(deep + lp * log_prior) + wm * softmax(wide + lp * log_prior)
        want = sw * sigmoid(node) + (1 - sw) * leaf @ l2n
        np.testing.assert_allclose(clf.combine(parts), want, atol=1e-5, err_msg=str((wm, lp, sw)))


def test_wide_mix_zero_ignores_the_wide_leaf_logits_and_one_uses_only_them(fits, data):
    tax, _, _, va, _ = data
    clf = clone(fits["wide"])
    node, deep, wide = clf.predict_logits(va)
    rng = np.random.default_rng(0)
    noise = rng.normal(scale=5.0, size=deep.shape).astype(np.float32)
    log_prior = clf.model.leaf_log_prior.numpy().astype(np.float64)
    for lp, sw in [(0.0, 0.0), (0.5, 0.25), (1.0, 0.0)]:
        # wide_mix 0: the wide path's leaf logits do not matter at all
        set_weights(clf, 0.0, lp, sw)
        base = clf.combine([node, deep, wide])
        np.testing.assert_array_equal(clf.combine([node, deep, noise]), base)
        np.testing.assert_allclose(clf.combine([node, deep, None]), base, atol=1e-6)
        if sw == 0.0:
            np.testing.assert_allclose(leaf_columns(base, tax), softmax(deep + lp * log_prior),
                                       atol=1e-6)
        # wide_mix 1: the BiLSTM's leaf logits do not matter; the leaf part is the wide
        # path's softmax, the node sigmoids (deep + wide node logits) keep their share
        set_weights(clf, 1.0, lp, sw)
        only_wide = clf.combine([node, deep, wide])
        np.testing.assert_array_equal(clf.combine([node, noise, wide]), only_wide)
        if sw == 0.0:
            np.testing.assert_allclose(leaf_columns(only_wide, tax),
                                       softmax(wide + lp * log_prior), atol=1e-6)
        else:
            l2n = clf.model.leaf_to_nodes.numpy().astype(np.float64)
            want = sw * sigmoid(node) + (1 - sw) * softmax(wide + lp * log_prior) @ l2n
            np.testing.assert_allclose(only_wide, want, atol=1e-5)
        # and in between both count
        set_weights(clf, 0.5, lp, sw)
        mid = clf.combine([node, deep, wide])
        assert not np.allclose(clf.combine([node, deep, noise]), mid, atol=1e-3)
        assert not np.allclose(clf.combine([node, noise, wide]), mid, atol=1e-3)


# ---------------------------------------------------------------------- 3. tune_mix, tune_leaf_mixing
def validation_f1(clf, tokens, y, tax, complete) -> float:
    probs = clf.predict_proba(tokens)
    return macro_f1(y, TreeDecoder(tax, complete).fit(probs, y).predict(probs))


TUNE_CASES = [("wide_mix", (0.0, 0.25, 0.5, 0.75, 1.0), True),
              ("wide_mix", (0.0, 0.25, 0.5, 0.75, 1.0), False),
              ("sigmoid_weight", (0.0, 0.3, 1.0), True),
              ("leaf_prior_weight", (1.0, 0.0, 0.6), True)]


@pytest.mark.parametrize(("name", "grid", "complete"), TUNE_CASES)
def test_tune_mix_picks_the_grid_value_with_the_best_validation_macro_f1(fits, data, name,
                                                                         grid, complete):
    tax, _, _, va, yva = data
    clf = clone(fits["wide"])
    set_weights(clf, 0.5, 0.0, 0.25)
    before = clf.model.config.to_dict()
    chosen = pipeline.tune_mix(clf, name, grid, va, yva, tax, complete)
    assert chosen in grid
    assert getattr(clf.model.config, name) == chosen
    # nothing else of the config changed
    assert {k: v for k, v in clf.model.config.to_dict().items() if k != name} == \
        {k: v for k, v in before.items() if k != name}
    f1 = {}
    for w in grid:
        setattr(clf.model.config, name, w)
        f1[w] = validation_f1(clf, va, yva, tax, complete)
    setattr(clf.model.config, name, chosen)
    for w in grid:
        assert f1[chosen] >= f1[w] - 1e-6, (name, chosen, f1)
    # ties keep the value closest to 0.5: every value closer to it scores lower
    for w in grid:
        if abs(w - 0.5) < abs(chosen - 0.5):
            assert f1[w] < f1[chosen], (name, chosen, f1)


def test_tune_mix_is_not_judged_on_a_flat_grid(fits, data):
    """The test above can fail: on this model the weights do change validation macro-F1."""
    tax, _, _, va, yva = data
    clf = clone(fits["wide"])
    set_weights(clf, 0.5, 0.0, 0.25)
    scores = set()
    for w in (0.0, 1.0):
        clf.model.config.sigmoid_weight = w
        scores.add(round(validation_f1(clf, va, yva, tax, True), 6))
    assert len(scores) == 2


@pytest.fixture
def tune_calls(monkeypatch):
    """The names tune_leaf_mixing hands to tune_mix (the real one still runs)."""
    calls = []
    real = pipeline.tune_mix

    def recording(clf, name, grid, *args, **kwargs):
        value = real(clf, name, grid, *args, **kwargs)
        calls.append((name, tuple(grid), value))
        return value

    monkeypatch.setattr(pipeline, "tune_mix", recording)
    return calls


def test_tune_leaf_mixing_without_a_leaf_head_returns_nothing(fits, data, tune_calls):
    tax, tr, ytr, va, yva = data
    clf = clone(fits["flat"])
    before = clf.model.config.to_dict()
    config = ClassifierConfig(leaf_prior_weight=None, wide_mix=None)
    assert pipeline.tune_leaf_mixing(clf, config, va, yva, tax, True) == {}
    # leaf_softmax off with a taxonomy: no leaf head either
    no_head = Classifier(tiny_config(wide=True, leaf_softmax=False, epochs=1), seed=0).fit(
        tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    assert no_head.model.leaf_out is None
    assert pipeline.tune_leaf_mixing(no_head, config, va, yva, tax, True) == {}
    assert tune_calls == []
    assert clf.model.config.to_dict() == before


def test_tune_leaf_mixing_tunes_both_weights_with_a_wide_path(fits, data, tune_calls):
    tax, _, _, va, yva = data
    clf = clone(fits["wide"])
    set_weights(clf, 0.123, 0.456, 0.25)  # values outside the grid
    config = ClassifierConfig(leaf_prior_weight=None, wide_mix=None)
    got = pipeline.tune_leaf_mixing(clf, config, va, yva, tax, True)
    assert set(got) == {"leaf_prior_weight", "wide_mix"}
    assert [name for name, _, _ in tune_calls] == ["leaf_prior_weight", "wide_mix"]
    assert all(grid == pipeline.MIX_WEIGHTS for _, grid, _ in tune_calls)
    for name, _, value in tune_calls:
        assert got[name] == value == getattr(clf.model.config, name)
        assert value in pipeline.MIX_WEIGHTS
    assert clf.model.config.sigmoid_weight == 0.25
    assert config.leaf_prior_weight is None and config.wide_mix is None  # the config is read only


@pytest.mark.parametrize("fixed", ["wide_mix", "leaf_prior_weight"])
def test_tune_leaf_mixing_leaves_a_configured_weight_alone(fits, data, tune_calls, fixed):
    tax, _, _, va, yva = data
    clf = clone(fits["wide"])
    set_weights(clf, 0.123, 0.456, 0.25)
    sentinel = getattr(clf.model.config, fixed)
    tuned = ({"wide_mix", "leaf_prior_weight"} - {fixed}).pop()
    config = ClassifierConfig(**{fixed: 0.9, tuned: None})
    got = pipeline.tune_leaf_mixing(clf, config, va, yva, tax, True)
    assert [name for name, _, _ in tune_calls] == [tuned]
    assert getattr(clf.model.config, fixed) == sentinel  # untouched (not even set to 0.9)
    assert got == {"wide_mix": clf.model.config.wide_mix,
                   "leaf_prior_weight": clf.model.config.leaf_prior_weight}
    assert got[fixed] == sentinel and got[tuned] in pipeline.MIX_WEIGHTS


def test_tune_leaf_mixing_without_a_wide_path_tunes_the_prior_only(fits, data, tune_calls):
    tax, _, _, va, yva = data
    clf = clone(fits["deep"])
    config = ClassifierConfig(leaf_prior_weight=None, wide_mix=None)
    got = pipeline.tune_leaf_mixing(clf, config, va, yva, tax, True)
    assert list(got) == ["leaf_prior_weight"]
    assert [name for name, _, _ in tune_calls] == ["leaf_prior_weight"]
    assert got["leaf_prior_weight"] == clf.model.config.leaf_prior_weight in pipeline.MIX_WEIGHTS


# ---------------------------------------------------------------------- 4. prune_wide
def pair_weights(model) -> dict[tuple[int, int], float]:
    """(feature, output) -> weight of every pair of the model's wide path."""
    if model.wide_weight is None:
        return {}
    feature = torch.repeat_interleave(model.wide_keys, torch.diff(model.wide_offsets))
    return {(int(f), int(o)): float(w) for f, o, w in
            zip(feature, model.wide_outputs, model.wide_weight.detach())}


def check_layout(model) -> None:
    keys, offsets = model.wide_keys.numpy(), model.wide_offsets.numpy()
    assert np.all(np.diff(keys) > 0)
    assert offsets[0] == 0 and offsets[-1] == len(model.wide_outputs) == model.config.wide_pairs
    assert np.all(np.diff(offsets) > 0), "every kept feature keeps at least one pair"
    assert len(keys) == model.config.wide_features
    assert model.wide_weight.shape == (model.config.wide_pairs,)


def with_model(clf: Classifier, model) -> Classifier:
    out = copy.copy(clf)
    out.model = model
    return out


@pytest.mark.parametrize("kind", ["wide", "flat"])
def test_prune_wide_with_zero_threshold_changes_nothing(fits, data, kind):
    _, _, _, va, _ = data
    clf = fits[kind]
    pruned = prune_wide(clf.model, 0.0)
    assert pruned.config.to_dict() == clf.model.config.to_dict()
    assert pair_weights(pruned) == pair_weights(clf.model)
    check_layout(pruned)
    texts = mixed_texts(va)
    np.testing.assert_array_equal(with_model(clf, pruned).predict_proba(texts),
                                  clf.predict_proba(texts))


@pytest.mark.parametrize("kind", ["wide", "flat"])
def test_prune_wide_at_the_median_keeps_the_larger_half(fits, data, kind):
    _, _, _, va, _ = data
    clf = fits[kind]
    before = pair_weights(clf.model)
    n_before = clf.model.config.wide_pairs
    assert len(before) == n_before > 50
    if kind == "wide":  # both kinds of outputs are pruned
        assert min(o for _, o in before) < clf.model.config.n_labels <= max(o for _, o in before)
    min_abs = float(np.median(np.abs(list(before.values()))))
    assert min_abs > 0
    pruned = prune_wide(clf.model, min_abs)
    after = pair_weights(pruned)
    check_layout(pruned)
    assert 0.4 * n_before <= len(after) <= 0.6 * n_before + 1
    assert all(abs(w) >= min_abs for w in after.values())
    # exactly the pairs at or above the threshold, with their outputs and weights
    assert after == {k: w for k, w in before.items() if abs(w) >= min_abs}
    assert pruned.config.wide_features == len({f for f, _ in after})
    # the rest of the model is the same
    a, b = clf.model.state_dict(), pruned.state_dict()
    assert {k for k in a if not k.startswith("wide")} == {k for k in b if not k.startswith("wide")}
    for k in a:
        if not k.startswith("wide"):
            assert torch.equal(a[k], b[k]), k
    # the original model is untouched
    assert pair_weights(clf.model) == before
    # the pruned model predicts as the original with the dropped weights set to 0
    zeroed = copy.deepcopy(clf.model)
    with torch.no_grad():
        zeroed.wide_weight[zeroed.wide_weight.abs() < min_abs] = 0.0
    texts = mixed_texts(va)
    got = with_model(clf, pruned).predict_proba(texts)
    np.testing.assert_allclose(got, with_model(clf, zeroed).predict_proba(texts), atol=1e-6)
    assert not np.array_equal(got, clf.predict_proba(texts))


def test_wide_prune_is_applied_during_fit(fits, data):
    tax, tr, ytr, va, yva = data
    plain = fits["wide"]
    weights = pair_weights(plain.model)
    # a threshold near the median, in a gap between weights (the fit prunes before the
    # float16 rounding, so a weight just at the threshold could go either way)
    size = np.unique(np.abs(list(weights.values())))
    mid = len(size) // 2
    i = mid + int(np.argmax(size[mid + 1:] / size[mid:-1] > 1.01))
    assert size[i + 1] / size[i] > 1.01
    min_abs = float((size[i] + size[i + 1]) / 2)
    cfg = copy.deepcopy(plain.config)
    assert cfg.wide_prune == 0.0
    cfg.wide_prune = min_abs
    pruned = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    def scores(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]

    assert scores(pruned.history) == scores(plain.history)  # the same training ...
    assert pruned.model.config.wide_pairs < plain.model.config.wide_pairs  # ... then pruned
    check_layout(pruned.model)
    assert pair_weights(pruned.model) == {k: w for k, w in weights.items() if abs(w) >= min_abs}
    texts = mixed_texts(va)
    np.testing.assert_allclose(pruned.predict_proba(texts),
                               with_model(plain, prune_wide(plain.model, min_abs))
                               .predict_proba(texts), atol=1e-6)


# ---------------------------------------------------------------------- 5. leaf_argmax_macro_f1
# Nodes: 0 A, 1 A>a1, 2 A>a2, 3 B, 4 B>b1, 5 B>b2 (no product of b2 below)
LEAVES = [1, 2, 4, 5]


def hand_made():
    y = np.zeros((7, 6), dtype=np.uint8)
    probs = np.zeros((7, 6), dtype=np.float32)
    probs[:, [0, 3]] = 0.99  # inner nodes: never counted, however probable
    rows = [  # true nodes, leaf probabilities (a1, a2, b1, b2)
        ([0, 1], [0.6, 0.3, 0.05, 0.05]),   # a1 -> a1
        ([0, 1], [0.2, 0.7, 0.05, 0.05]),   # a1 -> a2
        ([0, 2], [0.1, 0.8, 0.05, 0.05]),   # a2 -> a2
        ([3, 4], [0.1, 0.1, 0.7, 0.1]),     # b1 -> b1
        ([3, 4], [0.1, 0.1, 0.6, 0.2]),     # b1 -> b1
        ([3, 4], [0.1, 0.1, 0.2, 0.6]),     # b1 -> b2
        ([0], [0.9, 0.05, 0.03, 0.02]),     # path stops at A: left out (else an a1 false positive)
    ]
    for i, (nodes, leaf_probs) in enumerate(rows):
        y[i, nodes] = 1
        probs[i, LEAVES] = leaf_probs
    return probs, y


def test_leaf_argmax_macro_f1_on_a_hand_made_example():
    probs, y = hand_made()
    # a1: tp 1, fn 1 -> 2/3; a2: tp 1, fp 1 -> 2/3; b1: tp 2, fn 1 -> 4/5; b2 (no true
    # product) is not averaged.
    want = (2 / 3 + 2 / 3 + 4 / 5) / 3
    assert leaf_argmax_macro_f1(probs, y, LEAVES) == pytest.approx(want, abs=1e-12)
    # the order of the leaf ids does not matter
    assert leaf_argmax_macro_f1(probs, y, [5, 4, 2, 1]) == pytest.approx(want, abs=1e-12)
    # the product whose path stops above the leaves is really left out: alone it gives 0,
    # and as an a1 product it would change the score
    assert leaf_argmax_macro_f1(probs[6:], y[6:], LEAVES) == 0.0
    assert leaf_argmax_macro_f1(probs[:6], y[:6], LEAVES) == pytest.approx(want, abs=1e-12)
    counted = y.copy()
    counted[6, 1] = 1  # now an a1 product, predicted a1: a1 has tp 2, fn 1 -> 4/5
    assert leaf_argmax_macro_f1(probs, counted, LEAVES) == pytest.approx(
        (4 / 5 + 2 / 3 + 4 / 5) / 3, abs=1e-12)
    # all right: 1
    perfect = probs.copy()
    perfect[:6, LEAVES] = y[:6, LEAVES]
    assert leaf_argmax_macro_f1(perfect, y, LEAVES) == 1.0


# ---------------------------------------------------------------------- 6. keep and patience
def scripted_fit(monkeypatch, data, scores, on_epoch=None, **changes):
    """A fit whose validation leaf macro-F1 per epoch is ``scores`` (scripted)."""
    tax, tr, ytr, va, yva = data
    it = iter(scores)
    monkeypatch.setattr(classifier_module, "leaf_argmax_macro_f1", lambda *a: next(it))
    cfg = tiny_config(**{"epochs": len(scores), **changes})
    return Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False,
                                       on_epoch=on_epoch)


def state_recorder():
    states = []

    def record(epoch, clf):
        assert epoch == len(states) + 1
        states.append(copy.deepcopy(clf.model.state_dict()))

    return states, record


def assert_kept(clf, states, epoch):
    """The fitted weights are those validated after ``epoch`` (as stored: float16)."""
    final = clf.model.state_dict()
    for k, v in states[epoch - 1].items():
        want = v.half().float() if v.is_floating_point() else v
        assert torch.equal(final[k], want), k


KEEP_CASES = [
    ([0.5, 0.7, 0.6, 0.7, 0.4], 4),   # ties: the later epoch
    ([0.9, 0.1, 0.2, 0.3, 0.4], 1),
    ([0.1, 0.2, 0.3, 0.4, 0.5], 5),
    ([0.3, 0.3, 0.3, 0.3, 0.3], 5),
]


@pytest.mark.parametrize(("scores", "best"), KEEP_CASES)
@pytest.mark.parametrize("average_epochs", [0.0, 1.0])
def test_keep_best_keeps_the_epoch_with_the_best_validation_score(monkeypatch, data, scores,
                                                                   best, average_epochs):
    states, record = state_recorder()
    clf = scripted_fit(monkeypatch, data, scores, record, keep="best",
                       average_epochs=average_epochs)
    assert [h["val_leaf_macro_f1"] for h in clf.history] == scores
    assert len(clf.history) == len(scores)
    top = max(h["val_leaf_macro_f1"] for h in clf.history)
    assert clf.kept_epoch == max(h["epoch"] for h in clf.history if h["val_leaf_macro_f1"] == top)
    assert clf.kept_epoch == best
    assert_kept(clf, states, best)
    if best != len(scores):  # and so not the last epoch's weights
        last = states[-1]
        assert any(not torch.equal(clf.model.state_dict()[k], last[k].half().float())
                   for k in last if last[k].is_floating_point())


@pytest.mark.parametrize("scores", [s for s, _ in KEEP_CASES])
def test_keep_last_keeps_the_last_epoch(monkeypatch, data, scores):
    states, record = state_recorder()
    clf = scripted_fit(monkeypatch, data, scores, record, keep="last")
    assert clf.kept_epoch == len(clf.history) == len(scores)
    assert_kept(clf, states, len(scores))


def test_keep_best_on_real_scores_agrees_with_the_history(data):
    tax, tr, ytr, va, yva = data
    rng = np.random.default_rng(1)
    # random validation labels: the score moves without a trend
    y_random = tax.binarize([[tax.nodes[int(rng.choice(tax.leaves))]] for _ in va])
    clf = Classifier(tiny_config(epochs=6, keep="best"), seed=0).fit(
        tr, ytr, va, y_random, taxonomy=tax, show_progress=False)
    scores = [h["val_leaf_macro_f1"] for h in clf.history]
    assert len(scores) == 6
    assert clf.kept_epoch == max(e for e, s in enumerate(scores, 1) if s == max(scores))


def test_unknown_keep_raises(data):
    tax, tr, ytr, va, yva = data
    with pytest.raises(ValueError, match="keep"):
        Classifier(tiny_config(keep="average"), seed=0).fit(tr, ytr, va, yva, taxonomy=tax,
                                                             show_progress=False)


def test_patience_stops_when_validation_cannot_improve(data):
    tax, tr, ytr, va, yva = data
    # Validation products whose paths stop above the leaves: the leaf score is 0 after
    # every epoch, it never improves.
    y_top = yva.copy()
    y_top[:, tax.leaves] = 0
    runs = {}
    for patience in (0, 2):
        cfg = tiny_config(epochs=7, keep="best", patience=patience)
        runs[patience] = Classifier(cfg, seed=0).fit(tr, ytr, va, y_top, taxonomy=tax,
                                                     show_progress=False)
    assert [h["val_leaf_macro_f1"] for h in runs[2].history] == [0.0] * 3
    assert len(runs[2].history) == 3  # epoch 1 sets the best, 2 and 3 do not beat it
    assert runs[2].kept_epoch == 3    # ties: the later epoch
    assert len(runs[0].history) == 7  # 0: no early stopping
    assert runs[0].kept_epoch == 7


@pytest.mark.parametrize(("scores", "patience", "trained"), [
    ([0.5, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9, 0.9], 2, 4),
    ([0.5, 0.5, 0.6, 0.6, 0.6, 0.9, 0.9, 0.9], 2, 5),        # an improvement resets the count
    ([0.5, 0.50005, 0.50009, 0.9, 0.9, 0.9, 0.9, 0.9], 2, 3),  # +5e-5 is no improvement
    ([0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0], 3, 4),
    ([0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0], 0, 8),
])
def test_patience_counts_epochs_without_a_better_score(monkeypatch, data, scores, patience,
                                                        trained):
    clf = scripted_fit(monkeypatch, data, scores, keep="best", patience=patience)
    assert len(clf.history) == trained
    kept = clf.history[clf.kept_epoch - 1]["val_leaf_macro_f1"]
    assert kept == max(scores[:trained])


# ---------------------------------------------------------------------- 7. repeat_threshold
def repeat_data():
    """Leaves of 60, 60, 5 and 1 training products; each leaf's texts have their own length
    (3, 3, 5 and 7 tokens), so the length of a text tells its leaf."""
    rng = np.random.default_rng(0)
    spec = [(("A", "a"), 60, 3, "alpha"), (("A", "b"), 60, 3, "beta"),
            (("B", "d"), 5, 5, "delta"), (("B", "c"), 1, 7, "gamma")]
    tokens, paths = [], []
    for path, n, length, word in spec:
        for _ in range(n):
            tokens.append([word] + [str(w) for w in rng.choice(["x", "y", "z"], length - 1)])
            paths.append([path])
    tax = Taxonomy.from_paths([p for ps in paths for p in ps])
    val = [0, 60, 120, 125]
    return tax, tokens, tax.binarize(paths), [tokens[i] for i in val], tax.binarize(
        [paths[i] for i in val])


@pytest.fixture
def epochs_seen(monkeypatch):
    """The lengths of the items and the batches of every epoch (one optimiser step each)."""
    seen = []
    real = classifier_module.length_buckets

    def recording(lengths, batch_size, rng, *args, **kwargs):
        batches = real(lengths, batch_size, rng, *args, **kwargs)
        seen.append((np.array(lengths), batches))
        return batches

    monkeypatch.setattr(classifier_module, "length_buckets", recording)
    return seen


def test_repeat_threshold_repeats_the_rare_leaves_products(epochs_seen):
    tax, tr, ytr, va, yva = repeat_data()
    cfg = tiny_config(wide=False, epochs=4, repeat_threshold=20.0, batch_size=32)
    clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    assert len(epochs_seen) == len(clf.history) == 4
    one = math.sqrt(20 / 1)  # the one-product leaf: sqrt(20 / 1) = 4.47 times per epoch
    for lengths, batches in epochs_seen:
        count = Counter(lengths.tolist())
        assert count[3] == 120                     # common leaves: once
        assert count[5] == 5 * 2                   # 5 products: sqrt(20 / 5) = 2 times
        assert count[7] in (math.floor(one), math.ceil(one))
        assert len(batches) == math.ceil(len(lengths) / 32)
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))


def test_repeat_threshold_zero_is_one_pass(epochs_seen):
    tax, tr, ytr, va, yva = repeat_data()
    cfg = tiny_config(wide=False, epochs=3, repeat_threshold=0.0, batch_size=32)
    Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    assert len(epochs_seen) == 3
    for lengths, batches in epochs_seen:
        np.testing.assert_array_equal(lengths, [len(t) for t in tr])  # every product once
        assert len(batches) == math.ceil(len(tr) / 32) == 4
        assert sorted(np.concatenate(batches).tolist()) == list(range(len(tr)))


@pytest.mark.parametrize(("threshold", "steps_per_epoch", "epochs"), [
    (20.0, 5, 4),  # round(120 + 10 + 4.47) = 134 items: 5 steps; ceil(20 / 5) = 4 epochs
    (0.0, 4, 5),   # 126 items: 4 steps; ceil(20 / 4) = 5 epochs
])
def test_min_steps_plan_uses_the_repeated_epoch_length(epochs_seen, threshold, steps_per_epoch,
                                                       epochs):
    tax, tr, ytr, va, yva = repeat_data()
    expected = max(1, math.ceil(round(repeat_factors(ytr, threshold).sum()) / 32))
    assert expected == steps_per_epoch
    cfg = tiny_config(wide=False, epochs=1, min_steps=20, max_epochs=100,
                      repeat_threshold=threshold, batch_size=32)
    clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    assert len(clf.history) == epochs == math.ceil(20 / steps_per_epoch)
    steps = [len(batches) for _, batches in epochs_seen]
    assert all(s in (steps_per_epoch, steps_per_epoch + 1) for s in steps), steps
    assert sum(steps) >= 20


# ---------------------------------------------------------------------- 8. word2vec_on_tokens
@pytest.fixture
def w2v_calls(monkeypatch):
    calls = []

    def fake(corpus_file, config, seed=0, show_progress=True):
        with open(corpus_file, encoding="ascii") as f:
            calls.append({"config": config, "seed": seed, "lines": f.read().splitlines()})
        return "vectors"

    monkeypatch.setattr(pipeline, "train_word2vec", fake)
    return calls


W2V_TOKENS = [["red", "knit", "wool", "scarf"]] * 10 + [[]]  # 40 tokens, one empty text


@pytest.mark.parametrize(("min_tokens", "epochs", "passes"), [
    (1000, 5, 25),       # 1000 / 40
    (1001, 5, 26),       # rounded up
    (40, 5, 5),          # the corpus is big enough: `epochs`
    (100, 5, 5),         # 3 passes would do: never fewer than `epochs`
    (10 ** 7, 5, 50),    # capped at 50
    (10 ** 7, 60, 60),   # the cap does not lower `epochs`
    (0, 5, 5),           # 0: always `epochs`
    (0, 7, 7),
])
def test_word2vec_passes_grow_for_a_small_corpus(w2v_calls, min_tokens, epochs, passes):
    config = TrainConfig(seed=7)
    config.word2vec.min_corpus_tokens = min_tokens
    config.word2vec.epochs = epochs
    original = copy.deepcopy(config.word2vec)
    assert pipeline.word2vec_on_tokens(W2V_TOKENS, config, show_progress=False) == "vectors"
    (call,) = w2v_calls
    assert call["config"].epochs == passes
    # only the number of passes differs, and the caller's config is not changed
    assert {k: v for k, v in vars(call["config"]).items() if k != "epochs"} == \
        {k: v for k, v in vars(original).items() if k != "epochs"}
    assert config.word2vec == original
    assert call["seed"] == 7
    assert call["lines"] == ["red knit wool scarf"] * 10  # the empty text is not written


def test_word2vec_on_an_empty_corpus_keeps_epochs(w2v_calls):
    config = TrainConfig()
    config.word2vec.min_corpus_tokens = 1000
    pipeline.word2vec_on_tokens([[], []], config, show_progress=False)
    assert w2v_calls[0]["config"].epochs == config.word2vec.epochs


def test_word2vec_runs_go_side_by_side_and_share_the_workers(monkeypatch, tmp_path):
    """An ensemble's Word2Vec runs (one per network) train at once, in threads, on one
    corpus file; the cores are split between them and the results keep the seeds' order
    even when a later run ends first."""
    import threading
    import time

    calls, both_running = [], threading.Barrier(2, timeout=10)

    def fake(corpus_file, config, seed=0, show_progress=True, desc=""):
        calls.append({"corpus": corpus_file, "workers": config.workers, "seed": seed, "desc": desc})
        both_running.wait()  # deadlocks (BrokenBarrierError) if the runs went one after the other
        time.sleep(0.2 if seed == 7 else 0)
        return f"vectors {seed}"

    monkeypatch.setattr(pipeline, "train_word2vec", fake)
    monkeypatch.setattr(pipeline, "available_cores", lambda: 4)
    config = TrainConfig(seed=7)
    out = pipeline.word2vec_runs(W2V_TOKENS, config, [7, 1007], show_progress=False,
                                 workdir=str(tmp_path / "w2v"))
    assert out == ["vectors 7", "vectors 1007"]
    assert {c["workers"] for c in calls} == {2}  # 4 cores for 2 runs
    assert len({c["corpus"] for c in calls}) == 1  # the corpus is written once
    assert {c["desc"] for c in calls} == {"word2vec run 1 of 2, epochs", "word2vec run 2 of 2, epochs"}
    assert not (tmp_path / "w2v").exists()
    assert config.word2vec.workers == 0  # the caller's config is not changed


def test_a_failed_word2vec_run_fails_the_training(monkeypatch, tmp_path):
    def fake(corpus_file, config, seed=0, show_progress=True, desc=""):
        if seed == 1000:
            raise MemoryError("run 2")
        return "vectors"

    monkeypatch.setattr(pipeline, "train_word2vec", fake)
    with pytest.raises(MemoryError, match="run 2"):
        pipeline.word2vec_runs(W2V_TOKENS, TrainConfig(), [0, 1000], show_progress=False,
                               workdir=str(tmp_path / "w2v"))
    assert not (tmp_path / "w2v").exists()


def test_word2vec_runs_side_by_side_are_reproducible():
    """With one worker each (2 runs on 2 cores: the default on the reference machine) the
    runs give the same vectors as the same runs alone, one after the other: gensim's runs
    of one worker are deterministic, and the threads do not disturb each other."""
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    tokens = [list(rng.choice(words, 8)) for _ in range(400)]
    config = TrainConfig(seed=3)
    config.word2vec.vector_size, config.word2vec.epochs = 16, 3
    config.word2vec.min_corpus_tokens, config.word2vec.workers = 0, 2
    together = pipeline.word2vec_runs(tokens, config, [3, 1003], show_progress=False)
    config.word2vec.workers = 1
    alone = [pipeline.word2vec_runs(tokens, config, [s], show_progress=False)[0] for s in (3, 1003)]
    for a, b in zip(together, alone):
        assert a.words == b.words
        np.testing.assert_array_equal(a.vectors, b.vectors)
    assert not np.array_equal(together[0].vectors, together[1].vectors)


def test_a_training_is_replayed_exactly(tmp_path):
    """The same catalogue, config and seed give the same bundle, bit for bit: the
    ensemble's two Word2Vec runs go side by side with one worker each (workers = 2), and
    the networks train deterministically. Was: Word2Vec ran each run on all cores, and
    gensim's threads made every training a fresh random draw (docs/quality.md)."""
    import json

    from reliability_helpers import TINY_CONFIG

    from prodemb.demo import write_demo
    from prodemb.utils import sha256_file

    data = tmp_path / "catalogue.csv"
    write_demo(data, n_labelled=600, n_unlabelled=300, seed=3, progress=False)
    config = json.loads(TINY_CONFIG.read_text())
    config["maps"], config["review"] = {"methods": []}, {"folds": 0}
    config["classifier"]["epochs"] = 3
    config["word2vec"]["workers"] = 2
    bundles = []
    for run in ("a", "b"):
        out = tmp_path / run
        pipeline.train_bundle(str(data), str(out), None, TrainConfig.from_dict(config),
                              show_progress=False)
        bundles.append(out)
    a, b = bundles
    assert sha256_file(str(a / "classifier.safetensors")) == sha256_file(str(b / "classifier.safetensors"))
    assert sha256_file(str(a / "word_vectors.npy")) == sha256_file(str(b / "word_vectors.npy"))
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    assert ma["splits"]["test"]["leaf_macro_f1"] == mb["splits"]["test"]["leaf_macro_f1"]
