"""``prodemb train``: from a catalogue file to an evaluated, versioned bundle.

Stages (each timed; with ``show_progress`` each is announced on stderr as ``[3/8] split``,
shows a progress bar where its work is countable and, where it is not, a heartbeat line
with the elapsed time every 15 s; :data:`STAGES`):

1. read the catalogue and clean all texts;
2. Word2Vec on all texts, labelled and unlabelled;
3. train / validation / test split of the labelled products (iterative
   stratification over the whole-tree label matrix, identical texts grouped);
4. BiLSTM classifier, early-stopped on validation macro-F1;
5. the tree decoder fitted on validation (per-node thresholds, extra-path cut-off;
   :class:`prodemb.decoding.TreeDecoder`), saved with the bundle;
6. evaluation of every split (tuned thresholds and plain 0.5);
7. product embeddings of the labelled products and a sample of unlabelled ones;
8. t-SNE and UMAP maps;
9. the bundle, written atomically with its manifest (:func:`prodemb.bundle_format.write_bundle`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .bundle_format import (
    BundleContents,
    TrainingFacts,
    check_bundle_output,
    output_lock,
    remove_leftovers,
    write_bundle,
)
from .catalogue import ReaderOptions, flat_paths_warning, iter_catalogue
from .classifier import NETWORK_SEED_STEP, Classifier
from .confidence import ConfidenceModel, calibration_report, nearest_similarity, nearness_rows
from .config import TrainConfig
from .decoding import TreeDecoder
from .maps import fit_map, place
from .metrics import evaluate, macro_f1, summary
from .neighbours import CosineIndex, l2_normalize
from .review import label_doubts, leaf_margin
from .split import SPLITS, group_ids, split_report, stratified_split
from .taxonomy import (
    LEVEL_SEPARATOR,
    PATH_SEPARATOR,
    Path,
    Taxonomy,
    format_path,
    format_paths,
    roll_up_rare_leaves,
    split_paths,
)
from .text import tokenize
from .utils import StageTimer, available_cores, progress, sha256_file
from .word2vec import (
    WordVectors,
    choose_probe_words,
    probe_table,
    train_word2vec,
    word2vec_diagnostics,
)

log = logging.getLogger(__name__)

#: The stages of :func:`train_bundle`, in order (the keys of ``stage_seconds``), and what
#: the user reads for each.
STAGES = ("read_clean", "word2vec", "split", "classifier", "evaluate", "review", "embeddings",
          "maps", "write")
STAGE_LABELS = {"read_clean": "read + clean", "word2vec": "Word2Vec", "split": "split",
                "classifier": "classifier", "evaluate": "evaluate", "review": "label review",
                "embeddings": "embeddings", "maps": "maps", "write": "write"}
MAP_LABELS = {"tsne": "t-SNE", "umap": "UMAP"}


class TrainingError(ValueError):
    """The catalogue cannot be trained on (e.g. no labelled products, one class)."""


#: Most classes (nodes of the category tree) a bundle may have. Every node is an output of
#: the model and gets a tuned threshold and per-class scores: a tree this size already
#: trains for long and is far beyond what a category team reviews; more is almost always a
#: malformed category column (see the caps in :mod:`prodemb.catalogue`).
MAX_CLASSES = 30_000


def load_catalogue(path: str, options: ReaderOptions, max_tokens: int,
                   show_progress: bool = True) -> tuple[pd.DataFrame, list[list[str]]]:
    """The catalogue (``id, text, paths``) and the cleaned tokens of every product."""
    frames, tokens = [], []
    # Closed (its line ended) also when reading fails, so an error starts on a line of its own.
    with progress(desc="read + clean", unit=" products", disable=not show_progress) as bar:
        for chunk in iter_catalogue(path, options):
            frames.append(chunk)
            tokens.extend(tokenize(t, max_tokens) for t in chunk["text"])
            bar.update(len(chunk))
    return pd.concat(frames, ignore_index=True), tokens


def train_bundle(data: str, out: str, options: ReaderOptions | None = None,
                 config: TrainConfig | None = None, show_progress: bool = True, *,
                 overwrite: bool = True, corrections: str | None = None) -> dict:
    """Train a bundle from the catalogue file ``data`` into directory ``out``.

    ``out`` is checked before anything is read (:func:`prodemb.bundle_format.check_bundle_output`):
    it may be a new path, an empty directory or, with ``overwrite`` (the default here;
    ``prodemb train`` needs ``--force``), a directory holding a bundle, which is replaced
    whole; anything else (a directory that is not a bundle, a file, a link, the catalogue
    itself or a directory containing it) raises :class:`prodemb.bundle_format.OutputError` and
    nothing is changed. While training, ``out`` is locked (:func:`prodemb.bundle_format.output_lock`):
    a second training to the same directory raises :class:`prodemb.bundle_format.OutputInUseError`.
    The Word2Vec corpus is written to a hidden ``.NAME.tmp-w2v-PID`` directory beside
    ``out`` and removed after that stage (a killed run's is removed by the next run).

    With ``config.min_leaf_count > 1`` rare leaves are rolled up into their parent before
    the tree is built (:func:`labelled_paths`): the bundle's tree, its model, its scores and
    the ``true_path`` column of products.parquet then all use the rolled-up paths, not the
    catalogue's. The roll-up report is in metrics.json (``label_roll_up``) and the manifest
    (``labels``). A plain-words warning about many rare leaves (:func:`rare_leaf_warning`)
    is a UserWarning (``prodemb train: warning: ...`` in the CLI) and kept in the manifest
    (``warnings``).

    ``corrections``: a reviewers' corrections database or its CSV export
    (:mod:`prodemb.corrections`): relabels and accepted merges are applied to the catalogue's
    paths right after reading it, all checked first (a bad row is a
    :class:`prodemb.corrections.CorrectionsError` before any training); the manifest counts
    them (``labels.corrections``).

    Returns the manifest that was written.
    """
    check_bundle_output(out, [data], overwrite)  # before any work: refuse at once
    parent = os.path.dirname(os.path.abspath(out))
    created = _missing_ancestor(parent)
    try:
        with output_lock(out):
            remove_leftovers(out)
            check_bundle_output(out, [data], overwrite)  # again, now that no one else writes
            return _train_bundle(data, out, options, config, show_progress, overwrite,
                                 corrections)
    except BaseException:
        if created is not None:  # a failed first run leaves no empty folders behind
            _remove_empty_dirs(parent, created)
        raise


def _work_dir(out: str, what: str) -> str:
    """A hidden working directory beside bundle directory ``out``: ``.NAME.tmp-WHAT-PID``
    (the ``.NAME.tmp-*`` of a process that is gone is removed by the next run,
    :func:`prodemb.bundle_format.remove_leftovers`)."""
    parent, name = os.path.split(os.path.abspath(out))
    return os.path.join(parent, f".{name}.tmp-{what}-{os.getpid()}")


def _missing_ancestor(path: str) -> str | None:
    """The topmost directory of ``path`` (itself included) that does not exist yet, or None."""
    missing = None
    while path and not os.path.exists(path):
        missing = path
        up = os.path.dirname(path)
        if up == path:
            break
        path = up
    return missing


def _remove_empty_dirs(path: str, top: str) -> None:
    """Remove ``path`` and its parents up to ``top`` while they are empty."""
    while True:
        try:
            os.rmdir(path)
        except OSError:
            return
        if path == top:
            return
        path = os.path.dirname(path)


def _train_bundle(data: str, out: str, options: ReaderOptions | None,
                  config: TrainConfig | None, show_progress: bool, overwrite: bool,
                  corrections: str | None = None) -> dict:
    """:func:`train_bundle` once ``out`` is checked and locked."""
    options = options or ReaderOptions()
    config = config or TrainConfig()
    timer = StageTimer(show=show_progress, stages=STAGES, labels=STAGE_LABELS)
    seed = config.seed

    with timer("read_clean"):
        catalogue, tokens = load_catalogue(data, options, config.text.max_tokens, show_progress)
    applied = None
    if corrections:
        catalogue, applied = apply_corrections_file(catalogue, corrections)
        log.info("corrections from %s: %s", corrections, applied)
    labelled, paths, roll_up = labelled_paths(catalogue, config)
    if len(labelled) == 0:
        raise TrainingError(f"{os.path.basename(data)}: no product has a category; check "
                            "label_column / level_columns and ignore_labels")
    if roll_up is not None:
        log.info("%s", roll_up_message(roll_up))
    taxonomy = Taxonomy.from_paths(p for ps in paths for p in ps)
    if taxonomy.n_nodes > MAX_CLASSES:
        raise TrainingError(f"{os.path.basename(data)}: the category tree has {taxonomy.n_nodes:,} "
                            f"classes (tree nodes); prodemb trains at most {MAX_CLASSES:,}. Cut the "
                            "tree with --max-depth or roll rare leaves up with --min-leaf-count")
    if len(taxonomy.leaves) < 2:
        after = (f" after rolling up leaves with fewer than {config.min_leaf_count} products "
                 "(lower --min-leaf-count)" if roll_up and roll_up["rolled_up_leaves"] else "")
        raise TrainingError(f"{os.path.basename(data)}: the labelled products have only one "
                            f"category ({taxonomy.name(taxonomy.leaves[0])}){after}; a "
                            "classifier needs at least two")
    log.info("catalogue: %d products, %d labelled, %d tree nodes (%d leaves, depth %d)",
             len(catalogue), len(labelled), taxonomy.n_nodes, len(taxonomy.leaves), taxonomy.depth)
    y = taxonomy.binarize(paths)
    warnings_: list[str] = []  # recorded in the bundle's training report too

    def warn(message: str | None) -> None:
        """A warning like the reader's (the CLI prints 'prodemb train: warning: ...')."""
        if message:
            warnings.warn(message, stacklevel=3)
            warnings_.append(message)

    warn(flat_paths_warning(catalogue["paths"].tolist(), options))
    warn(rare_leaf_warning(taxonomy, y, config.min_leaf_count))

    n_tokens = sum(len(t) for t in tokens)
    passes = word2vec_passes(n_tokens, config.word2vec)
    lab_tokens = [tokens[i] for i in labelled]
    with timer("word2vec", f"{n_tokens:,} tokens of {len(catalogue):,} products, "
                           f"{passes} passes"):
        # An ensemble's further networks each start from a Word2Vec run of their own
        # (seeds 1,000 apart, as the networks'): averaging gains little without it.
        ensemble_vectors = word2vec_runs(
            tokens, config, [seed + NETWORK_SEED_STEP * k for k in range(config.classifier.members)],
            show_progress, workdir=_work_dir(out, "w2v"))
        word_vectors = ensemble_vectors[0]
        configured = list(config.word2vec.probe_words)
        probe_words = choose_probe_words(word_vectors, configured, n=max(4, len(configured)),
                                         tokens=lab_tokens, groups=[ps[0][0] for ps in paths])
        probes = probe_table(word_vectors, probe_words)
        w2v_report = {**word2vec_diagnostics(word_vectors, probe_words, configured),
                      "epochs": passes, "corpus_tokens": n_tokens}
    warn(w2v_report["warning"])

    how = "from the split column" if "split" in catalogue else \
        f"stratified over {taxonomy.n_nodes:,} tree nodes"
    with timer("split", f"{len(labelled):,} labelled products, {how}"):
        split = split_labelled(catalogue, labelled, y, lab_tokens, config, os.path.basename(data))
        report = split_report(y, split)
    tr, va, te = (np.flatnonzero(split == i) for i in range(3))

    with timer("classifier", f"{len(tr):,} training and {len(va):,} validation products; "
                             "encoding their texts, then the epochs"):
        clf = Classifier(config.classifier, seed=seed).fit(
            [lab_tokens[i] for i in tr], y[tr], [lab_tokens[i] for i in va], y[va],
            word_vectors=ensemble_vectors,
            taxonomy=taxonomy,
            show_progress=show_progress)

    with timer("evaluate") as stage:
        stage.note(f"choosing the mixing weights on {len(va):,} validation products")
        complete = all(taxonomy.children[taxonomy.index(p)] == [] for ps in paths for p in ps)
        sigmoid_weight = clf.model.config.sigmoid_weight if clf.model.leaf_out is not None else None
        if config.classifier.sigmoid_weight is None:
            sigmoid_weight = tune_sigmoid_weight(clf, [lab_tokens[i] for i in va], y[va],
                                                 taxonomy, complete)
        mixing = tune_leaf_mixing(clf, config.classifier, [lab_tokens[i] for i in va], y[va],
                                  taxonomy, complete)
        stage.note(f"predicting the {len(lab_tokens):,} labelled products")
        # Their embeddings from the same pass, for the embeddings stage below.
        probs, lab_embeddings = clf.predict_proba_and_transform(lab_tokens)
        stage.note("tuning the per-node thresholds on validation and scoring every split")
        # Sibling leaves both filed for one product in training or validation may be
        # offered together; other sibling pairs compete (TreeDecoder.siblings).
        decoder = TreeDecoder(taxonomy, complete).fit(probs[va], y[va], y_known=y[split != 2])
        results: dict[str, dict] = {}
        decoded_tuned = decoder.decode(probs)
        pred = taxonomy.decode_to_matrix(decoded_tuned)
        pred_plain = taxonomy.decode_to_matrix(taxonomy.decode(probs, 0.5, complete=complete))
        raw_plain = probs >= 0.5
        for i, name in enumerate(SPLITS):
            rows = split == i
            if not rows.any():
                continue
            results[name] = evaluate(taxonomy, y[rows], pred[rows])
            results[name]["plain_0.5"] = summary(evaluate(taxonomy, y[rows], pred_plain[rows],
                                                          with_pairs=False))
            results[name]["independent_0.5"] = summary(evaluate(taxonomy, y[rows], raw_plain[rows],
                                                                with_pairs=False))

    folds = config.review.folds
    with timer("review", f"out-of-fold check of {len(labelled):,} labels, {folds} folds"
               if folds else "off (review.folds = 0)"):
        # Which labels a model that never saw the product doubts (prodemb.review): the
        # dashboard's label-review queue.
        doubt, suggestion = label_doubts([" ".join(t) for t in lab_tokens],
                                         [format_path(ps[0]) for ps in paths], folds, seed)

    with timer("embeddings") as stage:
        rng = np.random.default_rng(seed)
        unlabelled = np.flatnonzero(catalogue["paths"].map(len).to_numpy() == 0)
        sample = np.sort(rng.choice(unlabelled, min(len(unlabelled), config.embeddings.unlabelled_sample),
                                    replace=False)) if len(unlabelled) else unlabelled
        stage.note(f"{len(labelled):,} labelled and {len(sample):,} unlabelled products")
        emb_rows = np.concatenate([labelled, sample])
        probs_sample, sample_embeddings = clf.predict_proba_and_transform([tokens[i] for i in sample])
        embeddings = l2_normalize(np.concatenate([lab_embeddings, sample_embeddings]))
        decoded_sample = decoder.decode(probs_sample)
        # "Correct" as a category manager reads it: the top predicted path is a true path.
        correct = np.array([bool(d) and d[0][0] in set(ps) for d, ps in zip(decoded_tuned, paths)])
        stage.note("calibrating the confidence and the out-of-catalogue rule on validation")
        confidence_model, confidence_metrics = fit_confidence(
            clf, lab_tokens, decoded_tuned, correct, split, embeddings[: len(labelled)], seed)

    products = pd.DataFrame({
        "id": catalogue["id"].to_numpy()[emb_rows],
        "text": catalogue["text"].to_numpy()[emb_rows],
        "split": [SPLITS[s] for s in split] + ["unlabelled"] * len(sample),
        "true_path": [format_paths(ps) for ps in paths] + [""] * len(sample),
        "pred_path": [format_paths(p for p, _ in d) for d in decoded_tuned + decoded_sample],
        "pred_score": [round(d[0][1], 4) if d else 0.0 for d in decoded_tuned + decoded_sample],
    })
    top = products["pred_path"].str.split(PATH_SEPARATOR, regex=False).str[0]
    products["pred_top"] = top.str.split(LEVEL_SEPARATOR, regex=False).str[0]
    true_first = products["true_path"].str.split(PATH_SEPARATOR, regex=False).str[0]
    products["true_top"] = true_first.str.split(LEVEL_SEPARATOR, regex=False).str[0]
    products["correct"] = pd.array(correct.tolist() + [None] * len(sample), dtype="boolean")
    # The review queues (prodemb.review): how sure the model is between its two best leaves
    # (unlabelled products to label first), how much an out-of-fold model doubts a label.
    products["pred_margin"] = np.concatenate([leaf_margin(probs, taxonomy.leaves),
                                              leaf_margin(probs_sample, taxonomy.leaves)]).round(4)
    if folds:
        products["label_doubt"] = np.concatenate([doubt, np.full(len(sample), np.nan, np.float32)])
        products["doubt_suggests"] = suggestion.tolist() + [""] * len(sample)

    with timer("maps") as stage:
        methods = config.maps.methods
        for i, method in enumerate(methods, 1):
            fit = min(len(embeddings), config.maps.fit_points)
            placed = f", {len(embeddings) - fit:,} more placed beside them" \
                if fit < len(embeddings) else ""
            stage.note(f"map {i} of {len(methods)}, {MAP_LABELS.get(method, method)} of "
                       f"{fit:,} products{placed}")
            coords = _map_all(embeddings, method, config.maps.fit_points,
                              config.maps.n_neighbors_place, seed)
            products[f"{method}_x"] = coords[:, 0]
            products[f"{method}_y"] = coords[:, 1]

    contents = BundleContents(
        taxonomy=taxonomy, classifier=clf, word_vectors=word_vectors, decoder=decoder,
        metrics={"splits": results, "history": clf.history, "kept_epoch": clf.kept_epoch,
                 "stage_seconds": timer.seconds,
                 "word2vec_probes": probes, "word2vec": w2v_report,
                 "split_report": report, "label_roll_up": roll_up,
                 "confidence": confidence_metrics,
                 "thresholds": {"grid": "0.05..0.95 step 0.05", "tuned_on": "validation"}},
        config={"train": config.to_dict(), "reader": options.to_dict()},
        products=products, embeddings=embeddings, confidence=confidence_model.to_dict())
    facts = TrainingFacts(
        data={"file": os.path.basename(data), "sha256": sha256_file(data),
              "n_products": int(len(catalogue)), "n_labelled": int(len(labelled)),
              "n_unlabelled": int(len(catalogue) - len(labelled)),
              "n_embedded_unlabelled": int(len(sample)),
              "split_counts": report["counts"]},
        labels={"roll_up": roll_up, "rare_leaves": rare_leaf_counts(taxonomy, y),
                **({"corrections": {"source": os.path.basename(corrections), **applied}}
                   if applied is not None else {})},
        warnings=warnings_,
        complete_paths=complete,
        mixing={"sigmoid_weight": sigmoid_weight, **mixing},
        metrics={name: summary(r) for name, r in results.items()},
        stage_seconds=timer.seconds)

    with timer("write", f"the bundle to {out}"):
        manifest = write_bundle(out, contents, facts, overwrite=overwrite)
    manifest["stage_seconds"] = timer.seconds
    log.info("bundle written to %s; stage seconds: %s", out, timer.seconds)
    return manifest


def fit_confidence(clf: Classifier, lab_tokens: list[list[str]], decoded: list, correct: np.ndarray,
                   split: np.ndarray, embeddings: np.ndarray, seed: int
                   ) -> tuple[ConfidenceModel, dict]:
    """The bundle's confidence model, fitted on validation products (prodemb.confidence),
    and its report per split (ECE raw and calibrated, reliability table, status shares).

    ``decoded``/``correct``/``split``/``embeddings`` are the labelled products' decoded
    paths, whether each top path is right, split index (0 train, 1 validation, 2 test) and
    L2-normalised embeddings, in the order of the bundle's products (labelled first)."""
    near = nearness_rows(np.flatnonzero(split == 0), seed)
    similarity = nearest_similarity(embeddings, embeddings[near])
    scores = np.array([d[0][1] if d else 0.0 for d in decoded])
    val = split == 1
    model = ConfidenceModel.fit(scores[val], correct[val], similarity[val], near)
    index = clf.encoder.index
    n_known = [sum(t in index for t in toks) for toks in lab_tokens]
    confidence, verdicts = model.judge_all(scores, similarity, [len(t) for t in lab_tokens],
                                           n_known, [len(d) for d in decoded])
    report = {}
    for i, name in enumerate(SPLITS):
        rows = np.flatnonzero(split == i)
        if len(rows):
            report[name] = calibration_report(scores[rows], confidence[rows], correct[rows],
                                              [verdicts[r][0] for r in rows])
    return model, report


def confidence_for_bundle(bundle) -> tuple[ConfidenceModel, dict]:
    """:func:`fit_confidence` for a trained bundle, from its stored products and embeddings
    (for bundles trained before confidence.json; ``bench/bench_confidence.py``). Nothing is
    written; set ``bundle.use_confidence(model)`` to classify with it."""
    products = bundle.products
    rows = np.flatnonzero(products["split"].isin(SPLITS).to_numpy())
    labelled = products.iloc[rows]
    tokens = bundle.tokenize(labelled["text"].tolist())
    decoded = bundle.decode(bundle.classifier.predict_proba(tokens))
    true = [set(split_paths(cell)) for cell in labelled["true_path"]]
    correct = np.array([bool(d) and format_path(d[0][0]) in t for d, t in zip(decoded, true)])
    split = labelled["split"].map({name: i for i, name in enumerate(SPLITS)}).to_numpy()
    embeddings = bundle.product_index.vectors[rows]
    seed = int(bundle.config.get("train", {}).get("seed", 0))
    model, report = fit_confidence(bundle.classifier, tokens, decoded, correct, split, embeddings, seed)
    model.nearness_rows = rows[model.nearness_rows]  # positions among the labelled -> rows
    return model, report


def word2vec_on_tokens(tokens: list[list[str]], config: TrainConfig,
                       show_progress: bool = True, workdir: str | None = None) -> WordVectors:
    """Word2Vec (``config.word2vec``, seed ``config.seed``) on every product's tokens: one
    run of :func:`word2vec_runs`."""
    return word2vec_runs(tokens, config, [config.seed], show_progress, workdir)[0]


def word2vec_runs(tokens: list[list[str]], config: TrainConfig, seeds: Sequence[int],
                  show_progress: bool = True, workdir: str | None = None) -> list[WordVectors]:
    """One Word2Vec run (``config.word2vec``) per seed of ``seeds`` on every product's
    tokens, in the order of ``seeds``.

    The number of passes is ``config.word2vec.epochs``, raised for a small corpus until
    ``min_corpus_tokens`` tokens are read (at most 50 passes).

    The runs go side by side, in threads, and share the worker threads (``workers``, 0:
    all cores) evenly, at least one each. gensim trains without the GIL, and its workers
    scale poorly: on 2 cores the demo bundle's two runs took 96.9 s side by side with one
    worker each, against 119.6 s one after the other with two workers each
    (``bench/bench_training.py``; docs/quality.md). A run of one worker is also reproducible (the
    same vectors for the same seed, whatever runs beside it); with more workers, a run's
    updates interleave in an order the OS decides.

    The tokens are written once to a corpus file for gensim, in the directory ``workdir``
    (created, and removed with the corpus afterwards, also on an exception or Ctrl-C) or,
    without it, in a temporary directory of TMPDIR. :func:`train_bundle` passes a hidden
    directory beside the bundle, so that a run killed outright (SIGKILL) leaves the
    cleaned catalogue text there, where the next run to the same bundle removes it,
    not in TMPDIR for good."""
    w2v = config.word2vec
    seeds = list(seeds)
    w2v = dataclasses.replace(w2v, epochs=word2vec_passes(sum(len(t) for t in tokens), w2v))
    if len(seeds) > 1:
        w2v.workers = max(1, (w2v.workers or available_cores()) // len(seeds))
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="prodemb-w2v-") as tmp:
            return _word2vec_in(tmp, tokens, w2v, seeds, show_progress)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    try:
        return _word2vec_in(workdir, tokens, w2v, seeds, show_progress)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def word2vec_passes(n_tokens: int, w2v) -> int:
    """Passes Word2Vec makes over a corpus of ``n_tokens`` tokens: ``w2v.epochs``, raised for
    a small corpus until ``w2v.min_corpus_tokens`` tokens are read (at most 50 passes)."""
    if w2v.min_corpus_tokens and n_tokens:
        return max(w2v.epochs, min(50, -(-w2v.min_corpus_tokens // n_tokens)))
    return w2v.epochs


def _word2vec_in(directory: str, tokens: list[list[str]], w2v, seeds: list[int],
                 show_progress: bool) -> list[WordVectors]:
    corpus = os.path.join(directory, "corpus.txt")
    with open(corpus, "w", encoding="ascii") as f:
        for toks in tokens:
            if toks:
                f.write(" ".join(toks))
                f.write("\n")
    if len(seeds) == 1:
        return [train_word2vec(corpus, w2v, seed=seeds[0], show_progress=show_progress)]
    results: list = [None] * len(seeds)

    def run(k: int) -> None:
        try:
            results[k] = train_word2vec(corpus, w2v, seed=seeds[k], show_progress=show_progress,
                                        desc=f"word2vec run {k + 1} of {len(seeds)}, epochs")
        except BaseException as e:  # handed to the caller below
            results[k] = e

    # Daemon threads, joined with a timeout: Ctrl-C or SIGTERM (raised in this, the main
    # thread) unwinds the training at once instead of waiting for the runs to end.
    threads = [threading.Thread(target=run, args=(k,), name=f"word2vec-{k + 1}", daemon=True)
               for k in range(len(seeds))]
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(0.2)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


def apply_corrections_file(catalogue: pd.DataFrame, source: str) -> tuple[pd.DataFrame, dict]:
    """The catalogue (``id, text, paths``) with the corrections of ``source`` (a database or
    its CSV export) applied to its paths, and the counts of what was applied
    (:func:`prodemb.corrections.apply_corrections`; nothing is applied if a row is bad)."""
    from .corrections import apply_corrections, read_corrections

    frame = read_corrections(source)
    paths, applied = apply_corrections(catalogue["id"].astype(str).tolist(),
                                       catalogue["paths"].tolist(), frame)
    catalogue = catalogue.copy()
    catalogue["paths"] = paths
    return catalogue, applied.to_dict()


def labelled_paths(catalogue: pd.DataFrame, config: TrainConfig
                   ) -> tuple[np.ndarray, list[list[Path]], dict | None]:
    """The labelled products and the paths ``prodemb train`` trains on.

    Returns ``(labelled, paths, roll_up)``: the catalogue rows of the labelled products,
    ``(n_labelled,)`` in catalogue order; their paths (one list per labelled product, after
    the roll-up); and the report of :func:`prodemb.taxonomy.roll_up_rare_leaves` when
    ``config.min_leaf_count > 1``, else None. Used by :func:`train_bundle` and the
    benchmarks' ``bench.common.pipeline_split``, so both see the same labels.
    """
    min_count = config.min_leaf_count
    if isinstance(min_count, bool) or not isinstance(min_count, int):
        raise ValueError(f"config min_leaf_count must be a whole number, got {min_count!r}")
    labelled = np.flatnonzero(catalogue["paths"].map(len).to_numpy() > 0)
    paths = [list(catalogue["paths"].iat[i]) for i in labelled]
    if min_count <= 1:
        return labelled, paths, None
    paths, report = roll_up_rare_leaves(paths, min_count)
    return labelled, paths, report


def roll_up_message(report: dict) -> str:
    """What :func:`prodemb.taxonomy.roll_up_rare_leaves` did, in plain words."""
    n = report["min_leaf_count"]
    if not report["rolled_up_leaves"]:
        return (f"Rare leaves (min_leaf_count {n}): every leaf below the top level has at "
                f"least {n} labelled products; the tree is unchanged "
                f"({report['leaves_before']} leaves).")
    rolled, moved = report["rolled_up_leaves"], report["products_relabelled"]
    return (f"Rare leaves rolled up (min_leaf_count {n}): {rolled} "
            f"{'category' if rolled == 1 else 'categories'} with fewer than {n} labelled "
            f"products {'was' if rolled == 1 else 'were'} merged into the parent category, so "
            f"{moved} {'product now carries' if moved == 1 else 'products now carry'} the "
            f"parent's path. The tree went from {report['leaves_before']} to "
            f"{report['leaves_after']} leaves.")


#: A leaf with fewer labelled products than this is "rare" for :func:`rare_leaf_warning`.
RARE_LEAF_PRODUCTS = 5


def rare_leaf_counts(taxonomy: Taxonomy, y: np.ndarray,
                     rare_below: int = RARE_LEAF_PRODUCTS) -> dict:
    """``{"rare_below": 5, "rare_leaves": r, "leaves": n}``: how many of the tree's leaves
    have fewer than ``rare_below`` labelled products (rows of the 0/1 node matrix ``y``,
    ``(n_labelled, n_nodes)``, that hold the leaf)."""
    leaves = np.array(taxonomy.leaves, dtype=np.int64)
    counts = np.asarray(y)[:, leaves].sum(axis=0) if len(leaves) else np.zeros(0)
    return {"rare_below": rare_below, "rare_leaves": int((counts < rare_below).sum()),
            "leaves": int(len(leaves))}


def rare_leaf_warning(taxonomy: Taxonomy, y: np.ndarray, min_leaf_count: int = 0,
                      rare_below: int = RARE_LEAF_PRODUCTS) -> str | None:
    """A plain-words warning when many leaves have too few labelled products, else None.

    Args:
        taxonomy: the tree trained on (after any roll-up).
        y: 0/1 node matrix of the labelled products, ``(n_labelled, n_nodes)``.
        min_leaf_count: the roll-up already applied (``config.min_leaf_count``); merging
            is not suggested again when it already reaches ``rare_below``.
        rare_below: a leaf with fewer labelled products than this is rare.

    Warns when at least 20 % of the leaves, and at least 10 leaves, are rare. The remedies
    suggested are the reader's ``--max-depth`` (the tree's depth minus one) and
    ``--min-leaf-count``; neither is offered when every rare leaf is a top-level node
    (neither would change it).
    """
    c = rare_leaf_counts(taxonomy, y, rare_below)
    rare, n = c["rare_leaves"], c["leaves"]
    if rare < 10 or rare * 5 < n:
        return None
    text = (f"{rare} of {n} leaves ({round(100 * rare / n)} %) have fewer than {rare_below} "
            "labelled products. The classifier cannot learn such categories reliably and "
            "their test scores rest on one or two products.")
    leaves = np.array(taxonomy.leaves, dtype=np.int64)
    rare_levels = taxonomy.levels[leaves[np.asarray(y)[:, leaves].sum(axis=0) < rare_below]]
    fixes = []
    if taxonomy.depth > 1 and (rare_levels > 1).any():
        fixes.append(f"cutting the tree at a coarser level (--max-depth {taxonomy.depth - 1})")
        if min_leaf_count < rare_below:
            fixes.append(f"merging rare leaves into their parent (--min-leaf-count {rare_below})")
    if fixes:
        text += " Consider " + " or ".join(fixes) + "."
    return text


def split_labelled(catalogue: pd.DataFrame, labelled: np.ndarray, y: np.ndarray,
                   lab_tokens: list[list[str]], config: TrainConfig, name: str) -> np.ndarray:
    """Split index (0 train, 1 validation, 2 test) of each labelled product, ``(n_labelled,)``.

    From the catalogue's ``split`` column when the reader was given ``split_column``, else
    by iterative stratification over ``y`` with identical cleaned texts grouped.
    """
    groups = group_ids([" ".join(t) for t in lab_tokens])
    if "split" in catalogue:
        split = np.array([SPLITS.index(s) for s in catalogue["split"].to_numpy()[labelled]],
                         dtype=np.int64)
        straddle = len(np.unique(groups[split == 0])) + len(np.unique(groups[split != 0])) \
            - len(np.unique(groups))
        if straddle:
            log.warning("%s: %d cleaned text(s) occur both in training and in validation/test "
                        "of the given split", name, straddle)
        how = "the split column"
    else:
        split = stratified_split(y, groups, (config.split.train, config.split.validation,
                                             config.split.test),
                                 seed=config.split.split_seed(config.seed))
        how = None
    if not (split == 0).any() or not (split == 1).any():
        if how:
            raise TrainingError(f"{name}: {how} gives no training or no validation product")
        raise TrainingError(f"{name}: too few labelled products for a train/validation split "
                            f"({len(labelled)} labelled, {len(np.unique(groups))} distinct "
                            "text(s) after cleaning; identical texts always share a split)")
    return split


MIX_WEIGHTS = SIGMOID_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def tune_mix(clf: Classifier, name: str, grid, tokens, y: np.ndarray, taxonomy: Taxonomy,
             complete: bool) -> float:
    """Set and return the weight ``name`` of the model's config (``sigmoid_weight`` or
    ``wide_mix``) that maximises validation macro-F1; ties keep the value closest to 0.5.

    Each candidate is judged as it will be used: decoding tuned on the same validation
    products (:meth:`prodemb.decoding.TreeDecoder.fit`), hierarchy-consistent paths. Both
    weights only mix outputs trained apart, so the choice needs no retraining: the wide
    path's share of the leaf distribution (``wide_mix``) went to 0.75 on small Fashion,
    where its linear memory carries the rare leaves, and lower on the demo, where the
    BiLSTM alone is stronger.
    """
    parts = clf.predict_logits(tokens)
    best, best_f1 = 0.5, -1.0
    for w in sorted(grid, key=lambda v: abs(v - 0.5)):
        clf.set_weight(name, w)  # every network of an ensemble alike
        probs = clf.combine(parts)
        f1 = macro_f1(y, TreeDecoder(taxonomy, complete).fit(probs, y).predict(probs))
        if f1 > best_f1 + 1e-6:
            best, best_f1 = w, f1
    clf.set_weight(name, best)
    return best


def tune_leaf_mixing(clf: Classifier, config, tokens, y: np.ndarray, taxonomy: Taxonomy,
                     complete: bool) -> dict:
    """The leaf head's weights in use, each chosen on validation (:func:`tune_mix`) where
    ``config`` (a ClassifierConfig) leaves it None: first ``leaf_prior_weight`` (how much
    of the leaf prior goes back into the balanced leaf scores), then ``wide_mix``.

    Balanced scores (leaf_logit_adjust = 1) let a rare leaf win on its own words, but in
    a catalogue whose rare leaves read like common ones (Fashion's "Free Gifts >
    Backpacks" beside "Backpacks") they also draw the common leaf's products: on Fashion
    the training products of a one-product leaf such as "Vouchers > Ipad" were the top
    prediction of 30 others. How much prior to add back depends on the catalogue.
    """
    model = clf.model
    if model.leaf_out is None:
        return {}
    names = ["leaf_prior_weight"] + (["wide_mix"] if model.wide_weight is not None else [])
    for name in names:
        if getattr(config, name) is None:
            tune_mix(clf, name, MIX_WEIGHTS, tokens, y, taxonomy, complete)
    return {name: getattr(model.config, name) for name in names}


def tune_sigmoid_weight(clf: Classifier, tokens, y: np.ndarray, taxonomy: Taxonomy,
                        complete: bool) -> float | None:
    """:func:`tune_mix` of ``sigmoid_weight`` (with ``classifier.sigmoid_weight = None``; the
    default is a fixed value); None without a leaf head. On fashion validation (mean of 5
    seeds) the sigmoids alone scored 0.82 macro-F1, the softmax alone 0.92, the 0.25 mix
    0.93 and the former fixed 0.5 mix 0.92."""
    if clf.model is None or clf.model.leaf_out is None:
        return None
    return tune_mix(clf, "sigmoid_weight", SIGMOID_WEIGHTS, tokens, y, taxonomy, complete)


def _map_all(embeddings: np.ndarray, method: str, fit_points: int, k: int, seed: int) -> np.ndarray:
    """Fit a map on up to ``fit_points`` products and place the rest by kNN interpolation."""
    n = len(embeddings)
    if n <= fit_points:
        return fit_map(embeddings, method, seed)
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n, fit_points, replace=False))
    coords = np.empty((n, 2), dtype=np.float32)
    coords[fit_rows] = fit_map(embeddings[fit_rows], method, seed)
    rest = np.setdiff1d(np.arange(n), fit_rows)
    coords[rest] = place(embeddings[rest], CosineIndex(embeddings[fit_rows], normalized=True),
                         coords[fit_rows], k)
    return coords


def evaluate_bundle(bundle, data: str, options: ReaderOptions | None = None) -> dict:
    """Evaluate a bundle on a labelled catalogue file, read with ``options`` (None: the
    bundle's own reader options). See :func:`prodemb.evaluation.evaluate_file`: rows not
    scored are counted with their reason, and an evaluation leaving out most labelled rows
    raises :class:`prodemb.evaluation.EvaluationError`."""
    from .evaluation import evaluate_file

    return evaluate_file(bundle, data, options)


__all__ = ["train_bundle", "evaluate_bundle", "TrainingError", "WordVectors"]
