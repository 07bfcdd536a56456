"""What the Review page shows (``pages/review.py``, issue 14), as plain functions.

The page only renders; everything it computes comes from here, on top of the core in
:mod:`prodemb.review` (merge proposals, what-if metrics, confused products, the label
queues) and :mod:`prodemb.corrections` (the reviewers' corrections in SQLite):

- merge proposals: their labels, evidence tables, the what-if tables and the numbers of
  the metric row (:func:`what_if_numbers`);
- drill-down: the confusion cells of the stored validation/test predictions
  (:func:`confusion_cells`), the products behind one, filtered (:func:`filter_products`);
- label review: the two queues as tables, with what reviewers already did to each product;
- corrections: one function per action that writes one row (:func:`save_correction`) and
  the latest corrections as a table.

Nothing here renders catalogue text as markup: tables are plain values (texts made
readable by :func:`~prodemb.ui.text.display_text`); labels meant for Markdown go through
:func:`~prodemb.ui.text.md_escape`. The cached wrappers at the end take the page's bundle
fingerprint (:func:`~prodemb.ui.bundles.fingerprint` of ``products.parquet``) as key.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import zlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

from .. import review
from ..corrections import CorrectionsError, CorrectionStore, default_db
from ..metrics import path_end_pairs
from ..report import PATH_JOIN
from ..taxonomy import DISPLAY_SEPARATOR, Taxonomy
from ..utils import csv_safe_frame
from .text import display_text, shorten

#: The file of a bundle the review computations read (their cache key).
PRODUCTS_FILE = "products.parquet"
#: Splits shown by the what-if, in this order.
WHAT_IF_SPLITS = ("validation", "test")
#: Rows of the what-if headline table: (label, key of the scores).
WHAT_IF_METRICS = (("Leaf macro-F1", "leaf_macro_f1"), ("Macro-F1 (all nodes)", "macro_f1"),
                   ("Micro-F1", "micro_f1"), ("Exact match", "exact_match"))
#: Said where a bundle lacks the label-review columns.
RETRAIN_NOTE = ("This bundle was trained before label review, so it has no {what}: retrain "
                "to get the {queue} (`prodemb train` now stores, for every product, how much an "
                "out-of-fold model doubts its label and how sure the classifier is).")
#: Said where the bundle was trained with label review turned off (``review.folds: 0``).
REVIEW_OFF_NOTE = ("This bundle was trained with label review turned off (`review.folds: 0` in "
                   "its config), so it has no {what}: retrain with `review.folds` of 2 or more "
                   "(3 is the default) to get the {queue}.")
#: Actions a reviewer can take, as the database names them.
ACTIONS = ("accept", "relabel", "merge")
#: The Label review's "Keep the label": written as an ``accept`` of the product's true path.
KEEP_LABEL = "keep"


def missing_queue_note(config: dict, column: str, what: str, queue: str) -> str:
    """Why a bundle has no ``column`` for a review queue (``label_doubt``: the label
    doubts, ``pred_margin``: the labelling queue): label review turned off in its training
    ``config`` (the doubts only), else trained before label review."""
    folds = ((config or {}).get("train") or {}).get("review", {}).get("folds")
    note = REVIEW_OFF_NOTE if column == "label_doubt" and folds == 0 else RETRAIN_NOTE
    return note.format(what=what, queue=queue)


# ---------------------------------------------------------------------- names
def common_prefix(paths: Sequence[str]) -> str:
    """The levels all display ``paths`` share, as a display path (``""`` when none); the
    last level of a path is never part of it (so a single path gives its parent)."""
    split = [str(p).split(DISPLAY_SEPARATOR) for p in paths if p]
    if not split:
        return ""
    common: list[str] = []
    for names in zip(*split):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    common = common[: min(len(s) for s in split) - 1]
    return DISPLAY_SEPARATOR.join(common)


def short_name(path: str, prefix: str) -> str:
    """``path`` without the display path ``prefix`` (the leaf names of a group)."""
    if prefix and str(path).startswith(prefix + DISPLAY_SEPARATOR):
        return str(path)[len(prefix) + len(DISPLAY_SEPARATOR):]
    return str(path)


def proposal_label(proposal: review.MergeProposal) -> str:
    """One line per proposal for the selectbox (plain text, not Markdown):
    ``Accessories > Scarves: Knit scarf, Scarf / Shawl, Snood / Loop scarf · 39 % confused,
    846 products``."""
    prefix = common_prefix(proposal.leaves)
    names = ", ".join(short_name(p, prefix) for p in proposal.leaves)
    where = f"{prefix}: " if prefix else ""
    return (f"{where}{names} · {proposal.rate:.0%} confused, {proposal.products:,} products")


def pair_label(true: str, predicted: str, n: int | None = None) -> str:
    """``Accessories > Scarves: Knit scarf → Scarf / Shawl (78 products)``: one confusion
    cell, true category first (plain text)."""
    prefix = common_prefix([true, predicted])
    where = f"{prefix}: " if prefix else ""
    count = "" if n is None else f" ({n:,} product{'s' if n != 1 else ''})"
    return f"{where}{short_name(true, prefix)} → {short_name(predicted, prefix)}{count}"


def leaf_paths(taxonomy: Taxonomy) -> list[str]:
    """Display paths of the tree's leaves, sorted: what a product can be relabelled to and
    what can be merged."""
    return sorted(taxonomy.name(i) for i in taxonomy.leaves)


def first_path(cell: object) -> str:
    """The first path of a (possibly multi-path) cell; ``""`` for none."""
    if not isinstance(cell, str):
        return ""
    return cell.split(PATH_JOIN)[0].strip()


# ---------------------------------------------------------------------- merge proposals
def links_table(proposal: review.MergeProposal) -> pd.DataFrame:
    """The evidence of a proposal: one row per link, ``category a, category b, a → b,
    b → a, confused`` (share of the two categories' products confused with each other)."""
    prefix = common_prefix(proposal.leaves)
    rows = [{"category a": short_name(d["a"], prefix), "category b": short_name(d["b"], prefix),
             "a → b": int(d["a_as_b"]), "b → a": int(d["b_as_a"]), "confused": float(d["rate"])}
            for d in proposal.links]
    return pd.DataFrame(rows, columns=["category a", "category b", "a → b", "b → a", "confused"])


def example_confusions(products: pd.DataFrame, taxonomy: Taxonomy, leaves: Sequence[str],
                       per_direction: int = 2, limit: int = 8) -> pd.DataFrame:
    """A few products of the group predicted as another leaf of it: up to
    ``per_direction`` for each (true, predicted) pair, the ones the model was surest of
    first (the telling mistakes), at most ``limit``; columns of :func:`products_table`."""
    parts = []
    for true in leaves:
        for pred in leaves:
            if true == pred:
                continue
            cell = review.confused_products(products, taxonomy, true, pred)
            if len(cell):
                parts.append(cell.sort_values(["pred_score", "id"], ascending=[False, True],
                                              kind="mergesort").head(per_direction))
    if not parts:
        return products_table(products.iloc[:0])
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["pred_score", "id"], ascending=[False, True], kind="mergesort")
    return products_table(out.head(limit))


def what_if_table(result: dict) -> pd.DataFrame:
    """The what-if's headline metrics, one row per metric (``metric`` index), columns
    ``<split> now``, ``<split> merged``, ``<split> change`` for validation and test (the
    splits :func:`prodemb.review.what_if_merge` scored)."""
    splits = [s for s in WHAT_IF_SPLITS if s in result["splits"]]
    rows = {}
    for label, key in WHAT_IF_METRICS:
        row = {}
        for s in splits:
            before, after = result["splits"][s]["before"][key], result["splits"][s]["after"][key]
            row[f"{s} now"], row[f"{s} merged"] = before, after
            row[f"{s} change"] = after - before
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("metric")


def class_table(result: dict) -> pd.DataFrame:
    """The merged class's F1 against the current F1 of each of its leaves: one row per
    leaf (now) and one for the merged category, columns ``category, state`` and per split
    ``<split> F1``, ``<split> support``."""
    splits = [s for s in WHAT_IF_SPLITS if s in result["splits"]]
    rows = []
    for name in result["merged"]:
        row = {"category": name, "state": "now"}
        for s in splits:
            c = next((c for c in result["splits"][s]["before"].get("classes", [])
                      if c["name"] == name), None)
            row[f"{s} F1"] = None if c is None else c["f1"]
            row[f"{s} support"] = None if c is None else c["support"]
        rows.append(row)
    merged = {"category": result["into"], "state": "merged"}
    for s in splits:
        c = result["splits"][s]["after"].get("class") or {}
        merged[f"{s} F1"], merged[f"{s} support"] = c.get("f1"), c.get("support")
    rows.append(merged)
    return pd.DataFrame(rows)


def what_if_numbers(result: dict, split: str) -> dict:
    """The metric row of one split: ``leaf_macro_f1``, ``macro_f1`` (after the merge) with
    ``*_change`` (after minus now), ``class_f1`` (the merged category's F1),
    ``leaves_f1`` (its leaves' current F1s, support-weighted mean: what the merged class is
    compared with), ``leaf_f1s`` (``{leaf: F1}`` now) and ``moved`` (products moved)."""
    s = result["splits"][split]
    before, after = s["before"], s["after"]
    classes = before.get("classes", [])
    support = sum(c["support"] for c in classes)
    mean = (sum(c["f1"] * c["support"] for c in classes) / support) if support else float("nan")
    cls = after.get("class") or {}
    return {"leaf_macro_f1": after["leaf_macro_f1"],
            "leaf_macro_f1_change": after["leaf_macro_f1"] - before["leaf_macro_f1"],
            "macro_f1": after["macro_f1"], "macro_f1_change": after["macro_f1"] - before["macro_f1"],
            "class_f1": cls.get("f1", float("nan")), "leaves_f1": mean,
            "leaf_f1s": {c["name"]: c["f1"] for c in classes},
            "moved": int(s.get("moved_products", 0))}


def merge_target(group: Sequence[str], proposed: str) -> str:
    """The merged category to preselect for an edited ``group``: the proposal's own
    ``proposed`` path while the group has at least two leaves, named after them
    (:func:`prodemb.review.merged_path`); ``proposed`` for fewer."""
    group = list(dict.fromkeys(group))
    return review.merged_path(group) if len(group) >= 2 else proposed


def group_key(group: Sequence[str]) -> str:
    """A short stable key of a group of categories (for widget keys that must change with
    the group)."""
    return f"{zlib.crc32(PATH_JOIN.join(sorted(group)).encode('utf-8')):08x}"


def check_merge(group: Sequence[str], into: str) -> str | None:
    """Why a merge the reviewer edited cannot be scored (a plain sentence), or None."""
    if len(list(dict.fromkeys(group))) < 2:
        return "Choose at least two categories to merge."
    names = [n.strip() for n in str(into or "").split(DISPLAY_SEPARATOR.strip())]
    if not into or not into.strip() or any(not n for n in names):
        return ("Give the merged category a path: levels joined by “ > ”, none empty "
                "(e.g. Accessories > Scarves > Scarves).")
    return None


# ---------------------------------------------------------------------- drill-down
def confusion_cells(products: pd.DataFrame, taxonomy: Taxonomy,
                    splits: Sequence[str] = review.EVIDENCE_SPLITS) -> pd.DataFrame:
    """Every (true, predicted) pair of different path ends in the stored predictions of
    ``splits``, with its number of products: columns ``true, predicted, products``, the
    largest first (ties by name). Counted as the merge proposals count them
    (:func:`prodemb.metrics.path_end_pairs`)."""
    rows, true, pred = review.stored_paths(products, taxonomy, splits)
    if not len(rows):
        return pd.DataFrame(columns=["true", "predicted", "products"])
    pairs = path_end_pairs(taxonomy, taxonomy.binarize(true), taxonomy.binarize(pred))
    out = pd.DataFrame([{"true": taxonomy.name(t), "predicted": taxonomy.name(p), "products": n}
                        for (t, p), n in pairs.items() if t != p],
                       columns=["true", "predicted", "products"])
    return out.sort_values(["products", "true", "predicted"], ascending=[False, True, True],
                           kind="mergesort").reset_index(drop=True)


def default_cell(cells: pd.DataFrame, leaves: Sequence[str]) -> int:
    """Row of ``cells`` to open the drill-down on: the largest confusion inside the group
    ``leaves`` (the open proposal), else the largest of all (0)."""
    inside = cells["true"].isin(list(leaves)) & cells["predicted"].isin(list(leaves))
    hits = np.flatnonzero(inside.to_numpy(bool))
    return int(hits[0]) if len(hits) else 0


#: Columns of the product tables (drill-down, examples, queues), in order.
PRODUCT_COLUMNS = ["id", "text", "true_path", "pred_path", "pred_score", "split"]


def products_table(frame: pd.DataFrame, extra: Sequence[str] = ()) -> pd.DataFrame:
    """The products of ``frame`` as people read them: ``id, text`` (readable:
    :func:`~prodemb.ui.text.display_text`), ``true_path``, ``pred_path`` (the first
    predicted path), ``pred_score``, ``split`` and the ``extra`` columns present."""
    cols = [c for c in [*PRODUCT_COLUMNS, *extra] if c in frame.columns]
    out = frame[cols].copy()
    if "text" in out:
        out["text"] = out["text"].map(display_text)
    if "pred_path" in out:
        out["pred_path"] = out["pred_path"].map(first_path)
    if "true_path" in out:
        out["true_path"] = out["true_path"].fillna("")
    return out.reset_index(drop=True)


def filter_products(table: pd.DataFrame, query: str = "", splits: Sequence[str] | None = None,
                    ) -> pd.DataFrame:
    """Rows of a :func:`products_table` whose id or text contains every word of ``query``
    (case-insensitive, literal) and, when ``splits`` is given, whose split is one of them."""
    if table.empty:
        return table.reset_index(drop=True)
    keep = np.ones(len(table), dtype=bool)
    hay = (table["id"].astype(str) + " " + table["text"].astype(str)).str.lower()
    for word in str(query or "").lower().split():
        keep &= hay.str.contains(word, regex=False).to_numpy(bool)
    if splits is not None and "split" in table:
        keep &= table["split"].isin(list(splits)).to_numpy(bool)
    return table[keep].reset_index(drop=True)


def download_csv(table: pd.DataFrame) -> bytes:
    """``table`` as UTF-8 CSV for a spreadsheet: cells that would start a formula are
    neutralised (:func:`~prodemb.utils.csv_safe_frame`)."""
    return csv_safe_frame(table).to_csv(index=False).encode("utf-8")


def file_slug(*names: str) -> str:
    """A file-name-safe slug of category names (``knit-scarf_scarf-shawl``)."""
    parts = [re.sub(r"[^a-z0-9]+", "-", str(n).split(DISPLAY_SEPARATOR)[-1].lower()).strip("-")
             for n in names]
    return "_".join(p for p in parts if p)[:80] or "products"


# ---------------------------------------------------------------------- label review
def has_column(products: pd.DataFrame, column: str) -> bool:
    """Whether the bundle's products carry ``column`` (``label_doubt``/``pred_margin`` are
    written by training since issue 14; older bundles do not have them)."""
    return column in products.columns


def review_table(products: pd.DataFrame, subtree: str | None, n: int) -> pd.DataFrame:
    """The review queue (:func:`prodemb.review.review_queue`) as a table: the product
    columns plus ``label_doubt``, ``doubt_odds`` (the odds against the label) and
    ``doubt_suggests`` (the category the out-of-fold model suggests instead), most doubted
    first."""
    return products_table(review.review_queue(products, subtree, n),
                          extra=("label_doubt", "doubt_odds", "doubt_suggests"))


def labelling_table(products: pd.DataFrame, subtree: str | None, n: int) -> pd.DataFrame:
    """The labelling queue (:func:`prodemb.review.labelling_queue`) as a table: the product
    columns plus ``pred_margin``, the smallest margin first."""
    return products_table(review.labelling_queue(products, subtree, n), extra=("pred_margin",))


# ---------------------------------------------------------------------- corrections
def save_correction(store: CorrectionStore, kind: str, *, bundle: str, reviewer: str | None = None,
                    product_id: str | None = None, path: str | None = None,
                    paths: Sequence[str] = (), into: str | None = None,
                    note: str | None = None) -> tuple[int, str]:
    """Write one correction (``kind``: ``accept``, ``relabel``, ``merge``, or ``keep``: the
    product's current label ``path`` is right, stored as an ``accept`` of that path) to
    ``store``; returns ``(row id, what was saved)``, the latter a plain sentence (it holds
    the reviewer's name and category paths: escape it for Markdown). A bad action, or a
    database that cannot be written, is a :class:`~prodemb.corrections.CorrectionsError`
    (shown by the page, never a traceback), and no row is written."""
    reviewer = (reviewer or "").strip() or None
    if kind not in (*ACTIONS, KEEP_LABEL):
        raise CorrectionsError(f"unknown action {kind!r}; expected one of "
                               f"{', '.join((*ACTIONS, KEEP_LABEL))}")
    try:
        if kind == "relabel":
            row = store.relabel(str(product_id), str(path or ""), reviewer, bundle, note)
            what = f"Relabelled {product_id} as {path}"
        elif kind in ("accept", KEEP_LABEL):
            # accept = this path is right for this product (the prediction's, or the label's)
            row = store.accept(str(product_id), str(path or ""), reviewer, bundle, note)
            what = (f"Kept the label {path} of {product_id}" if kind == KEEP_LABEL
                    else f"Accepted the prediction {path} for {product_id}")
        else:
            row = store.accept_merge(list(paths), str(into or ""), reviewer, bundle, note)
            what = f"Accepted the merge of {len(list(dict.fromkeys(paths)))} categories into {into}"
    except (sqlite3.Error, OSError) as e:  # locked too long, disk full, a folder in the way
        raise CorrectionsError(f"could not write to {store.path!r} ({type(e).__name__}: {e}); "
                               "nothing was saved") from None
    return row, what + (f" (by {reviewer})" if reviewer else "")


def read_corrections(path: str | None = None) -> pd.DataFrame:
    """Every correction in the database at ``path`` (default: ``$PRODEMB_REVIEWS_DB`` or
    ``data/reviews.sqlite``), oldest first; empty (same columns) when there is no
    database yet. A database that is not one raises :class:`CorrectionsError`."""
    from ..corrections import COLUMNS

    path = path or default_db()
    if not os.path.exists(path):
        return pd.DataFrame(columns=list(COLUMNS))
    try:
        return CorrectionStore(path).frame()
    except (sqlite3.Error, OSError) as e:
        raise CorrectionsError(f"could not read {path!r} ({type(e).__name__}: {e})") from None


def corrections_table(frame: pd.DataFrame, n: int | None = 20) -> pd.DataFrame:
    """The latest ``n`` corrections (all with None), newest first, for display:
    ``created, reviewer, bundle, action, product, category`` (a relabel's or accept's path,
    a merge's target) and ``merged`` (a merge's categories, joined with `` | ``), ``note``."""
    cols = ["created", "reviewer", "bundle", "action", "product", "category", "merged", "note"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    f = frame.iloc[::-1]
    if n is not None:
        f = f.head(n)

    def merged(cell):
        if not isinstance(cell, str) or not cell:
            return ""
        try:
            return PATH_JOIN.join(map(str, json.loads(cell)))
        except (TypeError, ValueError):
            return str(cell)

    out = pd.DataFrame({
        "created": f["created"].astype(str).str.replace("T", " ").str.replace("+00:00", " UTC",
                                                                              regex=False),
        "reviewer": f["reviewer"].fillna(""), "bundle": f["bundle"].fillna(""),
        "action": f["kind"], "product": f["product_id"].fillna(""),
        "category": f["path"].where(f["path"].notna(), f["into_path"]).fillna(""),
        "merged": f["merge_paths"].map(merged), "note": f["note"].fillna("")})
    return out.reset_index(drop=True)


def reviewed(frame: pd.DataFrame) -> dict[str, str]:
    """``{product id: what its latest correction was}`` (``relabel → A > B``, ``accept``),
    for marking the products of a queue a reviewer has already dealt with."""
    out: dict[str, str] = {}
    if frame.empty:
        return out
    for kind, pid, path in zip(frame["kind"], frame["product_id"], frame["path"]):
        if isinstance(pid, str) and pid:
            out[pid] = f"relabel → {path}" if kind == "relabel" else str(kind)
    return out


def with_reviewed(table: pd.DataFrame, done: dict[str, str]) -> pd.DataFrame:
    """``table`` with a ``reviewed`` column (the latest correction of each product, ``""``
    for none)."""
    return table.assign(reviewed=[done.get(str(i), "") for i in table["id"]])


def product_option(table: pd.DataFrame, pid: str, limit: int = 70) -> str:
    """The selectbox label of a product of ``table``: ``id · text`` shortened (plain text)."""
    row = table[table["id"].astype(str) == str(pid)]
    text = row["text"].iloc[0] if len(row) else ""
    return f"{pid} · {shorten(text, limit)}" if text else str(pid)


def selected_id(table: pd.DataFrame, rows: Sequence[int] | None) -> str | None:
    """The id of the one row selected in a table showing ``table`` (``rows``: the
    selection's row positions), None for no row, several, or a row no longer there."""
    rows = list(rows or [])
    if len(rows) != 1 or not 0 <= int(rows[0]) < len(table):
        return None
    return str(table["id"].iloc[int(rows[0])])


def relabel_default(row: pd.Series, leaves: Sequence[str]) -> int:
    """Index in ``leaves`` to preselect when relabelling ``row``: the category the label
    review suggests, else the predicted path, else the true path, else the first leaf."""
    for col in ("doubt_suggests", "pred_path", "true_path"):
        value = first_path(row.get(col)) if col in row else ""
        if value in leaves:
            return list(leaves).index(value)
    return 0


# ---------------------------------------------------------------------- compare bundles
#: The headline rows of :func:`prodemb.review.compare_bundles`: (label, its ``metric``).
COMPARE_METRICS = (("Leaf macro-F1", "leaf_macro_f1"), ("Macro-F1 (all nodes)", "macro_f1"),
                   ("Micro-F1", "micro_f1"), ("Exact match", "exact_match"))
#: Columns of the better/worse tables and of the categories in one bundle only.
CHANGE_COLUMNS = ["name", "leaf", "support_a", "f1_a", "support_b", "f1_b", "delta"]


def other_bundles(current: str, paths: Sequence[str]) -> list[str]:
    """The bundles of ``paths`` other than ``current`` (compared by absolute path)."""
    here = os.path.abspath(current)
    return [p for p in paths if os.path.abspath(p) != here]


def compare_splits(metrics_a: dict, metrics_b: dict) -> list[str]:
    """Splits both bundles have metrics of, test first (what a comparison can be made on)."""
    a = (metrics_a or {}).get("splits", {})
    b = (metrics_b or {}).get("splits", {})
    return [s for s in ("test", "validation") if s in a and s in b]


def headline_rows(result: dict) -> list[dict]:
    """The headline of a comparison for the metric row: ``label, a, b, delta`` per metric
    of :data:`COMPARE_METRICS` both bundles have (``delta`` = b − a)."""
    by = {r["metric"]: r for r in result["headline"]}
    out = []
    for label, key in COMPARE_METRICS:
        r = by.get(key)
        if r and r.get("a") is not None and r.get("b") is not None:
            out.append({"label": label, "a": float(r["a"]), "b": float(r["b"]),
                        "delta": float(r["b"]) - float(r["a"])})
    return out


def headline_frame(result: dict, name_a: str, name_b: str) -> pd.DataFrame:
    """:func:`headline_rows` as a table: one row per metric, the two bundles' scores (their
    names as column names; ``a`` and ``b`` when the names are the same) and the change."""
    if name_a == name_b:
        name_a, name_b = f"{name_a} (a)", f"{name_b} (b)"
    rows = headline_rows(result)
    return pd.DataFrame({"metric": [r["label"] for r in rows], name_a: [r["a"] for r in rows],
                         name_b: [r["b"] for r in rows], "change": [r["delta"] for r in rows]})


def class_changes(classes: pd.DataFrame, direction: str, query: str = "",
                  leaves_only: bool = False) -> pd.DataFrame:
    """Categories of both trees whose F1 changed (``direction``: ``better``, delta > 0, or
    ``worse``, delta < 0), scored in both (support > 0 in each: a category without products
    in a split has no F1 to compare), leaves first, then the largest change first; only the
    names containing every word of ``query`` (case-insensitive, literal), only leaves with
    ``leaves_only``. Columns :data:`CHANGE_COLUMNS`."""
    c = classes.reindex(columns=CHANGE_COLUMNS)
    keep = (c["support_a"].fillna(0) > 0) & (c["support_b"].fillna(0) > 0) & c["delta"].notna()
    keep &= c["delta"] > 0 if direction == "better" else c["delta"] < 0
    c = _name_filter(c[keep], query, leaves_only)
    c = c.assign(_abs=c["delta"].abs(), _leaf=~c["leaf"].astype(bool))
    c = c.sort_values(["_leaf", "_abs", "name"], ascending=[True, False, True], kind="mergesort")
    return c[CHANGE_COLUMNS].reset_index(drop=True)


def only_in(classes: pd.DataFrame, side: str, query: str = "", leaves_only: bool = False
            ) -> pd.DataFrame:
    """Categories in one tree only (``side``: ``a`` or ``b``): ``name, leaf, support, f1``
    in that bundle, leaves first, then by name; filtered as :func:`class_changes`."""
    other = "b" if side == "a" else "a"
    c = classes.reindex(columns=CHANGE_COLUMNS)
    c = c[c[f"support_{side}"].notna() & c[f"support_{other}"].isna()]
    c = _name_filter(c, query, leaves_only)
    c = c.assign(_leaf=~c["leaf"].astype(bool)).sort_values(["_leaf", "name"], kind="mergesort")
    out = c[["name", "leaf", f"support_{side}", f"f1_{side}"]]
    out.columns = ["name", "leaf", "support", "f1"]
    return out.astype({"support": int}).reset_index(drop=True)


def _name_filter(c: pd.DataFrame, query: str, leaves_only: bool) -> pd.DataFrame:
    keep = np.ones(len(c), dtype=bool)
    names = c["name"].astype(str).str.lower()
    for word in str(query or "").lower().split():
        keep &= names.str.contains(word, regex=False).to_numpy(bool)
    if leaves_only:
        keep &= c["leaf"].astype(bool).to_numpy()
    return c[keep]


def categories(n: int) -> str:
    """``1 category``, ``12 categories``."""
    return f"{n:,} categor{'y' if n == 1 else 'ies'}"


def groups(n: int) -> str:
    """``1 group``, ``12 groups``."""
    return f"{n:,} group{'' if n == 1 else 's'}"


def changed_sentence(changed: dict, split: str = "test") -> str:
    """``1,234 of the 4,989 test products in both bundles (matched by id) changed
    prediction: 24.7%.``, or why it cannot be
    said (no product of the split in both bundles, by id). Plain text."""
    common, n = int(changed.get("common") or 0), int(changed.get("changed") or 0)
    if not common:
        return (f"No {split} product is in both bundles (by id): they were trained on different "
                "catalogues or splits, so their predictions cannot be compared product by product.")
    levels = changed.get("levels")
    at = (f" at their first {levels} level{'s' if levels != 1 else ''} (the trees differ in "
          "depth)" if levels else "")
    return (f"{n:,} of the {common:,} {split} products in both bundles (matched by id) changed "
            f"prediction{at}: {n / common:.1%}.")


def tree_difference_note(a: Taxonomy, b: Taxonomy, name_a: str, name_b: str) -> str | None:
    """A plain-text note when two bundles' category trees differ (``--max-depth``, a merge,
    another catalogue): their leaf macro-F1 then averages over different leaves, so its
    change is not one model against another on the same task. None when the trees have the
    same leaves."""
    leaves_a = {a.name(i) for i in a.leaves}
    leaves_b = {b.name(i) for i in b.leaves}
    if leaves_a == leaves_b:
        return None
    shared = len(leaves_a & leaves_b)
    return (f"The category trees differ: {name_a} has {len(leaves_a):,} leaves (depth "
            f"{a.depth}), {name_b} {len(leaves_b):,} (depth {b.depth}), {shared:,} in both; "
            "leaf macro-F1 averages over each tree's own leaves, so its change also reflects "
            "the different task, not only the model.")


# ---------------------------------------------------------------------- evaluate an upload
#: File types the evaluation upload takes (the formats :mod:`prodemb.catalogue` reads).
EVAL_TYPES = ("csv", "tsv", "jsonl", "ndjson", "parquet")
#: Largest upload evaluated in the dashboard; larger files: ``prodemb evaluate``.
EVAL_MAX_BYTES = 50 * 1024 * 1024
#: Split name of an upload's scores in the metrics dict given to the Per-class F1 helpers.
UPLOAD_SPLIT = "upload"
#: Rows of the "what was scored" table: (label, key of ``evaluate_file``'s ``rows``).
EVAL_ROWS = (("rows read", "read"), ("no category (not scored)", "unlabelled"),
             ("left without a path by the reader options", "emptied_by_reader_options"),
             ("a category outside the bundle's tree", "unknown_categories"),
             ("leaf rolled up into its parent (scored as it)", "rolled_up"),
             ("scored", "scored"))


def reader_summary(options) -> str:
    """What a file to evaluate must hold, from the bundle's reader options (plain text):
    ``text columns title, description; categories in category (levels joined by “>”,
    several paths by “|”); ids in id``."""
    text = ", ".join(options.text_columns)
    if options.level_columns:
        cats = f"one column per level: {', '.join(options.level_columns)}"
    else:
        sep = ("a JSON list" if options.path_separator == "json"
               else f"several paths by “{options.path_separator}”" if options.path_separator
               else "one path per cell")
        cats = f"in {options.label_column} (levels joined by “{options.level_separator}”, {sep})"
    ids = f"; ids in {options.id_column}" if options.id_column else ""
    return f"text columns {text}; categories {cats}{ids}"


def evaluate_upload(bundle, name: str, data: bytes, encoding: str = "auto") -> dict:
    """Score ``bundle`` on an uploaded labelled file (``name``: its file name, which gives
    its format; ``data``: its bytes) with :func:`prodemb.evaluation.evaluate_file` and the
    bundle's reader options; the upload is written to a temporary file, removed after.

    CSV, TSV and JSONL are decoded as the Classify page's batch upload decodes them
    (:func:`~prodemb.ui.data.decode_upload`: ``encoding``, or detected) and read as UTF-8.
    Returns ``evaluate_file``'s result plus ``encoding`` (the one used, None for Parquet).
    Raises :class:`~prodemb.evaluation.EvaluationError` with a plain message (the file
    named by ``name``, never the temporary path) for any file that cannot be scored."""
    import tempfile

    from ..catalogue import CatalogueError, detect_format
    from ..evaluation import EvaluationError, evaluate_file
    from .data import UPLOAD_ENCODINGS, decode_upload

    name = os.path.basename(str(name or "upload")) or "upload"
    if len(data) > EVAL_MAX_BYTES:
        raise EvaluationError(f"{name} is {len(data) / 2**20:,.0f} MB; the dashboard evaluates "
                              f"files up to {EVAL_MAX_BYTES // 2**20} MB: use "
                              "`prodemb evaluate --bundle BUNDLE --data FILE` for larger ones")
    try:
        fmt = detect_format(name)
    except CatalogueError:
        raise EvaluationError(f"{name}: cannot tell the format from the file name; upload a "
                              f"{', '.join('.' + t for t in EVAL_TYPES)} file") from None
    if not data.strip():
        raise EvaluationError(f"{name} is empty")
    options = bundle.reader_options.replace(format=fmt)
    used = None
    if fmt != "parquet":
        try:
            text, used = decode_upload(data, encoding, bundle.word_vectors.index,
                                       bundle.reader_options.encoding)
        except UnicodeDecodeError as e:
            raise EvaluationError(f"{name}: the file is not {UPLOAD_ENCODINGS.get(encoding, encoding)} "
                                  f"text (byte {e.start + 1:,} does not fit); choose another "
                                  "encoding or let it be detected") from None
        if isinstance(text, bytes):
            raise EvaluationError(f"{name} is a binary file (an Excel workbook or a ZIP?), not "
                                  f"{fmt.upper()} text; save it as CSV (UTF-8) and upload again")
        data = text.encode("utf-8")
        options = options.replace(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="prodemb-eval-") as tmp:
        # the upload's own name (made file-system safe): what the reader's messages name
        path = os.path.join(tmp, re.sub(r"[^\w.\-]+", "_", name).lstrip(".") or f"upload.{fmt}")
        with open(path, "wb") as f:
            f.write(data)

        def plain(message: object) -> str:
            return str(message).replace(repr(path), name).replace(path, name)

        try:
            result = evaluate_file(bundle, path, options)
        except (EvaluationError, CatalogueError) as e:
            raise EvaluationError(plain(e)) from None
        except (ValueError, KeyError, OSError) as e:  # pyarrow: not Parquet; pandas: not CSV
            raise EvaluationError(f"{name} cannot be read as {fmt.upper()}: "
                                  f"{plain(f'{type(e).__name__}: {e}')}") from None
    result["warnings"] = [plain(w) for w in result.get("warnings", [])]
    result["encoding"] = used
    return result


def as_metrics(result: dict) -> dict:
    """An upload's scores as a bundle's metrics (``{"splits": {"upload": ...}}``): what the
    Per-class F1 page's helpers (:mod:`prodemb.ui.data`) take."""
    return {"splits": {UPLOAD_SPLIT: result}}


def dropped_table(result: dict) -> pd.DataFrame:
    """What became of the upload's rows (``evaluate_file``'s ``rows``): ``rows, products``,
    one line per :data:`EVAL_ROWS` (those that are zero included, so all is said), and the
    scored products that were training products of the bundle."""
    rows = result.get("rows", {})
    out = [{"rows": label, "products": int(rows.get(key, 0) or 0)} for label, key in EVAL_ROWS]
    out.append({"rows": "scored, but a training product of the bundle (optimistic)",
                "products": int(result.get("overlap_with_training", 0) or 0)})
    return pd.DataFrame(out, columns=["rows", "products"])


# ---------------------------------------------------------------------- cached per bundle
# ``key``: fingerprint(bundle, PRODUCTS_FILE); the underscore arguments are not hashed.
@st.cache_data(show_spinner="Finding merge proposals…", max_entries=8)
def cached_proposals(key, _products: pd.DataFrame, _taxonomy: Taxonomy) -> list:
    return review.merge_proposals(_products, _taxonomy)


@st.cache_data(show_spinner="Recomputing the metrics with the merge…", max_entries=64)
def cached_what_if(key, _products: pd.DataFrame, _taxonomy: Taxonomy, group: tuple,
                   into: str) -> dict:
    return review.what_if_merge(_products, _taxonomy, list(group), into)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_cells(key, _products: pd.DataFrame, _taxonomy: Taxonomy) -> pd.DataFrame:
    return confusion_cells(_products, _taxonomy)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_examples(key, _products: pd.DataFrame, _taxonomy: Taxonomy, group: tuple) -> pd.DataFrame:
    return example_confusions(_products, _taxonomy, list(group))


@st.cache_data(show_spinner=False, max_entries=128)
def cached_confused(key, _products: pd.DataFrame, _taxonomy: Taxonomy, true: str,
                    predicted: str) -> pd.DataFrame:
    return products_table(review.confused_products(_products, _taxonomy, true, predicted))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_review_table(key, _products: pd.DataFrame, subtree: str | None, n: int) -> pd.DataFrame:
    return review_table(_products, subtree, n)


@st.cache_data(show_spinner=False, max_entries=64)
def cached_labelling_table(key, _products: pd.DataFrame, subtree: str | None, n: int) -> pd.DataFrame:
    return labelling_table(_products, subtree, n)


@st.cache_data(show_spinner="Comparing the bundles…", max_entries=16)
def cached_compare(key_a, key_b, _metrics_a: dict, _products_a: pd.DataFrame, _metrics_b: dict,
                   _products_b: pd.DataFrame, split: str) -> dict:
    """:func:`prodemb.review.compare_bundles`; ``key_a``/``key_b``: each bundle's
    fingerprints of metrics.json and products.parquet."""
    return review.compare_bundles(_metrics_a, _products_a, _metrics_b, _products_b, split=split)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_leaves(key, _taxonomy: Taxonomy) -> list[str]:
    return leaf_paths(_taxonomy)


__all__ = [
    "CHANGE_COLUMNS", "COMPARE_METRICS", "EVAL_MAX_BYTES", "EVAL_ROWS", "EVAL_TYPES", "KEEP_LABEL",
    "UPLOAD_SPLIT", "as_metrics", "cached_compare", "categories", "groups", "changed_sentence", "class_changes",
    "compare_splits", "dropped_table", "evaluate_upload", "headline_frame", "headline_rows",
    "only_in", "other_bundles", "reader_summary",
    "ACTIONS", "PRODUCTS_FILE", "RETRAIN_NOTE", "REVIEW_OFF_NOTE", "missing_queue_note", "class_table", "check_merge", "common_prefix",
    "confusion_cells", "corrections_table", "default_cell", "download_csv", "example_confusions",
    "tree_difference_note",
    "file_slug", "filter_products", "first_path", "group_key", "merge_target", "has_column", "labelling_table", "leaf_paths",
    "links_table", "pair_label", "product_option", "products_table", "proposal_label",
    "read_corrections", "relabel_default", "review_table", "reviewed", "save_correction",
    "selected_id",
    "short_name", "what_if_numbers", "what_if_table", "with_reviewed",
]
