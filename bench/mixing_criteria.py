"""Which validation criterion should choose a bundle's mixing weights: ``bench/results/mixing_criteria.json``.

Training chooses ``leaf_prior_weight`` and then ``wide_mix`` on validation
(``prodemb.pipeline.tune_leaf_mixing``): for each candidate the tree decoder is fitted on
the validation products and scored on the same products. With most leaves having 0-2
validation products, that score also rewards weights whose thresholds happen to fit those
few products. This re-decodes trained bundles (no training) and compares criteria a
choice could maximise instead, each over the same grid and in the same order as the
pipeline (prior first, then the wide share):

* ``pipeline``: the pipeline's (decoder fitted and scored on all validation products,
  macro-F1 over all nodes);
* ``self``: the same over the leaves only;
* ``crossfit``: the decoder fitted on one half of the validation products and scored on
  the other, both ways, the two halves' predictions pooled (2 random halves, 3 repeats);
* ``argmax``: leaf macro-F1 of each product's most probable leaf, no thresholds;
* ``nll``: mean negative log-probability of the true leaf (products labelled to a leaf);
* ``fixed``: 0.5 / 0.5 for reference.

Per setting (bundle name prefix) it reports the mean test leaf macro-F1 of the weights each
criterion chooses.

    .venv/bin/python bench/mixing_criteria.py --bundle DIR [--bundle DIR ...]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from mixing_rule import held_out_outputs, setting_of  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.classifier import leaf_argmax_macro_f1  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402
from prodemb.pipeline import MIX_WEIGHTS  # noqa: E402

CRITERIA = ("pipeline", "self", "crossfit", "argmax", "nll", "rare_train")


def criteria_scores(probs, y, tax, complete, y_known, leaf_ids, halves) -> dict[str, float]:
    """Every criterion (higher is better) of node probabilities ``probs`` of the
    validation products with true nodes ``y``."""
    out = {"pipeline": macro_f1(y, D.TreeDecoder(tax, complete).fit(probs, y).predict(probs)),
           "self": macro_f1(y, D.TreeDecoder(tax, complete).fit(probs, y, y_known=y_known)
                            .predict(probs), tax.is_leaf)}
    pooled = []
    for half in halves:
        pred = np.zeros_like(y)
        for a in (half, ~half):
            dec = D.TreeDecoder(tax, complete).fit(probs[a], y[a], y_known=y_known)
            pred[~a] = dec.predict(probs[~a])
        pooled.append(macro_f1(y, pred, tax.is_leaf))
    out["crossfit"] = float(np.mean(pooled))
    out["argmax"] = leaf_argmax_macro_f1(probs, y, leaf_ids)
    leaf_y = y[:, leaf_ids]
    has = leaf_y.any(axis=1)
    p_true = (probs[has][:, leaf_ids] * leaf_y[has]).sum(axis=1)
    out["nll"] = float(np.mean(np.log(np.clip(p_true, 1e-6, 1.0))))
    return out


def scores(path: str, seed: int = 0) -> dict:
    """Per criterion: the weights it chooses (pipeline order) and their test leaf macro-F1."""
    b, y, split, keep, parts, lab = held_out_outputs(path)
    tax = b.taxonomy
    yk, va, te = y[keep], split[keep] == "validation", split[keep] == "test"
    y_known = y[split != "test"]
    # rare_train: the training products of leaves without any validation product join the
    # scored products (the decoder is still fitted on validation alone): validation cannot
    # see what a prior weight does to those leaves, their training products can.
    absent = tax.is_leaf & ~yk[va].any(axis=0)
    rare_rows = np.flatnonzero((split == "train") & y[:, absent].any(axis=1))
    rare_parts = (b.classifier.predict_logits(b.tokenize(lab["text"].to_numpy()[rare_rows].tolist()))
                  if len(rare_rows) else None)
    y_rare = y[rare_rows]
    leaf_ids = [int(i) for i in np.flatnonzero(tax.is_leaf)]
    rng = np.random.default_rng(seed)
    halves = [rng.random(int(va.sum())) < 0.5 for _ in range(3)]
    m = b.classifier.model.config
    own = (m.leaf_prior_weight, m.wide_mix)
    cache: dict[tuple[float, float], tuple[dict, float]] = {}

    def evaluate(w: float, mix: float) -> tuple[dict, float]:
        if (w, mix) not in cache:
            m.leaf_prior_weight, m.wide_mix = w, mix
            probs = b.classifier.combine(parts)
            crit = criteria_scores(probs[va], yk[va], tax, b.complete_paths, y_known, leaf_ids, halves)
            dec = D.TreeDecoder(tax, b.complete_paths).fit(probs[va], yk[va], y_known=y_known)
            if rare_parts is not None:
                both = np.concatenate([probs[va], b.classifier.combine(rare_parts)])
                crit["rare_train"] = macro_f1(np.concatenate([yk[va], y_rare]), dec.predict(both),
                                              tax.is_leaf)
            else:
                crit["rare_train"] = crit["self"]
            cache[(w, mix)] = crit, macro_f1(yk[te], dec.predict(probs[te]), tax.is_leaf)
        return cache[(w, mix)]

    def choose(criterion: str) -> tuple[float, float]:
        # as prodemb.pipeline.tune_mix: candidates nearest 0.5 first, a tie keeps the earlier
        chosen = [0.5, 0.5]
        for k in range(2):
            best, best_v = 0.5, -np.inf
            for v in sorted(MIX_WEIGHTS, key=lambda x: abs(x - 0.5)):
                cand = list(chosen)
                cand[k] = v
                s = evaluate(*cand)[0][criterion]
                if s > best_v + 1e-6:
                    best, best_v = v, s
            chosen[k] = best
        return tuple(chosen)

    out = {"own": {"weights": list(own), "test": round(evaluate(*own)[1], 5)},
           "fixed": {"weights": [0.5, 0.5], "test": round(evaluate(0.5, 0.5)[1], 5)}}
    for c in CRITERIA:
        w = choose(c)
        out[c] = {"weights": list(w), "test": round(evaluate(*w)[1], 5)}
    out["oracle_test"] = round(max(t for _, t in cache.values()), 5)
    m.leaf_prior_weight, m.wide_mix = own
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, help="a bundle directory (repeat)")
    ap.add_argument("--out", default="mixing_criteria", help="result name (bench/results/NAME.json)")
    args = ap.parse_args(argv)
    bundles = {}
    for path in args.bundle:
        bundles[Path(path).name] = r = scores(path)
        common.log(f"{Path(path).name}: " + ", ".join(
            f"{k} {v['weights']} {v['test']:.4f}" for k, v in r.items() if isinstance(v, dict)))
    groups = defaultdict(list)
    for name, r in bundles.items():
        groups[setting_of(name)].append(r)
    summary = {s: {"bundles": len(rs), **{k: round(float(np.mean([r[k]["test"] for r in rs])), 5)
                                          for k in ("own", "fixed") + CRITERIA},
                   "oracle": round(float(np.mean([r["oracle_test"] for r in rs])), 5)}
               for s, rs in groups.items()}
    for s, v in summary.items():
        common.log(f"{s}: {v}")
    common.write_result(args.out, {"grid": list(MIX_WEIGHTS), "criteria": list(CRITERIA),
                                   "bundles": bundles, "by_setting": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
