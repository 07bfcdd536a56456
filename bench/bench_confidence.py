"""Calibration and out-of-catalogue detection (issue 12): ``bench/results/confidence.json``.

For each ``--bundle`` (default: the demo bundle of ``bench/bench_training.py``): expected
calibration error (15 bins) of the raw top-path score and of the calibrated confidence on
the test split, and the share of test products per status. A bundle trained before
confidence.json gets its confidence model fitted here on its own validation products,
with the code training uses (:func:`prodemb.pipeline.confidence_for_bundle`).

With ``--ooc`` (the demo bundle): out-of-catalogue detection, in-catalogue = the bundle's
test products, out-of-catalogue = the fixed set of ``bench/ooc_set.py`` (Fashion apparel
and footwear titles from ``../shared/data`` when present, random strings, foreign
scripts). AUROC of the out-of-catalogue score (1 - similarity to the nearest training
product, plus 1 when no word is known) and the status rule's catch rate per kind.

Targets: ECE <= 0.05 (demo and Fashion test), AUROC >= 0.90 and at most 2 % of in-catalogue
test products "out_of_catalogue" (demo).

Usage: ``.venv/bin/python bench/bench_confidence.py --bundle DIR [--ooc] [--bundle DIR ...]``
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402
from ooc_set import out_of_catalogue_texts  # noqa: E402

from prodemb.bundle import Bundle  # noqa: E402
from prodemb.pipeline import confidence_for_bundle  # noqa: E402

TARGETS = {"ece": 0.05, "auroc": 0.90, "in_catalogue_ooc_share": 0.02}


def ooc_score(classifications) -> np.ndarray:
    """Higher = more likely out of the catalogue: 1 - nearest similarity, +1 without a
    known word (an empty or unknown-only text)."""
    return np.array([(1 - (c.similarity if c.similarity is not None else 0.0))
                     + (1.0 if len(c.unknown_tokens) == len(c.tokens) else 0.0)
                     for c in classifications])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", help="bundle directory (repeat)")
    ap.add_argument("--ooc", action="store_true",
                    help="out-of-catalogue detection on the first bundle (a demo bundle)")
    args = ap.parse_args(argv)
    from sklearn.metrics import roc_auc_score

    paths = args.bundle or [str(CACHE / "bundles" / "demo")]
    result: dict = {"bundles": {}, "targets": {}}
    for i, path in enumerate(paths):
        bundle = Bundle.load(path)
        name = Path(path).name
        if "confidence" in bundle.metrics:
            report, fitted = bundle.metrics["confidence"], "at training"
        else:
            model, report = confidence_for_bundle(bundle)
            bundle.use_confidence(model)
            fitted = "by this benchmark, on the bundle's validation products"
        test = report["test"]
        log(f"{name}: test ECE raw {test['ece_raw']:.4f}, calibrated {test['ece']:.4f}; "
            f"statuses {test['status_share']}")
        entry = {"confidence_fitted": fitted, "report": report,
                 "data": bundle.manifest.get("data", {}).get("file")}
        result["targets"][f"ece_{name}"] = {"value": test["ece"], "target": TARGETS["ece"],
                                            "op": "<=", "met": test["ece"] <= TARGETS["ece"]}
        if args.ooc and i == 0:
            products = bundle.products
            inside = products[products["split"] == "test"]["text"].tolist()
            ooc = out_of_catalogue_texts(common.FASHION_CSV)
            c_in, c_out = bundle.classify(inside), bundle.classify(ooc["text"].tolist())
            s_in, s_out = ooc_score(c_in), ooc_score(c_out)
            auroc = float(roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s_out))],
                                        np.r_[s_in, s_out]))
            in_share = float(np.mean([c.status == "out_of_catalogue" for c in c_in]))
            caught = {kind: round(float(np.mean([c.status == "out_of_catalogue" for c, k
                                                 in zip(c_out, ooc["kind"]) if k == kind])), 4)
                      for kind in ooc["kind"].unique()}
            log(f"{name}: out-of-catalogue AUROC {auroc:.4f}; in-catalogue test products "
                f"flagged {in_share:.2%}; caught per kind {caught}")
            entry["out_of_catalogue"] = {
                "n_in": len(s_in), "n_out": len(s_out),
                "kinds": ooc["kind"].value_counts().to_dict(), "auroc": round(auroc, 4),
                "in_catalogue_flagged": round(in_share, 4), "caught": caught}
            result["targets"]["ooc_auroc"] = {"value": round(auroc, 4), "target": TARGETS["auroc"],
                                              "op": ">=", "met": auroc >= TARGETS["auroc"]}
            result["targets"]["in_catalogue_ooc_share"] = {
                "value": round(in_share, 4), "target": TARGETS["in_catalogue_ooc_share"],
                "op": "<=", "met": in_share <= TARGETS["in_catalogue_ooc_share"]}
        result["bundles"][name] = entry
    common.write_result("confidence", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
