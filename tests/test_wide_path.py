"""The wide path (hashed words and word pairs into the node and leaf logits), the training
length (min_steps, max_epochs), weight averaging and the leaf logit adjustment.

Every fit here is tiny (a few hundred products, hidden sizes of 8-32) and seeded.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from prodemb.classifier import WIDE_BUCKETS, Classifier, wide_pairs
from prodemb.config import ClassifierConfig, TrainConfig
from prodemb.encoding import UNK, Batch, TokenEncoder
from prodemb.model import ModelConfig, ProductClassifier
from prodemb.taxonomy import Taxonomy

pytestmark = pytest.mark.filterwarnings(
    # torch's Adagrad on sparse gradients says this once per process; harmless here.
    "ignore:Sparse invariant checks are implicitly disabled:UserWarning")

BIG = 1 << 24


def wide_encoder(char_ngrams=(0, 0), buckets=BIG) -> TokenEncoder:
    return TokenEncoder(["knit", "scarf"], wide_buckets=buckets, wide_char_ngrams=char_ngrams)


def small_config(**changes) -> ClassifierConfig:
    """A tiny, explicit config: every setting the tests depend on is pinned here, so a
    change of a default elsewhere does not change what these tests exercise."""
    settings = dict(members=1, lstm_hidden=32, embedding_dim=32, subword_buckets=4096, dropout=0.3,
                    batch_size=32, learning_rate=0.01, epochs=4, min_steps=0, max_epochs=100,
                    average_epochs=0.0, patience=100, leaf_softmax=True, leaf_weight="none",
                    leaf_logit_adjust=0.0, sigmoid_weight=0.25, pos_weight="sqrt_inverse",
                    wide=False, wide_learning_rate=0.1, wide_char_ngrams=(0, 0),
                    wide_max_leaves=8, wide_mix=0.5, threads=1)
    settings.update(changes)
    return ClassifierConfig(**settings)


# ---------------------------------------------------------------------- features
def test_wide_features_are_distinct_sorted_ids_in_range():
    enc = wide_encoder((2, 5), buckets=1000)
    tokens = ["red", "knit", "scarf", "knit", "scarf", "red"]
    feats = enc.wide_features(tokens)
    assert feats == sorted(set(feats)), "sorted and distinct"
    assert all(isinstance(f, int) and 0 <= f < 1000 for f in feats)
    big = wide_encoder((2, 5)).wide_features(tokens)
    assert big == sorted(set(big)) and all(0 <= f < BIG for f in big)
    # The same features however often a word or pair repeats.
    assert feats == enc.wide_features(tokens + ["knit", "scarf"])


def test_wide_features_hold_words_and_ordered_word_pairs():
    enc = wide_encoder()
    a, b, ab, ba = (set(enc.wide_features(t)) for t in (["a"], ["b"], ["a", "b"], ["b", "a"]))
    assert len(a) == len(b) == 1  # one word, no char n-grams configured: one feature
    assert a != b
    # ["a", "b"]: both words and the pair (a, b)
    assert a | b < ab and len(ab) == 3
    # the pair is ordered: (b, a) is another feature
    assert ab != ba and (ab - a - b) != (ba - a - b)
    assert len(enc.wide_features(["red", "knit", "scarf"])) == 3 + 2


def test_wide_char_ngrams_only_when_configured():
    plain, chars = wide_encoder(), wide_encoder((2, 5))
    assert len(plain.wide_features(["scarf"])) == 1
    # at least the 4 + 3 + 2 + 1 char n-grams of lengths 2..5 of "scarf", and the word
    assert len(chars.wide_features(["scarf"])) >= 11
    # A misspelt word shares char n-grams (and so wide features) with the right one only
    # when they are configured.
    assert set(chars.wide_features(["scarf"])) & set(chars.wide_features(["scarff"]))
    assert not set(plain.wide_features(["scarf"])) & set(plain.wide_features(["scarff"]))
    # The word feature itself does not depend on the char n-gram setting.
    assert set(plain.wide_features(["scarf"])) <= set(chars.wide_features(["scarf"]))


def test_empty_text_placeholder_has_no_wide_features():
    for enc in (wide_encoder(), wide_encoder((2, 5))):
        assert enc.wide_features([UNK]) == []
        assert enc.wide_features([]) == []


def test_encode_fills_unit_norm_wide_features_per_item():
    enc = wide_encoder((2, 4))
    texts = [["red", "knit", "scarf"], [], ["scarf"], ["knit", "knit", "zzz"]]
    batch = enc.encode(texts)
    ids, items, values = batch.wide_ids.numpy(), batch.wide_items.numpy(), batch.wide_values.numpy()
    assert ids.dtype == np.int64 and items.dtype == np.int64
    assert len(ids) == len(items) == len(values)
    for i, toks in enumerate(texts):
        mine = items == i
        assert sorted(ids[mine].tolist()) == enc.wide_features(toks)
        if enc.wide_features(toks):
            assert np.linalg.norm(values[mine]) == pytest.approx(1.0, abs=1e-6)
            assert np.allclose(values[mine], values[mine][0])  # every feature counts the same
    assert not (items == 1).any()  # the empty text has no wide features


def test_encode_without_wide_buckets_leaves_wide_fields_empty():
    batch = TokenEncoder(["knit"], subword_buckets=64).encode([["red", "knit"], ["scarf"]])
    assert batch.wide_ids.numel() == batch.wide_items.numel() == batch.wide_values.numel() == 0


# ---------------------------------------------------------------------- pairs
def pair_set(keys, offsets, outputs) -> set[tuple[int, int]]:
    return {(int(keys[u]), int(o)) for u in range(len(keys))
            for o in outputs[offsets[u]:offsets[u + 1]]}


def check_pair_layout(keys, offsets, outputs, n_out):
    assert keys.dtype == offsets.dtype == outputs.dtype == np.int64
    assert np.all(np.diff(keys) > 0), "keys sorted and unique"
    assert len(offsets) == len(keys) + 1
    assert offsets[0] == 0 and offsets[-1] == len(outputs)
    assert np.all(np.diff(offsets) > 0), "every kept feature has at least one pair"
    assert ((outputs >= 0) & (outputs < n_out)).all()
    for u in range(len(keys)):  # a feature's outputs are distinct
        mine = outputs[offsets[u]:offsets[u + 1]]
        assert len(set(mine.tolist())) == len(mine)


def test_wide_pairs_are_exactly_the_cooccurring_feature_output_pairs():
    tax = Taxonomy.from_paths([("Bags", "Tote"), ("Bags", "Clutch"), ("Scarves", "Knit"),
                               ("Scarves", "Loop")])
    tokens = [["red", "tote"], ["black", "tote", "bag"], ["red", "clutch"], ["knit", "scarf"],
              ["loop", "scarf"], ["scarf", "and", "tote"], ["red", "bag"], []]
    paths = [[("Bags", "Tote")], [("Bags", "Tote")], [("Bags", "Clutch")], [("Scarves", "Knit")],
             [("Scarves", "Loop")],
             [("Bags", "Tote"), ("Scarves", "Knit")],  # two paths: two leaves
             [("Bags",)],  # a path that stops above the leaves: no leaf output
             [("Scarves", "Loop")]]  # an empty text: no features
    y = tax.binarize(paths)
    enc = wide_encoder()
    leaves = tax.leaves
    n = tax.n_nodes
    keys, offsets, outputs = wide_pairs(enc, tokens, y, leaves, max_leaves=100)
    check_pair_layout(keys, offsets, outputs, n + len(leaves))

    expected = set()
    for toks, row in zip(tokens, y):
        for f in enc.wide_features(toks):
            for node in np.flatnonzero(row):
                expected.add((f, int(node)))
                if node in leaves:
                    expected.add((f, n + leaves.index(int(node))))  # leaves after the nodes
    assert pair_set(keys, offsets, outputs) == expected

    # spot checks in words: "red" was seen with Tote, Clutch and the bare "Bags"; never with
    # a scarf. "bag" (with Tote and the bare "Bags") has one leaf pair.
    red = enc.wide_features(["red"])[0]
    red_out = {o for f, o in expected if f == red}
    assert red_out == {tax.index(("Bags",)), tax.index(("Bags", "Tote")),
                       tax.index(("Bags", "Clutch")),
                       n + leaves.index(tax.index(("Bags", "Tote"))),
                       n + leaves.index(tax.index(("Bags", "Clutch")))}
    bag = enc.wide_features(["bag"])[0]
    assert {o for f, o in pair_set(keys, offsets, outputs) if f == bag and o >= n} == \
        {n + leaves.index(tax.index(("Bags", "Tote")))}
    unseen = enc.wide_features(["umbrella"])[0]
    assert unseen not in set(keys.tolist())


def test_wide_pairs_cap_keeps_the_most_frequent_leaves_and_nodes():
    # "common" occurs with 12 leaves: leaf i (under top node Ci) with i + 1 products.
    tops = [f"C{i:02d}" for i in range(12)]
    tax = Taxonomy.from_paths([(t, "leaf") for t in tops])
    tokens, paths = [], []
    for i, t in enumerate(tops):
        for _ in range(i + 1):
            tokens.append(["common", f"only{i}"])
            paths.append([(t, "leaf")])
    y = tax.binarize(paths)
    enc = wide_encoder()
    leaves = tax.leaves
    n = tax.n_nodes
    max_leaves = 3
    keys, offsets, outputs = wide_pairs(enc, tokens, y, leaves, max_leaves=max_leaves)
    check_pair_layout(keys, offsets, outputs, n + len(leaves))

    def outputs_of(word):
        u = int(np.searchsorted(keys, enc.wide_features([word])[0]))
        return set(outputs[offsets[u]:offsets[u + 1]].tolist())

    common = outputs_of("common")
    leaf_out = {o for o in common if o >= n}
    node_out = {o for o in common if o < n}
    # at most max_leaves leaves and 4 * max_leaves nodes ...
    assert len(leaf_out) == max_leaves and len(node_out) == 4 * max_leaves
    # ... the most frequent ones: leaves of C11, C10, C09 (12, 11, 10 products) and the 12
    # nodes of C11 .. C06 (each top node and its leaf: 12 .. 7 products).
    assert leaf_out == {n + leaves.index(tax.index((tops[i], "leaf"))) for i in (11, 10, 9)}
    assert node_out == {tax.index(p) for i in range(6, 12) for p in ((tops[i],), (tops[i], "leaf"))}
    # A rare word keeps all its pairs: its top node, its leaf node, its leaf.
    assert outputs_of("only0") == {tax.index(("C00",)), tax.index(("C00", "leaf")),
                                   n + leaves.index(tax.index(("C00", "leaf")))}
    # Without the cap, "common" has every pair it occurs with.
    k2, o2, out2 = wide_pairs(enc, tokens, y, leaves, max_leaves=100)
    u = int(np.searchsorted(k2, enc.wide_features(["common"])[0]))
    assert len(out2[o2[u]:o2[u + 1]]) == 24 + 12


# ---------------------------------------------------------------------- wide logits
def random_wide_model(seed=0):
    """A small ProductClassifier whose wide path has random weights, and its training data."""
    tax = Taxonomy.from_paths([("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")])
    rng = np.random.default_rng(seed)
    words = ["red", "blue", "knit", "tote", "wool", "bag", "loop", "hat"]
    tokens, paths = [], []
    for _ in range(40):
        tokens.append(list(rng.choice(words, int(rng.integers(1, 5)))))
        paths.append([tax.nodes[int(rng.choice(tax.leaves))]])
    y = tax.binarize(paths)
    enc = TokenEncoder(words, wide_buckets=WIDE_BUCKETS, wide_char_ngrams=(2, 3))
    keys, offsets, outputs = wide_pairs(enc, tokens, y, tax.leaves, max_leaves=8)
    model = ProductClassifier(ModelConfig(
        vocab_size=enc.vocab_size, n_labels=tax.n_nodes, word_dim=8, lstm_hidden=4,
        embedding_dim=4, n_leaves=len(tax.leaves), wide_features=len(keys),
        wide_pairs=len(outputs)))
    model.set_wide_pairs(*(torch.from_numpy(a) for a in (keys, offsets, outputs)))
    torch.manual_seed(seed)
    with torch.no_grad():
        model.wide_weight.normal_()
    model.eval()
    return model, enc, tax, (keys, offsets, outputs)


def brute_force_wide(batch: Batch, n_items: int, n_out: int, keys, offsets, outputs, weights):
    where = {int(k): u for u, k in enumerate(keys)}
    out = np.zeros((n_items, n_out))
    for f, item, value in zip(batch.wide_ids.tolist(), batch.wide_items.tolist(),
                              batch.wide_values.tolist()):
        u = where.get(f)
        if u is None:
            continue  # a feature never seen in training
        for p in range(offsets[u], offsets[u + 1]):
            out[item, outputs[p]] += value * weights[p]
    return out


def test_wide_logits_equal_a_brute_force_sum():
    model, enc, tax, (keys, offsets, outputs) = random_wide_model()
    weights = model.wide_weight.detach().numpy()
    # "zzz", "qqq": unseen, and so are their char n-grams; "knitted", "bags": unseen words
    # whose char n-grams were seen
    texts = [["red", "knit"], ["hat", "bag", "blue", "wool"], ["zzz", "qqq"], [],
             ["red", "zzz", "knit"], ["knitted", "bags"], ["loop"] * 3]
    batch = enc.encode(texts)
    n_out = tax.n_nodes + len(tax.leaves)
    with torch.no_grad():
        got = model.wide_logits(batch).numpy()
    assert got.shape == (len(texts), n_out)
    want = brute_force_wide(batch, len(texts), n_out, keys, offsets, outputs, weights)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got[0]).sum() > 0  # the check is not vacuous
    np.testing.assert_array_equal(got[2], 0)  # only unseen features
    np.testing.assert_array_equal(got[3], 0)  # empty text
    assert np.abs(got[5]).sum() > 0  # char n-grams seen in training count


def test_wide_logits_of_a_large_batch_equal_a_brute_force_sum():
    """Past 256 features a batch's features are sorted before the search: same sums."""
    model, enc, tax, (keys, offsets, outputs) = random_wide_model()
    weights = model.wide_weight.detach().numpy()
    words = ["red", "knit", "hat", "bag", "blue", "wool", "zzz", "knitted", "bags", "loop"]
    rng = np.random.default_rng(5)
    texts = [list(rng.choice(words, rng.integers(0, 6))) for _ in range(300)]
    batch = enc.encode(texts)
    assert batch.wide_ids.numel() > 256
    n_out = tax.n_nodes + len(tax.leaves)
    with torch.no_grad():
        got = model.wide_logits(batch).numpy()
    want = brute_force_wide(batch, len(texts), n_out, keys, offsets, outputs, weights)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.abs(got).sum() > 0


def test_wide_logits_ignore_features_never_seen_in_training():
    model, _, tax, (keys, offsets, outputs) = random_wide_model(1)
    weights = model.wide_weight.detach().numpy()
    k0, k1 = int(keys[0]), int(keys[-1])
    gap = int(np.flatnonzero(np.diff(keys) > 1)[0])
    below, between, above = k0 - 1, int(keys[gap]) + 1, k1 + 1  # unseen ids around the keys
    assert 0 <= below and above < BIG and not {below, between, above} & set(keys.tolist())
    # item 0: the first key alone; item 1: the same beside unseen ids; item 2: unseen ids
    # only; item 3: the last key beside an unseen id above it (the end of the key table)
    ids = [k0, k0, below, between, above, below, between, above, k1, above]
    items = [0, 1, 1, 1, 1, 2, 2, 2, 3, 3]
    batch = Batch(ids=torch.ones(4, 1, dtype=torch.int64), lengths=torch.ones(4, dtype=torch.int64),
                  sub_ids=torch.zeros(0, dtype=torch.int64),
                  sub_offsets=torch.zeros(0, dtype=torch.int64),
                  wide_ids=torch.tensor(ids), wide_items=torch.tensor(items),
                  wide_values=torch.full((len(ids),), 0.5))
    with torch.no_grad():
        got = model.wide_logits(batch).numpy()
    n_out = tax.n_nodes + len(tax.leaves)
    np.testing.assert_allclose(
        got, brute_force_wide(batch, 4, n_out, keys, offsets, outputs, weights), atol=1e-6)
    np.testing.assert_allclose(got[1], got[0], atol=1e-6)  # unseen features add nothing
    np.testing.assert_array_equal(got[2], 0)
    first = np.zeros(n_out)
    np.add.at(first, outputs[offsets[0]:offsets[1]], 0.5 * weights[offsets[0]:offsets[1]])
    np.testing.assert_allclose(got[0], first, atol=1e-6)
    last = np.zeros(n_out)
    np.add.at(last, outputs[offsets[-2]:offsets[-1]], 0.5 * weights[offsets[-2]:offsets[-1]])
    np.testing.assert_allclose(got[3], last, atol=1e-6)


# ---------------------------------------------------------------------- fitting
COMMON = {("Bags", "Tote"): ["tote", "shopper", "canvas"],
          ("Bags", "Backpack"): ["backpack", "rucksack", "school"],
          ("Scarves", "Knit"): ["knit", "wool", "chunky"],
          ("Scarves", "Loop"): ["loop", "snood", "tube"]}
FILLER = ["black", "red", "blue", "green", "large", "small", "nike", "zara"]
# Rare leaves, each with one decisive word and 1, 2, 1 training products.
RARE = {("Bags", "Clutch"): "clutch", ("Scarves", "Bandana"): "bandana", ("Bags", "Duffel"): "duffel"}
RARE_TRAIN = (1, 2, 1)


def rare_leaf_data(seed=0, n_common=80):
    """4 common leaves (n_common products each) and the 3 rare leaves of ``RARE``, whose
    products are their decisive word among filler words that every leaf uses."""
    rng = np.random.default_rng(seed)

    def make(n_per, n_rare):
        tokens, paths = [], []
        for path, words in COMMON.items():
            for _ in range(n_per):
                tokens.append([rng.choice(FILLER), rng.choice(words), rng.choice(FILLER),
                               rng.choice(words)])
                paths.append([path])
        for (path, word), k in zip(RARE.items(), n_rare):
            for _ in range(k):
                tokens.append([rng.choice(FILLER), word, rng.choice(FILLER), rng.choice(FILLER)])
                paths.append([path])
        return [[str(t) for t in toks] for toks in tokens], paths

    train_tokens, train_paths = make(n_common, RARE_TRAIN)
    val_tokens, val_paths = make(10, (1, 1, 1))
    tax = Taxonomy.from_paths([p for ps in train_paths for p in ps])
    return tax, train_tokens, tax.binarize(train_paths), val_tokens, tax.binarize(val_paths)


# New texts: the decisive word among words never seen in training.
NEW_TEXTS = [["yellow", word, "cotton"] for word in RARE.values()]

WIDE_VARIANTS = {
    "plain": dict(leaf_prior_weight=0.0),
    # Balanced leaf scores: none of the leaf prior put back (the default puts half back).
    "adjusted": dict(leaf_logit_adjust=1.0, leaf_prior_weight=0.0),
    "adjusted_wide_heavy": dict(leaf_logit_adjust=1.0, leaf_prior_weight=0.0, wide_mix=0.75),
}


@pytest.fixture(scope="module")
def rare_data():
    return rare_leaf_data(0)


@pytest.fixture(scope="module")
def wide_fits(rare_data):
    tax, tr, ytr, va, yva = rare_data
    fits = {}
    for name, extra in WIDE_VARIANTS.items():
        # 20 epochs of 11 steps; a higher wide learning rate than the default so that a word
        # seen in one product a handful of times moves its weights (Adagrad's steps shrink
        # as 1/sqrt(updates)).
        cfg = small_config(wide=True, wide_learning_rate=2.0, epochs=20, **extra)
        fits[name] = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    return fits


@pytest.mark.parametrize("variant", list(WIDE_VARIANTS))
def test_wide_path_learns_each_rare_leafs_decisive_word(rare_data, wide_fits, variant):
    tax, _, ytr, _, _ = rare_data
    clf = wide_fits[variant]
    assert clf.model.wide_weight is not None and clf.model.config.wide_pairs > 0
    n, leaves = tax.n_nodes, tax.leaves
    with torch.no_grad():
        wide = clf.model.wide_logits(clf.encoder.encode(NEW_TEXTS)).numpy()
    probs = clf.predict_proba(NEW_TEXTS)
    for i, path in enumerate(RARE):
        leaf = tax.index(path)
        # The wide path's own score for the text: the rare leaf first, clearly positive.
        leaf_scores = wide[i, n:]
        assert leaf_scores.argmax() == leaves.index(leaf), (variant, path, leaf_scores)
        assert leaf_scores.max() > 0.5, (variant, path, leaf_scores)
        assert wide[i, leaf] == 0, "no node weights with a leaf head (wide_max_nodes None)"
        # The model's probability of the leaf, far above its share of the training data.
        prior = ytr[:, leaf].mean()
        assert probs[i, leaf] > 10 * prior, (variant, path, probs[i, leaf], prior)


@pytest.mark.parametrize("variant", ["adjusted_wide_heavy"])
def test_wide_adjusted_model_predicts_rare_leaf_from_its_word(rare_data, wide_fits, variant):
    """With balanced leaf scores (leaf_logit_adjust=1) and the wide path's softmax weighing
    3/4 of the leaf distribution (the BiLSTM has never seen the word), a new text with a
    rare leaf's word goes to that leaf, or close: top-1 for every text is not reliable on
    so little data, so the rare leaf must be among the 2 best of the 7 leaves and above
    chance (1/7) for every text. (In use the mix is chosen on validation.)"""
    tax, _, _, _, _ = rare_data
    clf = wide_fits[variant]
    leaves = np.array(tax.leaves)
    probs = clf.predict_proba(NEW_TEXTS)[:, leaves]
    for i, path in enumerate(RARE):
        k = tax.leaves.index(tax.index(path))
        assert k in np.argsort(-probs[i])[:2], (variant, path, probs[i])
        assert probs[i, k] > 1 / len(leaves), (variant, path, probs[i])


def test_wide_logits_without_gradients_equal_the_trained_path(rare_data, wide_fits):
    """Prediction sums the wide path in NumPy (no autograd); training in torch. Same sums."""
    clf = wide_fits["plain"]
    texts = rare_data[1][:40] + NEW_TEXTS + [[], ["unseen", "words"]]
    for batch in (clf.encoder.encode(texts), clf.encoder.encode(texts[:1]),
                  clf.encoder.encode([[]])):
        with torch.no_grad():
            fast = clf.model.wide_logits(batch)
        with torch.enable_grad():
            trained = clf.model.wide_logits(batch)
        assert not fast.requires_grad
        assert fast.shape == trained.shape and fast.dtype == trained.dtype
        torch.testing.assert_close(fast, trained.detach(), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        assert float(clf.model.wide_logits(clf.encoder.encode(texts)).abs().sum()) > 0
    with torch.enable_grad():
        assert clf.model.wide_logits(clf.encoder.encode(texts)).requires_grad  # training's path


def test_wide_model_save_load_round_trip(tmp_path, rare_data):
    tax, tr, ytr, va, yva = rare_data
    # wide_mix and wide_char_ngrams must survive the round trip too, or the loaded model
    # would compute other features or another leaf distribution.
    cfg = small_config(wide=True, wide_learning_rate=1.0, epochs=3, wide_mix=0.5,
                       leaf_logit_adjust=1.0, wide_char_ngrams=(2, 4))
    clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    texts = va + NEW_TEXTS + [[], ["unseen", "words"]]
    probs = clf.predict_proba(texts)
    clf.save(str(tmp_path))

    stored = load_file(str(tmp_path / "classifier.safetensors"))
    state = clf.model.state_dict()
    for name in ("wide_keys", "wide_offsets", "wide_outputs"):
        assert stored[name].dtype == torch.int64, name
        assert torch.equal(stored[name], state[name]), name
    assert int(stored["wide_keys"].max()) > 2048  # ids that float16 could not hold exactly
    assert stored["wide_weight"].dtype == torch.float16
    assert stored["wide_weight"].abs().max() > 0  # the wide weights were trained
    for name, tensor in stored.items():
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float16, name

    again = Classifier.load(str(tmp_path))
    assert again.encoder.wide_buckets == clf.encoder.wide_buckets == WIDE_BUCKETS
    assert again.encoder.wide_char_ngrams == (2, 4)
    assert again.model.config.wide_mix == 0.5
    for name in ("wide_keys", "wide_offsets", "wide_outputs"):
        assert torch.equal(getattr(again.model, name), getattr(clf.model, name)), name
    torch.testing.assert_close(again.model.wide_weight, clf.model.wide_weight, atol=0, rtol=0)
    np.testing.assert_allclose(again.predict_proba(texts), probs, atol=1e-5)


def test_bundle_without_the_wide_keys_still_loads(tmp_path, rare_data):
    """A classifier.json written before the wide path (no wide_buckets / wide_char_ngrams in
    the encoder, no wide_features / wide_pairs / wide_mix in the model) loads and predicts."""
    tax, tr, ytr, va, yva = rare_data
    clf = Classifier(small_config(epochs=1), seed=0).fit(tr, ytr, va, yva, taxonomy=tax,
                                                         show_progress=False)
    probs = clf.predict_proba(va)
    clf.save(str(tmp_path))
    path = tmp_path / "classifier.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    for key in ("wide_buckets", "wide_char_ngrams"):
        del meta["encoder"][key]
    for key in ("wide_features", "wide_pairs", "wide_mix"):
        del meta["model"][key]
    path.write_text(json.dumps(meta), encoding="utf-8")

    enc = TokenEncoder.from_dict(meta["encoder"])
    assert enc.wide_buckets == 0 and enc.wide_char_ngrams == (0, 0)
    assert enc.encode([["red", "tote"]]).wide_ids.numel() == 0
    config = ModelConfig(**meta["model"])
    assert (config.wide_features, config.wide_pairs, config.wide_mix) == (0, 0, 0.5)
    assert ProductClassifier(config).wide_weight is None

    old = Classifier.load(str(tmp_path))
    np.testing.assert_allclose(old.predict_proba(va), probs, atol=1e-5)
    # and a training config from before the new keys reads, with today's defaults
    assert TrainConfig.from_dict({"classifier": {"epochs": 3}}).classifier.wide is True


# ---------------------------------------------------------------------- training length
def multilabel_toy(n, seed=0):
    rng = np.random.default_rng(seed)
    vocab = {0: ["knit", "wool", "chunky"], 1: ["leather", "tote", "handbag"], 2: ["loop", "snood"]}
    tokens, y = [], np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c = int(rng.integers(0, 3))
        tokens.append([str(w) for w in rng.choice(vocab[c], 2)] + [str(rng.choice(["red", "nike"]))])
        y[i, c] = 1
    return tokens, y


def tiny_length_config(**changes) -> ClassifierConfig:
    return small_config(lstm_hidden=8, embedding_dim=8, subword_buckets=0, epochs=2,
                        patience=100, **changes)


@pytest.mark.parametrize(("min_steps", "max_epochs", "expected"), [
    (0, 100, 2),    # epochs alone
    (5, 100, 2),    # 5 steps are 2 epochs of 4 steps: no more than `epochs`
    (13, 100, 4),   # ceil(13 / 4)
    (40, 100, 10),  # ceil(40 / 4)
    (40, 3, 3),     # capped by max_epochs
])
def test_min_steps_lengthen_training_up_to_max_epochs(min_steps, max_epochs, expected):
    tokens, y = multilabel_toy(130)
    m, b = 100, 32  # 100 training products in batches of 32: 4 steps per epoch
    assert expected == max(2, min(max_epochs, math.ceil(min_steps / math.ceil(m / b))))
    cfg = tiny_length_config(min_steps=min_steps, max_epochs=max_epochs, batch_size=b)
    clf = Classifier(cfg, seed=0).fit(tokens[:m], y[:m], tokens[m:], y[m:], show_progress=False)
    assert len(clf.history) == expected
    assert [h["epoch"] for h in clf.history] == list(range(1, expected + 1))


def test_average_epochs_trains_predicts_and_keeps_other_weights(tmp_path, rare_data):
    tax, tr, ytr, va, yva = rare_data
    runs = {}
    for avg in (0.0, 1.0):
        # wide path and leaf head on: their buffers must reach the averaged copy as well
        cfg = small_config(epochs=4, average_epochs=avg, wide=True, wide_learning_rate=1.0)
        runs[avg] = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    plain, averaged = runs[0.0], runs[1.0]
    assert len(averaged.history) == len(plain.history) == 4
    p_plain, p_avg = plain.predict_proba(va), averaged.predict_proba(va)
    assert p_avg.shape == p_plain.shape and np.isfinite(p_avg).all()
    assert ((p_avg >= 0) & (p_avg <= 1)).all()
    # the averaged weights are not the last (nor any plain) run's weights
    a, b = plain.model.state_dict(), averaged.model.state_dict()
    assert a.keys() == b.keys()
    diff = max(float((a[k] - b[k]).abs().max()) for k in a if a[k].is_floating_point())
    assert diff > 1e-3
    assert not np.allclose(p_avg, p_plain, atol=1e-4)
    # integer buffers are the same structures in both
    assert torch.equal(a["wide_keys"], b["wide_keys"])
    # the averaged model is as good a model on this easy task (common leaves)
    leaves = tax.leaves
    common = yva[:, leaves].argmax(1)[:40]
    assert (p_avg[:40][:, leaves].argmax(1) == common).mean() > 0.9
    # and it survives a save / load
    averaged.save(str(tmp_path))
    np.testing.assert_allclose(Classifier.load(str(tmp_path)).predict_proba(va), p_avg, atol=1e-5)


def test_wide_path_without_a_leaf_head():
    """No taxonomy (no leaf head): the wide path has node outputs only, and fits."""
    tokens, y = multilabel_toy(130)
    cfg = small_config(lstm_hidden=8, embedding_dim=8, subword_buckets=0, epochs=3, wide=True,
                       wide_learning_rate=1.0, wide_mix=0.5)
    clf = Classifier(cfg, seed=0).fit(tokens[:100], y[:100], tokens[100:], y[100:],
                                      show_progress=False)
    assert clf.model.config.n_leaves == 0 and clf.model.config.wide_pairs > 0
    assert int(clf.model.wide_outputs.max()) < y.shape[1]
    with torch.no_grad():
        wide = clf.model.wide_logits(clf.encoder.encode(tokens[100:])).numpy()
    assert wide.shape == (30, 3) and np.abs(wide).max() > 0
    probs = clf.predict_proba(tokens[100:])
    assert ((probs >= 0.5) == y[100:]).mean() > 0.9


# ---------------------------------------------------------------------- leaf logit adjustment
def imbalanced_data(seed=0):
    """Two leaves with identical texts, 100 : 2 products, and a third, distinct leaf."""
    rng = np.random.default_rng(seed)
    colours = ["black", "red", "blue", "green"]
    tokens, paths = [], []
    for path, n, words in ((("Tops", "Shirt"), 100, ["plain", "shirt"]),
                           (("Tops", "Blouse"), 2, ["plain", "shirt"]),
                           (("Bottoms", "Jeans"), 100, ["denim", "jeans"])):
        for _ in range(n):
            tokens.append([str(rng.choice(colours))] + words)
            paths.append([path])
    tax = Taxonomy.from_paths([p for ps in paths for p in ps])
    val_tokens = [["red", "plain", "shirt"], ["blue", "denim", "jeans"], ["green", "plain", "shirt"]]
    val_paths = [[("Tops", "Shirt")], [("Bottoms", "Jeans")], [("Tops", "Blouse")]]
    return tax, tokens, tax.binarize(paths), val_tokens, tax.binarize(val_paths)


@pytest.mark.parametrize("adjust", [0.0, 0.5, 1.0])
def test_leaf_head_starts_at_prior_minus_the_adjustment(adjust):
    tax, tr, ytr, va, yva = imbalanced_data()
    cfg = small_config(epochs=0, min_steps=0, leaf_logit_adjust=adjust)
    clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False)
    assert clf.history == []  # no training: the initial weights
    bias = clf.model.leaf_out.bias.detach().numpy().astype(np.float64)
    counts = ytr[:, tax.leaves].sum(axis=0)
    log_prior = np.log(counts / counts.sum())
    if adjust == 1.0:
        np.testing.assert_allclose(bias, bias[0], atol=1e-6)  # uniform: balanced scores
    else:
        # softmax(bias / (1 - adjust)) is the leaf prior (up to add-one smoothing)
        start = np.exp(bias / (1 - adjust))
        np.testing.assert_allclose(start / start.sum(), counts / counts.sum(), atol=0.01)
        # the rare leaf starts below the common one by (1 - adjust) * their log prior ratio
        # (log 50 unsmoothed, log(101 / 3) with add-one smoothing)
        rare = tax.leaves.index(tax.index(("Tops", "Blouse")))
        common = tax.leaves.index(tax.index(("Tops", "Shirt")))
        assert bias[common] - bias[rare] == pytest.approx(
            (1 - adjust) * (log_prior[common] - log_prior[rare]), rel=0.15)


def test_leaf_logit_adjust_raises_an_ambiguous_rare_leaf():
    tax, tr, ytr, va, yva = imbalanced_data()
    text = [["white", "plain", "shirt"]]  # equally a Shirt's and a Blouse's text
    blouse = tax.index(("Tops", "Blouse"))
    kept, last = {}, {}
    for adjust in (0.0, 1.0):
        seen: list[float] = []

        def record(epoch, c, seen=seen):
            seen.append(float(c.predict_proba(text)[0, blouse]))

        # leaf_prior_weight 0: the scores as learned, none of the prior put back.
        cfg = small_config(epochs=8, leaf_logit_adjust=adjust, leaf_prior_weight=0.0)
        clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, taxonomy=tax, show_progress=False,
                                          on_epoch=record)
        kept[adjust] = float(clf.predict_proba(text)[0, blouse])
        last[adjust] = seen[-1]
    # Unadjusted, the rare leaf keeps about its prior share (2 of 102); adjusted, the two
    # leaves' scores are balanced.
    assert kept[1.0] > 1.5 * kept[0.0], kept
    assert last[1.0] > 3 * last[0.0] and last[1.0] > 0.2, last
    assert last[0.0] < 0.15, last


# ---------------------------------------------------------------------- misc
def test_wide_features_are_the_same_in_another_process():
    """A bundle is used by other processes: its features must not depend on Python's salted
    string hash."""
    texts = [["red", "knit", "scarf"], ["scarff"]]
    enc = wide_encoder((2, 4))
    code = ("import json, sys; from prodemb.encoding import TokenEncoder; "
            "e = TokenEncoder(['knit', 'scarf'], wide_buckets=1 << 24, wide_char_ngrams=(2, 4)); "
            f"print(json.dumps([e.wide_features(t) for t in {texts!r}]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == [enc.wide_features(t) for t in texts]
