"""Regenerate ``BENCHMARKS.md`` from ``bench/results/*.json``.

Every number in BENCHMARKS.md comes from a result file written by a benchmark script;
nothing is typed by hand. Missed targets are shown as missed.

Usage: ``.venv/bin/python bench/report.py [--quick] [--out FILE]``
(``--quick`` reads the ``*_quick.json`` results of ``run_all.py --quick`` and writes
``bench/results/quick_report.md`` instead).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

SYSTEM_LABELS = {
    "prodemb": "**prodemb** (Word2Vec + BiLSTM)",
    "tfidf_logreg": "TF-IDF + logistic regression",
    "tfidf_svm": "TF-IDF + linear SVM",
    "fasttext": "fastText (autotuned)",
    "w2v_mean_logreg": "mean Word2Vec + logistic regression",
}
RERUN = {
    "training": "bench/bench_training.py",
    "quality": "bench/bench_quality.py",
    "speed": "bench/bench_speed.py",
    "word2vec": "bench/bench_word2vec.py",
    "app": "bench/bench_app.py",
    "sessions": "bench/bench_sessions.py",
    "scale": "bench/bench_scale.py",
}


def load(name: str, quick: bool) -> dict | None:
    path = RESULTS / (f"{name}_quick.json" if quick else f"{name}.json")
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def f3(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def num(x, digits: int = 1) -> str:
    if x is None:
        return "–"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def status(t: dict) -> str:
    return "**met**" if t["met"] else "**MISSED**"


def provenance(r: dict) -> str:
    load = r.get("load_average", {})
    la = load.get("start", ["?"])[0], load.get("end", ["?"])[0]
    return (f"`{r['command']}` — {r['date'][:16].replace('T', ' ')} UTC, commit "
            f"`{r['machine']['git_commit']}`, load average {la[0]} → {la[1]} "
            f"on {r['machine']['cores']} cores")


#: The quality settings (``bench/common.py`` ``SETTINGS``), in report order, with their
#: section titles; ``bench_quality.py --catalogue NAME`` writes ``quality_<NAME with _>.json``.
QUALITY = {
    "demo": "Demo catalogue (generated: `prodemb demo-data`, 50,000 labelled)",
    "demo-longtail": "Demo catalogue, long tail (generated: `prodemb demo-data --tail-leaves 840 "
                     "--shallow-share 0.2`, 30,000 labelled)",
    "fashion": "Fashion Product Images (real, `../shared/data`)",
    "fashion-small": "Fashion, small training set (20 % of each leaf's training products "
                     "labelled, same validation and test products)",
}
#: Quality targets besides the margin over the best peer.
TRAIN_TARGET = 0.95  # prodemb's leaf macro-F1 on its own training products, every setting
SEED_SD_TARGET = 0.010  # sd over training seeds of the test leaf macro-F1
SEED_SD_SETTINGS = ("fashion",)


def result_name(setting: str) -> str:
    return "quality_" + setting.replace("-", "_")


# ---------------------------------------------------------------------- sections
def _met(ok: bool) -> str:
    return "**met**" if ok else "**MISSED**"


def quality_target_rows(setting: str, r: dict | None) -> list[str]:
    """The Targets rows of one quality setting: margin over the best peer, train leaf
    macro-F1 and (fashion) the seed sd; met or MISSED, "not run" without a result file."""
    margin = f"{setting}: prodemb leaf macro-F1 − best peer"
    train = f"{setting}: prodemb train leaf macro-F1 (on its own training products)"
    sd = f"{setting}: sd over training seeds of prodemb's test leaf macro-F1"
    rows = [(margin, "≥ +0.020"), (train, f"≥ {TRAIN_TARGET:.2f}")]
    if setting in SEED_SD_SETTINGS:
        rows.append((sd, f"≤ {SEED_SD_TARGET:.3f}"))
    v = (r or {}).get("verdict")
    if r is None or r.get("skipped") or not v:
        why = ("not run" if r is None else f"skipped ({r['skipped']})" if r.get("skipped")
               else "no verdict (prodemb or peers missing)")
        return [f"| {label} | {why} | {target} | – |" for label, target in rows]
    runs = v.get("prodemb_runs", 1)
    mean = f", prodemb: mean of {runs} seeds" if runs > 1 else ""
    target = v.get("target_margin", 0.02)
    out = [f"| {margin} (best peer: {v['best_peer']}{mean}) | {v['margin_leaf_macro_f1']:+.4f} | "
           f"≥ {target:+.3f} | {_met(v['met'])} |"]
    # Results written before the verdict had these keys: the same numbers from the seeds.
    prodemb = r.get("systems", {}).get("prodemb", {})
    seeds = prodemb.get("seeds") or {}
    tr = v.get("train_leaf_macro_f1")
    if tr is None:
        tr = (seeds.get("train_leaf_macro_f1") or {}).get("mean")
    if tr is None:
        tr = (prodemb.get("train") or {}).get("leaf_macro_f1")
    if tr is None:
        out.append(f"| {train} | not measured | {rows[1][1]} | – |")
    else:
        n = len([x for x in seeds.get("runs", []) if x.get("train_leaf_macro_f1") is not None])
        which = f" (mean of {n} seeds)" if n > 1 else ""
        # Five decimals: a value just under the target must not print as the target.
        out.append(f"| {train}{which} | {tr:.5f} | {rows[1][1]} | {_met(tr >= TRAIN_TARGET)} |")
    if setting in SEED_SD_SETTINGS:
        s = v.get("seed_sd_leaf_macro_f1")
        if s is None:
            s = (seeds.get("test_leaf_macro_f1") or {}).get("sd") if seeds.get("n", 1) > 1 else None
        if s is None:
            out.append(f"| {sd} | not measured (one seed) | {rows[2][1]} | – |")
        else:
            out.append(f"| {sd} ({seeds.get('n', runs)} seeds) | {s:.3f} | {rows[2][1]} | "
                       f"{_met(s <= SEED_SD_TARGET)} |")
    return out


def speed_targets(r: dict) -> dict:
    """The speed targets, judged by ``bench_speed.judge`` against today's targets."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    import bench_speed

    return bench_speed.judge(r)


def targets_section(results: dict) -> list[str]:
    rows = []
    labels = {
        ("speed", "classify_p50_ms"): "classify one product, p50",
        ("speed", "batch_one_thread_products_per_second"):
            "batch classification (`Bundle.classify`, one thread)",
        ("speed", "nearest_products_1m_p50_ms"): "nearest products among 1,000,000, p50",
        ("speed", "classify_p50_ms_scale"):
            "issue 15's latency target: a single product classified, p50",
        ("speed", "batch_one_thread_products_per_second_scale"):
            "issue 15's throughput target: `Bundle.classify` on 1 torch thread",
        ("training", "demo_bundle_training_seconds"): "demo bundle training (all stages)",
        ("maps", "maps_20k_seconds"): "t-SNE + UMAP maps of 20,000 products",
        ("app", "first_meaningful_render_seconds"):
            "fresh server to the real navigation and the Classify form",
        ("app", "page_first_visit_max_seconds"): "slowest page, first visit",
        ("app", "page_warm_max_seconds"): "slowest page, warm (median)",
        ("app", "outside_requests"): "requests to another origin in a walk of every page",
        ("app", "server_log_warnings"): "warnings in the server log of that walk",
        ("app", "app_memory_mb"): "app server resident memory (peak)",
        ("sessions", "sessions_p95_first_classification_seconds"):
            "30 browser sessions at once: time to first classification, p95",
        ("sessions", "sessions_server_only_p95_first_classification_seconds"):
            "30 sessions at once without browsers (the server alone): time to first "
            "classification, p95",
        ("sessions", "sessions_pings_missed"): "websocket pings missed during those sessions",
        ("confidence", "ece_demo"): "expected calibration error of the confidence, demo test",
        ("confidence", "ece_fashion"): "expected calibration error of the confidence, Fashion test",
        ("confidence", "ooc_auroc"): "out-of-catalogue detection AUROC (demo)",
        ("confidence", "in_catalogue_ooc_share"):
            "in-catalogue test products called out of catalogue (demo)",
    }
    units = {"classify_p50_ms": " ms", "nearest_products_1m_p50_ms": " ms",
             "batch_one_thread_products_per_second": " products/s",
             "classify_p50_ms_scale": " ms",
             "batch_one_thread_products_per_second_scale": " products/s",
             "demo_bundle_training_seconds": " s", "maps_20k_seconds": " s", "page_warm_max_seconds": " s",
             "first_meaningful_render_seconds": " s", "page_first_visit_max_seconds": " s",
             "outside_requests": "", "server_log_warnings": "",
             "app_memory_mb": " MB", "sessions_p95_first_classification_seconds": " s",
             "sessions_server_only_p95_first_classification_seconds": " s",
             "sessions_pings_missed": "", "ece_demo": "", "ece_fashion": "", "ooc_auroc": "",
             "in_catalogue_ooc_share": ""}
    digits = {"outside_requests": 0, "server_log_warnings": 0, "sessions_pings_missed": 0, "ece_demo": 3, "ece_fashion": 3, "ooc_auroc": 3,
              "in_catalogue_ooc_share": 3}
    for setting in QUALITY:
        rows += quality_target_rows(setting, results.get(result_name(setting)))
    for name in ("speed", "training", "maps", "app", "sessions", "confidence"):
        r = results.get(name)
        targets = (speed_targets(r) if name == "speed" else r.get("targets", {})) if r else {}
        if name == "confidence" and r:
            targets = confidence_targets(r)
        keys = [k for (n, k) in labels if n == name]
        for key in keys:
            if r is None or r.get("skipped") or key not in targets:
                why = ("skipped" if r and r.get("skipped") else "not measured" if r
                       else "not run")
                rows.append(f"| {labels[(name, key)]} | {why} | | – |")
                continue
            t = targets[key]
            op = "≤" if t["op"] == "<=" else "≥"
            value = "–" if t["value"] is None else f"{num(t['value'], digits.get(key, 2))}{units[key]}"
            target = num(t["target"], digits.get(key, 0) if name == "confidence"
                         else 0 if float(t["target"]).is_integer() else 1)
            rows.append(f"| {labels[(name, key)]} | {value} | "
                        f"{op} {target}{units[key]} | {status(t)} |")
    rows += scale_target_rows(results.get("scale"))
    review = results.get("review")
    if review:
        t = review["target"]
        p50 = review["mean"]["precision_at_50"]
        rows.append(f"| label review: planted wrong labels among the 50 most doubted (demo) | "
                    f"{num(p50, 2)} | ≥ {t['precision_at_50']} | {_met(p50 >= t['precision_at_50'])} |")
    else:
        rows.append("| label review: planted wrong labels among the 50 most doubted (demo) | "
                    "not run | | – |")
    out = ["## Targets", "",
           "| Target | Measured | Target | Status |", "|---|---:|---:|---|", *rows, ""]
    commits = {s: results[result_name(s)]["machine"]["git_commit"] for s in QUALITY
               if (results.get(result_name(s)) or {}).get("machine")}
    if len(set(commits.values())) > 1:
        out += ["The quality results come from different commits (" + ", ".join(
            f"{s}: `{c}`" for s, c in commits.items()) + "); the targets are meant to be "
            "judged on results of one commit.", ""]
    return out


def confidence_targets(r: dict) -> dict:
    """The confidence result's targets, the ECE ones named by catalogue (demo, fashion)."""
    out = {}
    for key, t in r.get("targets", {}).items():
        if key.startswith("ece_"):
            data = (r["bundles"].get(key[4:], {}).get("data") or "").lower()
            key = "ece_fashion" if "fashion" in data else "ece_demo" if "demo" in data else key
        out[key] = t
    return out


def confidence_section(r: dict | None, rule: dict | None) -> list[str]:
    out = ["## Confidence and out-of-catalogue detection", ""]
    if not r:
        return out + ["Not run (`bench/bench_confidence.py`).", ""]
    out += [f"{provenance(r)}", "",
            "| Bundle | Confidence fitted | Test ECE, raw score | Test ECE, calibrated | "
            "ok / uncertain / out of catalogue (test) |", "|---|---|---:|---:|---|"]
    for name, b in r["bundles"].items():
        t = b["report"]["test"]
        shares = " / ".join(f"{100 * t['status_share'][s]:.1f} %" for s in
                            ("ok", "uncertain", "out_of_catalogue"))
        out.append(f"| {name} ({b.get('data')}) | {b['confidence_fitted']} | {f3(t['ece_raw'])} | "
                   f"{f3(t['ece'])} | {shares} |")
    out.append("")
    for name, b in r["bundles"].items():
        o = b.get("out_of_catalogue")
        if o:
            caught = ", ".join(f"{k} {100 * v:.1f} %" for k, v in o["caught"].items())
            out += [f"Out of catalogue on `{name}`: {o['n_in']:,} test products against "
                    f"{o['n_out']:,} texts the tree cannot hold ({', '.join(f'{k} {v}' for k, v in o['kinds'].items())}; "
                    "`bench/ooc_set.py`): AUROC {:.3f}; {:.1f} % of the test products called out of "
                    "catalogue; caught by the status rule: {}.".format(
                        o["auroc"], 100 * o["in_catalogue_flagged"], caught), ""]
    if rule:
        out += ["### Thresholds for rare nodes (`bench/decoding_rule.py`)", "",
                "Validation and test leaf macro-F1 when nodes with fewer than *m* validation "
                f"products share their level's threshold (the rule in use: m = {rule['chosen']}).", "",
                "| Bundle | m | validation | test |", "|---|---:|---:|---:|"]
        out += [f"| {row['bundle']} | {row['min_positives']} | "
                f"{f3(row['validation_leaf_macro_f1'])} | {f3(row['test_leaf_macro_f1'])} |"
                for row in rule["rows"]]
        out.append("")
    return out


def margin_grain(ours: list | None, peer: list | None) -> str | None:
    """What one test product weighs in leaf macro-F1, and where the table's prodemb run
    (its first seed) and the best peer differ, leaf by leaf (``per_leaf``: name, test
    support, F1)."""
    if not ours or not peer:
        return None
    n = len(ours)
    single = sum(1 for _, support, _ in ours if support == 1)
    theirs = {name: f1 for name, _, f1 in peer}
    diffs = [f1 - theirs[name] for name, _, f1 in ours if name in theirs]
    better = sum(d > 1e-9 for d in diffs)
    worse = sum(d < -1e-9 for d in diffs)
    return (f"Resolution: {n} leaves have test products, {single} of them a single one; one "
            f"such product right or wrong moves leaf macro-F1 by up to {1 / n:.4f}. Leaf by leaf, "
            f"the table's prodemb run (first seed) scores higher than the best peer on {better} "
            f"leaves and lower on {worse} ({sum(diffs) / n:+.4f} in all).")


def quality_section(r: dict | None, title: str, name: str) -> list[str]:
    out = [f"### {title}", ""]
    if r is None:
        return out + [f"Not run yet: `{RERUN['quality']} --catalogue {name}`.", ""]
    if r.get("skipped"):
        return out + [f"Skipped: {r['skipped']}.", ""]
    tree = r["tree"]
    sc = r["split_counts"]
    out.append(f"{r['n_labelled']:,} labelled products ({r['n_products']:,} in all), tree of "
               f"{tree['nodes']} nodes / {tree['leaves']} leaves / depth {tree['depth']}, "
               f"{r['multi_path_products']:,} products with two paths. Split (train / validation "
               f"/ test): {sc['train']:,} / {sc['validation']:,} / {sc['test']:,}, identical for "
               f"every system (checked against the bundle: "
               f"{'yes' if r['split_check']['same_split'] else 'NO'}). Scores on the test split.")
    out.append("")
    depth = tree["depth"]
    head = ("| System | leaf macro-F1 | macro-F1, all nodes | micro-F1 | "
            + " | ".join(f"level {lv}" for lv in range(1, depth + 1))
            + " | training | prediction | chosen on validation |")
    out += [head, "|---|" + "---:|" * (3 + depth + 2) + "---|"]
    systems = r["systems"]
    order = sorted(systems, key=lambda s: -systems[s].get("test", {}).get("leaf_macro_f1", -1))
    for s in order:
        v = systems[s]
        if "test" not in v:
            out.append(f"| {SYSTEM_LABELS.get(s, s)} | skipped: {v.get('skipped', '?')} |")
            continue
        t = v["test"]
        levels = " | ".join(f3(t["level_macro_f1"].get(str(lv))) for lv in range(1, depth + 1))
        if s == "prodemb":
            fit = v.get("fit_seconds")
            train = f"{num(fit)} s (+ Word2Vec {num(v.get('word2vec_seconds'))} s)"
            d = v["decoding"] or {}
            chosen = (f"epochs {v['epochs_trained']}/{v['epochs_planned']} (best {v['best_epoch']})"
                      f", extra path ≥ {d.get('extra_path_min')}"
                      + (f", sigmoid weight {d['sigmoid_weight']}" if "sigmoid_weight" in d else ""))
        else:
            train = f"{num(v['fit_seconds'])} s (tuning {num(v['tuning_seconds'])} s)"
            chosen = describe(s, v)
        label = SYSTEM_LABELS.get(s, s)
        if s == "prodemb" and v.get("seeds"):
            label += f", seed {v['seeds']['runs'][0]['seed']} of {v['seeds']['n']}"
        out.append(f"| {label} | {f3(t['leaf_macro_f1'])} | {f3(t['macro_f1'])} | "
                   f"{f3(t['micro_f1'])} | {levels} | {train} | "
                   f"{num(v['products_per_second'], 0)}/s | {chosen} |")
    out.append("")
    with_buckets = [s for s in order if "leaf_macro_f1_by_support" in systems[s].get("test", {})]
    if with_buckets:
        buckets = list(systems[with_buckets[0]]["test"]["leaf_macro_f1_by_support"])
        counts = systems[with_buckets[0]]["test"]["leaf_macro_f1_by_support"]
        out += ["Leaf macro-F1 by the leaf's number of test products (rare leaves weigh as much "
                "as common ones in macro-F1):", "",
                "| System | " + " | ".join(f"{b} ({counts[b]['leaves']} leaves)" for b in buckets)
                + " |", "|---|" + "---:|" * len(buckets)]
        for s in with_buckets:
            b = systems[s]["test"]["leaf_macro_f1_by_support"]
            out.append(f"| {SYSTEM_LABELS.get(s, s)} | "
                       + " | ".join(f3(b[k]["macro_f1"]) for k in buckets) + " |")
        out.append("")
    seeds = systems.get("prodemb", {}).get("seeds")
    if seeds:
        lf, mf = seeds["test_leaf_macro_f1"], seeds["test_macro_f1"]
        out.append(f"prodemb trained with {seeds['n']} seeds on the same split (the table shows "
                   f"seed {seeds['runs'][0]['seed']}): leaf macro-F1 {lf['mean']:.3f} ± {lf['sd']:.3f} "
                   f"(min {lf['min']:.3f}, max {lf['max']:.3f}), macro-F1 {mf['mean']:.3f} ± "
                   f"{mf['sd']:.3f}. Per seed: "
                   + ", ".join(f"{x['seed']}: {x['test']['leaf_macro_f1']:.3f}" for x in seeds["runs"])
                   + "." + train_sentence(seeds))
        out.append("")
    v = r.get("verdict")
    if v:
        ci = ""
        if v.get("bootstrap"):
            lo, hi = v["bootstrap"]["ci95"]
            which = " of the table's run" if v.get("prodemb_runs", 1) > 1 else ""
            ci = (f"; 95% paired-bootstrap interval{which} over test products [{lo:+.3f}, "
                  f"{hi:+.3f}], {v['bootstrap']['n_boot']} resamples")
        runs = v.get("prodemb_runs", 1)
        ours = f" (mean of {runs} seeds)" if runs > 1 else ""
        out.append(f"prodemb{ours} − best peer ({SYSTEM_LABELS[v['best_peer']]}) in leaf macro-F1: "
                   f"**{v['margin_leaf_macro_f1']:+.3f}**{ci} (target ≥ +0.020: "
                   f"{'met' if v['met'] else '**MISSED**'}).")
        out.append("")
        grain = margin_grain(systems.get("prodemb", {}).get("test", {}).get("per_leaf"),
                             systems.get(v["best_peer"], {}).get("test", {}).get("per_leaf"))
        if grain:
            out += [grain, ""]
    out.append(f"Run: {provenance(r)}.")
    earlier = [t.get("created") for t in [r.get("prodemb_training") or {}] + [
        run.get("training") or {} for run in (systems.get("prodemb", {}).get("seeds") or {}).get("runs", [])]
        if t.get("earlier_code")]
    if earlier:
        # --reuse-bundles: bundles trained by earlier code with the same data and config.
        out.append("")
        out.append(f"{len(earlier)} of prodemb's bundles were trained by earlier code with the "
                   "same data and config (`--reuse-bundles`), created "
                   + ", ".join(str(c) for c in earlier) + ".")
    reused = {s: v["reused_from"] for s, v in systems.items() if v.get("reused_from")}
    if reused:
        # --reuse-peers: the peers' tuning is not repeated when only prodemb changed.
        out.append("")
        out.append("Peers reused from an earlier run on the same split (`--reuse-peers`): " + "; ".join(
            f"{SYSTEM_LABELS.get(s, s)} from {o.get('date')} (commit {o.get('git_commit')})"
            for s, o in reused.items()) + ".")
    out.append("")
    return out


def train_sentence(seeds: dict) -> str:
    """prodemb's leaf macro-F1 on its own training products over the seeds, if recorded."""
    tr = seeds.get("train_leaf_macro_f1")
    if not tr:
        return ""
    return (f" Leaf macro-F1 on its own training products (how well it fits what it was "
            f"taught): mean {tr['mean']:.3f}, min {tr['min']:.3f} over the seeds "
            f"(target ≥ {TRAIN_TARGET:.2f}).")


def describe(system: str, v: dict) -> str:
    c = v.get("chosen", {})
    mode = {"leaf": "softmax over leaves", "nodes": "one-vs-rest over all nodes"}.get(
        c.get("mode"), c.get("mode"))
    if system == "fasttext":
        p = c.get("params", {})
        keys = ("epoch", "lr", "dim", "wordNgrams", "minn", "maxn")
        return f"{mode}; " + ", ".join(f"{k} {_short(p[k])}" for k in keys if k in p)
    extra = f"; extra path ≥ {v['decoding']['extra_path_min']}" if v.get("decoding") else ""
    return f"{mode}, C = {c.get('C')}{extra}"


def _short(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def speed_section(r: dict | None) -> list[str]:
    out = ["## Speed", ""]
    if r is None:
        return out + [f"Not run yet: `{RERUN['speed']}`.", ""]
    out.append(f"Demo bundle `{Path(r['bundle']).name}` ({r['n_bundle_products']:,} products "
               f"embedded), {r['torch_threads']} torch thread(s), in-process; each figure is the "
               f"median of {r['repeats']} runs.")
    out += ["", "| Measurement | p50 | p95 | Notes |", "|---|---:|---:|---|"]

    def row(label: str, key: str, note: str = "") -> None:
        m = r.get(key)
        if m:
            out.append(f"| {label} | {m['p50_ms']:.2f} ms | {m['p95_ms']:.2f} ms | {note} |")
    row("classify one product (clean + BiLSTM + decode)", "classify_one",
        f"{r['classify_one']['n_per_run']} distinct test texts per run")
    ft = r.get("fasttext", {})
    if "classify_one" in ft:
        out.append(f"| fastText, one product (top-1) | {ft['classify_one']['p50_ms']:.2f} ms | "
                   f"{ft['classify_one']['p95_ms']:.2f} ms | same texts |")
    row("nearest words", "nearest_words", f"vocabulary {r['nearest_words']['vocabulary']:,}")
    row("nearest products of the bundle, by id", "nearest_products_bundle_by_id",
        f"{r['nearest_products_bundle_by_id']['n_products']:,} products"
        + (f", {r['nearest_products_bundle_by_id']['search']}"
           if r['nearest_products_bundle_by_id'].get('search') else ""))
    row("nearest products of the bundle, by text (embeds the text)",
        "nearest_products_bundle_by_text",
        f"{r['nearest_products_bundle_by_text']['n_products']:,} products"
        + (f", {r['nearest_products_bundle_by_text']['search']}"
           if r['nearest_products_bundle_by_text'].get('search') else ""))
    row("nearest products among 100,000", "nearest_products_100k",
        "exact cosine (`CosineIndex`: float16 scan for candidates from 200,000 vectors on, float32 rescoring), 128-d, k = 10")
    row("nearest products among 1,000,000", "nearest_products_1000k",
        "exact cosine (`CosineIndex`: float16 scan for candidates from 200,000 vectors on, float32 rescoring), 128-d, k = 10")
    threads = r["batch"].get("threads", 1)
    out += ["", "| Batch throughput | products/s |", "|---|---:|",
            f"| prodemb `Bundle.classify`, batches of {r['batch']['batch_size']:,}, "
            f"{threads} thread{'s' if threads != 1 else ''} (the app's and `prodemb predict`'s default"
            f"{'; the target row' if threads == 1 else ''}) | "
            f"{num(r['batch']['products_per_second'], 0)} |"]
    if "batch_all_cores" in r:
        b = r["batch_all_cores"]
        out.append(f"| prodemb, same batches, {b['threads']} threads (`--threads 0`) | "
                   f"{num(b['products_per_second'], 0)} |")
    for b in (r.get("batch_loaded") or {}).values():
        out.append(f"| prodemb, same batches beside one CPU-bound process, {b['threads']} "
                   f"thread{'s' if b['threads'] != 1 else ''} | {num(b['products_per_second'], 0)} |")
    if "batch" in ft:
        out.append(f"| fastText, one text per call, top-1, one thread | "
                   f"{num(ft['batch']['products_per_second'], 0)} |")
        out.append(f"| ratio prodemb / fastText, one thread each | "
                   f"{r['prodemb_vs_fasttext_throughput']:.3f} |")
    elif ft.get("skipped"):
        out.append(f"| fastText | skipped: {ft['skipped']} |")
    bd, one = r.get("batch_breakdown"), r.get("classify_one_breakdown")
    if bd:
        text = (f"Where the one-thread time goes (timed inside the calls): in the batches the "
                f"network takes {bd['network_seconds'] / bd['total_seconds']:.0%} and the "
                f"BiLSTM alone {bd['lstm_share']:.0%} ({bd['tokens_per_text_mean']:.1f} tokens "
                f"per text, {bd['lstm_gflop_per_product'] * 1e3:.1f} MFLOP per product, "
                f"{bd['lstm_gflop_per_second']:.0f} GFLOP/s); the BiLSTM alone allows "
                f"{num(bd['lstm_only_products_per_second'], 0)} products/s on this core and "
                f"the whole network {num(bd['n'] / bd['network_seconds'], 0)}, whatever the "
                f"rest costs.")
        if one:
            text += (f" One product at a time: {one['ms_per_product']:.2f} ms, of which the "
                     f"BiLSTM {one['lstm_ms_per_product']:.2f} ms (its steps run one after "
                     f"another on one row).")
        out += ["", text]
    out += ["", f"Run: {provenance(r)}.", ""]
    return out


#: The scale targets (``bench_scale.TARGETS``), labelled for the Targets table.
SCALE_LABELS = {
    "ray_speedup_2_workers": ("Ray engine: 2 workers' throughput over 1 worker's", "×"),
    "ray_share_of_local": ("Ray engine, 2 workers: share of the local engine's throughput "
                           "on the same cores", ""),
    "ann_recall_at_10": ("ANN index: recall@10 against exact search", ""),
    "ann_query_p50_ms": ("ANN index: query p50", " ms"),
    "ann_index_mb_10m": ("ANN index: memory (FAISS's serialised size)", " MB"),
    "demo_search_coverage": ("demo bundle's nearest-product search: share of its catalogue "
                             "searched", ""),
}


def scale_targets(r: dict) -> dict:
    """The scale targets, judged by ``bench_scale.judge`` against today's targets."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    import bench_scale

    return bench_scale.judge(r)


def scale_target_rows(r: dict | None) -> list[str]:
    """The Targets rows of ``scale.json`` ("not run" without it)."""
    if r is None:
        return [f"| {label} | not run | | – |" for label, _ in SCALE_LABELS.values()]
    targets = scale_targets(r)
    rows = []
    for key, (label, unit) in SCALE_LABELS.items():
        t = targets.get(key)
        if t is None:
            rows.append(f"| {label} | not measured | | – |")
            continue
        op = "≤" if t["op"] == "<=" else "≥"
        note = f" ({t['note']})" if t.get("note") else ""
        value = (f"{t['value']:.2f}{unit}" if unit == "×" else
                 f"{num(t['value'], 0)}{unit}" if unit == " MB" else f"{t['value']:.3f}{unit}")
        rows.append(f"| {label}{note} | {value} | {op} {num(t['target'], 0) if unit == ' MB' else format(t['target'], 'g')}{unit} | {status(t)} |")
    return rows


def scale_section(r: dict | None) -> list[str]:
    """Batch scoring engines and the ANN index (``bench_scale.py``)."""
    out = ["## Scale", ""]
    if r is None:
        return out + [f"Not run yet: `{RERUN['scale']}`.", ""]
    e = r.get("engines")
    if e:
        steady = bool((e.get("ray_2") or {}).get("steady"))
        if steady:
            out += [f"`prodemb predict` on generated products (`prodemb demo-data`; {e['input']}), "
                    f"shipped bundle `{Path(e['bundle']).name}`: each engine run on "
                    f"{e['products_small']:,} and on {e['products']:,} products, each run timed "
                    "from the command's start to its output written (bundle loading and, for "
                    "Ray, the workers' start and bundle loads included; the Ray runtime's "
                    f"start, {e['ray_init_seconds']:.1f} s, is not). Steady rate: the marginal "
                    "one between the two runs, what a long job sustains; fixed: the rest of "
                    "a run's time.", "",
                    f"| Engine | {e['products_small']:,} products | {e['products']:,} products "
                    "| products/s (whole run) | steady products/s | fixed seconds |",
                    "|---|---:|---:|---:|---:|---:|"]
        else:
            out += [f"`prodemb predict` on {e['products']:,} generated products (`prodemb demo-data`; "
                    f"{e['input']}), shipped bundle `{Path(e['bundle']).name}`, one run each, timed "
                    "from the command's start to its output written (bundle loading and, for Ray, "
                    "every worker's bundle load included; the Ray runtime's start, "
                    f"{e['ray_init_seconds']:.1f} s, is not):", "",
                    "| Engine | seconds | products/s |", "|---|---:|---:|"]
        for key, label in (("local", f"local, `--threads 0` ({(e.get('local') or {}).get('threads')} threads)"),
                           ("local_1_thread", "local, `--threads 1`"),
                           ("ray_1", "Ray Data, 1 worker (one torch thread)"),
                           ("ray_2", "Ray Data, 2 workers (one torch thread each)"),
                           ("ray_embed_2", "`prodemb embed`, Ray Data, 2 workers")):
            m = e.get(key)
            if m and steady and m.get("steady"):
                out.append(f"| {label} | {m['small']['seconds']:.1f} s | {m['seconds']:.1f} s | "
                           f"{num(m['products_per_second'], 0)} | "
                           f"{num(m['steady']['products_per_second'], 0)} | "
                           f"{m['steady']['fixed_seconds']:.1f} |")
            elif m:
                out.append(f"| {label} | {m['seconds']:.1f} | {num(m['products_per_second'], 0)} |")
        out.append("")
        judged = scale_targets(r)
        if "ray_speedup_2_workers" in judged and "ray_share_of_local" in judged:
            same = e.get("ray_equals_local", {})
            speedup = judged["ray_speedup_2_workers"]["value"]
            kind = "steady rate" if steady else "rate"
            out += [f"Ray {e.get('ray_version', '')}: 2 workers give "
                    f"{speedup:.2f}× the 1-worker {kind} (scaling efficiency "
                    f"{50 * speedup:.0f} %) and "
                    f"{100 * judged['ray_share_of_local']['value']:.0f} % "
                    f"of the faster local run's {kind}. "
                    "Ray's predictions equal the local engine's row for row: "
                    f"{'yes' if same.get('identical') else 'NO (' + str(same.get('rows_differing')) + ' rows differ)'}.",
                    ""]
    idx = r.get("index")
    if idx:
        out += [f"ANN index (`prodemb index`, FAISS): the demo bundle's 60,000 real product "
                f"embeddings replicated with noise (norm {r['noise']}) to each size; "
                f"{r['queries']} fresh noisy queries, k = {r['k']}; build on all cores, "
                "queries one at a time on one thread (the app's setting); recall@10 against "
                "exact search. **auto** marks the index `prodemb index` chooses at that size.", "",
                "| vectors | index | build | index size | RSS growth | recall@10 | query p50 | "
                "query p95 | exact search p50 |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
        for s in idx:
            for i in s["indexes"]:
                params = ", ".join(f"{k} {v}" for k, v in i["search"].items())
                label = f"{'**auto** ' if i['auto'] else ''}`{i['factory']}`" + \
                    (f" ({params})" if params else "")
                out.append(f"| {s['n']:,} | {label} | {i['build_seconds']:.1f} s | "
                           f"{num(i['index_mb'])} MB | {num(i['rss_growth_mb'])} MB | "
                           f"{i['recall_at_10']:.3f} | {i['query']['p50_ms']:.3f} ms | "
                           f"{i['query']['p95_ms']:.3f} ms | {s['exact_query']['p50_ms']:.2f} ms |")
        out.append("")
        sweeps = [(s["n"], i) for s in idx for i in s["indexes"] if i.get("sweep")]
        for n, i in sweeps:
            out.append(f"`{i['factory']}` at {n:,} vectors, by search parameters: " + "; ".join(
                f"`{p['params']}` recall {p['recall_at_10']:.3f}, p50 {p['p50_ms']:.3f} ms"
                for p in i["sweep"]) + ".")
            out.append("")
    d = r.get("demo_search")
    if d and d.get("recall_at_10") is not None:
        out += [f"The shipped demo bundle's nearest-product search (the dashboard's Neighbours "
                f"and Classify pages) covers {d['indexed']:,} of its catalogue's "
                f"{d['catalogue']:,} products with `{d['factory']}` ({d['index_mb']:.0f} MB; "
                f"{d['rss_growth_mb']:.0f} MB more resident memory in a fresh process once loaded and searched). Against exact "
                f"search over the catalogue embedded again, {d['queries']:,} random products: "
                f"recall@10 {d['recall_at_10']:.3f} by id; {100 * d['within_0_001_of_true_10th']:.1f} % "
                "of the neighbours found are within 0.001 cosine of the true 10th (the true 10 "
                f"lie within {d['true_10th_minus_1st_mean']:.4f} of each other on average: the demo's "
                "near-copies, among which the index's order is a coin toss). Query p50 "
                f"{d['index_query']['p50_ms']:.2f} ms (index alone), "
                f"{d['similar_products_by_id']['p50_ms']:.1f} ms for `Bundle.similar_products` "
                "by id end to end (texts read, paths predicted for products outside the "
                "bundle's table), one thread.", ""]
    out += [f"Run: {provenance(r)}. The plan for 100 million products built on these "
            "figures: [docs/SCALING.md](docs/SCALING.md).", ""]
    earlier = r.get("earlier") or []
    for e in earlier if isinstance(earlier, list) else [earlier]:
        if not e.get("command"):
            continue
        la = (e.get("load_average") or {})
        out += [f"Parts not re-run later (`--append`) come from `{e['command']}` "
                f"— {str(e.get('date'))[:16].replace('T', ' ')} UTC, commit "
                f"`{e.get('machine')}`, load average {la.get('start', ['?'])[0]} → "
                f"{la.get('end', ['?'])[0]}.", ""]
    return out


def maps_section(m: dict | None, v: dict | None) -> list[str]:
    """Map fitting time (``bench_maps.py``) and Word2Vec health (``bench_vectors.py``)."""
    out = ["## Maps and word vectors", ""]
    if m is None:
        out += ["Map fitting: not run yet (`bench/bench_maps.py`).", ""]
    else:
        out += [f"Map stage of `prodemb train` (fit on at most {m['config']['fit_points']:,} "
                "products, the rest placed by kNN interpolation) on the product embeddings of "
                f"`{Path(m['bundle']).name}`, after a warm-up that compiles numba/openTSNE "
                f"({', '.join(f'{k} {s:.0f} s' for k, s in m['warmup_seconds'].items())}):", "",
                "| products | t-SNE | UMAP | total | run (UTC, commit, 1-min load before) |",
                "|---:|---:|---:|---:|---|"]
        for r in m["runs"]:
            sec = r["seconds"]
            when = (f"{str(r['date'])[:16].replace('T', ' ')}, `{r.get('git_commit')}`, "
                    f"{(r.get('load_average_before') or ['?'])[0]}" if r.get("date") else "")
            out.append(f"| {r['products']:,} | {sec.get('tsne', 0):.0f} s | {sec.get('umap', 0):.0f} s "
                       f"| **{r['total_seconds']:.0f} s** | {when} |")
        out += ["", f"Run: {provenance(m)}.", ""]
    if v is None:
        out.append("Word2Vec health: not run yet (`bench/bench_vectors.py`).")
    else:
        out += ["Word2Vec health of the benchmark bundles (mean cosine of 2,000 random word "
                "pairs among the 5,000 most frequent words: near 1 means the vectors are "
                "nearly all alike; nearest words of probe words chosen from the vocabulary):", "",
                "| bundle | words | random-pair cosine | nearest words |", "|---|---:|---:|---|"]
        for name, r in v["bundles"].items():
            near = "; ".join(f"{w}: {', '.join(ns[:5])}" for w, ns in r["nearest"].items())
            out.append(f"| {name} | {r['vocabulary']:,} | {r['random_pair_cosine']:.2f} | {near} |")
        out += ["", f"Run: {provenance(v)}.", ""]
    return out


def training_section(r: dict | None, w: dict | None) -> list[str]:
    out = ["## Training", ""]
    if r is None:
        out.append(f"Demo bundle: not run yet (`{RERUN['training']}`).")
    else:
        d = r["data"]
        cfg = f"`--config {r['config_file']}`" if r.get("config_file") else "tiny config"
        out.append(f"Demo bundle (`prodemb train --preset demo` {cfg}, as `make demo-artifacts`) "
                   f"on {d['n_products']:,} products ({d['n_labelled']:,} labelled):")
        out += ["", "| Stage | seconds |", "|---|---:|"]
        for stage, secs in r["stage_seconds"].items():
            out.append(f"| {stage} | {secs:.1f} |")
        out.append(f"| **total** | **{r['total_seconds']:.1f}** |")
        out.append("")
        ep = r["epochs"]
        per_epoch = [e["seconds"] for e in ep]
        out.append(f"Classifier: {len(ep)} of {r['epochs_planned']} epochs "
                   f"({', '.join(f'{s:.0f}' for s in per_epoch)} s)"
                   + (f"; **stopped by the {r['max_train_minutes']:g}-minute time budget**"
                      if r["stopped_by_time_budget"] else "")
                   + f". Test leaf macro-F1 of this bundle: {f3(r.get('test_leaf_macro_f1'))}.")
        out += ["", f"Run: {provenance(r)}.", ""]
    if w is None:
        out.append(f"Word2Vec on 3,000,000 demo texts: not run yet (`{RERUN['word2vec']}`).")
    else:
        c = w["config"]
        out.append(f"Word2Vec on {w['n_texts']:,} demo texts ({w['corpus']['tokens']:,} tokens; "
                   f"{c['vector_size']}-d, {'skip-gram' if c['sg'] else 'CBOW'}, {c['epochs']} "
                   f"epochs, {w['workers']} workers): **{w['train_seconds']:.1f} s** "
                   f"({num(w['words_per_second'], 0)} words/s, vocabulary {w['vocabulary']:,})"
                   + (f"; generating and cleaning the texts took {w['corpus']['generate_seconds']:.0f}"
                      f" + {w['corpus']['clean_seconds']:.0f} s" if "clean_seconds" in w["corpus"]
                      else "") + ".")
        out += ["", f"Run: {provenance(w)}."]
    return out + [""]


def app_section(r: dict | None) -> list[str]:
    out = ["## App", ""]
    if r is None:
        return out + [f"Not run yet: `{RERUN['app']}`.", ""]
    if r.get("skipped"):
        return out + [f"Skipped: {r['skipped']}.", ""]
    out.append(f"`streamlit run app.py` with bundle `{Path(r['bundle']).name}`, headless Chromium "
               f"(Playwright), {r['rounds']} timed round(s) over the pages after a first round.")
    out += ["", "| | seconds |", "|---|---:|",
            f"| server start (until the health check answers) | {r['server_start_seconds']:.2f} |",
            f"| time to first render (fresh server, loads the bundle) | {r['first_render_seconds']:.2f} |",
            f"| new session on the warm server | {r['new_session_render_seconds']:.2f} |",
            "", "| Page | first visit | warm (median) | with one CPU-bound process beside: first / warm |",
            "|---|---:|---:|---:|"]
    loaded = r.get("loaded") or {}
    for page, v in r["pages"].items():
        lv = (loaded.get("pages") or {}).get(page)
        beside = (f"{num(lv['first_visit_seconds'], 2)} s / {lv['warm_median_seconds']:.2f} s"
                  if lv else "–")
        out.append(f"| {page} | {num(v['first_visit_seconds'], 2)} s | "
                   f"{v['warm_median_seconds']:.2f} s | {beside} |")
    m = r["memory"]
    t = r.get("targets", {})
    mem = t.get("app_memory_mb")
    out += ["", f"Server resident memory (server process and children, from /proc): "
                f"{m['end']['rss_mb']:.0f} MB at the end, at most {m['max_rss_mb']:.0f} MB while "
                f"measured, peak (sum of VmHWM) {m['peak_vmhwm_sum_mb']:.0f} MB"
                + (f"; target ≤ {num(mem['target'], 0)} MB: {status(mem)}." if mem else "."),
            "", "The targets (first render, first visit, warm pages, requests, log warnings, "
                "memory) are judged in the Targets table above.",
            "", f"Run: {provenance(r)}.", ""]
    return out


def sessions_section(r: dict | None) -> list[str]:
    out = ["## Many sessions", ""]
    if r is None:
        return out + [f"Not run yet: `{RERUN['sessions']}`.", ""]
    if r.get("skipped"):
        return out + [f"Skipped: {r['skipped']}.", ""]
    n = r["sessions"]
    tt, page, click = (r["time_to_first_classification_seconds"], r["page_seconds"],
                       r["classify_seconds"])
    server = r["server_only"]
    ts = server["time_to_first_classification_seconds"]
    out.append(f"`streamlit run app.py` with bundle `{Path(r['bundle']).name}`. {n} browser "
               f"sessions (one headless Chromium, a context each) at the same time open the "
               f"Classify page, type a different catalogue product and press *Classify*; then "
               f"{n} sessions without a browser (Streamlit's websocket protocol, the deep link "
               f"`?text=`) do the same, which is the server's own share. Time to first "
               f"classification: from the session's first request to its predicted path being "
               f"shown (received); the rows \"of which\" leave out typing the text. The "
               f"browsers run on the same "
               f"{r['machine']['cores']} cores as the server"
               + (" and do not draw the Plotly charts (the server still builds and sends them)."
                  if not r.get("draw_charts") else "."))
    out += ["", "| | p50 | p95 | max |", "|---|---:|---:|---:|",
            f"| {n} browser sessions: time to first classification | {tt['p50']:.2f} s | "
            f"{tt['p95']:.2f} s | {tt['max']:.2f} s |",
            f"| of which: the page until it shows its heading | {page['p50']:.2f} s | "
            f"{page['p95']:.2f} s | {page['max']:.2f} s |",
            f"| of which: the click on *Classify* until the result | {click['p50']:.2f} s | "
            f"{click['p95']:.2f} s | {click['max']:.2f} s |",
            f"| {n} sessions without browsers (the server alone) | {ts['p50']:.2f} s | "
            f"{ts['p95']:.2f} s | {ts['max']:.2f} s |", ""]
    alone, alone_server = r["one_session_alone"], r.get("one_session_alone_server_only", {})
    out.append(f"One session alone on the warm server: {alone['seconds']:.2f} s in a browser"
               + (f", {alone_server['seconds']:.2f} s without one" if alone_server else "")
               + f"; the first session on a fresh server (it loads the bundle): "
               f"{r['first_session_fresh_server']['seconds']:.2f} s. Failed sessions: "
               f"{r['failed']}. CPU time per session: the server "
               f"{r['server_cpu_seconds_per_session']:.2f} s with the browsers (page, scripts "
               f"and static files), {server['server_cpu_seconds_per_session']:.2f} s without"
               + (f"; the browser {r['browser_cpu_seconds_per_session']:.2f} s"
                  if r.get("browser_cpu_seconds_per_session") is not None else "") + ".")
    probe = r["probe"]
    ws, http = probe.get("websocket_ping", {}), probe.get("http_health", {})
    ws_server = probe.get("server_only", {}).get("websocket_ping", {})
    if ws:
        out += ["", f"Responsiveness (a separate process probing every "
                    f"{probe['interval_seconds']:g} s; missed = answered after more than "
                    f"{probe['missed_after_seconds']:g} s or never): websocket pings on "
                    f"`/_stcore/stream` during the browser sessions {ws['missed']} missed of "
                    f"{ws['sent']} (slowest {num(ws.get('max_ms'), 0)} ms), without browsers "
                    f"{ws_server.get('missed', '–')} missed of {ws_server.get('sent', '–')} "
                    f"(slowest {num(ws_server.get('max_ms'), 0)} ms); `GET /_stcore/health` "
                    f"during the browser sessions {http.get('missed', '–')} missed of "
                    f"{http.get('sent', '–')} (slowest {num(http.get('max_ms'), 0)} ms)."]
    m = r["memory"]
    out += ["", f"Server resident memory (server process and children): {m['start']['rss_mb']:.0f} MB "
                f"at start, {m['before']['rss_mb']:.0f} MB before the {n} sessions (bundle loaded, "
                f"three sessions served), {m['after']['rss_mb']:.0f} MB with them open: "
                f"{m['added_per_session_mb']:+.1f} MB per session; "
                f"{m['after_sessions_closed']['rss_mb']:.0f} MB after they closed, "
                f"{m['end']['rss_mb']:.0f} MB at the end.",
            "", f"Run: {provenance(r)}.", ""]
    return out


#: The settings ``bench/bench_plain.py`` is run on (``make bench``).
PLAIN = ("fashion", "demo-longtail", "demo")  # demo: the --quick smoke run


def plain_section(results: dict[str, dict | None]) -> list[str]:
    """prodemb used the plain way against a plain TF-IDF + linear SVM (``bench_plain.py``)."""
    out = ["### Used the plain way (`bench/bench_plain.py`)", "",
           "A random 20 % of the labelled products held out; `prodemb train` with the default "
           "config on the rest of the file, `prodemb predict` on the held-out products, their "
           "`category` column scored; against TF-IDF + `LinearSVC(C=1)` trained on the same "
           "products, nothing tuned for either. One training run each.", ""]
    rows = [(k, r) for k, r in results.items() if r and "systems" in r]
    if not rows:
        return out + ["_Not run yet._", ""]
    out += ["| catalogue | held out | prodemb leaf macro-F1 | SVM leaf macro-F1 | margin | "
            "prodemb stops above the true depth | SVM | run |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for k, r in rows:
        p, v = r["systems"]["prodemb"], r["systems"]["tfidf_linear_svm"]
        out.append(f"| {k} | {r['n_held_out']:,} | {f3(p['leaf_macro_f1'])} | "
                   f"{f3(v['leaf_macro_f1'])} | {r['margin_leaf_macro_f1']:+.3f} | "
                   f"{p['stops_above_true_depth']:.1%} | {v['stops_above_true_depth']:.1%} | "
                   f"{r['date'][:10]}, `{r['machine']['git_commit']}` |")
    return out + [""]


def how_section(quick: bool) -> list[str]:
    return [
        "## How the numbers are made", "",
        "- Everything: `make bench` (= `.venv/bin/python bench/run_all.py`); one part: "
        "`.venv/bin/python bench/run_all.py --only training|quality|speed|word2vec|app|sessions`; "
        "`--quick` for a minutes-long smoke run on small data (results `*_quick.json`, "
        "not used here). The report alone: `.venv/bin/python bench/report.py`.",
        "- Order in `run_all.py`: training (the demo bundle the speed and app benchmarks "
        "use) → speed → app → sessions (the shipped `artifacts/demo`) → Word2Vec 3M → "
        "quality. Generated data, bundles and the "
        "3M-text corpus go to `$PRODEMB_BENCH_CACHE` (default `/tmp/prodemb-bench`).",
        "- Quality: the same split for every system — the pipeline's own iterative "
        "stratification over the whole-tree label matrix with identical cleaned texts "
        "kept on one side, recomputed by `bench/common.py` and checked equal to the "
        "bundle's `split` column. prodemb is trained by `prodemb.pipeline.train_bundle` "
        "with the default config, maps off and the classifier's wall-clock budget lifted "
        "(so the result does not depend on the machine's load), once per training seed "
        "on the same split (5 seeds by default; each setting's section says how many this "
        "run used): the margin target is judged on the "
        "mean over seeds, because one run's test leaf macro-F1 moves by about 0.01 from "
        "seed to seed; the seed sd target on their sample standard deviation and the "
        "train target on the mean of prodemb's leaf macro-F1 on its own training products "
        "(same decoding). Settings: demo and demo-longtail generated by `prodemb "
        "demo-data`, fashion the real catalogue, fashion-small the same catalogue with "
        "20 % of each leaf's training products labelled (`bench/common.py`, `setting`). "
        "Peers marked as reused come from an earlier run on the same split "
        "(`--systems prodemb --reuse-peers` retrains only prodemb). Every peer reads the "
        "same cleaned text (`prodemb.text.clean`), predicts a probability for every tree "
        "node and is decoded exactly like prodemb: per-node thresholds and the "
        "extra-path cut-off tuned on validation, paths completed to a leaf. Each peer "
        "is tuned on validation by leaf macro-F1: both ways of predicting the tree "
        "(softmax over leaves with node probability = sum of its leaves, or one binary "
        "model per node), then C on a small grid (TF-IDF: word 1-2-grams + char_wb "
        "2-5-grams, min_df 2, sublinear tf; logistic regression C ∈ {3, 10, 30, 100}, "
        "SVM C ∈ {0.1, 0.3, 1, 3} with SVM scores turned into probabilities on "
        "validation); fastText by its own autotune on the validation file (softmax over "
        "leaves), the tuned settings also tried one-vs-all over every node; mean "
        "Word2Vec uses the bundle's own vectors. Macro averages run over the classes "
        "present in the test split. Training time of a peer is one fit of the chosen "
        "configuration; tuning time is the whole search; prediction throughput is over "
        "the test split from raw text, decoding included.",
        "- Speed: medians of repeated runs in one process on this 2-core machine, which "
        "is shared with other jobs: each run records the load average, and a load above "
        "the number of cores makes every timing pessimistic.",
        "",
    ]


def review_section(r: dict | None) -> list[str]:
    out = ["## Label review", ""]
    if not r:
        return out + ["Not run (`bench/bench_review.py`).", ""]
    m = r["mean"]
    out += [provenance(r), "",
            f"The demo catalogue with {100 * r['mislabel_share']:.0f} % of its "
            f"{r['labelled']:,} labelled products given a wrong category (`prodemb demo-data "
            "--mislabel-share`), read as `prodemb train` reads it; the training's label review "
            f"(out-of-fold TF-IDF + logistic regression, {r['folds']} folds, "
            "`prodemb.review.label_doubts`) ranks the labels by doubt. Precision at k: the share "
            "of the k most doubted labels that were planted errors; a random queue finds "
            f"{100 * m['random_precision']:.1f} %.", "",
            "| Catalogue seed | planted | precision@50 | @100 | @200 | planted errors in the top "
            "*planted* | seconds |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for run in r["runs"]:
        out.append(f"| {run['seed']} | {run['planted']:,} | {f3(run['precision_at_50'])} | "
                   f"{f3(run['precision_at_100'])} | {f3(run['precision_at_200'])} | "
                   f"{f3(run['recall_at_planted'])} | {run['seconds']} |")
    return out + [""]


def build(quick: bool) -> str:
    names = (*map(result_name, QUALITY), "speed", "training", "word2vec_3m", "app", "sessions",
             "maps", "word_vectors", "confidence", "decoding_rule", "review", "scale",
             *(f"plain_{k.replace('-', '_')}" for k in PLAIN))
    results = {n: load(n, quick) for n in names}
    # The machine of the speed run: the quality runs may be pinned to fewer cores (taskset).
    machine = next((results[n]["machine"] for n in ("speed", *names)
                    if results[n] and "machine" in results[n]), None)
    lines = ["# Benchmarks", "",
             "_Generated by `bench/report.py` from `bench/results/*.json`; do not edit by hand. "
             "Rerun with `make bench`._", ""]
    if quick:
        lines += ["**Quick smoke run on small data: these numbers are not the benchmark.**", ""]
    if machine:
        v = machine["versions"]
        lines += [f"Machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gb']} GB "
                  f"RAM, {machine['platform']}; Python {v['python']}, torch {v['torch']}, numpy "
                  f"{v['numpy']}, scikit-learn {v['scikit-learn']}, gensim {v['gensim']}, "
                  f"fasttext-wheel {v['fasttext-wheel']}, streamlit {v['streamlit']}.", ""]
    lines += targets_section(results)
    lines += ["## Quality against peers", ""]
    for setting, title in QUALITY.items():
        lines += quality_section(results[result_name(setting)], title, setting)
    lines += plain_section({k: results[f"plain_{k.replace('-', '_')}"] for k in PLAIN})
    lines += speed_section(results["speed"])
    lines += scale_section(results["scale"])
    lines += training_section(results["training"], results["word2vec_3m"])
    lines += maps_section(results["maps"], results["word_vectors"])
    lines += app_section(results["app"])
    lines += sessions_section(results["sessions"])
    lines += confidence_section(results["confidence"], results["decoding_rule"])
    lines += review_section(results["review"])
    lines += how_section(quick)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else (RESULTS / "quick_report.md" if args.quick
                                           else ROOT / "BENCHMARKS.md")
    out.write_text(build(args.quick), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
