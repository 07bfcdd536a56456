"""prodemb used the plain way, against a plain TF-IDF + linear SVM: ``bench/results/plain_<setting>.json``.

What a new user does to judge prodemb on their own catalogue, with nothing tuned by hand:

1. Of the catalogue's labelled products a random 20 % (``--holdout``, seed ``--seed``) are
   held out; the rest of the file (the other labelled products and every unlabelled one)
   is the training file, written in prodemb's own column layout (``id, title, category``).
2. ``prodemb train --data train.parquet --text-columns title --out B`` with the default
   config, then
   ``prodemb predict --bundle B --in holdout.parquet --out predictions.parquet``: the
   commands a user runs (as subprocesses, ``--threads`` as given).
3. The twenty-line scikit-learn pipeline a user would compare with: TF-IDF (word 1-2-grams
   and char_wb 2-5-grams, ``bench/peers.py``'s features) and ``LinearSVC(C=1)`` over the
   training products' path ends, trained on the same labelled training products.
4. Both are scored on the held-out products from their one predicted path (prodemb's
   ``category`` column, the SVM's class): leaf macro-F1 (:func:`prodemb.metrics.evaluate`
   over the tree of the whole file), macro-F1 over every node, and the share of
   predictions that stop above the level of the true path's end.

Unlike ``bench_quality.py`` nothing is tuned for either system on a shared validation
split: this is the out-of-the-box comparison of issue 10 ("used the plain way").

    .venv/bin/python bench/bench_plain.py                   # fashion, demo-longtail
    .venv/bin/python bench/bench_plain.py --setting fashion
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402
from peers import TfidfFeatures, clean_texts  # noqa: E402

from prodemb.catalogue import read_catalogue  # noqa: E402
from prodemb.metrics import evaluate  # noqa: E402
from prodemb.taxonomy import Taxonomy, format_path, parse_path, split_paths  # noqa: E402


def holdout_files(setting: str, holdout: float, seed: int, work: Path, quick: bool = False
                  ) -> tuple[Path, Path, pd.DataFrame]:
    """The training file, the held-out file (no categories) and the held-out truth."""
    path, reader = ((common.demo_catalogue(3000, 3000, seed=1), common.PRESETS["demo"])
                    if quick else common.setting(setting))
    if path is None:
        raise SystemExit(f"{setting}: catalogue not found")
    cat = read_catalogue(path, reader)
    labelled = np.flatnonzero(cat["paths"].map(len).to_numpy() > 0)
    rng = np.random.default_rng(seed)
    held = rng.choice(labelled, size=int(round(holdout * len(labelled))), replace=False)
    is_held = np.zeros(len(cat), dtype=bool)
    is_held[held] = True
    category = cat["paths"].map(lambda ps: " | ".join(format_path(p) for p in ps))
    frame = pd.DataFrame({"id": cat["id"].astype(str), "title": cat["text"], "category": category})
    train_file, held_file = work / "train.parquet", work / "holdout.parquet"
    frame[~is_held].to_parquet(train_file, index=False)
    frame[is_held][["id", "title"]].to_parquet(held_file, index=False)
    return train_file, held_file, frame[is_held].reset_index(drop=True)


def run(cmd: list[str]) -> float:
    log(" ".join(cmd))
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return round(time.perf_counter() - start, 1)


def svm_predictions(train: pd.DataFrame, held: pd.DataFrame) -> tuple[list[str], float]:
    """The plain pipeline: TF-IDF + LinearSVC(C=1) over path ends (each product's first path)
    of the training file's labelled rows ``train``."""
    from sklearn.svm import LinearSVC

    start = time.perf_counter()
    train = train[train["category"] != ""]
    y = [split_paths(c)[0] for c in train["category"]]
    features = TfidfFeatures()
    x = features.fit_transform(clean_texts(train["title"].tolist()))
    model = LinearSVC(C=1.0).fit(x, y)
    pred = model.predict(features.transform(clean_texts(held["title"].tolist())))
    return list(pred), round(time.perf_counter() - start, 1)


def score(taxonomy: Taxonomy, truth: list[str], predicted: list[str]) -> dict:
    y_true = taxonomy.binarize([[parse_path(p) for p in split_paths(t)] for t in truth])
    y_pred = taxonomy.binarize([[parse_path(p)] if p else [] for p in predicted])
    result = evaluate(taxonomy, y_true, y_pred, with_pairs=False)
    true_depth = np.array([max(len(parse_path(p)) for p in split_paths(t)) for t in truth])
    depth = np.array([len(parse_path(p)) if p else 0 for p in predicted])
    return {"leaf_macro_f1": round(result["leaf_macro_f1"], 4),
            "macro_f1": round(result["macro_f1"], 4),
            "stops_above_true_depth": round(float((depth < true_depth).mean()), 4),
            "empty": round(float((depth == 0).mean()), 4)}


def plain(setting: str, args) -> None:
    """One setting: train, predict, the SVM, the scores."""
    work = CACHE / "plain" / f"{setting}-{args.seed}{'-quick' * args.quick}"
    work.mkdir(parents=True, exist_ok=True)
    train_file, held_file, held = holdout_files(setting, args.holdout, args.seed, work, args.quick)
    bundle, predictions = work / "bundle", work / "predictions.parquet"
    prodemb = [sys.executable, "-m", "prodemb.cli"]
    # The file has a title and no description: the one flag its error message asks for.
    train_seconds = run([*prodemb, "train", "--data", str(train_file), "--out", str(bundle),
                         "--text-columns", "title", "--force",
                         *(["--config", str(common.ROOT / "configs" / "tiny.json")] if args.quick
                           else [])])
    predict_seconds = run([*prodemb, "predict", "--bundle", str(bundle), "--in", str(held_file),
                           "--out", str(predictions), "--threads", str(args.threads)])
    pred = pd.read_parquet(predictions)
    if pred["id"].astype(str).tolist() != held["id"].tolist():
        raise SystemExit("prodemb predict did not return the held-out products in order")
    train = pd.read_parquet(train_file)
    svm, svm_seconds = svm_predictions(train, held)

    every_path = [parse_path(p) for c in train["category"].tolist()
                  + held["category"].tolist() for p in split_paths(c)]
    taxonomy = Taxonomy.from_paths(every_path)
    truth = held["category"].tolist()
    systems = {
        "prodemb": {**score(taxonomy, truth, pred["category"].fillna("").tolist()),
                    "train_seconds": train_seconds, "predict_seconds": predict_seconds},
        "tfidf_linear_svm": {**score(taxonomy, truth, svm), "seconds": svm_seconds},
    }
    margin = systems["prodemb"]["leaf_macro_f1"] - systems["tfidf_linear_svm"]["leaf_macro_f1"]
    common.write_result(f"plain_{setting.replace('-', '_')}{'_quick' * args.quick}{args.tag}", {
        "setting": setting, "holdout": args.holdout, "seed": args.seed,
        "n_held_out": len(held), "n_training_rows": len(train),
        "tree": {"nodes": taxonomy.n_nodes, "leaves": int(taxonomy.is_leaf.sum())},
        "systems": systems, "margin_leaf_macro_f1": round(margin, 4)})
    for name, r in systems.items():
        print(f"{name:18s} leaf macro-F1 {r['leaf_macro_f1']:.4f}  macro-F1 {r['macro_f1']:.4f}  "
              f"above the true depth {r['stops_above_true_depth']:.1%}")
    print(f"prodemb - SVM: {margin:+.4f} test leaf macro-F1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", nargs="+", choices=list(common.SETTINGS),
                    default=["fashion", "demo-longtail"])
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="prodemb predict --threads")
    ap.add_argument("--tag", default="")
    ap.add_argument("--quick", action="store_true",
                    help="a small demo catalogue and configs/tiny.json (a smoke run, minutes)")
    args = ap.parse_args(argv)
    for setting in (["demo"] if args.quick else args.setting):
        plain(setting, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
