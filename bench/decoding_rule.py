"""How many validation products a node needs for a threshold of its own.

Re-decodes trained bundles (no training): for each ``--bundle``, the node probabilities of
its validation and test products, the decoding fitted on validation with
``TreeDecoder.fit(min_positives=m)`` for each ``m`` of ``--grid``, and the validation and
test leaf macro-F1 of each. The rule's value (``prodemb.decoding.MIN_THRESHOLD_POSITIVES``)
was chosen from this table: a rule that helps only on validation is fitting it.

    .venv/bin/python bench/decoding_rule.py --bundle /tmp/prodemb-bench/bundles/quality-demo-longtail-...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402


def labelled_truth(bundle: Bundle):
    """The bundle's labelled products (rows of products.parquet), their true node matrix
    ``(n, N)`` (bool) and their split ``(n,)``."""
    tax = bundle.taxonomy
    products = bundle.products
    labelled = products[products["split"].isin(["train", "validation", "test"])]
    paths = [tax.cell_paths(cell) for cell in labelled["true_path"]]
    return labelled, tax.binarize(paths).astype(bool), labelled["split"].to_numpy()


def labelled_probs(bundle: Bundle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node probabilities ``(n, N)``, true node matrix ``(n, N)`` and split of the bundle's
    labelled products, as training scored them."""
    labelled, y, split = labelled_truth(bundle)
    return bundle.predict_proba(labelled["text"].tolist()), y, split


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, help="a bundle directory (repeat)")
    ap.add_argument("--grid", default="1,5,10,20,40", help="values of min_positives")
    args = ap.parse_args(argv)
    grid = [int(v) for v in args.grid.split(",")]
    rows = []
    for path in args.bundle:
        bundle = Bundle.load(path)
        tax = bundle.taxonomy
        probs, y, split = labelled_probs(bundle)
        val, test = split == "validation", split == "test"
        leaf = tax.is_leaf
        for m in grid:
            dec = D.TreeDecoder(tax, bundle.complete_paths).fit(probs[val], y[val], min_positives=m)
            row = {"bundle": Path(path).name, "min_positives": m,
                   "validation_leaf_macro_f1": round(macro_f1(y[val], dec.predict(probs[val]), leaf), 4),
                   "test_leaf_macro_f1": round(macro_f1(y[test], dec.predict(probs[test]), leaf), 4),
                   "complete": dec.complete, "extra_path_min": dec.extra_path_min}
            common.log(str(row))
            rows.append(row)
    common.write_result("decoding_rule", {"grid": grid, "rows": rows,
                                          "chosen": D.MIN_THRESHOLD_POSITIVES})
    return 0


if __name__ == "__main__":
    sys.exit(main())
