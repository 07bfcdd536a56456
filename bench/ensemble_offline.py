"""Would averaging a few independently trained networks classify better: offline, from
bundles already trained. ``bench/results/ensemble_offline[TAG].json``.

For each setting, the bundles that ``bench/bench_quality.py --seeds N`` left in the cache
(``$PRODEMB_BENCH_CACHE/bundles/quality-<setting>-*``: one fixed split, one training seed
each) give their node probabilities for every labelled product (each bundle with its own
mixing weights, as it classifies). An ensemble of k bundles is the mean of their
probabilities, decoded by the tree decoder fitted on the validation products exactly as
training fits it (``prodemb.decoding.TreeDecoder``); it is scored by test and train leaf
macro-F1. The result holds, per setting, every single bundle and the mean over every
combination of 2 and of 3 bundles. No training: the bundles must exist (run
``bench_quality.py --catalogue S --systems prodemb --reuse-peers --seeds 5`` first).

    .venv/bin/python bench/ensemble_offline.py [--setting fashion ...] [--filter TEXT] [--tag T]

``--filter TEXT`` keeps the bundles whose ``config.json`` contains TEXT (e.g.
``'"lstm_hidden": 64'``), so bundles of different configs in the cache are not mixed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402
from decoding_rule import labelled_truth  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402


def setting_bundles(setting: str, text: str | None) -> list[Path]:
    """The cached bench_quality bundles of ``setting`` (not of a setting whose name starts
    with it), optionally only those whose config.json contains ``text``."""
    others = [s for s in common.SETTINGS if s != setting and s.startswith(setting)]
    out = []
    for path in sorted((CACHE / "bundles").glob(f"quality-{setting}-*")):
        if any(path.name.startswith(f"quality-{o}-") for o in others):
            continue
        if not (path / "manifest.json").exists():
            continue
        if text and text not in (path / "config.json").read_text():
            continue
        out.append(path)
    return out


def score_setting(paths: list[Path], max_k: int = 3) -> dict:
    probs, truth = [], None
    for path in paths:
        bundle = Bundle.load(str(path))
        labelled, y, split = labelled_truth(bundle)
        if truth is not None and not (len(split) == len(truth[1]) and (split == truth[1]).all()):
            raise SystemExit(f"{path}: another split than {paths[0]}")
        truth = (y, split)
        probs.append(bundle.predict_proba(labelled["text"].tolist()).astype(np.float32))
        log(f"  {path.name}: {len(labelled):,} labelled products")
    y, split = truth
    tax, complete = bundle.taxonomy, bundle.complete_paths
    va, te, tr = split == "validation", split == "test", split == "train"

    def score(p: np.ndarray) -> dict:
        dec = D.TreeDecoder(tax, complete).fit(p[va], y[va], y_known=y[~te])
        return {name: round(macro_f1(y[m], dec.predict(p[m]), tax.is_leaf), 5)
                for name, m in (("test", te), ("train", tr))}

    out = {"bundles": [p.name for p in paths], "single": [score(p) for p in probs]}
    for k in range(2, min(max_k, len(probs)) + 1):
        runs = [score(np.mean([probs[i] for i in c], axis=0))
                for c in itertools.combinations(range(len(probs)), k)]
        out[f"mean_of_{k}"] = {
            "combinations": len(runs),
            **{f"{s}_leaf_macro_f1": {"mean": round(float(np.mean([r[s] for r in runs])), 5),
                                      "sd": round(float(np.std([r[s] for r in runs])), 5)}
               for s in ("test", "train")}}
    out["single_mean"] = {f"{s}_leaf_macro_f1": round(float(np.mean([r[s] for r in out["single"]])), 5)
                          for s in ("test", "train")}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", action="append", choices=common.SETTINGS,
                    help="a quality setting (repeat; default: all)")
    ap.add_argument("--filter", help="keep bundles whose config.json contains this text")
    ap.add_argument("--tag", default="", help="suffix of the result file name")
    args = ap.parse_args(argv)
    result = {"filter": args.filter, "settings": {}}
    for setting in args.setting or common.SETTINGS:
        paths = setting_bundles(setting, args.filter)
        if len(paths) < 2:
            log(f"{setting}: {len(paths)} bundle(s) in {CACHE / 'bundles'}; skipped")
            continue
        log(f"{setting}: {len(paths)} bundles")
        result["settings"][setting] = r = score_setting(paths)
        log(f"{setting}: single {r['single_mean']}, " + ", ".join(
            f"{k}: test {r[k]['test_leaf_macro_f1']['mean']}, train {r[k]['train_leaf_macro_f1']['mean']}"
            for k in r if k.startswith("mean_of_")))
    common.write_result(f"ensemble_offline{args.tag}", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
