"""Scoring a trained bundle: on a labelled catalogue file, or on the bundle's own split.

:func:`evaluate_file` (``prodemb evaluate --data FILE``) reads a file, by default with the
reader options the bundle was trained with, and scores every product whose category is in
the bundle's tree. Nothing is left out silently: the result counts every row that is not
scored and says why (``rows``, ``warnings``), products that were training products of the
bundle are counted (their scores are optimistic), and when more than half of the labelled
rows would be left out the evaluation is refused (:class:`EvaluationError`): the numbers
would describe a few rows, not the file, and the cause is nearly always a reader option
(``--max-depth``, ``--level-separator``, ...) that differs from the training's.

:func:`evaluate_split` (``prodemb evaluate --split test``) scores the bundle's own
train/validation/test products from its products.parquet (texts and true paths as trained,
after any roll-up), with no catalogue file; its numbers are those stored at training in
metrics.json.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

from .catalogue import ReaderOptions, iter_catalogue
from .metrics import evaluate, summary
from .split import SPLITS
from .taxonomy import format_path
from .text import tokenize

#: An evaluation that would leave out more than this share of the labelled rows is refused.
MAX_DROPPED_SHARE = 0.5

#: Reader options that decide which categories a file's rows get.
LABEL_OPTIONS = ("label_column", "level_columns", "level_separator", "path_separator",
                 "max_depth", "min_depth", "ignore_labels", "ignore_paths")


class EvaluationError(ValueError):
    """The evaluation cannot give meaningful numbers (most rows would be left out, no
    labelled product, an unknown split); the message says why and what to do."""


def option_flags(options: ReaderOptions, fields=None, base: ReaderOptions | None = None) -> str:
    """Reader options as command-line flags, e.g. ``--max-depth 3 --min-depth 2``: the
    ``fields`` (default: all) whose value differs from ``base`` (default: the defaults)."""
    base = base or ReaderOptions()
    out = []
    for name in fields or [f for f in options.to_dict()]:
        value, default = getattr(options, name), getattr(base, name)
        if value == default:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else f"(no {flag})")
        elif value is None:
            out.append(f"(no {flag})")
        elif isinstance(value, list):
            out.append(f"{flag} {_quote(','.join(map(str, value)))}")
        else:
            out.append(f"{flag} {_quote(str(value))}")
    return " ".join(out)


def _quote(value: str) -> str:
    import shlex

    return shlex.quote(value) if value else "''"


def _examples(counter: Counter, n: int = 3) -> str:
    return ", ".join(repr(format_path(p)) for p, _ in counter.most_common(n))


def evaluate_file(bundle, data: str, options: ReaderOptions | None = None) -> dict:
    """Score ``bundle`` on the labelled catalogue file ``data``.

    ``options``: how to read the file; None: the bundle's own reader options
    (:attr:`prodemb.bundle.Bundle.reader_options`).

    Returns the :func:`prodemb.metrics.evaluate` result plus

    - ``rows``: ``read``, ``unlabelled`` (no category cell), ``emptied_by_reader_options``
      (every path shorter than ``min_depth`` or in ``ignore_paths``), ``unknown_categories``
      (a category outside the bundle's tree), ``scored``, ``rolled_up`` (a leaf that
      training rolled up into its parent with ``--min-leaf-count``: scored as the parent);
    - ``skipped_unknown_categories``: ``rows["unknown_categories"]``;
    - ``overlap_with_training``: scored products that were training products of the
      bundle (same id, when the bundle's products have ids, or same cleaned text);
    - ``warnings``: one plain sentence for each of the above that is not zero.

    Raises :class:`EvaluationError` when no row can be scored or more than half of the
    labelled rows would be left out, naming the likely cause.
    """
    trained = bundle.reader_options
    opts = options or trained
    df, counts = read_counted(data, opts)
    paths = df["paths"].tolist()
    has_raw = counts["has_category"]
    has_kept = np.array([len(ps) > 0 for ps in paths], dtype=bool)
    emptied = counts["emptied"]
    taxonomy = bundle.taxonomy
    n_rolled = 0
    if int(bundle.config.get("train", {}).get("min_leaf_count", 0) or 0) > 1:
        paths, n_rolled = roll_up_as_trained(taxonomy, paths)
    unknown_paths: Counter = Counter()
    known = np.zeros(len(df), dtype=bool)
    for i in np.flatnonzero(has_kept):
        missing = [p for p in paths[i] if p not in taxonomy]
        unknown_paths.update(missing)
        known[i] = not missing
    n_read, n_unlabelled = len(df), int((~has_raw).sum())
    n_emptied, n_unknown = int(emptied.sum()), int((has_kept & ~known).sum())
    n_labelled = int(has_raw.sum())
    n_scored = int(known.sum())
    rows = {"read": n_read, "unlabelled": n_unlabelled, "emptied_by_reader_options": n_emptied,
            "unknown_categories": n_unknown, "scored": n_scored, "rolled_up": n_rolled}

    notes: list[str] = []
    if n_rolled:
        notes.append(f"{n_rolled:,} labelled rows have a leaf that training rolled up into its "
                     "parent (--min-leaf-count); they are scored against that parent")
    if n_unlabelled:
        notes.append(f"{n_unlabelled:,} of {n_read:,} rows have no category (an empty cell or "
                     "one of --ignore-labels) and are not scored")
    if n_emptied:
        notes.append(f"{n_emptied:,} of {n_labelled:,} labelled rows are not scored: every path "
                     f"they have is shorter than --min-depth {opts.min_depth} or listed in "
                     "--ignore-paths")
    cause = _likely_cause(bundle, opts, unknown_paths, n_emptied)
    if n_unknown:
        notes.append(f"{n_unknown:,} of {n_labelled:,} labelled rows are not scored "
                     "(skipped_unknown_categories): a category of theirs is not in the bundle's "
                     f"tree, e.g. {_examples(unknown_paths)}" + (f". {cause}" if cause else ""))
    dropped = n_emptied + n_unknown
    if n_labelled == 0:
        raise EvaluationError(f"no labelled product: no row of {data} has a category, so there "
                              "is nothing to score; "
                              "check --label-column / --level-columns and --ignore-labels "
                              f"(the bundle was trained with: {_reader_summary(trained)})")
    if n_scored == 0 or dropped > MAX_DROPPED_SHARE * n_labelled:
        raise EvaluationError(
            f"{dropped:,} of {n_labelled:,} labelled rows of {data} would not be scored "
            f"({n_unknown:,} with a category outside the bundle's tree, e.g. "
            f"{_examples(unknown_paths) or 'none'}; {n_emptied:,} left without a path by "
            "--min-depth/--ignore-paths), so the scores would not describe this file. "
            + (cause or "Check that these categories are the bundle's and that the file is "
               f"read as its catalogue was (the bundle was trained with {_reader_summary(trained)})."))

    sel = np.flatnonzero(known)
    tokens = [tokenize(t, bundle.max_tokens) for t in df["text"].to_numpy()[sel]]
    y = taxonomy.binarize([paths[i] for i in sel])
    probs = bundle.classifier.predict_proba(tokens)
    pred = bundle.decoder.predict(probs)
    result = evaluate(taxonomy, y, pred)

    overlap = _training_overlap(bundle, df["id"].to_numpy()[sel], tokens)
    if overlap:
        notes.append(f"{overlap:,} of {n_scored:,} scored products were training products of "
                     "this bundle (same id or same cleaned text), so these scores are "
                     "optimistic; `prodemb evaluate --split test` scores only the bundle's "
                     "held-out test products")
    result.update({"rows": rows, "skipped_unknown_categories": n_unknown,
                   "overlap_with_training": overlap, "warnings": notes,
                   "reader": opts.to_dict()})
    return result


def roll_up_as_trained(taxonomy, paths_per_item: list) -> tuple[list, int]:
    """Paths cut as ``--min-leaf-count`` cut them in training: a path outside the tree whose
    longest prefix in the tree is one of its leaves (a rolled-up leaf's parent, which became
    a leaf) is cut to that prefix. Returns the new paths and the number of items changed."""
    out, changed = [], 0
    for ps in paths_per_item:
        new = []
        for p in ps:
            if p not in taxonomy:
                prefix = next((p[:k] for k in range(len(p) - 1, 0, -1) if p[:k] in taxonomy), None)
                if prefix is not None and not taxonomy.children[taxonomy.index(prefix)]:
                    p = prefix
            if p not in new:
                new.append(p)
        changed += new != list(ps)
        out.append(new)
    return out, changed


def read_counted(data, opts: ReaderOptions, show_progress: bool = False
                 ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """:func:`prodemb.catalogue.read_catalogue` of ``data`` with ``opts`` (the same frame),
    and per-row masks of what the path options changed:

    - ``has_category``: the category cell holds at least one path (before the options below);
    - ``cut``: a path was cut at ``max_depth`` levels;
    - ``dropped``: a path was dropped, shorter than ``min_depth`` or in ``ignore_paths``;
    - ``emptied``: every path was dropped, so the product counts as unlabelled.

    The file is read with those three options relaxed and they are applied here, exactly as
    the reader applies them (cut, then drop), so that their effect can be counted. Likewise
    rows dropped as a repeated id (``duplicate_ids="warn"``, with the reader's warning): their
    number is ``df.attrs["duplicate_ids_dropped"]``."""
    from .catalogue import MAX_DEPTH_LIMIT, _check_ids
    from .utils import progress

    dedupe = opts.duplicate_ids == "warn" and bool(opts.id_column)
    raw_opts = opts.replace(min_depth=1, ignore_paths=[],
                            max_depth=MAX_DEPTH_LIMIT if opts.max_depth else None,
                            duplicate_ids="keep" if dedupe else opts.duplicate_ids)
    bar = progress(desc="read", unit=" products", disable=not show_progress)
    frames = []
    for chunk in iter_catalogue(data, raw_opts):
        frames.append(chunk)
        bar.update(len(chunk))
    bar.close()
    df = pd.concat(frames, ignore_index=True)
    n_read = len(df)
    if dedupe:
        df = _check_ids(df, opts, str(data), set())
    ignored = set(opts.ignore_paths)
    raw_paths = df["paths"].tolist()
    n = len(df)
    masks = {k: np.zeros(n, dtype=bool) for k in ("has_category", "cut", "dropped", "emptied")}
    paths = []
    for i, raw in enumerate(raw_paths):
        if not raw:
            paths.append([])
            continue
        masks["has_category"][i] = True
        kept = set()
        for p in raw:
            if opts.max_depth and len(p) > opts.max_depth:
                p = p[: opts.max_depth]
                masks["cut"][i] = True
            if len(p) < opts.min_depth or format_path(p) in ignored:
                masks["dropped"][i] = True
            else:
                kept.add(p)
        masks["emptied"][i] = not kept
        paths.append(sorted(kept))
    df["paths"] = paths
    df.attrs["duplicate_ids_dropped"] = n_read - len(df)
    return df, masks


def _reader_summary(options: ReaderOptions) -> str:
    flags = option_flags(options, LABEL_OPTIONS + ("text_columns", "id_column"))
    return flags or "the default reader options"


def _likely_cause(bundle, opts: ReaderOptions, unknown: Counter, n_emptied: int) -> str:
    """One sentence on why rows have categories outside the tree (or lost their paths)."""
    taxonomy = bundle.taxonomy
    trained = bundle.reader_options
    causes = []
    deeper = sum(n for p, n in unknown.items()
                 if len(p) > taxonomy.depth and tuple(p[: taxonomy.depth]) in taxonomy)
    if deeper:
        causes.append(f"{deeper:,} of the unknown paths are deeper than the bundle's tree "
                      f"(depth {taxonomy.depth}): --max-depth {taxonomy.depth} cuts them as "
                      "training did")
    short = sum(n for p, n in unknown.items() if len(p) < trained.min_depth)
    if short:
        causes.append(f"{short:,} are shorter than the bundle's --min-depth {trained.min_depth}, "
                      "which drops them")
    differ = option_flags(opts, LABEL_OPTIONS, base=trained)
    if differ and (unknown or n_emptied):
        was = option_flags(trained, [f for f in LABEL_OPTIONS
                                     if getattr(opts, f) != getattr(trained, f)],
                           base=opts)
        causes.append(f"the likely cause: this file was read with {differ} where the bundle was "
                      f"trained with {was or 'the defaults'}; without these flags prodemb "
                      "evaluate reads files as the bundle was trained")
    if not causes:
        return ""
    text = "; ".join(causes)
    return text[0].upper() + text[1:]


def _training_overlap(bundle, ids: np.ndarray, tokens: list[list[str]]) -> int:
    """How many of the products (``ids``, cleaned ``tokens``) were training products of the
    bundle: the same id (when the bundle's products were read with an id column) or the
    same cleaned text."""
    products = bundle.products
    train = products[products["split"] == "train"]
    if train.empty:
        return 0
    texts = {" ".join(tokenize(t, bundle.max_tokens)) for t in train["text"].to_numpy()}
    texts.discard("")
    by_text = np.fromiter((" ".join(t) in texts for t in tokens), dtype=bool, count=len(tokens))
    if bundle.reader_options.id_column:
        by_id = pd.Series(ids).astype(str).isin(set(train["id"].astype(str))).to_numpy()
        by_text |= by_id
    return int(by_text.sum())


def evaluate_split(bundle, split: str = "test") -> dict:
    """Score ``bundle`` on its own ``split`` products (``"train"``, ``"validation"`` or
    ``"test"``), from products.parquet: the texts and true paths it was trained and scored
    with. The labelled products are classified together, in their stored order, as training
    classified them, so the result equals the split's metrics in metrics.json (the
    ``summary`` numbers, ``per_class``, the confusions; also ``plain_0.5`` and
    ``independent_0.5``).

    Returns the :func:`prodemb.metrics.evaluate` result plus ``rows`` (``scored``) and
    ``split``. Raises :class:`EvaluationError` for an unknown split or one without products.
    """
    if split not in SPLITS:
        raise EvaluationError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    products = bundle.products
    labelled = products[products["split"].isin(SPLITS)]
    rows = (labelled["split"] == split).to_numpy()
    if not rows.any():
        raise EvaluationError(f"the bundle {bundle.name!r} has no {split} products")
    taxonomy = bundle.taxonomy
    paths = []
    for pid, cell in zip(labelled["id"].to_numpy()[rows], labelled["true_path"].to_numpy()[rows]):
        try:
            cell_paths = taxonomy.cell_paths(cell)
        except KeyError:
            cell_paths = []
        if not cell_paths:
            from .bundle_format import BundleError

            raise BundleError(f"bundle {bundle.path!r}: products.parquet: product {pid!r} has "
                              f"the true path {cell!r}, which is not in the bundle's tree")
        paths.append(cell_paths)
    y = taxonomy.binarize(paths)
    probs = bundle.predict_proba(labelled["text"].tolist())[rows]
    pred = bundle.decoder.predict(probs)
    result = evaluate(taxonomy, y, pred)
    complete = bundle.complete_paths
    plain = taxonomy.decode_to_matrix(taxonomy.decode(probs, 0.5, complete=complete))
    result["plain_0.5"] = summary(evaluate(taxonomy, y, plain, with_pairs=False))
    result["independent_0.5"] = summary(evaluate(taxonomy, y, probs >= 0.5, with_pairs=False))
    result.update({"split": split, "rows": {"scored": int(rows.sum())}})
    return result


def stored_split_metrics(bundle, split: str) -> dict | None:
    """The headline numbers of ``split`` stored in the bundle's metrics.json at training."""
    stored = bundle.metrics.get("splits", {}).get(split)
    return summary(stored) if isinstance(stored, dict) else None


__all__ = ["evaluate_file", "evaluate_split", "stored_split_metrics", "EvaluationError",
           "option_flags", "MAX_DROPPED_SHARE"]
