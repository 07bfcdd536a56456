"""Peer classifiers that prodemb is compared with (``bench/bench_quality.py``).

Part of the benchmarks, not of the shipped package (``prodemb`` never imports it). Every
peer predicts the same thing as prodemb's BiLSTM: a probability for every node of the
category tree, ``predict_proba(texts) -> (n, n_nodes)``, and is decoded into
hierarchy-consistent paths by the same decoder as prodemb
(:class:`prodemb.decoding.TreeDecoder`: per-node thresholds and the extra-path cut-off
fitted on validation). All of them read the text through :func:`prodemb.text.clean`, so
every system sees the same tokens.

API (estimator-like, the same for every peer)::

    peer = TfidfLogReg(taxonomy, mode="leaf", C=10)
    peer.fit(train_texts, y_train, val_texts, y_val)   # y: 0/1 node matrices
    probs = peer.predict_proba(texts)                   # (n, n_nodes) float32
    decoder = TreeDecoder(taxonomy).fit(peer.predict_proba(val_texts), y_val)
    paths = decoder.decode(probs); y_pred = decoder.predict(probs)

Two ways to turn a flat classifier into tree-node probabilities (``mode``):

* ``"leaf"``: one class per path end (a leaf in a complete catalogue), softmax /
  multinomial over those classes; a node's probability is the sum of the
  probabilities of the classes below it (itself included). A product with two
  paths is a training example of each. Consistent by construction.
* ``"nodes"``: one binary classifier per tree node (one-vs-rest over the whole
  tree, like prodemb's sigmoid outputs).

Peers:

* :class:`TfidfLogReg`: TF-IDF of word 1-2-grams and ``char_wb`` 2-5-grams +
  logistic regression.
* :class:`TfidfLinearSVM`: the same features + a linear SVM; decision values are
  mapped to probabilities on the validation split (a softmax temperature in
  ``leaf`` mode, one Platt sigmoid for all nodes in ``nodes`` mode).
* :class:`FastTextPeer`: fastText supervised (``fasttext-wheel``), optionally with
  its autotune on the validation split; ``leaf`` = softmax loss, ``nodes`` = ``ova``.
* :class:`Word2VecMeanLogReg`: the mean of the Word2Vec vectors of a text's tokens
  + logistic regression (the unsupervised use of the same embeddings).

:func:`select` fits a small grid of configurations and keeps the one with the best
validation leaf macro-F1 after decoding, which is how the benchmark tunes peers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import softmax as _softmax

from prodemb.decoding import TreeDecoder, complete_paths, path_ends
from prodemb.metrics import evaluate
from prodemb.taxonomy import Taxonomy
from prodemb.text import MAX_TOKENS, clean

log = logging.getLogger(__name__)

Texts = Sequence[str]


# ---------------------------------------------------------------------- tree helpers
def class_to_node_matrix(taxonomy: Taxonomy, classes: Sequence[int]) -> np.ndarray:
    """``M[c, a] = 1`` when node ``a`` is on the path of class (path end) ``classes[c]``."""
    m = np.zeros((len(classes), taxonomy.n_nodes), dtype=np.float32)
    for c, node in enumerate(classes):
        m[c, taxonomy.ancestors(int(node))] = 1.0
    return m


def leaf_to_node_probs(class_probs: np.ndarray, class_nodes: np.ndarray) -> np.ndarray:
    """Node probabilities as sums of class probabilities: ``(n, C) @ (C, n_nodes)``."""
    return np.clip(np.asarray(class_probs, dtype=np.float32) @ class_nodes, 0.0, 1.0)


def expand_to_classes(taxonomy: Taxonomy, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and class labels for ``leaf`` mode: one example per path of each row.

    Returns ``(row_index, path_end_node)``, both ``(n_examples,)``.
    """
    rows, labels = [], []
    for i, ends in enumerate(path_ends(taxonomy, y)):
        for e in ends:
            rows.append(i)
            labels.append(e)
    return np.asarray(rows, dtype=np.int64), np.asarray(labels, dtype=np.int64)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax (:func:`scipy.special.softmax` over axis 1)."""
    return _softmax(z, axis=1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def clean_texts(texts: Texts, max_tokens: int = MAX_TOKENS) -> list[str]:
    return [clean(t, max_tokens) for t in texts]


# ---------------------------------------------------------------------- base
class Peer:
    """Base class: subclasses implement ``_fit(X, y, X_val, y_val)`` and ``_proba(X)`` on
    features from ``featurize``; ``fit``/``predict_proba`` take raw texts."""

    name = "peer"

    def __init__(self, taxonomy: Taxonomy, mode: str = "leaf", max_tokens: int = MAX_TOKENS):
        if mode not in ("leaf", "nodes"):
            raise ValueError(f"mode must be 'leaf' or 'nodes', got {mode!r}")
        self.taxonomy = taxonomy
        self.mode = mode
        self.max_tokens = max_tokens
        self.classes: np.ndarray | None = None       # leaf mode: path-end node per class
        self.class_nodes: np.ndarray | None = None   # leaf mode: (C, n_nodes)
        self.fit_seconds = 0.0

    # -- public API on raw texts
    def featurize(self, texts: Texts, fit: bool = False):
        """Features of raw texts (cleaned first); ``fit=True`` learns the featurizer."""
        return clean_texts(texts, self.max_tokens)

    def fit(self, texts: Texts, y: np.ndarray, val_texts: Texts | None = None,
            y_val: np.ndarray | None = None) -> Peer:
        start = time.perf_counter()
        x = self.featurize(texts, fit=True)
        x_val = self.featurize(val_texts) if val_texts is not None else None
        self.fit_features(x, y, x_val, y_val)
        self.fit_seconds = time.perf_counter() - start
        return self

    def predict_proba(self, texts: Texts) -> np.ndarray:
        return self.predict_proba_features(self.featurize(texts))

    # -- on precomputed features (the benchmark's grid search reuses them)
    def fit_features(self, x, y: np.ndarray, x_val=None, y_val=None) -> Peer:
        y = np.asarray(y, dtype=np.uint8)
        if y.shape[1] != self.taxonomy.n_nodes:
            raise ValueError(f"y must have {self.taxonomy.n_nodes} columns, got {y.shape[1]}")
        if self.mode == "leaf":
            rows, labels = expand_to_classes(self.taxonomy, y)
            self.classes = np.unique(labels)
            self.class_nodes = class_to_node_matrix(self.taxonomy, self.classes)
            lab_index = np.searchsorted(self.classes, labels)
            self._fit_leaf(_take(x, rows), lab_index, x_val, y_val)
        else:
            self._fit_nodes(x, y, x_val, y_val)
        return self

    def predict_proba_features(self, x) -> np.ndarray:
        if self.mode == "leaf":
            return leaf_to_node_probs(self._leaf_proba(x), self.class_nodes)
        return np.asarray(self._node_proba(x), dtype=np.float32)

    def val_class_index(self, y_val: np.ndarray) -> np.ndarray:
        """Class index of the first path of each validation row (-1: class unseen in training)."""
        ends = [e[0] if e else -1 for e in path_ends(self.taxonomy, y_val)]
        pos = np.searchsorted(self.classes, ends)
        pos = np.clip(pos, 0, len(self.classes) - 1)
        return np.where(self.classes[pos] == np.asarray(ends), pos, -1)

    # -- to implement
    def _fit_leaf(self, x, labels: np.ndarray, x_val, y_val) -> None:
        raise NotImplementedError

    def _leaf_proba(self, x) -> np.ndarray:
        """Class probabilities ``(n, C)`` of a scikit-learn classifier fitted by
        :meth:`_fit_classifier` (a class it never saw gets 0)."""
        p = np.zeros((x.shape[0], len(self.classes)), dtype=np.float32)
        p[:, self.model_classes] = self.model.predict_proba(x)
        return p

    def _fit_classifier(self, model, x, labels: np.ndarray) -> None:
        """Fit ``model`` on the leaf classes, its convergence warnings silenced (the
        iteration caps are chosen for time; the tuning on validation judges the result)."""
        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, labels)
        self.model, self.model_classes = model, model.classes_

    def _fit_nodes(self, x, y: np.ndarray, x_val, y_val) -> None:
        raise NotImplementedError

    def _node_proba(self, x) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict:
        return {"mode": self.mode}


def _take(x, rows: np.ndarray):
    if isinstance(x, list):
        return [x[i] for i in rows]
    return x[rows]


# ---------------------------------------------------------------------- TF-IDF
class TfidfFeatures:
    """TF-IDF of word 1-2-grams and ``char_wb`` 2-5-grams (sublinear tf, min_df 2), hstacked."""

    def __init__(self, word_ngrams=(1, 2), char_ngrams=(2, 5), min_df: int = 2):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.word = TfidfVectorizer(ngram_range=tuple(word_ngrams), sublinear_tf=True,
                                    min_df=min_df, dtype=np.float32, token_pattern=r"\S+")
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(char_ngrams),
                                    sublinear_tf=True, min_df=min_df, dtype=np.float32)
        self.fitted = False

    def fit_transform(self, cleaned: list[str]):
        import scipy.sparse as sp

        x = sp.hstack([self.word.fit_transform(cleaned), self.char.fit_transform(cleaned)],
                      format="csr")
        self.fitted = True
        return _unit_rows(x)

    def transform(self, cleaned: list[str]):
        import scipy.sparse as sp

        x = sp.hstack([self.word.transform(cleaned), self.char.transform(cleaned)], format="csr")
        return _unit_rows(x)

    @property
    def n_features(self) -> int:
        return len(self.word.vocabulary_) + len(self.char.vocabulary_)


def _unit_rows(x):
    """Rows scaled to unit L2 norm (the two blocks are each unit-norm; this averages them)."""
    import scipy.sparse as sp

    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    out = (sp.diags(1.0 / np.maximum(norms, 1e-12)).astype(np.float32) @ x).tocsr()
    out.sum_duplicates()
    out.sort_indices()
    return out


class _TfidfPeer(Peer):
    def __init__(self, taxonomy: Taxonomy, mode: str = "leaf", C: float = 1.0,
                 features: TfidfFeatures | None = None, n_jobs: int = 1,
                 max_tokens: int = MAX_TOKENS, seed: int = 0):
        super().__init__(taxonomy, mode, max_tokens)
        self.C = C
        self.features = features or TfidfFeatures()
        self.n_jobs = n_jobs
        self.seed = seed

    def featurize(self, texts: Texts, fit: bool = False):
        cleaned = clean_texts(texts, self.max_tokens)
        if fit and not self.features.fitted:
            return self.features.fit_transform(cleaned)
        return self.features.transform(cleaned)

    def _binary_columns(self, y: np.ndarray) -> list[int]:
        return list(range(y.shape[1]))

    def describe(self) -> dict:
        return {"mode": self.mode, "C": self.C}


class TfidfLogReg(_TfidfPeer):
    """TF-IDF + logistic regression.

    ``leaf``: multinomial LR over path ends (``saga``, at most ``max_iter`` epochs);
    ``nodes``: one binary LR (``liblinear``, dual) per tree node.
    """

    name = "tfidf_logreg"

    def __init__(self, *args, max_iter: int = 100, tol: float = 1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_iter = max_iter
        self.tol = tol

    def _fit_leaf(self, x, labels, x_val, y_val) -> None:
        from sklearn.linear_model import LogisticRegression

        self._fit_classifier(LogisticRegression(C=self.C, solver="saga", max_iter=self.max_iter,
                                                tol=self.tol, random_state=self.seed), x, labels)

    def _fit_nodes(self, x, y, x_val, y_val) -> None:
        from sklearn.linear_model import LogisticRegression

        def make():
            # The dual solver: several times faster than the primal one on TF-IDF (as
            # many features as products), same optimum.
            return LogisticRegression(C=self.C, solver="liblinear", dual=True,
                                      max_iter=max(self.max_iter, 1000), tol=1e-4)
        self.node_models = _fit_binary_per_column(make, x, y, self.n_jobs)

    def _node_proba(self, x) -> np.ndarray:
        return sigmoid(self.node_models.scores(x)).astype(np.float32)


class TfidfLinearSVM(_TfidfPeer):
    """TF-IDF + linear SVM (``LinearSVC``, squared hinge, L2).

    ``leaf``: one-vs-rest SVM over path ends; the decision values become class
    probabilities by a softmax whose temperature minimises the validation log-loss.
    ``nodes``: one SVM per tree node; decision values become probabilities by one Platt
    sigmoid shared by all nodes, fitted on the validation split.
    """

    name = "tfidf_svm"

    def _fit_leaf(self, x, labels, x_val, y_val) -> None:
        from sklearn.svm import LinearSVC

        self.model = LinearSVC(C=self.C, tol=1e-4, max_iter=2000, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(x, labels)
        self.model_classes = self.model.classes_
        self.temperature = 1.0
        if x_val is not None and y_val is not None:
            target = self.val_class_index(y_val)
            keep = target >= 0
            scores = self._scores(x_val)[keep]
            self.temperature = _fit_temperature(scores, target[keep])

    def _scores(self, x) -> np.ndarray:
        s = np.full((x.shape[0], len(self.classes)), -10.0, dtype=np.float64)
        d = self.model.decision_function(x)
        if d.ndim == 1:  # two classes
            d = np.stack([-d, d], axis=1)
        s[:, self.model_classes] = d
        return s

    def _leaf_proba(self, x) -> np.ndarray:
        return softmax(self._scores(x) / self.temperature).astype(np.float32)

    def _fit_nodes(self, x, y, x_val, y_val) -> None:
        from sklearn.svm import LinearSVC

        def make():
            return LinearSVC(C=self.C, tol=1e-4, max_iter=2000, random_state=self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.node_models = _fit_binary_per_column(make, x, y, self.n_jobs)
        # One sigmoid for all nodes, fitted on validation: a Platt sigmoid per node
        # over-fits the few validation examples of rare nodes (on the fashion catalogue
        # it cost 0.05-0.07 test leaf macro-F1 against a single one).
        self.platt_a, self.platt_b = 2.0, 0.0
        if x_val is not None and y_val is not None:
            a, b = fit_platt(self.node_models.scores(x_val).reshape(-1, 1),
                             np.asarray(y_val).reshape(-1, 1))
            self.platt_a, self.platt_b = float(a[0]), float(b[0])

    def _node_proba(self, x) -> np.ndarray:
        s = self.node_models.scores(x)
        return sigmoid(self.platt_a * s + self.platt_b).astype(np.float32)


def _fit_binary_per_column(make: Callable, x, y: np.ndarray, n_jobs: int = 1) -> StackedLinear:
    """One binary model ``make()`` per column of the 0/1 matrix ``y``: scikit-learn's
    :class:`~sklearn.multiclass.OneVsRestClassifier` (``n_jobs`` threads sharing ``x``). A
    column that is constant in training gets a constant score (:class:`StackedLinear`)."""
    from joblib import parallel_config
    from sklearn.multiclass import OneVsRestClassifier

    if hasattr(x, "sum_duplicates"):
        # Canonical CSR up front: scikit-learn's checks otherwise canonicalise the shared
        # matrix in place, which is not safe from several threads.
        x = x.tocsr()
        x.sum_duplicates()
        x.sort_indices()
    with warnings.catch_warnings(), parallel_config(backend="threading"):
        warnings.filterwarnings("ignore", message="Label .* is present in all training examples")
        ovr = OneVsRestClassifier(make(), n_jobs=n_jobs).fit(x, np.asarray(y, dtype=np.int64))
    return StackedLinear(ovr.estimators_, x.shape[1])


class StackedLinear:
    """Per-column binary linear models stacked into one weight matrix: scores in one product.

    A column without a linear model (always or never positive in training: scikit-learn's
    constant predictor, ``y_`` its one class) scores +10 or -10."""

    def __init__(self, models: list, n_features: int):
        self.w = np.zeros((n_features, len(models)), dtype=np.float32)
        self.b = np.zeros(len(models), dtype=np.float64)
        for j, m in enumerate(models):
            if not hasattr(m, "coef_"):
                self.b[j] = 10.0 if np.ravel(m.y_)[0] else -10.0
            else:
                self.w[:, j] = np.asarray(m.coef_, dtype=np.float32).ravel()
                self.b[j] = float(np.ravel(m.intercept_)[0])

    def scores(self, x) -> np.ndarray:
        """Decision values, ``(n, n_columns)`` float64."""
        return np.asarray(x @ self.w, dtype=np.float64) + self.b


def _fit_temperature(scores: np.ndarray, target: np.ndarray) -> float:
    """The softmax temperature minimising the log-loss of ``target`` (log-spaced grid)."""
    if len(target) == 0:
        return 1.0
    best_t, best_nll = 1.0, np.inf
    rows = np.arange(len(target))
    for t in np.geomspace(0.02, 5.0, 40):
        p = softmax(scores / t)
        nll = -np.mean(np.log(np.maximum(p[rows, target], 1e-12)))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def fit_platt(scores: np.ndarray, y: np.ndarray, iters: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Platt scaling per column: ``p = σ(a·s + b)`` fitted by Newton's method, with Platt's
    smoothed targets (so columns with no positives stay finite). Shapes ``(L,)``."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n_pos = y.sum(axis=0)
    n_neg = len(y) - n_pos
    t = np.where(y > 0, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    a = np.ones(s.shape[1])
    b = np.zeros(s.shape[1])
    lam = 1e-6
    for _ in range(iters):
        p = sigmoid(a * s + b)
        g = p - t
        w = np.maximum(p * (1 - p), 1e-12)
        ga, gb = (g * s).sum(0) + lam * a, g.sum(0)
        haa, hab, hbb = (w * s * s).sum(0) + lam, (w * s).sum(0), w.sum(0) + lam
        det = haa * hbb - hab * hab
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if max(np.abs(da).max(), np.abs(db).max()) < 1e-7:
            break
    return a, b


# ---------------------------------------------------------------------- fastText
@contextlib.contextmanager
def _quiet_stderr(enabled: bool = True):
    """Silence file descriptor 2 (C++ code writing to stderr) while the block runs."""
    if not enabled:
        yield
        return
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


class FastTextPeer(Peer):
    """fastText supervised.

    ``leaf``: softmax over path ends (``loss="softmax"``); ``nodes``: one-vs-all over
    every tree node (``loss="ova"``). With ``autotune_seconds > 0`` fastText's own
    autotune searches the hyper-parameters on the validation split (metric F1 of the
    top label; in ``nodes`` mode the search runs in ``leaf`` form and its result is then
    trained with ``ova``, because autotune's F1 needs a fixed number of labels per item).

    Prediction uses the low-level ``model.f.multilinePredict``: the high-level
    ``predict`` of fasttext-wheel 0.9.2 fails with numpy 2.
    """

    name = "fasttext"
    TUNED_KEYS = ("lr", "dim", "ws", "epoch", "minCount", "wordNgrams", "minn", "maxn",
                  "bucket", "neg", "loss", "lrUpdateRate", "t")

    def __init__(self, taxonomy: Taxonomy, mode: str = "leaf", params: dict | None = None,
                 autotune_seconds: int = 0, threads: int = 2, seed: int = 0,
                 max_tokens: int = MAX_TOKENS, verbose: int = 0):
        super().__init__(taxonomy, mode, max_tokens)
        self.params = dict(params or {})
        self.autotune_seconds = autotune_seconds
        self.threads = threads
        self.seed = seed
        self.verbose = verbose
        self.tuned: dict = {}

    @staticmethod
    def _line(text: str, labels: Sequence[int]) -> str:
        return " ".join(f"__label__{n}" for n in labels) + " " + text

    def _train(self, lines: list[str], val_lines: list[str] | None, loss: str,
               autotune: int, params: dict):
        import fasttext

        with tempfile.TemporaryDirectory(prefix="prodemb-ft-") as tmp:
            train_file = os.path.join(tmp, "train.txt")
            with open(train_file, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            kwargs = {"input": train_file, "thread": self.threads, "seed": self.seed,
                      "verbose": self.verbose, "loss": loss}
            kwargs.update(params)
            if autotune and val_lines:
                val_file = os.path.join(tmp, "val.txt")
                with open(val_file, "w", encoding="utf-8") as f:
                    f.write("\n".join(val_lines) + "\n")
                kwargs.update(autotuneValidationFile=val_file, autotuneDuration=int(autotune))
            with _quiet_stderr(not self.verbose):  # autotune prints progress regardless
                return fasttext.train_supervised(**kwargs)

    def fit_features(self, x, y, x_val=None, y_val=None) -> FastTextPeer:
        y = np.asarray(y, dtype=np.uint8)
        ends = path_ends(self.taxonomy, y)
        self.classes = np.unique([e for es in ends for e in es])
        self.class_nodes = class_to_node_matrix(self.taxonomy, self.classes)
        leaf_lines = [self._line(t, es) for t, es in zip(x, ends) if es and t]
        val_leaf = None
        if x_val is not None and y_val is not None:
            val_leaf = [self._line(t, [es[0]]) for t, es in
                        zip(x_val, path_ends(self.taxonomy, y_val)) if es and t]
        params = dict(self.params)
        if self.autotune_seconds and val_leaf:
            tuned = self._train(leaf_lines, val_leaf, "softmax", self.autotune_seconds, params)
            args = tuned.f.getArgs()
            self.tuned = {k: getattr(args, k) for k in self.TUNED_KEYS if hasattr(args, k)}
            self.tuned["loss"] = str(self.tuned.get("loss", "softmax")).split(".")[-1]
            params.update({k: v for k, v in self.tuned.items() if k != "loss"})
            if self.mode == "leaf":
                self.model = tuned
                self._finish()
                return self
        if self.mode == "leaf":
            self.model = self._train(leaf_lines, None, "softmax", 0, params)
        else:
            node_lines = [self._line(t, np.flatnonzero(row).tolist())
                          for t, row in zip(x, y) if row.any() and t]
            self.model = self._train(node_lines, None, "ova", 0, params)
        self._finish()
        return self

    def _finish(self) -> None:
        labels = self.model.f.getLabels("strict")[0]
        self.label_nodes = np.array([int(lab.replace("__label__", "")) for lab in labels])
        self._label_class_nodes = class_to_node_matrix(self.taxonomy, self.label_nodes)
        self.used_params = {k: getattr(self.model.f.getArgs(), k) for k in self.TUNED_KEYS
                            if hasattr(self.model.f.getArgs(), k)}
        self.used_params["loss"] = str(self.used_params.get("loss")).split(".")[-1]

    def raw_predict(self, lines: list[str]) -> list[list[tuple[float, str]]]:
        """``(probability, label)`` of every label for each cleaned line (low-level API).

        ``model.f.predict`` one line at a time: the high-level ``predict`` fails with
        numpy 2 and ``f.multilinePredict`` of fasttext-wheel 0.9.2 returns the first
        probability for every label.
        """
        f = self.model.f
        return [f.predict(t + "\n", -1, 0.0, "strict") for t in lines]

    def predict_proba_features(self, x) -> np.ndarray:
        lookup = {f"__label__{n}": j for j, n in enumerate(self.label_nodes)}
        dense = np.zeros((len(x), len(self.label_nodes)), dtype=np.float32)
        for i, pairs in enumerate(self.raw_predict(list(x))):
            for p, lab in pairs:
                dense[i, lookup[lab]] = p
        if self.mode == "leaf":
            return leaf_to_node_probs(dense, self._label_class_nodes)
        out = np.zeros((len(x), self.taxonomy.n_nodes), dtype=np.float32)
        out[:, self.label_nodes] = np.clip(dense, 0.0, 1.0)  # ova can round to 1 + 1e-5
        return out

    def describe(self) -> dict:
        return {"mode": self.mode, "autotune_seconds": self.autotune_seconds,
                "params": {k: (v if isinstance(v, int | float | str) else str(v))
                           for k, v in getattr(self, "used_params", {}).items()}}


# ---------------------------------------------------------------------- Word2Vec mean
class Word2VecMeanLogReg(Peer):
    """Mean of the Word2Vec vectors of a text's tokens (unknown tokens skipped), standardised,
    + logistic regression (``leaf``: multinomial, ``nodes``: one binary LR per node)."""

    name = "w2v_mean_logreg"

    def __init__(self, taxonomy: Taxonomy, word_vectors, mode: str = "leaf", C: float = 1.0,
                 max_tokens: int = MAX_TOKENS, max_iter: int = 300, n_jobs: int = 1):
        super().__init__(taxonomy, mode, max_tokens)
        self.word_vectors = word_vectors
        self.C = C
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.mean = self.scale = None

    def featurize(self, texts: Texts, fit: bool = False) -> np.ndarray:
        wv = self.word_vectors
        out = np.zeros((len(texts), wv.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            ids = [wv.index[w] for w in clean(t, self.max_tokens).split() if w in wv.index]
            if ids:
                out[i] = wv.vectors[ids].mean(axis=0)
        if fit or self.mean is None:
            self.mean = out.mean(axis=0)
            self.scale = out.std(axis=0) + 1e-6
        return (out - self.mean) / self.scale

    def _fit_leaf(self, x, labels, x_val, y_val) -> None:
        from sklearn.linear_model import LogisticRegression

        self._fit_classifier(LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter),
                             x, labels)

    def _fit_nodes(self, x, y, x_val, y_val) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        def make():
            return LogisticRegression(C=self.C, solver="lbfgs", max_iter=self.max_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.node_models = _fit_binary_per_column(make, x, y, self.n_jobs)

    def _node_proba(self, x) -> np.ndarray:
        return sigmoid(self.node_models.scores(x)).astype(np.float32)

    def describe(self) -> dict:
        return {"mode": self.mode, "C": self.C}


# ---------------------------------------------------------------------- selection
@dataclass
class Trial:
    """One configuration tried by :func:`select`."""

    config: dict
    val_leaf_macro_f1: float
    val_macro_f1: float
    fit_seconds: float
    extra: dict = field(default_factory=dict)


def validation_scores(taxonomy: Taxonomy, probs_val: np.ndarray, y_val: np.ndarray,
                      complete: bool | None = None) -> tuple[TreeDecoder, dict]:
    """Decoder tuned on validation and the validation scores of its decoded predictions."""
    decoder = TreeDecoder(taxonomy, complete).fit(probs_val, y_val)
    return decoder, evaluate(taxonomy, y_val, decoder.predict(probs_val), with_pairs=False)


def select(make: Callable[[dict], Peer], grid: Sequence[dict], x, y, x_val, y_val,
           complete: bool | None = None,
           on_trial: Callable[[Trial], None] | None = None) -> tuple[Peer, TreeDecoder, list[Trial]]:
    """Fit ``make(config)`` for each config on precomputed features; keep the best by
    validation leaf macro-F1 after tree decoding (all-node macro-F1 breaks ties).

    Returns the best fitted peer, its decoder and every trial.
    """
    best = None
    trials = []
    for config in grid:
        peer = make(config)
        start = time.perf_counter()
        peer.fit_features(x, y, x_val, y_val)
        seconds = time.perf_counter() - start
        probs = peer.predict_proba_features(x_val)
        decoder, scores = validation_scores(peer.taxonomy, probs, y_val, complete)
        trial = Trial(dict(config), scores["leaf_macro_f1"], scores["macro_f1"], seconds,
                      {"describe": peer.describe()})
        trials.append(trial)
        if on_trial:
            on_trial(trial)
        key = (trial.val_leaf_macro_f1, trial.val_macro_f1)
        if best is None or key > best[0]:
            best = (key, peer, decoder)
    return best[1], best[2], trials


__all__ = [
    "FastTextPeer", "Peer", "TfidfFeatures", "TfidfLinearSVM", "TfidfLogReg", "TreeDecoder",
    "Trial", "Word2VecMeanLogReg", "class_to_node_matrix", "complete_paths", "expand_to_classes",
    "fasttext_available", "fit_platt", "leaf_to_node_probs", "path_ends", "select",
    "validation_scores",
]
