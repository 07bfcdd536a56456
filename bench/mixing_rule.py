"""Mixing weights chosen on validation per model, or fixed: which gives the better test score.

A bundle's leaf distribution mixes the BiLSTM's and the wide path's leaf softmax
(``wide_mix``) and puts part of the leaf prior back (``leaf_prior_weight``); training
chooses both on validation for each model (``prodemb.pipeline``). This re-decodes trained
bundles without training: the network's raw outputs of the validation and test products
once (``Classifier.predict_logits``), then for each pair of weights on a grid the node
probabilities (``Classifier.combine``), the tree decoder fitted on validation and the
validation and test leaf macro-F1. Per setting (bundle name prefix) it reports the test
score of the bundle's own choice, of the validation argmax over the grid, and of each fixed
pair: ``bench/results/mixing_rule.json``.

    .venv/bin/python bench/mixing_rule.py --bundle DIR [--bundle DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from decoding_rule import labelled_truth  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402

PRIORS = (0.0, 0.25, 0.5, 0.75, 1.0)
MIXES = (0.25, 0.5, 0.75)
SETTINGS = ("fashion-small", "demo-longtail", "fashion", "demo")


def setting_of(name: str) -> str:
    return next((s for s in SETTINGS if name.startswith(f"quality-{s}")), name)


def held_out_outputs(path: str):
    """``(bundle, y, split, keep, parts, lab)``: a bundle, its labelled products' truth ``y``
    ``(n, N)`` and ``split``, the mask ``keep`` of its validation and test products, and
    the network's raw outputs on those (:meth:`Classifier.predict_logits`), from which any
    mixing weights can be decoded without running the network again, and the labelled
    products' table ``lab``."""
    b = Bundle.load(path)
    lab, y, split = labelled_truth(b)
    keep = split != "train"
    parts = b.classifier.predict_logits(b.tokenize(lab["text"].to_numpy()[keep].tolist()))
    return b, y, split, keep, parts, lab


def scores(path: str) -> dict:
    """``{"chosen": "w/m", "grid": {"w/m": [validation, test]}}`` of one bundle."""
    b, y, split, keep, parts, _ = held_out_outputs(path)
    tax = b.taxonomy
    yk, va, te = y[keep], split[keep] == "validation", split[keep] == "test"
    m = b.classifier.model.config
    chosen = (m.leaf_prior_weight, m.wide_mix)
    grid = {}
    for w in PRIORS:
        for mix in MIXES:
            m.leaf_prior_weight, m.wide_mix = w, mix
            probs = b.classifier.combine(parts)
            dec = D.TreeDecoder(tax, b.complete_paths).fit(probs[va], yk[va], y_known=y[split != "test"])
            grid[f"{w}/{mix}"] = [round(macro_f1(yk[s], dec.predict(probs[s]), tax.is_leaf), 5)
                                  for s in (va, te)]
    m.leaf_prior_weight, m.wide_mix = chosen
    return {"chosen": f"{chosen[0]}/{chosen[1]}", "grid": grid}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, help="a bundle directory (repeat)")
    args = ap.parse_args(argv)
    bundles = {}
    for path in args.bundle:
        bundles[Path(path).name] = r = scores(path)
        common.log(f"{Path(path).name}: chosen {r['chosen']} -> test {r['grid'].get(r['chosen'], [0, 0])[1]}")
    summary = {}
    groups = defaultdict(list)
    for name, r in bundles.items():
        groups[setting_of(name)].append(r)
    for setting, rs in groups.items():
        keys = list(rs[0]["grid"])
        summary[setting] = {
            "bundles": len(rs),
            "own_choice_test": round(float(np.mean([r["grid"][r["chosen"]][1] for r in rs
                                                    if r["chosen"] in r["grid"]])), 5),
            "validation_argmax_test": round(float(np.mean(
                [max(r["grid"].values(), key=lambda v: v[0])[1] for r in rs])), 5),
            "fixed_test": {k: round(float(np.mean([r["grid"][k][1] for r in rs])), 5) for k in keys},
        }
    common.write_result("mixing_rule", {"priors": PRIORS, "mixes": MIXES, "bundles": bundles,
                                        "by_setting": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
