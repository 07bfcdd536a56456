"""The sibling rule of the tree decoder, judged on trained bundles (no training).

For each ``--bundle``: the decoder refitted on its validation products with and without
the sibling rule (a second path whose end is a sibling of the first's is offered only when
training and validation products have both; ``prodemb.decoding.TreeDecoder``), and the
validation and test leaf macro-F1, macro-F1 and share of products given two or more paths
of each. Writes ``bench/results/sibling_rule.json``.

    .venv/bin/python bench/sibling_rule.py --bundle /tmp/prodemb-bench/bundles/quality-fashion-...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from decoding_rule import labelled_probs  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, help="a bundle directory (repeat)")
    args = ap.parse_args(argv)
    rows = []
    for path in args.bundle:
        bundle = Bundle.load(path)
        tax = bundle.taxonomy
        probs, y, split = labelled_probs(bundle)
        val, test, known = split == "validation", split == "test", split != "test"
        for rule in (False, True):
            dec = D.TreeDecoder(tax, bundle.complete_paths).fit(probs[val], y[val], y_known=y[known],
                                                               sibling_rule=rule)
            row = {"bundle": Path(path).name, "sibling_rule": rule,
                   "allowed_pairs": len(dec.siblings or ())}
            for name, rows_ in (("validation", val), ("test", test)):
                decoded = dec.decode(probs[rows_])
                pred = tax.decode_to_matrix(decoded)
                row[f"{name}_leaf_macro_f1"] = round(macro_f1(y[rows_], pred, tax.is_leaf), 4)
                row[f"{name}_macro_f1"] = round(macro_f1(y[rows_], pred), 4)
                row[f"{name}_two_paths_share"] = round(float(np.mean([len(d) > 1 for d in decoded])), 4)
            common.log(str(row))
            rows.append(row)
    common.write_result("sibling_rule", {"rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
