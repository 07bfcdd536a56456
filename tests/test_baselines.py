"""Peer classifiers of the benchmark (bench/peers.py) on a few hundred demo products."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from prodemb.decoding import TreeDecoder
from prodemb.metrics import evaluate
from prodemb.taxonomy import Taxonomy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import peers as B  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """~600 labelled demo products of the four largest top-level categories, split 60/20/20."""
    from prodemb.catalogue import read_catalogue
    from prodemb.demo import generate_demo

    path = tmp_path_factory.mktemp("baselines") / "demo.csv"
    generate_demo(n_labelled=1500, n_unlabelled=0, seed=0).to_csv(path, index=False)
    cat = read_catalogue(path, "demo")
    top = cat["paths"].map(lambda ps: ps[0][0])
    keep = top.isin(top.value_counts().index[:4])
    cat = cat[keep].iloc[:600].reset_index(drop=True)
    taxonomy = Taxonomy.from_paths(p for ps in cat["paths"] for p in ps)
    y = taxonomy.binarize(cat["paths"].tolist())
    order = np.random.default_rng(0).permutation(len(cat))
    n_tr, n_va = int(0.6 * len(cat)), int(0.2 * len(cat))
    parts = np.split(order, [n_tr, n_tr + n_va])
    texts = cat["text"].tolist()
    return taxonomy, [([texts[i] for i in p], y[p]) for p in parts]


@pytest.fixture(scope="module")
def word_vectors(data, tmp_path_factory):
    from prodemb.config import Word2VecConfig
    from prodemb.text import clean
    from prodemb.word2vec import train_word2vec

    _, parts = data
    corpus = tmp_path_factory.mktemp("w2v") / "corpus.txt"
    corpus.write_text("\n".join(clean(t) for texts, _ in parts for t in texts) + "\n")
    cfg = Word2VecConfig(vector_size=24, epochs=10, min_count=1, workers=1)
    return train_word2vec(str(corpus), cfg, seed=0, show_progress=False)


def consistent(taxonomy: Taxonomy, row: np.ndarray, complete: bool) -> bool:
    """Every predicted node's parent is predicted, and (complete) every path ends at a leaf."""
    ids = set(np.flatnonzero(row).tolist())
    if not ids:
        return False
    for i in ids:
        parent = int(taxonomy.parents[i])
        if parent >= 0 and parent not in ids:
            return False
        if complete and taxonomy.children[i] and not any(c in ids for c in taxonomy.children[i]):
            return False
    return True


def majority_leaf_f1(taxonomy: Taxonomy, y_train: np.ndarray, y_test: np.ndarray) -> float:
    """Leaf macro-F1 of predicting the most frequent training path for every product."""
    ends = [e for es in B.path_ends(taxonomy, y_train) for e in es]
    top = np.bincount(ends).argmax()
    pred = np.zeros_like(y_test)
    pred[:, taxonomy.ancestors(int(top))] = 1
    return evaluate(taxonomy, y_test, pred, with_pairs=False)["leaf_macro_f1"]


def check_peer(peer: B.Peer, data) -> float:
    taxonomy, ((tr, y_tr), (va, y_va), (te, y_te)) = data
    peer.fit(tr, y_tr, va, y_va)
    probs = peer.predict_proba(te)
    assert probs.shape == (len(te), taxonomy.n_nodes)
    assert probs.dtype == np.float32
    assert np.all(probs >= 0) and np.all(probs <= 1 + 1e-6)
    decoder = TreeDecoder(taxonomy).fit(peer.predict_proba(va), y_va)
    assert decoder.complete  # the demo's paths all end at a leaf
    pred = decoder.predict(probs)
    assert all(consistent(taxonomy, row, True) for row in pred)
    f1 = evaluate(taxonomy, y_te, pred, with_pairs=False)["leaf_macro_f1"]
    chance = majority_leaf_f1(taxonomy, y_tr, y_te)
    assert f1 > max(0.15, 5 * chance), (peer.name, peer.mode, f1, chance)
    return f1


@pytest.mark.parametrize("mode", ["leaf", "nodes"])
def test_tfidf_svm(data, mode):
    check_peer(B.TfidfLinearSVM(data[0], mode=mode, C=0.5), data)


def test_tfidf_logreg_leaf(data):
    check_peer(B.TfidfLogReg(data[0], mode="leaf", C=30.0, max_iter=30), data)


def test_tfidf_logreg_nodes(data):
    check_peer(B.TfidfLogReg(data[0], mode="nodes", C=30.0), data)


@pytest.mark.parametrize("mode", ["leaf", "nodes"])
def test_w2v_mean_logreg(data, word_vectors, mode):
    check_peer(B.Word2VecMeanLogReg(data[0], word_vectors, mode=mode, C=1.0), data)


@pytest.mark.parametrize("mode", ["leaf", "nodes"])
def test_fasttext(data, mode):
    pytest.importorskip("fasttext")
    peer = B.FastTextPeer(data[0], mode=mode, threads=1,
                          params={"epoch": 50, "lr": 0.5, "wordNgrams": 2, "dim": 30})
    check_peer(peer, data)
    assert peer.describe()["params"]["loss"] == ("softmax" if mode == "leaf" else "ova")


def test_leaf_to_node_probs_sums_leaves():
    tax = Taxonomy.from_paths([("A", "a1"), ("A", "a2"), ("B", "b1", "x"), ("B", "b2")])
    classes = np.array([tax.index(p) for p in [("A", "a1"), ("A", "a2"), ("B", "b1", "x"),
                                                 ("B", "b2")]])
    m = B.class_to_node_matrix(tax, classes)
    probs = B.leaf_to_node_probs(np.array([[0.1, 0.2, 0.3, 0.4]]), m)[0]
    assert probs[tax.index(("A",))] == pytest.approx(0.3)
    assert probs[tax.index(("B",))] == pytest.approx(0.7)
    assert probs[tax.index(("B", "b1"))] == pytest.approx(0.3)
    assert probs[tax.index(("B", "b1", "x"))] == pytest.approx(0.3)
    rows, labels = B.expand_to_classes(tax, tax.binarize([[("A", "a1"), ("B", "b2")], [("A", "a2")]]))
    assert rows.tolist() == [0, 0, 1]
    assert sorted(tax.nodes[i] for i in labels[:2]) == [("A", "a1"), ("B", "b2")]


def test_fit_platt_recovers_a_sigmoid():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(20_000, 2))
    true_a, true_b = np.array([2.0, 0.5]), np.array([-1.0, 0.3])
    y = (rng.random(s.shape) < B.sigmoid(true_a * s + true_b)).astype(np.uint8)
    a, b = B.fit_platt(s, y)
    assert a == pytest.approx(true_a, abs=0.1)
    assert b == pytest.approx(true_b, abs=0.1)
    # A column without positives stays finite and low.
    a0, b0 = B.fit_platt(s[:, :1], np.zeros((len(s), 1)))
    assert np.isfinite(a0).all() and B.sigmoid(a0 * s[:, :1] + b0).max() < 0.01


def test_select_keeps_the_best_configuration(data):
    taxonomy, ((tr, y_tr), (va, y_va), _) = data
    feats = B.TfidfFeatures()
    x_tr = feats.fit_transform(B.clean_texts(tr))
    x_va = feats.transform(B.clean_texts(va))

    def make(cfg):
        return B.TfidfLinearSVM(taxonomy, mode="leaf", C=cfg["C"], features=feats)
    best, decoder, trials = B.select(make, [{"C": 1e-4}, {"C": 0.5}], x_tr, y_tr, x_va, y_va)
    assert [t.config["C"] for t in trials] == [1e-4, 0.5]
    assert trials[1].val_leaf_macro_f1 > trials[0].val_leaf_macro_f1
    assert best.C == 0.5 and isinstance(decoder, TreeDecoder) and decoder.fitted


def test_bad_mode_and_shape(data):
    taxonomy, ((tr, y_tr), _, _) = data
    with pytest.raises(ValueError, match="mode"):
        B.TfidfLogReg(taxonomy, mode="flat")
    with pytest.raises(ValueError, match="columns"):
        B.TfidfLinearSVM(taxonomy).fit(tr, y_tr[:, :3])


def test_peers_are_not_part_of_the_package():
    """The peers live in bench/ (only the benchmarks and these tests use them)."""
    assert importlib.util.find_spec("prodemb.baselines") is None
    package = Path(__file__).resolve().parent.parent / "prodemb"
    for path in package.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "import peers" not in text and "baselines" not in text, path


def test_peers_decode_with_the_package_decoder(data):
    assert B.TreeDecoder is TreeDecoder
