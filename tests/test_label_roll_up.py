"""Rare leaves in training: ``min_leaf_count`` (``prodemb train --min-leaf-count N``) and
the plain-words warning when many leaves have too few labelled products.

The roll-up itself is tested in ``tests/test_taxonomy.py``; here: the pipeline's
:func:`labelled_paths`, :func:`rare_leaf_warning`, the CLI flag, and one fast training run
(configs/tiny.json without maps) checking the bundle, the warning and the benchmarks' split.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reliability_helpers import fast_config

from prodemb import cli
from prodemb.config import TrainConfig
from prodemb.pipeline import labelled_paths, rare_leaf_warning, roll_up_message
from prodemb.taxonomy import Taxonomy, parse_path

ROOT = Path(__file__).resolve().parent.parent


def _tree(counts: dict[tuple[str, ...], int]) -> tuple[Taxonomy, np.ndarray]:
    """A taxonomy and label matrix with ``counts[path]`` products on each path."""
    paths = [[p] for p, n in counts.items() for _ in range(n)]
    tax = Taxonomy.from_paths(counts)
    return tax, tax.binarize(paths)


def _deep(n_rare: int, n_common: int) -> dict:
    counts = {("A", f"B{i % 3}", f"rare {i}"): 1 + i % 4 for i in range(n_rare)}
    counts.update({("C", f"common {i}"): 5 for i in range(n_common)})
    return counts


def test_warning_text():
    tax, y = _tree(_deep(12, 18))
    assert rare_leaf_warning(tax, y) == (
        "12 of 30 leaves (40 %) have fewer than 5 labelled products. The classifier cannot "
        "learn such categories reliably and their test scores rest on one or two products. "
        "Consider cutting the tree at a coarser level (--max-depth 2) or merging rare leaves "
        "into their parent (--min-leaf-count 5).")


@pytest.mark.parametrize("n_rare, n_common, warns", [
    (10, 40, True),    # exactly 20 %
    (10, 41, False),   # below 20 %
    (9, 0, False),     # all rare, but fewer than 10 leaves
    (0, 30, False),
])
def test_warning_thresholds(n_rare, n_common, warns):
    tax, y = _tree(_deep(n_rare, n_common))
    assert (rare_leaf_warning(tax, y) is not None) == warns


def test_warning_on_a_flat_tree_suggests_no_cut():
    tax, y = _tree({(f"top {i}",): 1 + i % 7 for i in range(20)})
    text = rare_leaf_warning(tax, y)
    assert text.startswith("12 of 20 leaves (60 %) have fewer than 5 labelled products.")
    assert "--max-depth" not in text and "--min-leaf-count" not in text
    assert text.endswith("rest on one or two products.")


def test_warning_after_a_roll_up_does_not_suggest_it_again():
    tax, y = _tree(_deep(12, 18))
    text = rare_leaf_warning(tax, y, min_leaf_count=5)
    assert "(--max-depth 2)." in text and "--min-leaf-count" not in text


def _catalogue(cells: list[list[tuple[str, ...]]]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"P{i}" for i in range(len(cells))],
                         "text": ["t"] * len(cells), "paths": cells})


def test_labelled_paths_rolls_up_only_when_asked():
    cells = [[("A", "B")], [], [("A", "C")], [("A", "C")], [("A", "C")], [("D",)], []]
    cat = _catalogue(cells)
    labelled, paths, report = labelled_paths(cat, TrainConfig())
    assert labelled.tolist() == [0, 2, 3, 4, 5] and report is None
    assert paths == [cells[i] for i in labelled]
    labelled, paths, report = labelled_paths(cat, TrainConfig(min_leaf_count=3))
    assert labelled.tolist() == [0, 2, 3, 4, 5]
    assert paths == [[("A",)], [("A", "C")], [("A", "C")], [("A", "C")], [("D",)]]
    assert report == {"min_leaf_count": 3, "leaves_before": 3, "leaves_after": 2,
                      "rolled_up_leaves": 1, "products_relabelled": 1}
    assert roll_up_message(report) == (
        "Rare leaves rolled up (min_leaf_count 3): 1 category with fewer than 3 labelled "
        "products was merged into the parent category, so 1 product now carries the parent's "
        "path. The tree went from 3 to 2 leaves.")
    with pytest.raises(ValueError, match="min_leaf_count"):  # refused when the config is made
        labelled_paths(cat, TrainConfig(min_leaf_count="5"))


def test_cli_flag_overrides_the_config(tmp_path, monkeypatch, capsys):
    import prodemb.pipeline

    seen = {}
    report = {"min_leaf_count": 4, "leaves_before": 9, "leaves_after": 5,
              "rolled_up_leaves": 4, "products_relabelled": 7}

    def fake_train(data, out, options, config, show_progress, **_kwargs):
        seen["config"] = config
        return {"stage_seconds": {}, "metrics": {}, "labels": {"roll_up": report}}

    monkeypatch.setattr(prodemb.pipeline, "train_bundle", fake_train)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"min_leaf_count": 2}))
    assert cli.main(["train", "--data", "x.csv", "--out", str(tmp_path / "b"),
                     "--config", str(cfg), "--min-leaf-count", "4"]) == 0
    assert seen["config"].min_leaf_count == 4
    assert roll_up_message(report) in capsys.readouterr().out
    assert cli.main(["train", "--data", "x.csv", "--out", str(tmp_path / "b"),
                     "--config", str(cfg)]) == 0
    assert seen["config"].min_leaf_count == 2
    with pytest.raises(SystemExit):
        cli.main(["train", "--data", "x.csv", "--out", "b", "--min-leaf-count", "-1"])


def _bench_common():
    spec = importlib.util.spec_from_file_location("bench_common_rl", ROOT / "bench" / "common.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, mod)
    spec.loader.exec_module(mod)
    return mod


def test_training_with_min_leaf_count(tmp_path, recwarn):
    """One fast run: the roll-up reaches the bundle, the warning is a UserWarning once (the
    CLI prints it as 'prodemb train: warning: ...', not as a timestamped log line) and kept
    in the manifest, and the benchmarks' split reads the same labels and split."""
    from prodemb.demo import write_demo

    data = tmp_path / "demo.parquet"
    write_demo(data, n_labelled=600, n_unlabelled=0, seed=0, progress=False)
    out = tmp_path / "bundle"
    config = fast_config(tmp_path / "tiny_no_maps.json")
    assert cli.main(["train", "--data", str(data), "--out", str(out), "--config",
                     str(config), "--min-leaf-count", "2", "-q"]) == 0
    rare = [str(w.message) for w in recwarn if "have fewer than 5" in str(w.message)]
    assert len(rare) == 1 and all(w.category is UserWarning for w in recwarn
                                  if "have fewer than 5" in str(w.message))
    manifest = json.loads((out / "manifest.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    roll_up = manifest["labels"]["roll_up"]
    assert roll_up == metrics["label_roll_up"]
    assert roll_up["min_leaf_count"] == 2 and roll_up["rolled_up_leaves"] > 0
    assert [w for w in manifest["warnings"] if "have fewer than 5" in w] == rare
    assert manifest["config"]["min_leaf_count"] == 2

    tax = Taxonomy.from_json((out / "taxonomy.json").read_text())
    assert len(tax.leaves) == roll_up["leaves_after"]
    products = pd.read_parquet(out / "products.parquet")
    true = [[parse_path(p) for p in cell.split(" | ")] for cell in products["true_path"]]
    y = tax.binarize(true)  # every true path is a node of the rolled-up tree
    counts = y[:, tax.leaves].sum(axis=0)
    assert all(c >= 2 for c, leaf in zip(counts, tax.leaves) if tax.levels[leaf] > 1)

    common = _bench_common()
    train, reader = common.bundle_config(out)
    split = common.pipeline_split(data, reader, train)
    assert split.taxonomy == tax
    assert common.check_split_matches_bundle(split, out)["same_split"]


def test_evaluation_cuts_rolled_up_leaves_as_training_did():
    from prodemb.evaluation import roll_up_as_trained
    from prodemb.taxonomy import Taxonomy

    # Training rolled "Bags > Tote > Mini" up: "Bags > Tote" became a leaf.
    tax = Taxonomy.from_paths([("Bags", "Tote"), ("Bags", "Clutch"), ("Hats", "Beanie")])
    paths = [[("Bags", "Tote", "Mini")], [("Bags", "Clutch")], [("Hats", "Cap")],
             [("Bags", "Tote", "Mini"), ("Bags", "Tote")]]
    out, changed = roll_up_as_trained(tax, paths)
    assert out == [[("Bags", "Tote")], [("Bags", "Clutch")],
                   [("Hats", "Cap")],  # "Hats" is not a leaf: a new category, not a roll-up
                   [("Bags", "Tote")]]
    assert changed == 2
