"""Tables and frames behind the dashboard's *Per-class F1* and *Embedding map* pages.

Pure pandas/numpy: no Streamlit, no plotly, so everything here is unit-tested and
the pages only render. Inputs are a bundle's ``metrics.json`` dict (one split's
entry, ``metrics["splits"][split]``), its :class:`~prodemb.taxonomy.Taxonomy` and
its ``products`` frame.

Paths are display strings (``"A > B > C"``); a product with several paths has
them joined by ``" | "``. A *subtree* is given by the display path of its top
node; ``None`` or ``""`` means the whole tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .taxonomy import DISPLAY_SEPARATOR, PATH_SEPARATOR, Taxonomy
from .text import clean

SPLITS = ("train", "validation", "test")
#: Between the paths of one product (:data:`prodemb.taxonomy.PATH_SEPARATOR`).
PATH_JOIN = PATH_SEPARATOR
#: Label of the confusion-matrix column of predictions outside the chosen subtree.
OTHER = "other"
#: Group of products without a true label on the map.
UNLABELLED = "(unlabelled)"

COLOUR_OPTIONS = {
    "top": "Top-level category",
    "level": "Category at level …",
    "pred": "Predicted class",
    "correct": "Correct vs wrong",
}


# ---------------------------------------------------------------------- paths
def in_subtree(name: str, subtree: str | None) -> bool:
    """Whether the display path ``name`` is ``subtree`` or below it."""
    if not subtree:
        return True
    return name == subtree or name.startswith(subtree + DISPLAY_SEPARATOR)


def relative_name(name: str, subtree: str | None) -> str:
    """``name`` without the ``subtree`` prefix (``"A > B > C"``, ``"A"`` -> ``"B > C"``)."""
    if subtree and name.startswith(subtree + DISPLAY_SEPARATOR):
        return name[len(subtree) + len(DISPLAY_SEPARATOR):]
    return name


def truncate_path(path: str | None, level: int) -> str:
    """The first path of a (possibly multi-path) cell, cut after ``level`` levels."""
    if not isinstance(path, str) or not path:
        return ""
    first = path.split(PATH_JOIN, 1)[0]
    return DISPLAY_SEPARATOR.join(first.split(DISPLAY_SEPARATOR)[:max(int(level), 1)])


def first_path(path: str | None) -> str:
    """The first path of a multi-path cell (``""`` for a missing one)."""
    if not isinstance(path, str) or not path:
        return ""
    return path.split(PATH_JOIN, 1)[0]


def lowest_common_ancestor(a: str, b: str) -> str | None:
    """Display path of the deepest node above or at both ``a`` and ``b``, or None."""
    pa, pb = a.split(DISPLAY_SEPARATOR), b.split(DISPLAY_SEPARATOR)
    common = []
    for x, y in zip(pa, pb):
        if x != y:
            break
        common.append(x)
    return DISPLAY_SEPARATOR.join(common) if common else None


def subtree_options(taxonomy: Taxonomy, inner_only: bool = True) -> list[str]:
    """Display paths of nodes that make sense as a subtree (nodes with children), in tree order."""
    return [taxonomy.name(i) for i in range(taxonomy.n_nodes)
            if not inner_only or taxonomy.children[i]]


# ---------------------------------------------------------------------- headline
def headline_table(metrics: Mapping) -> pd.DataFrame:
    """One row per split present (train, validation, test) with the headline scores.

    Columns: ``items``, ``macro-F1``, ``macro-F1 @0.5`` (plain 0.5 thresholds, beside the
    tuned one), ``leaf macro-F1``, ``micro-F1``, ``leaf micro-F1``, one ``L<n> macro-F1``
    per level, ``hierarchical F1``, ``exact match``. Missing values are NaN.
    """
    splits = metrics.get("splits", {})
    levels = sorted({int(k) for s in splits.values() for k in s.get("level_macro_f1", {})})
    rows = []
    for split in [s for s in SPLITS if s in splits] + [s for s in splits if s not in SPLITS]:
        m = splits[split]
        plain = m.get("plain_0.5", {}) or {}
        row = {
            "split": split,
            "items": m.get("n_items", np.nan),
            "macro-F1": m.get("macro_f1", np.nan),
            "macro-F1 @0.5": plain.get("macro_f1", np.nan),
            "leaf macro-F1": m.get("leaf_macro_f1", np.nan),
            "micro-F1": m.get("micro_f1", np.nan),
            "leaf micro-F1": m.get("leaf_micro_f1", np.nan),
        }
        for lv in levels:
            row[f"L{lv} macro-F1"] = m.get("level_macro_f1", {}).get(str(lv), np.nan)
        row["hierarchical F1"] = m.get("hierarchical", {}).get("f1", np.nan)
        row["exact match"] = m.get("exact_match", np.nan)
        rows.append(row)
    cols = (["split", "items", "macro-F1", "macro-F1 @0.5", "leaf macro-F1", "micro-F1",
             "leaf micro-F1"] + [f"L{lv} macro-F1" for lv in levels]
            + ["hierarchical F1", "exact match"])
    df = pd.DataFrame(rows, columns=cols).set_index("split")
    return df


def history_frame(metrics: Mapping) -> pd.DataFrame:
    """Training curves: ``epoch, train_loss, val_loss, val_macro_f1, seconds`` (may be empty)."""
    cols = ["epoch", "train_loss", "val_loss", "val_macro_f1", "seconds"]
    df = pd.DataFrame(list(metrics.get("history", []) or []))
    for c in cols:
        if c not in df.columns:
            df[c] = np.nan
    return df[cols]


# ---------------------------------------------------------------------- per class
PER_CLASS_COLUMNS = ["node", "class", "name", "level", "leaf", "top_level", "precision",
                     "recall", "f1", "support", "predicted"]


def per_class_table(split_metrics: Mapping) -> pd.DataFrame:
    """Per-class scores of one split.

    Columns: ``node`` (id), ``class`` (full display path), ``name`` (last level),
    ``level``, ``leaf``, ``top_level``, ``precision``, ``recall``, ``f1``, ``support``,
    ``predicted``. Tree order.
    """
    df = pd.DataFrame(list(split_metrics.get("per_class", []) or []))
    if df.empty:
        return pd.DataFrame(columns=PER_CLASS_COLUMNS)
    df = df.rename(columns={"name": "class"})
    parts = df["class"].str.split(DISPLAY_SEPARATOR, regex=False)
    df["name"] = parts.str[-1]
    df["top_level"] = parts.str[0]
    for c in ("precision", "recall", "f1"):
        df[c] = df[c].astype(float)
    for c in ("support", "predicted", "level", "node"):
        df[c] = df[c].astype(int)
    df["leaf"] = df["leaf"].astype(bool)
    return df[PER_CLASS_COLUMNS].reset_index(drop=True)


def filter_classes(df: pd.DataFrame, subtree: str | None = None,
                   levels: Iterable[int] | None = None, min_support: int = 0,
                   leaves_only: bool = False) -> pd.DataFrame:
    """Rows of a :func:`per_class_table` in ``subtree`` (the node and all classes under it),
    at the given ``levels`` (None: all), with ``support >= min_support``."""
    keep = np.ones(len(df), dtype=bool)
    if subtree:
        names = df["class"]
        keep &= ((names == subtree) | names.str.startswith(subtree + DISPLAY_SEPARATOR)).to_numpy()
    if levels is not None:
        keep &= df["level"].isin(list(levels)).to_numpy()
    if min_support:
        keep &= (df["support"] >= int(min_support)).to_numpy()
    if leaves_only:
        keep &= df["leaf"].to_numpy(bool)
    return df[keep].reset_index(drop=True)


def label_distribution(metrics: Mapping, splits: Sequence[str] = SPLITS,
                       leaves_only: bool = True) -> pd.DataFrame:
    """Support of every leaf (true items) summed over ``splits``, most common first.

    Columns: ``class``, ``name``, ``top_level``, ``level``, ``support``, one column per
    split, ``share`` (of the summed support). Classes without support are kept (at the end),
    so the imbalance shows in full.
    """
    frames = {}
    for s in splits:
        if s in metrics.get("splits", {}):
            frames[s] = per_class_table(metrics["splits"][s])
    if not frames:
        return pd.DataFrame(columns=["class", "name", "top_level", "level", "support", "share"])
    base = next(iter(frames.values()))[["class", "name", "top_level", "level", "leaf"]].copy()
    for s, f in frames.items():
        base[s] = f["support"].to_numpy()
    base["support"] = base[list(frames)].sum(axis=1)
    if leaves_only:
        base = base[base["leaf"]]
    total = base["support"].sum()
    base["share"] = base["support"] / total if total else 0.0
    base = base.sort_values(["support", "class"], ascending=[False, True], kind="stable")
    return base.drop(columns="leaf").reset_index(drop=True)


# ---------------------------------------------------------------------- confusion
def _triples(split_metrics: Mapping) -> np.ndarray:
    conf = split_metrics.get("confusion", []) or []
    arr = np.asarray(conf, dtype=np.int64).reshape(-1, 3)
    return arr


def subtree_ends(taxonomy: Taxonomy, split_metrics: Mapping, subtree: str | None) -> list[int]:
    """Node ids of the path ends of ``subtree``: its leaves, plus inner nodes that occur as
    a true or predicted path end in the split's confusion triples. Tree order."""
    if subtree:
        root = taxonomy.index(tuple(subtree.split(DISPLAY_SEPARATOR)))
        nodes = set(taxonomy.descendants(root))
    else:
        nodes = set(range(taxonomy.n_nodes))
    conf = _triples(split_metrics)
    seen = set(conf[:, 0].tolist()) | set(conf[:, 1].tolist())
    return sorted(i for i in nodes if not taxonomy.children[i] or i in seen)


def confusion_matrix(taxonomy: Taxonomy, split_metrics: Mapping,
                     subtree: str | None = None, relative: bool = True) -> pd.DataFrame:
    """Counts of (true path end, predicted path end) for the path ends of ``subtree``.

    Rows: true path ends in the subtree; columns: the same ends as predictions, plus
    :data:`OTHER` for predictions outside the subtree. Labels are display paths,
    relative to the subtree when ``relative``. Built from the split's ``confusion``
    triples ``[true_node, pred_node, count]`` (the diagonal holds agreements). An item
    whose true end was missed counts once for every wrong predicted end, so a row may
    sum to more than the class's support.
    """
    ends = subtree_ends(taxonomy, split_metrics, subtree)
    pos = {n: k for k, n in enumerate(ends)}
    mat = np.zeros((len(ends), len(ends) + 1), dtype=np.int64)
    for t, p, n in _triples(split_metrics):
        if t in pos:
            mat[pos[t], pos.get(int(p), len(ends))] += n
    labels = [relative_name(taxonomy.name(i), subtree) if relative else taxonomy.name(i)
              for i in ends]
    df = pd.DataFrame(mat, index=pd.Index(labels, name="true"),
                      columns=pd.Index(labels + [OTHER], name="predicted"))
    return df


def row_normalise(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by its sum (rows without counts stay 0)."""
    sums = matrix.sum(axis=1).to_numpy(float)
    vals = matrix.to_numpy(float) / np.where(sums > 0, sums, 1.0)[:, None]
    return pd.DataFrame(vals, index=matrix.index, columns=matrix.columns)


def confused_pairs(taxonomy: Taxonomy, split_metrics: Mapping,
                   subtree: str | None = None) -> pd.DataFrame:
    """Every pair of distinct path ends confused in the split, both directions counted.

    Columns: ``a``, ``b`` (display paths, ``a`` < ``b`` in tree order), ``a_as_b``,
    ``b_as_a``, ``total``, ``support_a``, ``support_b`` (true items of each class in the
    split, from ``per_class``), ``rate`` = total / (support_a + support_b), ``nested``:
    one category lies inside the other (``Men > Apparel`` and ``Men > Apparel > Topwear >
    Tshirts``: a label that stops above the leaves where the model went on, or the
    reverse), a difference of depth rather than two categories mistaken for each other.
    Sorted by ``total`` then ``rate``, descending. With ``subtree``, only pairs with both
    ends in it.
    """
    cols = ["a", "b", "a_as_b", "b_as_a", "total", "support_a", "support_b", "rate", "nested"]
    support = {int(c["node"]): int(c["support"]) for c in split_metrics.get("per_class", []) or []}
    counts: dict[tuple[int, int], int] = {}
    for t, p, n in _triples(split_metrics):
        if t != p:
            counts[(int(t), int(p))] = counts.get((int(t), int(p)), 0) + int(n)
    pairs = {tuple(sorted(k)) for k in counts}
    rows = []
    for a, b in pairs:
        na, nb = taxonomy.name(a), taxonomy.name(b)
        if subtree and not (in_subtree(na, subtree) and in_subtree(nb, subtree)):
            continue
        ab, ba = counts.get((a, b), 0), counts.get((b, a), 0)
        sa, sb = support.get(a, 0), support.get(b, 0)
        rows.append({"a": na, "b": nb, "a_as_b": ab, "b_as_a": ba, "total": ab + ba,
                     "support_a": sa, "support_b": sb,
                     "rate": (ab + ba) / (sa + sb) if sa + sb else 0.0,
                     "nested": in_subtree(na, nb) or in_subtree(nb, na)})
    df = pd.DataFrame(rows, columns=cols)
    if df.empty:
        return df
    df = df.sort_values(["total", "rate", "a", "b"], ascending=[False, False, True, True],
                        kind="stable")
    return df.reset_index(drop=True)


def merge_hints(taxonomy: Taxonomy, split_metrics: Mapping, threshold: float = 0.15,
                subtree: str | None = None, min_total: int = 1) -> pd.DataFrame:
    """Pairs worth merging by the rule of the Review page's merge proposals
    (:func:`prodemb.review.worth_merging`): each class predicted for the other's items at
    least once, and the confusion rate (a_as_b + b_as_a) / (support_a + support_b) at
    least ``threshold``; also at least ``min_total`` confusions. Highest rate first."""
    from .review import worth_merging

    df = confused_pairs(taxonomy, split_metrics, subtree)
    if df.empty:
        return df
    df = df[~df["nested"]]  # a category and one inside it: a question of depth, not a merge
    keep = [worth_merging(ab, ba, sa + sb, threshold) for ab, ba, sa, sb in
            zip(df["a_as_b"], df["b_as_a"], df["support_a"], df["support_b"])]
    df = df[np.array(keep, dtype=bool) & (df["total"] >= min_total)]
    return df.sort_values(["rate", "total"], ascending=False, kind="stable").reset_index(drop=True)


def default_subtree(taxonomy: Taxonomy, split_metrics: Mapping) -> str | None:
    """The subtree to show first: the lowest common ancestor of the most confused pair
    that has one (e.g. ``Accessories > Scarves`` for the scarf trio; pairs of which one
    lies inside the other only when there are no others), else the top-level node of the
    most confused class, else None."""
    pairs = confused_pairs(taxonomy, split_metrics)
    if len(pairs) and not pairs["nested"].all():
        pairs = pairs[~pairs["nested"]]  # depth differences say less than true confusions
    for a, b in zip(pairs["a"], pairs["b"]):
        lca = lowest_common_ancestor(a, b)
        if lca:
            return lca
    if len(pairs):
        return pairs["a"].iloc[0].split(DISPLAY_SEPARATOR)[0]
    return None


# ---------------------------------------------------------------------- map frames
def _path_pattern(subtree: str) -> re.Pattern:
    esc = re.escape(subtree)
    return re.compile(rf"(?:^|{re.escape(PATH_JOIN)}){esc}(?:$|{re.escape(DISPLAY_SEPARATOR)}|{re.escape(PATH_JOIN)})")


def path_in_subtree(paths: pd.Series, subtree: str | None) -> np.ndarray:
    """Boolean mask: some path of the cell is ``subtree`` or below it (missing cells: False)."""
    if not subtree:
        return np.ones(len(paths), dtype=bool)
    s = paths.astype("string")
    return s.str.contains(_path_pattern(subtree), regex=True, na=False).to_numpy(bool)


def subtree_mask(products: pd.DataFrame, subtree: str | None, on: Sequence[str] = ("true", "pred")) -> np.ndarray:
    """Products whose true or predicted path (``on``) starts with ``subtree``."""
    mask = np.zeros(len(products), dtype=bool) if subtree else np.ones(len(products), dtype=bool)
    if not subtree:
        return mask
    for which in on:
        mask |= path_in_subtree(products[f"{which}_path"], subtree)
    return mask


def colour_labels(products: pd.DataFrame, by: str = "top", level: int = 1) -> pd.Series:
    """The colour group of every product.

    ``by``: ``"top"`` (true top-level category), ``"level"`` (true path cut at ``level``),
    ``"pred"`` (predicted path, the first if several), ``"correct"`` (``correct`` /
    ``wrong``). Products without a true label are :data:`UNLABELLED` for the true-label
    options and for ``"correct"``.
    """
    if by == "correct":
        c = products["correct"].astype("boolean")
        out = np.where(c.isna().to_numpy(), UNLABELLED, np.where(c.fillna(False).to_numpy(bool), "correct", "wrong"))
        return pd.Series(out, index=products.index, name="colour")
    if by == "pred":
        col = products["pred_path"].map(first_path)
        return col.where(col != "", "(no prediction)").rename("colour")
    if by == "top":
        level = 1
    elif by != "level":
        raise ValueError(f"unknown colour option {by!r}; use one of {list(COLOUR_OPTIONS)}")
    true = products["true_path"]
    out = true.map(lambda p: truncate_path(p, level))
    return out.where(out != "", UNLABELLED).rename("colour")


def limit_groups(labels: pd.Series, max_groups: int = 30, other: str = OTHER,
                 keep: Iterable[str] = (UNLABELLED,)) -> pd.Series:
    """Keep the ``max_groups`` most frequent groups (ties by name); the rest become ``other``.

    Groups in ``keep`` (e.g. :data:`UNLABELLED`) are never folded into ``other``.
    """
    keep = set(keep)
    counts = labels.value_counts()
    ranked = sorted((g for g in counts.index if g not in keep), key=lambda g: (-counts[g], g))
    allowed = set(ranked[:max_groups]) | keep
    return labels.where(labels.isin(allowed), other)


def group_order(labels: pd.Series, other: str = OTHER) -> list[str]:
    """Groups by size (largest first, ties by name), with ``other`` and unlabelled last."""
    counts = labels.value_counts()
    tail = [g for g in (other, UNLABELLED, "(no prediction)") if g in counts.index]
    head = sorted((g for g in counts.index if g not in tail), key=lambda g: (-counts[g], g))
    return head + tail


def cleaned_texts(texts: Iterable[object]) -> pd.Series:
    """Cleaned text of every product (what :func:`search_mask` matches on besides raw text)."""
    return pd.Series([clean(t, max_tokens=None) for t in texts], dtype="string")


def search_mask(texts: pd.Series, query: str | None, cleaned: pd.Series | None = None) -> np.ndarray:
    """Products matching ``query``: a case-insensitive substring of the raw text, or the
    cleaned query a substring of the cleaned text (so ``sal`` finds ``Šál``). Empty
    query: nothing matches. The query is never a regular expression."""
    n = len(texts)
    q = (query or "").strip()
    if not q:
        return np.zeros(n, dtype=bool)
    raw = texts.astype("string").str.lower().str.contains(q.lower(), regex=False, na=False)
    mask = raw.to_numpy(bool)
    cq = clean(q, max_tokens=None)
    if cq:
        if cleaned is None:
            cleaned = cleaned_texts(texts)
        mask |= cleaned.str.contains(cq, regex=False, na=False).to_numpy(bool)
    return mask


def sample_points(candidates: np.ndarray, max_points: int, keep: np.ndarray | None = None,
                  seed: int = 0) -> np.ndarray:
    """Positions of at most ``max_points`` candidate rows, sorted; deterministic.

    Every row gets a fixed random priority from ``seed`` (the same for any filter), so a
    larger ``max_points`` only adds points and a filter keeps the same points it had.
    Rows in ``keep`` (e.g. search matches) are taken first.
    """
    candidates = np.asarray(candidates, dtype=bool)
    n = len(candidates)
    priority = np.random.default_rng(seed).random(n)
    idx = np.flatnonzero(candidates)
    if len(idx) <= max_points:
        return idx
    if keep is not None:
        k = np.asarray(keep, dtype=bool)[idx]
        priority = priority.copy()
        priority[idx[k]] -= 1.0  # kept rows come first
    chosen = idx[np.argsort(priority[idx], kind="stable")[:max(int(max_points), 0)]]
    return np.sort(chosen)


def coverage_note(coverage: dict, search: bool = False) -> str:
    """One Markdown sentence on which of the catalogue's products a page shows or (``search``)
    searches, from :meth:`prodemb.bundle.Bundle.coverage`: e.g. "60,000 of the catalogue's
    300,000 products: all 50,000 labelled and a random 10,000 of the 250,000 unlabelled"."""
    catalogue, held = coverage.get("catalogue"), int(coverage["in_bundle"])
    indexed = coverage.get("indexed")
    if search and indexed:
        if catalogue and indexed >= catalogue:
            return f"Searching all {indexed:,} products of the catalogue (its ANN index)."
        return (f"Searching the {indexed:,} products of the bundle's ANN index"
                + (f" (the catalogue read at training held {catalogue:,})." if catalogue else "."))
    labelled, sample = coverage.get("labelled"), coverage.get("unlabelled_sample")
    if not catalogue or held >= catalogue:
        sentence = f"all {held:,} products of the catalogue"
    else:
        sentence = f"{held:,} of the catalogue's {catalogue:,} products"
        if labelled is not None and sample is not None and labelled + sample == held:
            unlabelled = catalogue - labelled
            sentence += (f": all {labelled:,} labelled and a random {sample:,} of the "
                         f"{unlabelled:,} unlabelled")
        if search:
            sentence += (" (`prodemb embed` and `prodemb index --embeddings` make the whole "
                         "catalogue searchable)")
    return f"Searching {sentence}." if search else f"{sentence[0].upper()}{sentence[1:]}."


def truncate(text: object, limit: int = 120) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis; missing -> ``""``."""
    if not isinstance(text, str):
        return "" if text is None or (isinstance(text, float) and text != text) else str(text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def selected_rows(points: Iterable[Mapping]) -> list[int]:
    """Product row positions from plotly selection points whose ``customdata`` holds the
    row position first (as the map page sets it). Unknown points are ignored; order kept."""
    out, seen = [], set()
    for p in points:
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(cd, list | tuple):
            cd = cd[0] if cd else None
        try:
            row = int(cd)
        except (TypeError, ValueError):
            continue
        if row not in seen:
            seen.add(row)
            out.append(row)
    return out
