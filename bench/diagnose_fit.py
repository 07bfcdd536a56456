"""Where the classifier fits and where it does not: ``bench/results/diagnose_<setting><tag>.json``.

For one quality setting (``demo``, ``demo-longtail``, ``fashion``, ``fashion-small``;
:func:`common.setting`), trains Word2Vec and the classifier as ``prodemb train`` does
(same reader, split, config and seed; no bundle, no maps) and after every epoch scores
the train, validation and test products with the pipeline's decoding (per-node thresholds
and extra-path cut-off tuned on validation): leaf macro-F1, overall and by the leaf's
number of **training** products (1-4, 5-19, 20-99, 100+). A model that fits what it is
taught has a train leaf macro-F1 near 1 in every bucket; one that underfits the long
tail shows it in the small buckets.

Usage::

    .venv/bin/python bench/diagnose_fit.py --setting fashion-small [--config FILE] [--seed 0] [--tag _x]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import log  # noqa: E402

from prodemb.classifier import Classifier  # noqa: E402
from prodemb.config import TrainConfig  # noqa: E402
from prodemb.decoding import TreeDecoder  # noqa: E402
from prodemb.metrics import per_label_prf  # noqa: E402
from prodemb.pipeline import tune_leaf_mixing, word2vec_on_tokens  # noqa: E402

BUCKETS = ((1, 4), (5, 19), (20, 99), (100, None))
SPLIT_NAMES = ("train", "validation", "test")


def bucket_name(lo: int, hi: int | None) -> str:
    return f"{lo}-{hi}" if hi else f"{lo}+"


def leaf_f1_by_bucket(y: np.ndarray, pred: np.ndarray, is_leaf: np.ndarray,
                      train_count: np.ndarray) -> dict:
    """Leaf macro-F1 over leaves with support in ``y``, overall and per training-count bucket."""
    _, _, f1, support = per_label_prf(y, pred)
    keep = is_leaf & (support > 0)
    out = {"leaf_macro_f1": round(float(f1[keep].mean()), 5) if keep.any() else None}
    for lo, hi in BUCKETS:
        sel = keep & (train_count >= lo) & ((train_count <= hi) if hi else True)
        out[bucket_name(lo, hi)] = round(float(f1[sel].mean()), 5) if sel.any() else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", choices=common.SETTINGS, required=True)
    ap.add_argument("--config", help="training config (JSON overrides of the default)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the split stays at 0)")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    args = ap.parse_args(argv)

    path, reader = common.setting(args.setting)
    if path is None:
        return 0
    config = TrainConfig.from_json_file(args.config) if args.config else TrainConfig()
    config.split.seed = config.split.split_seed(0)
    config.seed = args.seed
    config.classifier.max_train_minutes = 24 * 60.0
    data = common.pipeline_split(path, reader, config)
    tax = data.taxonomy
    tr = data.rows(0)
    train_count = data.y[tr].sum(axis=0)
    leaves = tax.is_leaf & (train_count > 0)
    log(f"{args.setting}: {len(data.ids):,} labelled of {len(data.all_tokens):,}; "
        f"{tax.n_nodes} nodes, {int(leaves.sum())} leaves; split {np.bincount(data.split)}")
    counts = {bucket_name(lo, hi): int((leaves & (train_count >= lo)
                                        & ((train_count <= hi) if hi else True)).sum())
              for lo, hi in BUCKETS}

    start = time.perf_counter()
    word_vectors = word2vec_on_tokens(data.all_tokens, config, show_progress=False)
    w2v_seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    words = word_vectors.words[: min(len(word_vectors.words), 5000)]
    a, b = rng.choice(len(words), (2, 2000))
    v = word_vectors.vectors / np.linalg.norm(word_vectors.vectors, axis=1, keepdims=True)
    random_pair_cosine = float(np.mean(np.sum(v[a] * v[b], axis=1)))
    log(f"Word2Vec: {len(word_vectors.words):,} words, mean cosine of random pairs among the "
        f"5,000 most frequent {random_pair_cosine:.3f} ({w2v_seconds:.0f} s)")

    va = data.rows(1)
    tokens = data.tokens

    def on_epoch(epoch: int, clf: Classifier) -> dict:
        probs = clf.predict_proba(tokens)
        pred = TreeDecoder(tax, data.complete).fit(probs[va], data.y[va]).predict(probs)
        scores = {name: leaf_f1_by_bucket(data.y[data.split == i], pred[data.split == i],
                                          leaves, train_count)
                  for i, name in enumerate(SPLIT_NAMES)}
        # The same model decoded with plain 0.5 thresholds: how much the per-node
        # thresholds tuned on (small) validation sets help or hurt on test.
        te = data.rows(2)
        plain = tax.decode_to_matrix(tax.decode(probs[te], 0.5, complete=data.complete))
        scores["test_plain_0.5"] = leaf_f1_by_bucket(data.y[te], plain, leaves, train_count)
        log(f"epoch {epoch}: " + "  ".join(
            f"{n} {s['leaf_macro_f1']:.3f} [" + " ".join(
                f"{s[bucket_name(lo, hi)]:.2f}" if s[bucket_name(lo, hi)] is not None else "-"
                for lo, hi in BUCKETS) + "]" for n, s in scores.items()))
        return {"leaf_f1": scores}

    start = time.perf_counter()
    clf = Classifier(config.classifier, seed=config.seed).fit(
        [tokens[i] for i in tr], data.y[tr], [tokens[i] for i in va], data.y[va],
        word_vectors=word_vectors, taxonomy=tax, show_progress=False, on_epoch=on_epoch)
    fit_seconds = time.perf_counter() - start
    # As prodemb train does after fitting: the leaf head's weights chosen on validation.
    tuned = tune_leaf_mixing(clf, config.classifier, [tokens[i] for i in va], data.y[va],
                             tax, data.complete)
    if tuned:
        tuned.update(on_epoch(len(clf.history), clf))
        log(f"tuned {({k: v for k, v in tuned.items() if k != 'leaf_f1'})}: test leaf macro-F1 "
            f"{tuned['leaf_f1']['test']['leaf_macro_f1']:.4f}")
    # The kept model's node probabilities of every labelled product, for offline study of
    # decoding (the labels and split are common.pipeline_split's).
    probs_file = common.CACHE / "diagnose" / f"{args.setting}{args.tag}_probs.npy"
    probs_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(probs_file, clf.predict_proba(tokens))
    best = next(h for h in clf.history if h["epoch"] == clf.kept_epoch)
    log(f"kept epoch {best['epoch']} of {len(clf.history)}: test leaf macro-F1 "
        f"{best['leaf_f1']['test']['leaf_macro_f1']:.4f} ({fit_seconds:.0f} s)")
    common.write_result(f"diagnose_{args.setting.replace('-', '_')}{args.tag}", {
        "setting": args.setting, "config": config.to_dict(),
        "n_labelled": len(data.ids), "n_products": len(data.all_tokens),
        "split_counts": {n: int((data.split == i).sum()) for i, n in enumerate(SPLIT_NAMES)},
        "tree": {"nodes": tax.n_nodes, "leaves": int(leaves.sum()), "depth": tax.depth},
        "leaves_by_training_count": counts,
        "word2vec": {"words": len(word_vectors.words), "seconds": round(w2v_seconds, 1),
                     "mean_cosine_random_pairs_top5000": round(random_pair_cosine, 4)},
        "fit_seconds": round(fit_seconds, 1), "kept_epoch": best["epoch"], "tuned": tuned,
        "probs_file": str(probs_file),
        "history": clf.history,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
