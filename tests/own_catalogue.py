"""A catalogue in a format of its own, for the tests of reading a user's file (not a test
module): the demo catalogue's products with other column names (``sku``, ``name``,
``details``, ``categories``), each category cell a JSON list of paths whose levels are
separated by ``" >> "``, many paths one level deeper than the tree is meant to be (a
variant: ``... >> Knit scarf >> Premium``) and a quarter of the labelled products also
listed under a one-level ``"Sale"``. It reads as intended with

    --text-columns name,details --id-column sku --label-column categories
    --level-separator '>>' --path-separator json --max-depth 3 --min-depth 2
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: The reader flags this catalogue is meant to be read with.
SHOP_FLAGS = ["--text-columns", "name,details", "--id-column", "sku", "--label-column",
              "categories", "--level-separator", ">>", "--path-separator", "json",
              "--max-depth", "3", "--min-depth", "2"]
#: The same, as ReaderOptions fields.
SHOP_OPTIONS = {"text_columns": ["name", "details"], "id_column": "sku",
                "label_column": "categories", "level_separator": ">>", "path_separator": "json",
                "max_depth": 3, "min_depth": 2}
VARIANTS = ("Classic", "Premium", "Basic")


def shop_frame(n_labelled: int = 2000, n_unlabelled: int = 500, seed: int = 3) -> pd.DataFrame:
    from prodemb.demo import generate_demo

    demo = generate_demo(n_labelled, n_unlabelled, seed=seed)
    rng = np.random.default_rng(seed)
    cells = []
    for cell in demo["category"]:
        if not cell:
            cells.append("[]" if rng.random() < 0.5 else "")
            continue
        paths = []
        for text in cell.split(" | "):
            levels = [p.strip() for p in text.split(" > ")]
            if len(levels) == 3 and rng.random() < 0.6:
                levels.append(str(rng.choice(VARIANTS)))
            paths.append(" >> ".join(levels))
        if rng.random() < 0.25:
            paths.append("Sale")
        cells.append(json.dumps(paths, ensure_ascii=False))
    return pd.DataFrame({"sku": "SKU-" + demo["id"].str[1:], "name": demo["title"],
                         "details": demo["description"], "categories": cells})


def write_shop_catalogue(path: str | Path, n_labelled: int = 2000, n_unlabelled: int = 500,
                         seed: int = 3) -> Path:
    """Write the catalogue as CSV to ``path`` and return it."""
    shop_frame(n_labelled, n_unlabelled, seed).to_csv(path, index=False)
    return Path(path)


if __name__ == "__main__":  # python tests/own_catalogue.py OUT.csv [N_LABELLED N_UNLABELLED]
    import sys

    args = sys.argv[1:]
    out = write_shop_catalogue(args[0], *(int(a) for a in args[1:3]))
    print(f"wrote {out}")
