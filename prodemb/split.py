"""Train / validation / test split by multi-label iterative stratification.

The label matrix is the whole-tree 0/1 matrix (every node on a product's paths),
so every node, not only leaves, keeps its proportion in each split
(Sechidis et al. 2011, via the ``iterative-stratification`` package).

Products with identical cleaned text are grouped first and a group is assigned
as a whole: real catalogues repeat titles a lot, and a title seen in training
must not be "predicted" in the test split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SPLITS = ("train", "validation", "test")


def group_ids(keys: Sequence[str]) -> np.ndarray:
    """Integer group of each item: items with the same key share a group. Shape ``(n,)``."""
    _, inverse = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def stratified_split(
    y: np.ndarray,
    groups: np.ndarray | None = None,
    proportions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> np.ndarray:
    """Assign each item to a split.

    Args:
        y: 0/1 label matrix, shape ``(n_items, n_labels)``.
        groups: group id per item, shape ``(n_items,)``; a group never straddles splits.
        proportions: fraction of items per split (train, validation, test); sums to 1.
        seed: random seed for tie-breaking.

    Returns:
        Split index per item (0 train, 1 validation, 2 test), shape ``(n_items,)``.

    Every label that occurs at all occurs in train: a group holding the only
    examples of a label outside train is moved to train.
    """
    from iterstrat.ml_stratifiers import IterativeStratification

    y = np.asarray(y).astype(bool)
    n = y.shape[0]
    r = np.asarray(proportions, dtype=float)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(r < 0) or abs(r.sum() - 1) > 1e-6:
        raise ValueError(f"split proportions must be >= 0 and sum to 1, got {list(proportions)}")
    if groups is None:
        groups = np.arange(n)
    groups = np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    # One row per group: the union of its members' labels, weighted by member count
    # through repetition would over-weight big groups; the union keeps it simple and
    # the group sizes are small (a handful of repeats).
    y_groups = np.zeros((len(uniq), y.shape[1]), dtype=bool)
    np.logical_or.at(y_groups, inverse, y)
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(uniq))  # the algorithm breaks ties by position too
    folds = np.empty(len(uniq), dtype=np.int64)
    folds[order] = IterativeStratification(y_groups[order], r, rng)
    _ensure_labels_in_train(y_groups, folds)
    return folds[inverse]


def _ensure_labels_in_train(y_groups: np.ndarray, folds: np.ndarray) -> None:
    in_train = y_groups[folds == 0].any(axis=0)
    for label in np.flatnonzero(y_groups.any(axis=0) & ~in_train):
        if y_groups[folds == 0, label].any():
            continue
        candidates = np.flatnonzero(y_groups[:, label])
        folds[candidates[0]] = 0


def split_report(y: np.ndarray, split: np.ndarray) -> dict:
    """Counts and the largest deviation of label proportions between splits."""
    y = np.asarray(y, dtype=bool)
    total = y.sum(axis=0)
    out = {"counts": {name: int((split == i).sum()) for i, name in enumerate(SPLITS)}}
    frac = {}
    for i, name in enumerate(SPLITS):
        n_i = max(1, (split == i).sum())
        frac[name] = y[split == i].sum(axis=0) / n_i
    common = total >= 50
    out["max_proportion_gap_common_labels"] = float(max(
        (np.abs(frac[a][common] - frac[b][common]).max() if common.any() else 0.0)
        for a in SPLITS for b in SPLITS))
    out["labels_missing_from_train"] = int(((total > 0) & ~y[split == 0].any(axis=0)).sum())
    return out
