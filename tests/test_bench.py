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


def _verdict_result(margin, met, sd=None, train=None, n=5, **extra):
    verdict = {"best_peer": "tfidf_svm", "margin_leaf_macro_f1": margin, "met": met,
               "prodemb_runs": n, "target_margin": 0.02}
    if sd is not None:
        verdict["seed_sd_leaf_macro_f1"] = sd
    if train is not None:
        verdict["train_leaf_macro_f1"] = train
    return {"verdict": verdict, "systems": {}, "machine": {"git_commit": "abc123"}, **extra}


def _row(rows, *words):
    """The one Targets row that contains every word."""
    found = [r for r in rows if all(w in r for w in words)]
    assert len(found) == 1, (words, rows)
    return found[0]


def test_targets_rows_of_the_four_settings(report):
    results = {
        "quality_demo": _verdict_result(0.03, True, sd=0.02, train=0.97),
        "quality_demo_longtail": _verdict_result(0.01, False, sd=0.005, train=0.90),
        "quality_fashion": _verdict_result(0.025, True, sd=0.008, train=0.951),
        # fashion-small: no result file -> "not run"
    }
    rows = report.targets_section(results)
    assert tuple(report.QUALITY) == ("demo", "demo-longtail", "fashion", "fashion-small")
    assert _row(rows, "| demo: ", "best peer").endswith("**met** |")
    assert "+0.030" in _row(rows, "| demo: ", "best peer")
    assert _row(rows, "| demo: ", "train leaf").endswith("**met** |")
    assert _row(rows, "| demo-longtail: ", "best peer").endswith("**MISSED** |")
    assert _row(rows, "| demo-longtail: ", "train leaf").endswith("**MISSED** |")
    assert "0.900" in _row(rows, "| demo-longtail: ", "train leaf")
    sd = _row(rows, "| fashion: ", "sd over training seeds")
    assert "0.008" in sd and "≤ 0.010" in sd and sd.endswith("**met** |")
    assert _row(rows, "| fashion: ", "train leaf").endswith("**met** |")
    # The seed sd target is fashion's only.
    assert not [r for r in rows if "sd over" in r and "fashion:" not in r]
    for word in ("best peer", "train leaf"):
        row = _row(rows, "| fashion-small: ", word)
        assert "not run" in row and "met" not in row and "MISSED" not in row
    # A missed seed sd and a missed train target.
    rows = report.targets_section({"quality_fashion": _verdict_result(0.03, True, sd=0.0101,
                                                                      train=0.949)})
    assert _row(rows, "| fashion: ", "sd over").endswith("**MISSED** |")
    assert _row(rows, "| fashion: ", "train leaf").endswith("**MISSED** |")
    assert "not run" in _row(rows, "| demo: ", "best peer")


def test_targets_rows_skipped_and_older_results(report):
    skipped = {"catalogue": "fashion", "skipped": "fashion.csv not found"}
    rows = report.targets_section({"quality_fashion": skipped})
    for word in ("best peer", "train leaf", "sd over"):
        assert "skipped (fashion.csv not found)" in _row(rows, "| fashion: ", word)
    # A result written before the verdict had the sd and train keys: the same numbers
    # from the seed summary, or "not measured".
    old = _verdict_result(0.03, True)
    old["systems"] = {"prodemb": {"seeds": {"n": 5, "runs": [],
                                            "test_leaf_macro_f1": {"sd": 0.012}}}}
    rows = report.targets_section({"quality_fashion": old})
    assert "0.012" in _row(rows, "| fashion: ", "sd over") and "**MISSED**" in _row(
        rows, "| fashion: ", "sd over")
    assert "not measured" in _row(rows, "| fashion: ", "train leaf")


def test_targets_note_results_of_different_commits(report):
    a = _verdict_result(0.03, True, train=0.97)
    b = {**_verdict_result(0.03, True, train=0.97), "machine": {"git_commit": "fff000"}}
    assert "different commits" not in "\n".join(report.targets_section(
        {"quality_demo": a, "quality_fashion": a}))
    assert "different commits" in "\n".join(report.targets_section(
        {"quality_demo": a, "quality_fashion": b}))


def test_speed_targets_one_thread_batch(report):
    speed = {"classify_one": {"p50_ms": 2.5}, "batch": {"products_per_second": 4100.0, "threads": 1},
             "batch_all_cores": {"products_per_second": 3000.0, "threads": 2},
             "nearest_products_1000k": {"p50_ms": 13.0},
             "targets": {"classify_p50_ms": {"value": 2.5, "target": 10.0, "op": "<=", "met": True}}}
    rows = report.targets_section({"speed": speed})
    # Judged against today's targets, not the ones stored with an older result.
    assert _row(rows, "classify one product").endswith("**MISSED** |")
    assert "≤ 2 ms" in _row(rows, "classify one product")
    batch = _row(rows, "one thread")
    assert "4,100 products/s" in batch and "≥ 4,000" in batch and batch.endswith("**met** |")
    assert _row(rows, "among 1,000,000").endswith("**met** |")
    speed["batch"]["products_per_second"] = 3999.0
    assert _row(report.targets_section({"speed": speed}), "one thread").endswith("**MISSED** |")
    # A batch run on more than one thread does not count for the one-thread target.
    speed["batch"]["threads"] = 2
    assert "not measured" in _row(report.targets_section({"speed": speed}), "one thread")
    assert "not run" in _row(report.targets_section({}), "one thread")
    # Issue 15's stricter targets are judged on the same measurements, in rows of their own.
    speed["batch"]["threads"] = 1
    rows = report.targets_section({"speed": speed})
    assert "≤ 0.5 ms" in _row(rows, "issue 15's latency") and "**MISSED**" in _row(rows, "issue 15's latency")
    assert "≥ 10,000 products/s" in _row(rows, "issue 15's throughput")


def test_quality_section_train_sentence_and_titles(report):
    seeds = {"n": 2, "runs": [{"seed": 0, "test": {"leaf_macro_f1": 0.70}},
                              {"seed": 1, "test": {"leaf_macro_f1": 0.74}}],
             "test_leaf_macro_f1": {"mean": 0.72, "sd": 0.028, "min": 0.7, "max": 0.74},
             "test_macro_f1": {"mean": 0.72, "sd": 0.028, "min": 0.7, "max": 0.74},
             "train_leaf_macro_f1": {"mean": 0.963, "min": 0.951}}
    prodemb = _system(0.70, word2vec_seconds=1.0, epochs_trained=3, epochs_planned=3,
                      best_epoch=3, decoding={"extra_path_min": 0.5}, seeds=seeds)
    r = {**_result(prodemb=prodemb), "n_products": 10, "multi_path_products": 0,
         "split_check": {"same_split": True}, "command": "python bench/bench_quality.py",
         "load_average": {"start": [0.1], "end": [0.2]},
         "machine": {"git_commit": "def456", "cores": 2}, "verdict": None}
    text = "\n".join(report.quality_section(r, "Demo", "demo"))
    assert "mean 0.963, min 0.951" in text
    assert "--tail-leaves 840 --shallow-share 0.2" in report.QUALITY["demo-longtail"]
    assert "20 %" in report.QUALITY["fashion-small"]
    missing = "\n".join(report.quality_section(None, report.QUALITY["fashion-small"],
                                               "fashion-small"))
    assert "--catalogue fashion-small" in missing


def test_report_settings_match_the_benchmark(report):
    sys.path.insert(0, str(ROOT / "bench"))
    import common

    assert tuple(report.QUALITY) == common.SETTINGS
    assert report.result_name("fashion-small") == "quality_fashion_small"


def _sessions_result(p95: float, missed: int, server_p95: float = 2.0) -> dict:
    spread = {"p50": p95 / 2, "p95": p95, "max": p95 + 1, "min": 1.0, "mean": p95 / 2}
    mem = {"rss_mb": 500.0, "peak_mb": 510.0, "processes": 1}
    return {
        "bundle": "/x/artifacts/demo", "sessions": 30, "draw_charts": False, "failed": 0,
        "first_session_fresh_server": {"seconds": 6.0},
        "one_session_alone": {"seconds": 2.3}, "one_session_alone_server_only": {"seconds": 0.2},
        "time_to_first_classification_seconds": spread, "page_seconds": spread,
        "classify_seconds": spread, "server_cpu_seconds_per_session": 0.3,
        "browser_cpu_seconds_per_session": 2.9,
        "server_only": {"time_to_first_classification_seconds": {**spread, "p95": server_p95},
                        "server_cpu_seconds_per_session": 0.1},
        "probe": {"interval_seconds": 0.5, "missed_after_seconds": 5.0,
                  "websocket_ping": {"sent": 200, "missed": missed, "max_ms": 1629.4},
                  "http_health": {"sent": 200, "missed": 0, "max_ms": 2244.6},
                  "server_only": {"websocket_ping": {"sent": 10, "missed": 0, "max_ms": 249.3}}},
        "memory": {"start": {**mem, "rss_mb": 70.0}, "before": mem, "after": {**mem, "rss_mb": 593.0},
                   "after_sessions_closed": mem, "end": mem, "added_per_session_mb": 3.1},
        "command": "python bench/bench_sessions.py", "date": "2026-01-01T00:00:00+00:00",
        "load_average": {"start": [4.0], "end": [20.0]},
        "machine": {"git_commit": "abc123", "cores": 2},
        "targets": {
            "sessions_p95_first_classification_seconds": {
                "value": p95, "target": 5.0, "op": "<=", "met": p95 <= 5.0},
            "sessions_server_only_p95_first_classification_seconds": {
                "value": server_p95, "target": 5.0, "op": "<=", "met": server_p95 <= 5.0},
            "sessions_pings_missed": {"value": missed, "target": 0, "op": "<=", "met": missed == 0}},
    }


def test_sessions_section_and_targets(report):
    r = _sessions_result(99.49, 0)
    text = "\n".join(report.sessions_section(r))
    assert "## Many sessions" in text and "30 browser sessions" in text
    assert "| 30 browser sessions: time to first classification | 49.74 s | 99.49 s | 100.49 s |" in text
    assert "without browsers (the server alone) | 49.74 s | 2.00 s |" in text
    assert "0 missed of 200" in text and "(slowest 1,629 ms)" in text
    assert "+3.1 MB per session" in text and "70 MB" in text and "593 MB" in text
    assert "the browser 2.90 s" in text and "load average 4.0 → 20.0" in text
    rows = report.targets_section({"sessions": r})
    assert "99.49 s" in _row(rows, "30 browser sessions") and _row(
        rows, "30 browser sessions").endswith("**MISSED** |")
    assert _row(rows, "the server alone").endswith("**met** |")
    pings = _row(rows, "pings missed")
    assert "| 0 |" in pings and "≤ 0" in pings and pings.endswith("**met** |")
    missed = report.targets_section({"sessions": _sessions_result(4.0, 3)})
    assert _row(missed, "30 browser sessions").endswith("**met** |")
    assert "| 3 |" in _row(missed, "pings missed") and _row(missed, "pings missed").endswith(
        "**MISSED** |")
    # Not run / skipped.
    assert "not run" in _row(report.targets_section({}), "pings missed")
    assert "Not run yet: `bench/bench_sessions.py`" in "\n".join(report.sessions_section(None))
    skipped = report.sessions_section({"skipped": "Chromium not found"})
    assert "Skipped: Chromium not found." in skipped
    assert "skipped" in _row(report.targets_section({"sessions": {"skipped": "x"}}), "pings missed")


# ---------------------------------------------------------------------- --data FILE
def test_data_result_names_never_clash_with_the_settings(quality):
    assert quality.data_result_name(Path("My Shop-2024.csv")) == "data-my_shop_2024"
    assert quality.data_result_name(Path("/x/demo.parquet")) == "data-demo"
    assert quality.data_result_name(Path("Katalóg obchodu.csv")) == "data-katalog_obchodu"
    assert quality.data_result_name(Path("---.csv")) == "data-catalogue"


def test_data_and_reader_flags_are_checked(quality, tmp_path, capsys):
    data = tmp_path / "c.csv"
    data.write_text("id,title,category\n")
    for argv, message in (
            (["--data", str(data), "--catalogue", "demo"], "exclude each other"),
            (["--catalogue", "demo", "--max-depth", "3"], "apply to --data FILE only"),
            (["--data", str(tmp_path / "missing.csv")], "no such file")):
        with pytest.raises(SystemExit) as e:
            quality.main(argv)
        assert e.value.code == 2
        assert message in capsys.readouterr().err


def _json_list_catalogue(path: Path, n_labelled: int, n_unlabelled: int) -> Path:
    """A demo catalogue in another format: columns sku/name/about/categories, several paths
    per cell as a JSON list, levels separated by ' >> '."""
    import pandas as pd

    from prodemb.demo import write_demo

    demo = path.with_suffix(".demo.parquet")
    write_demo(demo, n_labelled=n_labelled, n_unlabelled=n_unlabelled, seed=4, progress=False)
    d = pd.read_parquet(demo)

    def cell(c):
        if not c:
            return ""
        return json.dumps([" >> ".join(x.strip() for x in p.split(">")) for p in c.split("|")])
    pd.DataFrame({"sku": d["id"], "name": d["title"], "about": d["description"],
                  "categories": d["category"].fillna("").map(cell)}).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_quality_on_any_file(quality, tmp_path, monkeypatch, capsys):
    """``--data FILE`` with reader flags: the same comparison, its result file beside the
    others (here a temporary directory) and a summary table."""
    monkeypatch.setattr(quality, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(quality.common, "CACHE", tmp_path / "cache")
    monkeypatch.setattr(quality.common, "RESULTS", tmp_path / "results")
    data = _json_list_catalogue(tmp_path / "My Shop.csv", 1200, 300)
    code = quality.main(["--data", str(data), "--id-column", "sku", "--text-columns",
                         "name,about", "--label-column", "categories", "--path-separator", "json",
                         "--level-separator", ">>", "--max-depth", "2", "--quick",
                         "--systems", "prodemb,tfidf_svm"])
    assert code == 0
    result = json.loads((tmp_path / "results" / "quality_data_my_shop_quick.json").read_text())
    assert result["catalogue"] == "data-my_shop" and result["file"] == "My Shop.csv"
    assert result["data"]["reader"]["path_separator"] == "json"
    assert result["tree"]["depth"] == 2 and result["split_check"]["same_split"]
    assert set(result["systems"]) == {"prodemb", "tfidf_svm"}
    assert result["verdict"]["best_peer"] == "tfidf_svm"
    out = capsys.readouterr().out
    assert "prodemb against the peers on My Shop.csv" in out
    assert "TF-IDF + linear SVM" in out and "best peer" in out


def test_speed_time_breakdown_times_inside_the_real_calls():
    """bench_speed's breakdown wraps the network's methods while it runs and leaves the
    model as it was: the same predictions after, the parts nested in the whole."""
    from prodemb.bundle import Bundle

    speed = _load("bench_speed")
    bundle = Bundle.load(str(ROOT / "artifacts" / "demo"))
    texts = bundle.products["text"].head(300).tolist()
    before = bundle.classify(texts[:20])
    r = speed.time_breakdown(bundle, lambda: bundle.classify(texts), [3] * len(texts),
                             len(texts), repeats=1)
    assert 0 < r["lstm_seconds"] <= r["network_seconds"] <= r["total_seconds"]
    assert 0 < r["lstm_share"] < 1 and 0 <= r["rest_share"] < 1
    # 2 directions x 3 tokens x 2 x 4H(D + H) floating-point operations per product.
    # Every network of an ensemble counts.
    c = bundle.classifier.model.config
    assert r["lstm_gflop_per_product"] == pytest.approx(bundle.classifier.n_networks *
        2 * 3 * 2 * 4 * c.lstm_hidden * (c.word_dim + c.lstm_hidden) / 1e9, abs=1e-5)  # 5 decimals
    model = bundle.classifier.model
    assert not {"embed", "heads", "combine"} & set(vars(model)) and "forward" not in vars(model.lstm)
    assert [c.paths for c in bundle.classify(texts[:20])] == [c.paths for c in before]


def test_speed_section_says_where_the_time_goes(report):
    bd = {"n": 100, "total_seconds": 1.0, "network_seconds": 0.6, "lstm_seconds": 0.4,
          "lstm_share": 0.4, "rest_share": 0.4, "tokens_per_text_mean": 20.0,
          "lstm_gflop_per_product": 0.0097, "lstm_gflop_per_second": 120.0,
          "lstm_only_products_per_second": 12000.0, "ms_per_product": 1.6,
          "lstm_ms_per_product": 0.45}
    r = {"bundle": "artifacts/demo", "n_bundle_products": 10, "torch_threads": 1, "repeats": 3,
         "classify_one": {"p50_ms": 1.6, "p95_ms": 2.0, "n_per_run": 300},
         "nearest_words": {"p50_ms": 1.0, "p95_ms": 1.0, "vocabulary": 10},
         "nearest_products_bundle_by_id": {"p50_ms": 1, "p95_ms": 1, "n_products": 10},
         "nearest_products_bundle_by_text": {"p50_ms": 1, "p95_ms": 1, "n_products": 10},
         "batch": {"products_per_second": 4000.0, "threads": 1, "batch_size": 2048},
         "batch_breakdown": bd, "classify_one_breakdown": bd,
         "command": "python bench/bench_speed.py", "date": "2026-12-02T18:00:00",
         "machine": {"git_commit": "abc", "cores": 2},
         "load_average": {"start": [0.1], "end": [0.1]}}
    text = "\n".join(report.speed_section(r))
    assert "the BiLSTM alone allows 12,000 products/s on this core and the whole network 167," in text
    assert "of which the BiLSTM 0.45 ms" in text and "9.7 MFLOP per product" in text


def test_plain_way_scores_the_one_predicted_path(report):
    plain = _load("bench_plain")
    from prodemb.taxonomy import Taxonomy

    tax = Taxonomy.from_paths([("A", "a1"), ("A", "a2"), ("B", "b1"), ("C",)])
    truth = ["A > a1", "A > a2", "B > b1", "C", "A > a1"]
    exact = plain.score(tax, truth, ["A > a1", "A > a2", "B > b1", "C", "A > a1"])
    assert exact["leaf_macro_f1"] == 1.0 and exact["stops_above_true_depth"] == 0.0
    # One path predicted for a product filed under two: the other one is missed.
    two = plain.score(tax, truth[:4] + ["A > a1 | B > b1"], truth)
    assert two["leaf_macro_f1"] == pytest.approx((1 + 1 + 2 / 3 + 1) / 4, abs=1e-4)
    # Stopping at "A" is no leaf; an empty prediction is nothing at all.
    coarse = plain.score(tax, truth, ["A", "A > a2", "B > b1", "", "A > a1"])
    assert coarse["stops_above_true_depth"] == pytest.approx(0.4)
    assert coarse["empty"] == pytest.approx(0.2)
    assert coarse["leaf_macro_f1"] < 1.0
    # The table of BENCHMARKS.md: one row per setting run, a note when none was.
    assert report.plain_section({"fashion": None})[-2] == "_Not run yet._"
    row = {"systems": {"prodemb": {"leaf_macro_f1": 0.9, "stops_above_true_depth": 0.01},
                       "tfidf_linear_svm": {"leaf_macro_f1": 0.88, "stops_above_true_depth": 0}},
           "n_held_out": 8889, "margin_leaf_macro_f1": 0.02, "date": "2026-12-03T10:00",
           "machine": {"git_commit": "abc1234"}}
    table = report.plain_section({"fashion": row})
    assert "| fashion | 8,889 | 0.900 | 0.880 | +0.020 | 1.0% | 0.0% | 2026-12-03, `abc1234` |" in table
