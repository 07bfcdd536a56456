"""A quick check of a bundle against TF-IDF + logistic regression on the bundle's own split.

Trains ``bench/peers.py``'s ``TfidfLogReg`` (leaf mode: multinomial LR over path ends,
word 1-2 + char 2-5 n-grams) on the bundle's train split for each C in a small grid,
picks C on validation leaf macro-F1, decodes with thresholds tuned on validation like
prodemb, and compares test scores with the bundle's stored metrics. The full
comparison with every peer is bench/bench_quality.py; this one runs in minutes.

    .venv/bin/python bench/bench_vs_tfidf.py --bundle artifacts/demo
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from common import log, write_result
from peers import TfidfLogReg

from prodemb.bundle import Bundle
from prodemb.decoding import TreeDecoder
from prodemb.metrics import evaluate, summary
from prodemb.taxonomy import parse_path, split_paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default="artifacts/demo")
    ap.add_argument("--C", type=float, nargs="+", default=[3.0, 10.0, 30.0])
    args = ap.parse_args()
    bundle = Bundle.load(args.bundle)
    tax = bundle.taxonomy
    p = bundle.products[bundle.products["split"] != "unlabelled"]
    y = tax.binarize([[parse_path(s) for s in split_paths(tp)] for tp in p["true_path"]])
    parts = {s: np.flatnonzero(p["split"].to_numpy() == s) for s in ("train", "validation", "test")}
    texts = p["text"].tolist()
    tr, va, te = parts["train"], parts["validation"], parts["test"]
    best = None
    for c in args.C:
        peer = TfidfLogReg(tax, mode="leaf", C=c)
        peer.fit([texts[i] for i in tr], y[tr])
        pv = peer.predict_proba([texts[i] for i in va])
        dec = TreeDecoder(tax).fit(pv, y[va])
        val = evaluate(tax, y[va], dec.predict(pv), with_pairs=False)["leaf_macro_f1"]
        log(f"tfidf_logreg C={c}: val leaf macro-F1 {val:.4f} ({peer.fit_seconds:.0f} s)")
        if best is None or val > best[0]:
            best = (val, c, peer, dec)
    _, c, peer, dec = best
    test = summary(evaluate(tax, y[te], dec.predict(peer.predict_proba([texts[i] for i in te])),
                            with_pairs=False))
    ours = summary(bundle.metrics["splits"]["test"])
    margin = ours["leaf_macro_f1"] - test["leaf_macro_f1"]
    log(f"test leaf macro-F1: prodemb {ours['leaf_macro_f1']:.4f}, tfidf_logreg {test['leaf_macro_f1']:.4f}"
        f" (margin {margin:+.4f}); macro-F1 {ours['macro_f1']:.4f} vs {test['macro_f1']:.4f}")
    write_result(f"vs_tfidf_{os.path.basename(os.path.normpath(args.bundle))}",
                 {"bundle": args.bundle, "tfidf_logreg": {"C": c, "test": test},
                  "prodemb": {"test": ours}, "leaf_macro_f1_margin": round(margin, 4),
                  "all_node_macro_f1_margin": round(ours["macro_f1"] - test["macro_f1"], 4)})


if __name__ == "__main__":
    main()
