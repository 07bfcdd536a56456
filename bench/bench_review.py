"""Label review: how many of the most doubted labels are wrong: ``bench/results/review.json``.

Generates the demo catalogue with a known share of wrong labels (``prodemb demo-data
--mislabel-share F``, the planted errors listed in ``FILE.mislabelled.csv``), reads and
cleans it as ``prodemb train`` does (``prodemb.pipeline.load_catalogue`` and
``labelled_paths``), runs the training's label review on the labelled products
(``prodemb.review.label_doubts`` with the default config's folds) and scores the review
queue: precision at 50, 100 and 200 (the share of the most doubted labels that were planted
errors) against the share of planted errors (what a random queue finds).

Target (issue 14): precision@50 >= 0.6.

Usage: ``.venv/bin/python bench/bench_review.py [--labelled 50000] [--share 0.02] [--seeds 3]
[--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402

from prodemb.config import TrainConfig  # noqa: E402
from prodemb.demo import write_demo  # noqa: E402
from prodemb.pipeline import labelled_paths, load_catalogue  # noqa: E402
from prodemb.review import label_doubts  # noqa: E402
from prodemb.taxonomy import format_path  # noqa: E402

TARGET_PRECISION_AT_50 = 0.6
CUTS = (50, 100, 200)


def run(n_labelled: int, share: float, seed: int, folds: int) -> dict:
    data = CACHE / f"review_demo_{n_labelled}_{share}_{seed}.csv"
    if not data.exists() or not Path(f"{data}.mislabelled.csv").exists():
        write_demo(data, n_labelled=n_labelled, n_unlabelled=0, seed=seed, progress=False,
                   mislabel_share=share)
    planted = set(pd.read_csv(f"{data}.mislabelled.csv", dtype=str)["id"])
    config = TrainConfig()
    catalogue, tokens = load_catalogue(str(data), common.PRESETS["demo"], config.text.max_tokens,
                                       show_progress=False)
    labelled, paths, _ = labelled_paths(catalogue, config)
    ids = catalogue["id"].to_numpy()[labelled].astype(str)
    start = time.perf_counter()
    doubt, _ = label_doubts([" ".join(tokens[i]) for i in labelled],
                            [format_path(ps[0]) for ps in paths], folds, seed)
    seconds = time.perf_counter() - start
    wrong = np.isin(ids, list(planted))
    judged = ~np.isnan(doubt)
    order = np.argsort(-np.where(judged, doubt, -1.0), kind="stable")
    out = {"seed": seed, "labelled": int(len(ids)), "planted": int(wrong.sum()),
           "random_precision": round(float(wrong.mean()), 4),
           "judged_share": round(float(judged.mean()), 4), "seconds": round(seconds, 1)}
    for k in CUTS:
        out[f"precision_at_{k}"] = round(float(wrong[order[:k]].mean()), 4)
    n = int(wrong.sum())
    out["recall_at_planted"] = round(float(wrong[order[:n]].sum() / max(n, 1)), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labelled", type=int, default=50_000)
    ap.add_argument("--share", type=float, default=0.02, help="share of wrong labels planted")
    ap.add_argument("--seeds", type=int, default=3, help="catalogues generated (seeds 0..N-1)")
    ap.add_argument("--quick", action="store_true", help="5,000 products, one catalogue")
    args = ap.parse_args(argv)
    if args.quick:
        args.labelled, args.seeds = 5000, 1
    folds = TrainConfig().review.folds
    runs = []
    for seed in range(args.seeds):
        r = run(args.labelled, args.share, seed, folds)
        log(f"seed {seed}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k != "seed"))
        runs.append(r)
    p50 = float(np.mean([r["precision_at_50"] for r in runs]))
    result = {"labelled": args.labelled, "mislabel_share": args.share, "folds": folds,
              "runs": runs,
              "mean": {k: round(float(np.mean([r[k] for r in runs])), 4)
                       for k in ["random_precision", *(f"precision_at_{k}" for k in CUTS),
                                 "recall_at_planted", "seconds"]},
              "target": {"precision_at_50": TARGET_PRECISION_AT_50,
                         "met": p50 >= TARGET_PRECISION_AT_50}}
    common.write_result("review_quick" if args.quick else "review", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
