"""The tree decoder: one owner of how node probabilities become category paths.

:meth:`prodemb.taxonomy.Taxonomy.decode` turns node probabilities into hierarchy-consistent
paths with per-node thresholds and an extra-path cut-off. :class:`TreeDecoder` holds those
settings, chooses them on validation products (:meth:`TreeDecoder.fit`) and decodes with
them. ``prodemb train`` fits one and saves it with the bundle (``thresholds.npy`` and the
manifest's ``decoding``, :mod:`prodemb.bundle_format`), :class:`prodemb.bundle.Bundle`
decodes with the saved one, and every peer of ``bench/bench_quality.py`` (``bench/peers.py``)
fits its own the same way, so every system is decoded alike.
"""

from __future__ import annotations

import numpy as np

from .metrics import macro_f1
from .taxonomy import Taxonomy, cut_paths

THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)
EXTRA_PATH_GRID = (1.01, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)  # 1.01: never a second path
#: Paths per product when the decoder is tuned and scored (:meth:`TreeDecoder.predict`).
MAX_PATHS = 3
#: A node needs this many validation products to get a threshold of its own; rarer nodes
#: share their level's. A threshold tuned on one to nine products fits those products: on
#: the long-tail demo (most leaves have 0-2 validation products) validation leaf macro-F1
#: was 0.76 and test 0.59-0.60 with a threshold for every node with a product, test
#: 0.636-0.641 with this rule (2 seeds); Fashion, fashion-small (2 seeds) and the demo moved
#: by 0.000, +0.003/+0.009 and -0.003 (bench/decoding_rule.py, decoding_rule.json).
MIN_THRESHOLD_POSITIVES = 10


def _f1_per_label(pred: np.ndarray, y: np.ndarray, pos: np.ndarray) -> np.ndarray:
    tp = (pred & y).sum(axis=0)
    fp = (pred & ~y).sum(axis=0)
    return np.where(pos > 0, 2 * tp / np.maximum(2 * tp + fp + (pos - tp), 1), -1.0)


def tune_thresholds(probs: np.ndarray, y: np.ndarray, grid: np.ndarray | None = None,
                    default: float = 0.5, levels: np.ndarray | None = None,
                    min_positives: int = 1) -> np.ndarray:
    """Per-label threshold maximising that label's F1 on ``(probs, y)``, shape ``(L,)``.

    Ties go to the threshold closest to ``default``. A label with fewer than
    ``min_positives`` positives in ``y`` (at least those without any) is not tuned on its
    own: it gets ``default``, or, with ``levels`` (the tree level of each label, ``(L,)``),
    the one threshold that, applied to all labels of its level that have positives, gives
    them the best mean F1. In a long-tailed tree most rare leaves have no validation
    product, and 0.5 was far too strict for them (a rare leaf shares its probability with
    its siblings and the leaf head's mix).
    """
    grid = THRESHOLD_GRID if grid is None else grid
    y = np.asarray(y, dtype=bool)
    probs = np.asarray(probs)
    pos = y.sum(axis=0)
    best_f1 = np.full(y.shape[1], -1.0)
    best_t = np.full(y.shape[1], default, dtype=np.float32)
    fallback = np.full(y.shape[1], default, dtype=np.float32)
    level_best = {}
    # Visit thresholds from the default outwards so that ties keep the closer one.
    for t in sorted(grid, key=lambda g: abs(g - default)):
        f1 = _f1_per_label(probs >= t, y, pos)
        better = f1 > best_f1
        best_f1[better] = f1[better]
        best_t[better] = t
        if levels is not None:
            for lv in np.unique(levels):
                tuned = (levels == lv) & (pos > 0)
                if tuned.any():
                    mean = f1[tuned].mean()
                    if mean > level_best.get(lv, (-1.0, default))[0] + 1e-9:
                        level_best[lv] = (mean, t)
    if levels is not None:
        for lv, (_, t) in level_best.items():
            fallback[levels == lv] = t
    pooled = pos < max(min_positives, 1)
    best_t[pooled] = fallback[pooled]
    return best_t


def tune_extra_path_min(taxonomy: Taxonomy, probs: np.ndarray, y: np.ndarray,
                        thresholds: np.ndarray, complete: bool,
                        siblings: set[tuple[int, int]] | None = None) -> float:
    """The ``extra_path_min`` of :meth:`Taxonomy.decode` that maximises validation macro-F1
    (with the sibling rule of :class:`TreeDecoder` when ``siblings`` is given)."""
    # The paths are found once; each cut-off only keeps fewer of them (decoding each anew
    # took most of the time of choosing the mixing weights, which fit a decoder per
    # candidate).
    scored = TreeDecoder(taxonomy, complete, thresholds, None, siblings).scored_ends(probs)
    best, best_f1 = EXTRA_PATH_GRID[0], -1.0
    for value in EXTRA_PATH_GRID:
        pred = taxonomy.ends_to_matrix([[e for e, _ in cut_paths(s, MAX_PATHS, value)]
                                        for s in scored])
        f1 = macro_f1(y, pred)
        if f1 > best_f1 + 1e-6:
            best, best_f1 = value, f1
    return best


def path_ends(taxonomy: Taxonomy, y: np.ndarray) -> list[list[int]]:
    """The path-end nodes of every row of a 0/1 node matrix (nodes with no child in the row)."""
    out = []
    for row in np.asarray(y, dtype=bool):
        ids = set(np.flatnonzero(row).tolist())
        out.append(sorted(i for i in ids if not any(c in ids for c in taxonomy.children[i])))
    return out


def complete_paths(taxonomy: Taxonomy, y: np.ndarray) -> bool:
    """True when every path of the 0/1 node matrix ``y`` ends at a leaf."""
    leaf = taxonomy.is_leaf
    return all(leaf[e] for ends in path_ends(taxonomy, y) for e in ends)


def co_occurring_siblings(taxonomy: Taxonomy, y: np.ndarray) -> set[tuple[int, int]]:
    """Pairs ``(a, b)``, ``a < b``, of sibling path ends (two children of one parent) that
    at least one product of the 0/1 node matrix ``y`` has both of: the catalogue files
    such products under both (a bundle of two colours, a set), so a second path there is
    an answer, not indecision."""
    parents = taxonomy.parents
    out: set[tuple[int, int]] = set()
    for ends in path_ends(taxonomy, y):
        if len(ends) < 2:
            continue
        for i, a in enumerate(ends):
            for b in ends[i + 1:]:
                if parents[a] >= 0 and parents[a] == parents[b]:
                    out.add((min(a, b), max(a, b)))
    return out


#: The manifest's ``decoding`` key of the co-occurring sibling ends (see TreeDecoder).
SIBLINGS_KEY = "co_occurring_siblings"
#: The ``extra_path_min`` of a saved decoder whose manifest does not give one.
DEFAULT_EXTRA_PATH_MIN = 0.5


class TreeDecoder:
    """How node probabilities become hierarchy-consistent paths (:meth:`Taxonomy.decode`),
    with settings fitted on validation products.

    Attributes:
        taxonomy: the tree.
        complete: when no child of a predicted node passes its threshold, go on to the
            most probable child (down to a leaf) instead of stopping there. ``None``
            before :meth:`fit`: chosen there (see :meth:`fit`).
        thresholds: per-node thresholds, float32 ``(n_nodes,)`` (None before :meth:`fit`).
        extra_path_min: a second or later path needs at least this score.
        siblings: the sibling rule: a second or later path whose end is a sibling (same
            parent) of an already kept path's end is offered only when the pair is in this
            set of co-occurring sibling ends (:func:`co_occurring_siblings`, learned from
            the labelled products when the bundle is trained). Two sibling leaves compete
            for one parent ("Folding umbrellas | Stick umbrellas"): only one is the answer,
            unless the catalogue itself files products under both. ``None``: no rule
            (bundles trained before it decode as they did).

    Fit on validation (``TreeDecoder(taxonomy).fit(probs_val, y_val)``) or built from saved
    settings (``TreeDecoder(taxonomy, complete, thresholds, extra_path_min)``, as
    :func:`prodemb.bundle_format.read_bundle` does).
    """

    def __init__(self, taxonomy: Taxonomy, complete: bool | None = None,
                 thresholds: np.ndarray | None = None, extra_path_min: float | None = None,
                 siblings: set[tuple[int, int]] | None = None):
        self.taxonomy = taxonomy
        self.complete = complete
        self.thresholds = thresholds
        self.extra_path_min = extra_path_min
        self.siblings = None if siblings is None else {(min(a, b), max(a, b)) for a, b in siblings}

    def __repr__(self) -> str:
        state = "not fitted" if self.thresholds is None else \
            f"extra_path_min={self.extra_path_min}, complete={self.complete}"
        return f"TreeDecoder({self.taxonomy.n_nodes} nodes, {state})"

    @property
    def fitted(self) -> bool:
        return self.thresholds is not None

    def fit(self, probs_val: np.ndarray, y_val: np.ndarray,
            min_positives: int = MIN_THRESHOLD_POSITIVES, y_known: np.ndarray | None = None,
            sibling_rule: bool = True) -> TreeDecoder:
        """Choose the settings on validation node probabilities ``(n, n_nodes)`` and labels.

        With ``sibling_rule``, the co-occurring sibling ends (see ``siblings``) are learned
        from ``y_known`` (the labels of the products the model may know: training and
        validation; None: ``y_val``), before the extra-path cut-off is chosen with the rule.

        Per-node thresholds (:func:`tune_thresholds`; nodes with fewer than
        ``min_positives`` validation products share their level's), then the extra-path
        cut-off. When the catalogue's paths all end at leaves (``complete``; None: judged
        from ``y_val``), decoding always goes down to a leaf. When some stop higher, whether
        to stop where the thresholds stop or to go on to the most probable leaf is chosen on
        validation too: stopping early is right for a product the catalogue itself only
        knows coarsely, but where such products read like the others (a shop that
        categorised a product coarsely, not a coarse product), going on scored better, and
        a category manager gets a full path (on the long-tail demo, test leaf macro-F1 0.53
        stopping and 0.60 going on).
        """
        taxonomy = self.taxonomy
        if self.complete is None:
            self.complete = complete_paths(taxonomy, y_val)
        thresholds = tune_thresholds(probs_val, y_val, levels=taxonomy.levels,
                                     min_positives=min_positives)
        self.siblings = (co_occurring_siblings(taxonomy, y_val if y_known is None else y_known)
                         if sibling_rule else None)
        best: tuple[float, float, bool] | None = None
        for mode in ((True,) if self.complete else (False, True)):
            extra = tune_extra_path_min(taxonomy, probs_val, y_val, thresholds, mode, self.siblings)
            candidate = TreeDecoder(taxonomy, mode, thresholds, extra, self.siblings)
            f1 = macro_f1(y_val, candidate.predict(probs_val))
            if best is None or f1 > best[0] + 1e-6:
                best = (f1, extra, mode)
        _, self.extra_path_min, self.complete = best
        self.thresholds = thresholds
        return self

    def decode(self, probs: np.ndarray, max_paths: int = MAX_PATHS):
        """Per item, up to ``max_paths`` ``(path, score)``, most probable first
        (:meth:`Taxonomy.decode`)."""
        nodes = self.taxonomy.nodes
        return [[(nodes[e], score) for e, score in cut_paths(s, max_paths, self.extra_path_min)]
                for s in self.scored_ends(probs)]

    def scored_ends(self, probs: np.ndarray) -> list[list[tuple[int, float]]]:
        """Per item, ``(end node id, score)`` of every path before the cut
        (:meth:`Taxonomy.scored_ends`), after the sibling rule. Cutting every path first
        and then applying the rule keeps the same paths: the rule drops a path only for
        an earlier kept one, so it keeps a prefix's paths whatever follows the prefix."""
        if self.thresholds is None:
            raise RuntimeError("TreeDecoder is not fitted")
        scored = self.taxonomy.scored_ends(probs, self.thresholds, complete=bool(self.complete))
        if self.siblings is None:
            return scored
        return [self._without_rival_siblings(s) for s in scored]

    def _without_rival_siblings(self, scored: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """``scored`` (most probable first) without a later path whose end is a sibling of
        an earlier kept path's end, unless the pair co-occurs in the catalogue."""
        if len(scored) < 2:
            return scored
        parents = self.taxonomy.parents
        kept = scored[:1]
        for end, score in scored[1:]:
            rival = any(parents[end] >= 0 and parents[end] == parents[e]
                        and (min(e, end), max(e, end)) not in self.siblings for e, _ in kept)
            if not rival:
                kept.append((end, score))
        return kept

    def predict(self, probs: np.ndarray) -> np.ndarray:
        """0/1 node matrix of the decoded paths, ``(n, n_nodes)``."""
        return self.taxonomy.ends_to_matrix(
            [[e for e, _ in cut_paths(s, MAX_PATHS, self.extra_path_min)]
             for s in self.scored_ends(probs)])

    def settings(self) -> dict:
        """What the bundle's manifest keeps besides the thresholds (``decoding``); the
        co-occurring sibling ends (node id pairs) only when the sibling rule is on."""
        out = {"extra_path_min": self.extra_path_min, "complete": self.complete}
        if self.siblings is not None:
            out[SIBLINGS_KEY] = sorted([int(a), int(b)] for a, b in self.siblings)
        return out

    @classmethod
    def from_settings(cls, taxonomy: Taxonomy, thresholds: np.ndarray, settings: dict,
                      complete_paths: bool = True) -> TreeDecoder:
        """The decoder saved with a bundle: its thresholds and the manifest's ``decoding``
        (a bundle without ``complete`` there decodes as its ``complete_paths`` says; one
        without co-occurring siblings, trained before the sibling rule, without the rule)."""
        siblings = None
        if settings.get(SIBLINGS_KEY) is not None:
            pairs = [tuple(int(v) for v in pair) for pair in settings[SIBLINGS_KEY]]
            if any(len(p) != 2 or not all(0 <= v < taxonomy.n_nodes for v in p) for p in pairs):
                raise ValueError(f"decoding.{SIBLINGS_KEY}: pairs of node ids of the taxonomy expected")
            siblings = set(pairs)
        return cls(taxonomy, bool(settings.get("complete", complete_paths)), thresholds,
                   float(settings.get("extra_path_min", DEFAULT_EXTRA_PATH_MIN)), siblings)
