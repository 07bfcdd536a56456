"""Evaluation of tree predictions.

All scores are computed on 0/1 node matrices ``(n_items, n_nodes)`` in which a
product's set holds every node on its paths. Macro averages run over the labels
that have at least one true example in the evaluated items (a label absent from
a split can be neither right nor wrong there); this equals scikit-learn's
``f1_score(..., labels=present, average="macro", zero_division=0)``.

Because the node sets are closed under ancestors, hierarchical precision/recall/F1
(Kiritchenko et al.: micro-averaged over the ancestor-augmented sets) equal the
micro-averaged scores over all nodes; both are reported under their own names.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from .taxonomy import Taxonomy


def _counts(y_true: np.ndarray, y_pred: np.ndarray):
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    return tp, fp, fn


def per_label_prf(y_true: np.ndarray, y_pred: np.ndarray):
    """Precision, recall, F1, support per label (0 where undefined); each shape ``(L,)``."""
    tp, fp, fn = _counts(y_true, y_pred)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = np.where(tp + fn > 0, tp / np.maximum(tp + fn, 1), 0.0)
    f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return precision, recall, f1, tp + fn


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Macro-F1 over labels with support (optionally only labels where ``mask`` is True)."""
    _, _, f1, support = per_label_prf(y_true, y_pred)
    keep = support > 0
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    return float(f1[keep].mean()) if keep.any() else 0.0


def micro_prf(y_true: np.ndarray, y_pred: np.ndarray, mask: np.ndarray | None = None):
    tp, fp, fn = _counts(y_true, y_pred)
    if mask is not None:
        tp, fp, fn = tp[mask], fp[mask], fn[mask]
    tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return float(p), float(r), float(f)


def path_end_pairs(taxonomy: Taxonomy, y_true: np.ndarray, y_pred: np.ndarray) -> Counter:
    """Counts of (true path end, predicted path end) node pairs, including agreements.

    For each item, every true path end that was missed is paired with every
    predicted path end that is wrong; a true end that was predicted is paired with
    itself. Shape-free: a Counter keyed by ``(true_node, pred_node)``.
    """
    pairs: Counter = Counter()
    for t_row, p_row in zip(np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)):
        t_ends = _ends(taxonomy, np.flatnonzero(t_row))
        p_ends = _ends(taxonomy, np.flatnonzero(p_row))
        wrong = [p for p in p_ends if p not in t_ends]
        for t in t_ends:
            if t in p_ends:
                pairs[(t, t)] += 1
            else:
                for p in wrong:
                    pairs[(t, p)] += 1
    return pairs


def _ends(taxonomy: Taxonomy, ids: np.ndarray) -> set[int]:
    s = set(int(i) for i in ids)
    return {i for i in s if not any(c in s for c in taxonomy.children[i])}


def confused_pairs(taxonomy: Taxonomy, pairs: Counter, top: int = 20) -> list[dict]:
    """The most confused pairs of path ends, counting both directions.

    ``rate`` = confusions between a and b / (true items of a + true items of b).
    """
    support: Counter = Counter()
    for (t, _p), n in pairs.items():
        support[t] += n
    both: Counter = Counter()
    for (t, p), n in pairs.items():
        if t != p:
            both[tuple(sorted((t, p)))] += n
    out = []
    for (a, b), n in both.most_common(top):
        ab, ba = pairs.get((a, b), 0), pairs.get((b, a), 0)
        denom = support[a] + support[b]
        out.append({"a": taxonomy.name(a), "b": taxonomy.name(b), "a_as_b": ab, "b_as_a": ba,
                    "total": n, "rate": round(n / denom, 4) if denom else 0.0})
    return out


def evaluate(taxonomy: Taxonomy, y_true: np.ndarray, y_pred: np.ndarray,
             with_pairs: bool = True) -> dict:
    """All scores of a prediction. ``y_true``, ``y_pred``: 0/1 ``(n_items, n_nodes)``."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    precision, recall, f1, support = per_label_prf(y_true, y_pred)
    leaf = taxonomy.is_leaf
    levels = taxonomy.levels
    hp, hr, hf = micro_prf(y_true, y_pred)
    result = {
        "n_items": int(len(y_true)),
        "macro_f1": macro_f1(y_true, y_pred),
        "leaf_macro_f1": macro_f1(y_true, y_pred, leaf),
        "micro_f1": hf,
        "leaf_micro_f1": micro_prf(y_true, y_pred, leaf)[2],
        "level_macro_f1": {str(lv): macro_f1(y_true, y_pred, levels == lv)
                           for lv in range(1, taxonomy.depth + 1)},
        "hierarchical": {"precision": hp, "recall": hr, "f1": hf},
        "exact_match": float((y_true == y_pred).all(axis=1).mean()) if len(y_true) else 0.0,
        "per_class": [
            {"node": i, "name": taxonomy.name(i), "level": int(levels[i]), "leaf": bool(leaf[i]),
             "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
             "f1": round(float(f1[i]), 4), "support": int(support[i]),
             "predicted": int(y_pred[:, i].sum())}
            for i in range(taxonomy.n_nodes)
        ],
    }
    if with_pairs:
        pairs = path_end_pairs(taxonomy, y_true, y_pred)
        result["confusion"] = [[int(t), int(p), int(n)] for (t, p), n in sorted(pairs.items())]
        result["most_confused"] = confused_pairs(taxonomy, pairs)
    return result


def summary(result: dict) -> dict:
    """The headline numbers of an :func:`evaluate` result."""
    keys = ("n_items", "macro_f1", "leaf_macro_f1", "micro_f1", "leaf_micro_f1", "level_macro_f1",
            "exact_match")
    return {k: result[k] for k in keys if k in result}
