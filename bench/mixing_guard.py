"""Would a guarded choice of the mixing weights help: leave the fixed 0.5 / 0.5 only when
validation says the best pair gains at least ``g``? ``bench/results/mixing_guard.json``.

Fashion prefers the fixed pair and fashion-small the validation choice (docs/quality.md,
"Mixing weights"). A choice that moves away from the fixed pair only on a clear validation
gain could take the better of both, if a large validation gain meant a test gain. This
reads the grids the re-decoding runs stored (``bench/mixing_rule.py``: for each bundle and
weight pair, validation leaf macro-F1 with the decoder fitted there, and test leaf
macro-F1), no bundle or training needed, and reports per setting the mean test leaf
macro-F1 of the guarded choice for each ``g`` (0: the validation argmax; 1: always fixed).

    .venv/bin/python bench/mixing_guard.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from mixing_rule import setting_of  # noqa: E402

SOURCES = ("mixing_rule", "mixing_rule_56ced6b_fashion_small",
           "mixing_rule_56ced6b_fashion_longtail")
GAINS = (0.0, 0.0025, 0.005, 0.01, 0.015, 0.02, 1.0)
FIXED = "0.5/0.5"


def guarded(grid: dict, gain: float) -> str:
    """The weight pair chosen: the validation argmax if it beats the fixed pair on
    validation by at least ``gain``, else the fixed pair."""
    best = max(grid, key=lambda k: grid[k][0])
    return best if grid[best][0] - grid[FIXED][0] >= gain else FIXED


def main() -> int:
    bundles = {}
    for name in SOURCES:
        with open(common.RESULTS / f"{name}.json", encoding="utf-8") as f:
            bundles.update(json.load(f)["bundles"])
    table = {}
    for gain in GAINS:
        by = defaultdict(list)
        for name, r in bundles.items():
            by[setting_of(name)].append(r["grid"][guarded(r["grid"], gain)][1])
        table[str(gain)] = {s: {"bundles": len(v), "test_leaf_macro_f1": round(float(np.mean(v)), 4)}
                            for s, v in sorted(by.items())}
        common.log(f"g = {gain}: " + ", ".join(f"{s} {v['test_leaf_macro_f1']:.4f}"
                                               for s, v in table[str(gain)].items()))
    common.write_result("mixing_guard", {"sources": SOURCES, "fixed": FIXED, "gains": GAINS,
                                         "bundles": len(bundles), "by_gain": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
