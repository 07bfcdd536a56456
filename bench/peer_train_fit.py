"""How well the tuned TF-IDF + linear SVM fits its own training products, beside its test score.

Issue 10's target "train leaf macro-F1 >= 0.95" asks whether a model fits what it is taught.
This fits the linear SVM peer exactly as ``bench/bench_quality.py`` chose it for a setting
(mode and C from ``bench/results/quality_<setting>.json``) on the pipeline's train split,
turns its scores into probabilities on validation, decodes with the same tree decoder
(fitted on validation) and scores the train and test products: a linear model's train leaf
macro-F1 beside prodemb's. Writes ``bench/results/peer_train_fit.json``.

    .venv/bin/python bench/peer_train_fit.py --setting demo --setting demo-longtail
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import peers as B  # noqa: E402

from prodemb.metrics import macro_f1  # noqa: E402


def fit(setting: str) -> dict:
    result = json.loads((common.RESULTS / f"quality_{setting.replace('-', '_')}.json").read_text())
    chosen = result["systems"]["tfidf_svm"]["chosen"]
    path, reader = common.setting(setting)
    data = common.pipeline_split(path, reader)
    tax = data.taxonomy
    (tr, y_tr), (va, y_va), (te, y_te) = (data.part(i) for i in range(3))
    feats = B.TfidfFeatures()
    x_tr = feats.fit_transform(B.clean_texts(tr))
    x_va = feats.transform(B.clean_texts(va))
    peer = B.TfidfLinearSVM(tax, mode=chosen["mode"], C=chosen["C"], features=feats, n_jobs=2)
    peer.fit_features(x_tr, y_tr, x_va, y_va)
    decoder = B.TreeDecoder(tax, data.complete).fit(peer.predict_proba_features(x_va), y_va)
    out = {"chosen": chosen}
    for name, x, y in (("train", x_tr, y_tr), ("test", feats.transform(B.clean_texts(te)), y_te)):
        out[f"{name}_leaf_macro_f1"] = round(
            macro_f1(y, decoder.predict(peer.predict_proba_features(x)), tax.is_leaf), 5)
    prodemb = result["systems"]["prodemb"]
    seeds = prodemb.get("seeds") or {}
    out["prodemb_train_leaf_macro_f1"] = ((seeds.get("train_leaf_macro_f1") or {}).get("mean")
                                          or (prodemb.get("train") or {}).get("leaf_macro_f1"))
    out["prodemb_test_leaf_macro_f1"] = ((seeds.get("test_leaf_macro_f1") or {}).get("mean")
                                         or prodemb["test"]["leaf_macro_f1"])
    out["quality_result_commit"] = result["machine"].get("git_commit")
    common.log(f"{setting}: {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", action="append", required=True, choices=list(common.SETTINGS))
    args = ap.parse_args(argv)
    common.write_result("peer_train_fit", {"settings": {s: fit(s) for s in args.setting}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
