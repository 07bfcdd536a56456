import numpy as np
import pytest
import torch

from prodemb.classifier import (
    Classifier,
    bce_of_probs,
    label_pos_weights,
    leaf_class_weights,
    weighted_bce,
)
from prodemb.config import ClassifierConfig
from prodemb.decoding import tune_thresholds
from prodemb.encoding import TokenEncoder, length_buckets


def test_weighted_bce_matches_formula():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.0]])
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    w = torch.tensor([3.0, 10.0])
    p = torch.sigmoid(logits)
    manual = -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
    assert weighted_bce(logits, y, w).item() == pytest.approx(manual.item(), rel=1e-6)
    assert bce_of_probs(p.numpy(), y.numpy(), w.numpy()) == pytest.approx(manual.item(), rel=1e-4)


def test_rare_labels_get_larger_weights():
    y = np.zeros((1000, 3), dtype=np.uint8)
    y[:500, 0] = 1
    y[:10, 1] = 1
    inv = label_pos_weights(y, "inverse", max_weight=1000)
    sqrt = label_pos_weights(y, "sqrt_inverse", max_weight=1000)
    assert inv[0] == pytest.approx(1.0) and inv[1] == pytest.approx(99.0)
    assert sqrt[1] == pytest.approx(np.sqrt(99.0))
    assert inv[2] == 1.0  # no positives
    assert label_pos_weights(y, "inverse", max_weight=50)[1] == 50
    assert (label_pos_weights(y, "none") == 1).all()
    with pytest.raises(ValueError):
        label_pos_weights(y, "bogus")


def test_leaf_class_weights_favour_rare_leaves_and_keep_the_mean_item_weight():
    # 4 items of leaf 0, 1 of leaf 1, 2 of leaf 2, one item whose path stops above the leaves
    t = np.zeros((8, 3))
    t[[0, 1, 2, 3], 0] = 1
    t[4, 1] = 1
    t[[5, 6], 2] = 1
    w = leaf_class_weights(t, "sqrt_inverse").numpy()
    assert w[1] > w[2] > w[0]
    assert w[1] / w[0] == pytest.approx(2.0)  # sqrt(4 / 1)
    assert (t[:7] @ w).mean() == pytest.approx(1.0, rel=1e-6)
    assert leaf_class_weights(t, "none") is None
    with pytest.raises(ValueError, match="leaf_weight"):
        leaf_class_weights(t, "inverse")


def test_tune_thresholds_finds_separating_value():
    probs = np.array([[0.9, 0.2], [0.35, 0.6], [0.3, 0.7], [0.1, 0.1]])
    y = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    t = tune_thresholds(probs, y)
    assert 0.3 < t[0] <= 0.35  # catches the positive at 0.35, not the negative at 0.3
    assert t[1] == 0.5  # no positives: default kept


def test_length_buckets_cover_everything_once():
    lengths = np.random.default_rng(0).integers(1, 40, 1000)
    batches = length_buckets(lengths, 32, np.random.default_rng(0))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 32


def test_encoder_pads_handles_empty_and_oov():
    enc = TokenEncoder(["scarf", "knit"], subword_buckets=128)
    b = enc.encode([["knit", "scarf"], [], ["sjaal"]])
    assert b.ids.shape == (3, 2)
    assert b.lengths.tolist() == [2, 1, 1]
    assert b.ids[1, 0] == 1 and b.ids[2, 0] == 1  # <unk>
    assert b.sub_offsets.shape == (4,)  # one bag per distinct token; the first for <unk> and padding
    assert b.sub_types.tolist() == [[1, 2], [0, 0], [3, 0]]
    assert len(b.sub_ids) > 0  # the OOV word still has char n-grams
    assert TokenEncoder.from_dict(enc.to_dict()).words == enc.words


def toy_data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    vocab = {0: ["knit", "wool", "chunky"], 1: ["leather", "tote", "handbag"], 2: ["loop", "snood", "tube"]}
    tokens, y = [], np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        c = int(rng.integers(0, 3))
        tokens.append(list(rng.choice(vocab[c], 2)) + list(rng.choice(["black", "red", "nike"], 2)))
        y[i, c] = 1
    return tokens, y


def test_learning_rate_decays_linearly_to_the_final_share():
    tokens, y = toy_data(n=200)
    cfg = ClassifierConfig(lstm_hidden=8, embedding_dim=4, epochs=3, min_steps=0, batch_size=64,
                           subword_buckets=64, learning_rate=1e-2, final_learning_rate_share=0.5,
                           wide=False, members=1)
    clf = Classifier(cfg, seed=0).fit(tokens[:150], y[:150], tokens[150:], y[150:],
                                      show_progress=False)
    assert [r["learning_rate"] for r in clf.history] == pytest.approx([1e-2, 0.75e-2, 0.5e-2])


def test_fit_predict_transform_save_load(tmp_path):
    tokens, y = toy_data()
    cfg = ClassifierConfig(lstm_hidden=16, embedding_dim=8, epochs=8, batch_size=32,
                           subword_buckets=256, learning_rate=1e-2, patience=8)
    clf = Classifier(cfg, seed=0).fit(tokens[:500], y[:500], tokens[500:], y[500:], show_progress=False)
    probs = clf.predict_proba(tokens[500:])
    assert probs.shape == (100, 3) and probs.dtype == np.float32
    assert ((probs >= 0.5) == y[500:]).mean() > 0.9
    emb = clf.transform(tokens[500:])
    assert emb.shape == (100, 8)
    assert len(clf.history) >= 1 and {"train_loss", "val_macro_f1"} <= set(clf.history[0])
    # single-item and batched predictions agree (sequences are packed)
    np.testing.assert_allclose(clf.predict_proba([tokens[500]])[0], probs[0], atol=1e-5)
    # texts of many lengths go through the packed LSTM, one text through the unpacked one
    mixed = [tokens[500][:k] + tokens[501][:k] for k in (1, 2, 3, 4)]
    alone = np.concatenate([clf.predict_proba([t]) for t in mixed])
    np.testing.assert_allclose(clf.predict_proba(mixed), alone, atol=1e-5)
    clf.save(str(tmp_path))
    again = Classifier.load(str(tmp_path))
    np.testing.assert_allclose(again.predict_proba(tokens[500:]), probs, atol=1e-5)
    assert again.config == cfg  # the config it was trained with, not the defaults


def test_fit_is_reproducible():
    tokens, y = toy_data(1, 200)
    # min_steps 0: two epochs, as asked (the default's 4,000 steps made it 34, about a minute)
    cfg = ClassifierConfig(lstm_hidden=8, embedding_dim=4, epochs=2, batch_size=32, subword_buckets=64,
                           min_steps=0)
    a = Classifier(cfg, seed=3).fit(tokens[:150], y[:150], tokens[150:], y[150:], show_progress=False)
    b = Classifier(cfg, seed=3).fit(tokens[:150], y[:150], tokens[150:], y[150:], show_progress=False)
    np.testing.assert_allclose(a.predict_proba(tokens), b.predict_proba(tokens), atol=1e-6)


def test_unfitted_classifier_raises():
    with pytest.raises(RuntimeError, match="not fitted"):
        Classifier().predict_proba([["a"]])


def test_tune_thresholds_gives_untuned_labels_their_levels_best_common_threshold():
    # Labels 0 and 1 (level 1) have positives that thresholds in (0.2, 0.3] separate (ties
    # go to the value closest to the default 0.5: 0.3);
    # label 2 (level 1) and label 3 (level 2) have none.
    probs = np.array([[0.3, 0.1, 0.3, 0.3], [0.1, 0.3, 0.1, 0.1], [0.2, 0.2, 0.2, 0.2]])
    y = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    levels = np.array([1, 1, 1, 2])
    t = tune_thresholds(probs, y, levels=levels)
    assert t[2] == pytest.approx(0.3)  # its level's best common threshold, not 0.5
    assert t[3] == 0.5  # no label of level 2 has positives: the default
    assert tune_thresholds(probs, y)[2] == 0.5  # without levels: the default


def test_tune_thresholds_pools_labels_with_few_positives():
    # Label 1 has one positive at 0.9 and a negative at 0.8: on its own it would get 0.85
    # (fitted to one product); with min_positives=2 it takes its level's common threshold.
    probs = np.array([[0.3, 0.9], [0.1, 0.8], [0.2, 0.1], [0.35, 0.1]])
    y = np.array([[1, 1], [0, 0], [0, 0], [1, 0]])
    levels = np.array([1, 1])
    alone = tune_thresholds(probs, y, levels=levels)
    assert alone[1] == pytest.approx(0.85)
    pooled = tune_thresholds(probs, y, levels=levels, min_positives=2)
    assert pooled[0] == alone[0] == pytest.approx(0.3)  # two positives: still its own
    assert pooled[1] == pytest.approx(0.3)  # best mean F1 over the level's labels


def test_repeat_factors_repeat_rare_leaves_only():
    from prodemb.classifier import repeat_factors

    y = np.zeros((26, 4), dtype=np.uint8)
    y[:, 0] = 1            # a root every product has
    y[:20, 1] = 1          # a common leaf (20 products)
    y[20:25, 2] = 1        # a rare leaf (5)
    y[25, 3] = 1           # a leaf of one product
    r = repeat_factors(y, 20)
    assert (r[:20] == 1).all()
    assert r[20] == pytest.approx(2.0) and r[25] == pytest.approx(np.sqrt(20))
    assert (repeat_factors(y, 0) == 1).all()


def test_fit_decoding_keeps_the_better_of_stopping_and_going_on():
    from prodemb.decoding import TreeDecoder
    from prodemb.metrics import macro_f1
    from prodemb.taxonomy import Taxonomy

    tax = Taxonomy.from_paths([("A", "a1"), ("A", "a2"), ("B", "b1"), ("B", "b2")])
    rng = np.random.default_rng(0)
    paths = [[("A", "a1")], [("A", "a2")], [("B", "b1")], [("B",)], [("A",)]]
    y = tax.binarize([paths[i] for i in rng.integers(0, 5, 200)])
    probs = np.clip(y * 0.5 + rng.random(y.shape) * 0.6, 0, 1).astype(np.float32)
    d = TreeDecoder(tax, complete=False).fit(probs, y)
    f1 = macro_f1(y, d.predict(probs))
    for mode in (False, True):
        other = TreeDecoder(tax, mode, d.thresholds, d.extra_path_min)
        assert f1 >= macro_f1(y, other.predict(probs)) - 1e-6
    # A complete catalogue is always decoded down to a leaf.
    assert TreeDecoder(tax, complete=True).fit(probs, y).complete


@pytest.mark.parametrize("half", [False, True])
def test_prediction_looks_each_distinct_token_up_once_with_the_same_values(half):
    """At prediction the embedding adds each distinct token's word and n-gram vectors once
    and gathers them per position; training adds them per position. Both give the same
    floats, for batches of one length, of many lengths (packed) and with unknown words."""
    tokens, y = toy_data(2, 200)
    cfg = ClassifierConfig(lstm_hidden=8, embedding_dim=4, epochs=1, batch_size=32, subword_buckets=64,
                           min_steps=0)
    clf = Classifier(cfg, seed=0).fit(tokens[:150], y[:150], tokens[150:], y[150:], show_progress=False)
    net = clf.model.eval()
    if half:
        net.store_tables_half()
    texts = [t[:k] + ["zzz"] * (k % 2) for k, t in zip(range(1, 40), tokens[150:])] + [[]] + [tokens[0]] * 3
    for batch_texts in (texts, texts[-3:], texts[:1]):
        batch = clf.encoder.encode(batch_texts)
        with torch.inference_mode():
            fused = net.embed(batch)
            batch.type_ids = torch.zeros(0, dtype=torch.int64)  # the per-position path
            plain = net.embed(batch)
        assert torch.equal(fused, plain)
