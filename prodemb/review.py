"""Acting on confusions: merge proposals, what-if metrics and the products behind a confusion.

Everything here works on what a bundle already stores, so nothing is retrained and nothing
is classified again: the true and predicted paths of the validation and test products in
``products.parquet`` (the predictions that scored the bundle at training) and the tree.

* :func:`merge_proposals`: groups of leaves that the classifier mixes up with each other.
  Two leaves are linked when each is mistaken for the other (both directions counted, as
  in :func:`prodemb.metrics.confused_pairs`) and the confusions between them are at least
  ``min_rate`` of their products; a proposal is a connected group of linked leaves, so the
  demo's scarf trio is one proposal, not three pairs.
* :func:`what_if_merge`: the metrics of the tree with a group collapsed into one leaf,
  recomputed from the stored predictions (a product predicted in any leaf of the group is
  predicted in the merged leaf), beside the metrics as they are.
* :func:`confused_products`: the products behind one cell of the confusion matrix.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .metrics import evaluate, path_end_pairs, summary
from .taxonomy import (
    LEVEL_SEPARATOR,
    PATH_SEPARATOR,
    Taxonomy,
    format_path,
    parse_path,
    split_paths,
)

#: The splits whose stored predictions count as evidence (validation and test: the
#: products the classifier was not trained on).
EVIDENCE_SPLITS = ("validation", "test")
#: Confusions between two leaves, as a share of their products, that link them.
MIN_MERGE_RATE = 0.15


class ReviewError(ValueError):
    """A merge or a lookup that the bundle's tree or products cannot answer."""


@dataclass
class MergeProposal:
    """Leaves the classifier confuses with each other, proposed as one category.

    Attributes:
        leaves: display paths of the leaves, sorted.
        into: display path of the merged leaf (:func:`merged_path`).
        links: the pairs that link the group: ``a``, ``b``, ``a_as_b``, ``b_as_a``,
            ``total``, ``rate`` (as in :func:`prodemb.metrics.confused_pairs`).
        confusions: products of one leaf predicted as another leaf of the group, in the
            evidence splits.
        products: products of the evidence splits whose true path ends in the group.
    """

    leaves: list[str]
    into: str
    links: list[dict] = field(default_factory=list)
    confusions: int = 0
    products: int = 0

    @property
    def rate(self) -> float:
        """Share of the group's products that were predicted as another leaf of it."""
        return self.confusions / self.products if self.products else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "rate": round(self.rate, 4)}


# ---------------------------------------------------------------------- stored predictions
def _node_sets(taxonomy: Taxonomy, cells: Sequence[str], what: str) -> list[list[tuple]]:
    try:
        return [taxonomy.cell_paths(cell) for cell in cells]
    except KeyError as e:
        raise ReviewError(f"products.parquet: the {what} path {e.args[0]!r} is not in the "
                          "bundle's tree") from None


def stored_paths(products: pd.DataFrame, taxonomy: Taxonomy,
                 splits: Sequence[str] = EVIDENCE_SPLITS) -> tuple[pd.DataFrame, list, list]:
    """The products of ``splits`` with their true and predicted paths as tuples.

    Returns ``(rows, true, pred)``: the products' rows of ``products`` (index kept) and,
    per row, the list of true paths and the list of predicted paths."""
    rows = products[products["split"].isin(list(splits))]
    true = _node_sets(taxonomy, rows["true_path"].tolist(), "true")
    pred = _node_sets(taxonomy, rows["pred_path"].fillna("").tolist(), "predicted")
    return rows, true, pred


def _pairs(taxonomy: Taxonomy, true: list, pred: list) -> Counter:
    return path_end_pairs(taxonomy, taxonomy.binarize(true), taxonomy.binarize(pred))


# ---------------------------------------------------------------------- proposals
def merged_path(leaves: Sequence[str]) -> str:
    """Where a group of leaves goes by default: a new leaf under their deepest common
    ancestor, named after the leaves (``"Accessories > Scarves > Knit scarf + Scarf /
    Shawl"``); leaves with no common ancestor get a new top-level node."""
    paths = [parse_path(p) for p in sorted(leaves)]
    common: list[str] = []
    for names in zip(*paths):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    common = common[: min(len(p) for p in paths) - 1]
    name = " + ".join(p[-1] for p in paths)
    return format_path([*common, name])


def worth_merging(a_as_b: int, b_as_a: int, support: int, min_rate: float = MIN_MERGE_RATE) -> bool:
    """The merge rule shared by the Review page's proposals (:func:`merge_proposals`) and
    the Per-class F1 page's hints (:func:`prodemb.report.merge_hints`): two categories are
    worth merging when each was predicted for the other's products at least once and the
    confusions both ways are at least ``min_rate`` of their ``support`` (the products of
    both). A one-way confusion (10 Flats predicted as Heels, none back) is the model
    leaning to one class, not two classes it cannot tell apart: no merge."""
    return bool(a_as_b > 0 and b_as_a > 0 and support > 0
                and (a_as_b + b_as_a) / support >= min_rate)


def merge_proposals(products: pd.DataFrame, taxonomy: Taxonomy, min_rate: float = MIN_MERGE_RATE,
                    splits: Sequence[str] = EVIDENCE_SPLITS) -> list[MergeProposal]:
    """Groups of leaves confused with each other, the most confused group first.

    Two leaves are linked when each was predicted for the other's products at least once
    in ``splits`` and the confusions between them are at least ``min_rate`` of the two
    leaves' products; groups are the connected components of the links (union-find).
    Proposals are sorted by the share of their products predicted as another leaf of the
    group, then by size."""
    rows, true, pred = stored_paths(products, taxonomy, splits)
    pairs = _pairs(taxonomy, true, pred)
    leaf = taxonomy.is_leaf
    support: Counter = Counter()
    for (t, _p), n in pairs.items():
        support[t] += n
    parent = {}

    def find(a: int) -> int:
        while parent.setdefault(a, a) != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    links = []
    seen = set()
    for (a, b) in pairs:
        if a == b or not (leaf[a] and leaf[b]) or (b, a) in seen:
            continue
        seen.add((a, b))
        ab, ba = pairs.get((a, b), 0), pairs.get((b, a), 0)
        denom = support[a] + support[b]
        if worth_merging(ab, ba, denom, min_rate):
            links.append((a, b, ab, ba, denom))
            parent[find(a)] = find(b)
    groups: dict[int, set[int]] = {}
    for a, b, *_ in links:
        groups.setdefault(find(a), set()).update((a, b))
    proposals = []
    for members in groups.values():
        names = sorted(taxonomy.name(i) for i in members)
        group_links = [{"a": taxonomy.name(a), "b": taxonomy.name(b), "a_as_b": ab, "b_as_a": ba,
                        "total": ab + ba, "rate": round((ab + ba) / denom, 4)}
                       for a, b, ab, ba, denom in links if a in members]
        confusions = sum(n for (t, p), n in pairs.items() if t != p and t in members and p in members)
        proposals.append(MergeProposal(names, merged_path(names),
                                       sorted(group_links, key=lambda d: -d["rate"]), confusions,
                                       sum(support[i] for i in members)))
    return sorted(proposals, key=lambda p: (-p.rate, -len(p.leaves), p.leaves))


# ---------------------------------------------------------------------- what-if
def _check_group(taxonomy: Taxonomy, paths: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(p.strip() for p in paths if p and p.strip()))
    if len(names) < 2:
        raise ReviewError(f"a merge needs at least two categories, got {len(names)}")
    known = {taxonomy.name(i): i for i in range(taxonomy.n_nodes)}
    for name in names:
        if name not in known:
            raise ReviewError(f"{name!r} is not a category of this bundle")
        if not taxonomy.is_leaf[known[name]]:
            raise ReviewError(f"{name!r} is not a leaf; only leaves can be merged (merge its "
                              "leaves, or roll rare leaves up with --min-leaf-count)")
    return names


def _rewrite(paths_per_item: list, group: set[tuple], into: tuple) -> list:
    out = []
    for paths in paths_per_item:
        new = [into if p in group else p for p in paths]
        out.append(list(dict.fromkeys(new)))
    return out


def _scores(taxonomy: Taxonomy, true: list, pred: list, name: str | None) -> dict:
    result = evaluate(taxonomy, taxonomy.binarize(true), taxonomy.binarize(pred), with_pairs=False)
    out = {k: (round(v, 5) if isinstance(v, float) else v) for k, v in summary(result).items()}
    out["level_macro_f1"] = {k: round(v, 5) for k, v in out["level_macro_f1"].items()}
    out["n_leaves"] = int(taxonomy.is_leaf.sum())
    if name is not None:
        row = next((c for c in result["per_class"] if c["name"] == name), None)
        out["class"] = row
    return out


def what_if_merge(products: pd.DataFrame, taxonomy: Taxonomy, paths: Sequence[str],
                  into: str | None = None, splits: Sequence[str] = EVIDENCE_SPLITS) -> dict:
    """Metrics of the tree with the leaves ``paths`` (display paths) merged into one leaf.

    ``into``: display path of the merged leaf (default :func:`merged_path`); it may be a
    new path or an existing node (merging into the parent). Every true and predicted path
    ending in a merged leaf is moved to ``into``; nothing is retrained.

    Returns ``{"merged": [...], "into": ..., "splits": {split: {"before": scores, "after":
    scores}}}``, where scores are the headline metrics (:func:`prodemb.metrics.summary`),
    ``n_leaves`` and, for ``after``, ``class``: the merged leaf's row (precision, recall,
    F1, support); for ``before`` the rows of the merged leaves in ``classes``.
    """
    names = _check_group(taxonomy, paths)
    into = (into or merged_path(names)).strip()
    into_path = parse_path(into)
    if any(not n.strip() for n in into_path):
        raise ReviewError(f"{into!r} is not a category path (levels joined by '{LEVEL_SEPARATOR}')")
    group = {parse_path(n) for n in names}
    # Every other node stays (a parent left without children becomes a leaf, and a
    # product labelled only down to it keeps its path).
    others = [node for node in taxonomy.nodes if node not in group]
    merged_tax = Taxonomy.from_paths([*others, into_path])
    out = {"merged": names, "into": into, "splits": {}}
    for split in splits:
        rows, true, pred = stored_paths(products, taxonomy, (split,))
        if not len(rows):
            continue
        before = _scores(taxonomy, true, pred, None)
        result = evaluate(taxonomy, taxonomy.binarize(true), taxonomy.binarize(pred), with_pairs=False)
        before["classes"] = [c for c in result["per_class"] if c["name"] in names]
        after = _scores(merged_tax, _rewrite(true, group, into_path),
                        _rewrite(pred, group, into_path), into)
        out["splits"][split] = {"before": before, "after": after,
                                "moved_products": int(sum(any(p in group for p in t) for t in true))}
    if not out["splits"]:
        raise ReviewError(f"the bundle has no {' or '.join(splits)} products to score a merge on")
    return out


# ---------------------------------------------------------------------- drill-down
def confused_products(products: pd.DataFrame, taxonomy: Taxonomy, true: str, predicted: str,
                      splits: Sequence[str] = EVIDENCE_SPLITS) -> pd.DataFrame:
    """The products of ``splits`` whose true path ends at ``true`` and which were predicted
    at ``predicted`` (display paths; equal for the products classified right), with id,
    split, text, true and predicted paths and the top path's score: one row per product."""
    known = {taxonomy.name(i) for i in range(taxonomy.n_nodes)}
    for name in (true, predicted):
        if name not in known:
            raise ReviewError(f"{name!r} is not a category of this bundle")
    rows = products[products["split"].isin(list(splits))]
    t_cells = rows["true_path"].fillna("").map(split_paths)
    p_cells = rows["pred_path"].fillna("").map(split_paths)
    if true == predicted:
        keep = [true in t and true in p for t, p in zip(t_cells, p_cells)]
    else:
        keep = [true in t and predicted in p and true not in p for t, p in zip(t_cells, p_cells)]
    cols = [c for c in ("id", "split", "text", "true_path", "pred_path", "pred_score") if c in rows]
    return rows.loc[np.asarray(keep, dtype=bool), cols].reset_index(drop=True)


# ---------------------------------------------------------------------- label review
#: Out-of-fold model of :func:`label_doubts`: TF-IDF over word 1-2-grams (in at least two
#: products) and logistic regression by SGD, with passes over the training folds until
#: about this many product updates (5 to 40 passes): 5 passes found 26 % planted errors
#: among the 50 most doubted of 5,000 demo products, 40 passes 66 %; on 50,000 the 5
#: passes of the rule find 94-98 % (bench/bench_review.py).
DOUBT_UPDATES = 160_000
DOUBT_PASSES = (5, 40)


def label_doubts(texts: Sequence[str], labels: Sequence[str], folds: int = 3, seed: int = 0,
                 ) -> tuple[np.ndarray, np.ndarray]:
    """How much a model that never saw each labelled product doubts its label.

    ``texts``: cleaned texts ``(n,)``; ``labels``: each product's category (its first path
    end, a display path) ``(n,)``. The products are split into ``folds`` folds; a TF-IDF +
    logistic-regression model trained on the other folds gives each product the
    probability of its own label, ``p`` (confident learning's self-confidence: a planted
    wrong label gets a low one, bench/bench_review.py).

    A label that stops above the leaves (``Men > Apparel``) is not doubted by a model that
    finds the product deeper in it (``Men > Apparel > Topwear > Tshirts``): ``p`` is the
    probability of the label and of every category under it, and the suggestion is the most
    probable category outside it.

    Returns ``(doubt, suggestion)``: ``1 - p`` ``(n,)`` float32, NaN where no other fold held
    the label or a category under it (nothing to judge by), and the most probable other
    category ``(n,)``."""
    import warnings

    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import KFold

    labels = np.asarray(labels, dtype=object)
    n = len(labels)
    doubt = np.full(n, np.nan, dtype=np.float32)
    suggestion = np.full(n, "", dtype=object)
    classes, y = np.unique(labels, return_inverse=True)
    if folds < 2 or n < 2 * folds or len(classes) < 2:
        return doubt, suggestion
    # within[c, j]: category j is c or under it (c a proper prefix of j's path).
    index = {str(c): i for i, c in enumerate(classes)}
    pairs = [(i, i) for i in range(len(classes))]
    for j, c in enumerate(classes):
        parts = str(c).split(LEVEL_SEPARATOR)
        pairs += [(index[a], j) for a in (LEVEL_SEPARATOR.join(parts[:d]) for d in range(1, len(parts)))
                  if a in index]
    rows_, cols_ = np.array(pairs).T
    within = sparse.csr_matrix((np.ones(len(pairs), dtype=np.float32), (rows_, cols_)),
                               shape=(len(classes), len(classes)))
    x = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float32,
                        token_pattern=r"\S+").fit_transform(texts)
    for train, held in KFold(folds, shuffle=True, random_state=seed).split(np.arange(n)):
        if len(np.unique(y[train])) < 2:
            continue
        passes = int(np.clip(np.ceil(DOUBT_UPDATES / len(train)), *DOUBT_PASSES))
        model = SGDClassifier(loss="log_loss", alpha=2e-6, max_iter=passes, tol=None,
                              random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fewer passes than convergence: on purpose
            model.fit(x[train], y[train])
        proba = model.predict_proba(x[held])                       # (h, classes seen)
        mine = within[y[held]][:, model.classes_].toarray() > 0     # (h, classes seen)
        judged = mine.any(axis=1)
        own_p = np.where(judged, (proba * mine).sum(axis=1), np.nan)
        other = np.where(mine, -1.0, proba)
        doubt[held] = 1.0 - own_p
        suggestion[held] = classes[model.classes_[other.argmax(axis=1)]]
    return doubt, suggestion


#: The largest odds against a label :func:`odds_against` gives: ``label_doubt`` is stored
#: as float32, which cannot tell a label's probability below 2**-24 from 0.
MAX_ODDS_AGAINST = float(2 ** 24)


def odds_against(doubt) -> np.ndarray:
    """The odds against the label, ``doubt / (1 - doubt)`` (``label_doubt`` is ``1 - p``):
    how many times likelier the out-of-fold model finds some other category than the
    label. Doubts of 0.99999 and 0.9999999 both show as 1.000 but are odds of about
    100,000 and 10,000,000 against; the order is the doubt's. At most
    :data:`MAX_ODDS_AGAINST` (a doubt of 1 in float32); NaN stays NaN."""
    d = np.asarray(doubt, dtype=np.float64)
    return d / np.maximum(1.0 - d, 1.0 / MAX_ODDS_AGAINST)


def review_queue(products: pd.DataFrame, subtree: str | None = None, n: int = 50) -> pd.DataFrame:
    """Labelled products whose label the out-of-fold model doubts most (``label_doubt``
    column of a bundle's products, :func:`label_doubts`), optionally only those whose true
    path is in ``subtree`` (a display path), at most ``n`` rows, most doubted first, with
    ``doubt_odds``, the odds against the label (:func:`odds_against`), which tells apart
    doubts that all round to 1.000."""
    if "label_doubt" not in products:
        return products.iloc[:0]
    rows = products[products["split"].isin(["train", "validation", "test"])
                    & products["label_doubt"].notna()]
    if subtree:
        rows = rows[_in_subtree(rows["true_path"], subtree)]
    rows = rows.sort_values("label_doubt", ascending=False, kind="stable").head(n)
    return rows.assign(doubt_odds=odds_against(rows["label_doubt"]))


def labelling_queue(products: pd.DataFrame, subtree: str | None = None, n: int = 50) -> pd.DataFrame:
    """Unlabelled products the classifier is least sure about (smallest margin between its
    two most probable leaves, ``pred_margin``): labelling them teaches it most. Optionally
    only those predicted in ``subtree``; at most ``n`` rows, smallest margin first."""
    if "pred_margin" not in products:
        return products.iloc[:0]
    rows = products[products["split"] == "unlabelled"]
    if subtree:
        rows = rows[_in_subtree(rows["pred_path"], subtree)]
    return rows.sort_values("pred_margin", kind="stable").head(n)


def _in_subtree(cells: pd.Series, subtree: str) -> pd.Series:
    prefix = subtree + LEVEL_SEPARATOR
    return cells.fillna("").map(lambda c: any(p == subtree or p.startswith(prefix)
                                              for p in split_paths(c)))


def leaf_margin(probs: np.ndarray, leaves: Sequence[int]) -> np.ndarray:
    """Top leaf probability minus the second, per row of node probabilities ``(n, N)``:
    ``(n,)`` float32 (1 with a single leaf)."""
    leaf = np.asarray(probs, dtype=np.float32)[:, list(leaves)]
    if leaf.shape[1] < 2:
        return np.ones(len(leaf), dtype=np.float32)
    top2 = -np.partition(-leaf, 1, axis=1)[:, :2]
    return (top2[:, 0] - top2[:, 1]).astype(np.float32)


# ---------------------------------------------------------------------- two bundles
def compare_bundles(metrics_a: dict, products_a: pd.DataFrame, metrics_b: dict,
                    products_b: pd.DataFrame, split: str = "test") -> dict:
    """Bundle B against bundle A on ``split``, from what each stored at training.

    ``metrics_*``: the bundles' metrics.json; ``products_*``: their products.parquet.
    Returns ``{"headline": rows of (metric, a, b, delta), "classes": one row per category
    in either tree (name, leaf, support and F1 in each, delta; NaN where a tree lacks it),
    "changed": {"common": test products of both (by id), "changed": those whose predicted
    paths differ, "share": changed / common, "levels": the levels compared when the trees
    differ in depth, else None}}``. Per-class deltas compare the categories by name, so a
    category renamed or merged in B shows as gone from A and new in B; ``leaf`` is true only
    for a category that is a leaf in each tree holding it.

    Predictions are compared as sets of paths (a multi-path product lists its paths by
    score, so the same two paths in another order are the same prediction), cut to the
    shallower tree's depth when one bundle was trained with fewer levels (``--max-depth``):
    otherwise every product would count as changed."""
    sa, sb = metrics_a["splits"].get(split), metrics_b["splits"].get(split)
    if not sa or not sb:
        raise ReviewError(f"both bundles need stored {split} metrics")
    keys = ("macro_f1", "leaf_macro_f1", "micro_f1", "exact_match")
    headline = [{"metric": k, "a": sa.get(k), "b": sb.get(k),
                 "delta": (sb[k] - sa[k]) if k in sa and k in sb else None} for k in keys]
    ca = pd.DataFrame(sa.get("per_class", []))
    cb = pd.DataFrame(sb.get("per_class", []))
    cols = ["name", "leaf", "support", "f1"]
    classes = (ca.reindex(columns=cols).merge(cb.reindex(columns=cols), on="name", how="outer",
                                              suffixes=("_a", "_b")))
    leaf_a, leaf_b = classes["leaf_a"], classes["leaf_b"]
    classes["leaf"] = (leaf_a.fillna(leaf_b).astype(bool) & leaf_b.fillna(leaf_a).astype(bool))
    classes["delta"] = classes["f1_b"] - classes["f1_a"]
    classes = classes[["name", "leaf", "support_a", "f1_a", "support_b", "f1_b", "delta"]]
    classes = classes.sort_values("delta", key=lambda d: d.abs(), ascending=False, na_position="last")
    ta = products_a[products_a["split"] == split][["id", "pred_path"]]
    tb = products_b[products_b["split"] == split][["id", "pred_path"]]
    both = ta.merge(tb, on="id", suffixes=("_a", "_b"))
    depth_a, depth_b = len(sa.get("level_macro_f1") or {}), len(sb.get("level_macro_f1") or {})
    levels = min(depth_a, depth_b) if depth_a and depth_b and depth_a != depth_b else None

    def path_set(cell) -> frozenset:
        return frozenset(LEVEL_SEPARATOR.join(p.split(LEVEL_SEPARATOR)[:levels])
                         for p in split_paths("" if pd.isna(cell) else cell))
    changed = int((both["pred_path_a"].map(path_set) != both["pred_path_b"].map(path_set)).sum())
    return {"headline": headline, "classes": classes.reset_index(drop=True),
            "changed": {"common": int(len(both)), "changed": changed,
                        "share": round(changed / len(both), 4) if len(both) else None,
                        "levels": levels}}


def proposals_table(proposals: Sequence[MergeProposal]) -> pd.DataFrame:
    """One row per proposal: leaves (joined with `` | ``), merged path, products, confusions
    and their share."""
    return pd.DataFrame([{"leaves": PATH_SEPARATOR.join(p.leaves), "into": p.into,
                          "products": p.products, "confusions": p.confusions,
                          "rate": round(p.rate, 4)} for p in proposals],
                        columns=["leaves", "into", "products", "confusions", "rate"])


__all__ = ["MergeProposal", "ReviewError", "merge_proposals", "what_if_merge", "merged_path",
           "confused_products", "proposals_table", "stored_paths", "MIN_MERGE_RATE",
           "label_doubts", "odds_against", "worth_merging", "review_queue", "labelling_queue", "leaf_margin", "compare_bundles"]
