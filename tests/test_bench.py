"""The benchmark scripts' own logic: bootstrap, seed summary, peer reuse and the report.

The benchmarks themselves are run by ``make bench``, not by the test suite; these tests
check that what they compute and print is right on small made-up results.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    sys.path.insert(0, str(ROOT / "bench"))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def quality():
    return _load("bench_quality")


@pytest.fixture(scope="module")
def report():
    return _load("report")


def test_paired_bootstrap_sign_and_zero(quality):
    rng = np.random.default_rng(0)
    y = rng.random((300, 5)) < 0.3
    better = y.copy()
    worse = y.copy()
    worse[:60] = ~worse[:60]  # 20% of the products wrong on every label
    same = quality.paired_bootstrap(y, better, better, np.ones(5, bool), n_boot=200)
    assert same["mean"] == 0 and same["ci95"] == [0, 0]
    r = quality.paired_bootstrap(y, better, worse, np.ones(5, bool), n_boot=200)
    assert r["ci95"][0] > 0 and r["p_a_not_better"] == 0
    flipped = quality.paired_bootstrap(y, worse, better, np.ones(5, bool), n_boot=200)
    assert flipped["mean"] == pytest.approx(-r["mean"], abs=1e-4)


def test_seed_summary(quality):
    first = {"seed": 0, "test": {"leaf_macro_f1": 0.8, "macro_f1": 0.85, "micro_f1": 0.9},
             "validation": {"leaf_macro_f1": 0.81}, "epochs_trained": 12, "fit_seconds": 10.0}
    runs = [{"seed": 1, "test": {"leaf_macro_f1": 0.9, "macro_f1": 0.95, "micro_f1": 0.92}}]
    s = quality.seed_summary(first, runs)
    assert s["n"] == 2 and [r["seed"] for r in s["runs"]] == [0, 1]
    assert s["test_leaf_macro_f1"]["mean"] == pytest.approx(0.85)
    assert s["test_leaf_macro_f1"]["sd"] == pytest.approx(np.std([0.8, 0.9], ddof=1), abs=1e-5)
    assert (s["test_leaf_macro_f1"]["min"], s["test_leaf_macro_f1"]["max"]) == (0.8, 0.9)


def _result(**systems):
    return {"file": "c.csv", "n_labelled": 10, "split_counts": {"train": 8, "validation": 1, "test": 1},
            "tree": {"nodes": 3, "leaves": 2, "depth": 2}, "date": "2026-01-01T00:00:00+00:00",
            "machine": {"git_commit": "abc123"}, "systems": systems}


def test_previous_peers_only_for_the_same_split(quality, tmp_path, monkeypatch):
    monkeypatch.setattr(quality.common, "RESULTS", tmp_path)
    args = type("Args", (), {"quick": False, "tag": ""})()
    old = _result(prodemb={"test": {}}, tfidf_svm={"test": {"leaf_macro_f1": 0.5}},
                  fasttext={"skipped": "not installed"})
    (tmp_path / "quality_demo.json").write_text(json.dumps(old))
    info = {k: old[k] for k in ("file", "n_labelled", "split_counts", "tree")}
    got = quality._previous_peers("demo", args, info)
    assert list(got) == ["tfidf_svm"]  # never prodemb, never a skipped peer
    assert got["tfidf_svm"]["reused_from"]["git_commit"] == "abc123"
    assert quality._previous_peers("demo", args, {**info, "n_labelled": 11}) == {}
    assert quality._previous_peers("fashion", args, info) == {}


def _system(leaf, **extra):
    test = {"leaf_macro_f1": leaf, "macro_f1": leaf, "micro_f1": 0.9,
            "level_macro_f1": {"1": leaf, "2": leaf}}
    return {"test": test, "fit_seconds": 1.0, "tuning_seconds": 2.0, "products_per_second": 100.0,
            "chosen": {"mode": "leaf", "C": 1.0}, **extra}


def test_quality_section_reports_seeds_reuse_and_missed_target(report):
    prodemb = _system(0.70, word2vec_seconds=1.0, epochs_trained=3, epochs_planned=3, best_epoch=3,
                      decoding={"extra_path_min": 0.5},
                      seeds={"n": 2, "runs": [{"seed": 0, "test": {"leaf_macro_f1": 0.70}},
                                              {"seed": 1, "test": {"leaf_macro_f1": 0.74}}],
                             "test_leaf_macro_f1": {"mean": 0.72, "sd": 0.028, "min": 0.7, "max": 0.74},
                             "test_macro_f1": {"mean": 0.72, "sd": 0.028, "min": 0.7, "max": 0.74}})
    peer = _system(0.75, reused_from={"date": "2026-01-01", "git_commit": "abc123"})
    r = {**_result(prodemb=prodemb, tfidf_svm=peer), "n_products": 10, "multi_path_products": 0,
         "split_check": {"same_split": True}, "command": "python bench/bench_quality.py",
         "load_average": {"start": [0.1], "end": [0.2]},
         "machine": {"git_commit": "def456", "cores": 2},
         "verdict": {"best_peer": "tfidf_svm", "margin_leaf_macro_f1": -0.03, "met": False,
                     "prodemb_runs": 2, "target_margin": 0.02}}
    text = "\n".join(report.quality_section(r, "Demo", "demo"))
    assert "2 seeds" in text and "0.720 ± 0.028" in text and "1: 0.740" in text
    assert "**-0.030**" in text and "**MISSED**" in text
    assert "reused from an earlier run" in text and "abc123" in text
    rows = "\n".join(report.targets_section({"quality_demo": r}))
    assert "mean of 2 seeds" in rows and "**MISSED**" in rows
