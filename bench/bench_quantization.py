"""int8 dynamic quantization of the network: speed and quality against float32.

Issue 15 asks for int8 dynamic quantization of the LSTM and linear layers
(``torch.ao.quantization.quantize_dynamic``) as a bundle option, used only if the leaf
macro-F1 stays within 0.003 of float. This measures both on a bundle (default
``artifacts/demo``), one torch thread: products per second of ``predict_proba`` on 8,192
labelled texts (median of 3 runs, tokenisation excluded: what quantization can change), and
the test leaf macro-F1 with the bundle's own decoder, for float32, int8 LSTM + linear and
int8 LSTM only. Writes ``bench/results/quantization.json``.

    .venv/bin/python bench/bench_quantization.py [--bundle DIR]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from decoding_rule import labelled_truth  # noqa: E402

from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402

TARGET_F1_LOSS = 0.003


def main(argv: list[str] | None = None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", default=str(common.ROOT / "artifacts" / "demo"))
    args = ap.parse_args(argv)
    bundle = Bundle.load(args.bundle)
    torch.set_num_threads(1)
    tax, p = bundle.taxonomy, bundle.products
    labelled = p[p["split"] != "unlabelled"]
    rng = np.random.default_rng(0)
    speed_tokens = bundle.tokenize(labelled["text"].to_numpy()[rng.integers(0, len(labelled), 8192)].tolist())
    labelled_rows, y_all, split = labelled_truth(bundle)
    test, y = labelled_rows[split == "test"], y_all[split == "test"]
    test_tokens = bundle.tokenize(test["text"].tolist())
    clf = bundle.classifier
    float_model = clf.model
    variants = {"float32": None, "int8_lstm_linear": {torch.nn.LSTM, torch.nn.Linear},
                "int8_lstm": {torch.nn.LSTM}}
    out = {}
    reference = None
    for name, layers in variants.items():
        if layers is None:
            clf.model = float_model
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated
                clf.model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(float_model), layers,
                                                                   dtype=torch.qint8)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            probs = clf.predict_proba(speed_tokens, batch_size=2048)
            runs.append(len(speed_tokens) / (time.perf_counter() - start))
        reference = probs if reference is None else reference
        test_probs = clf.predict_proba(test_tokens)
        f1 = macro_f1(y, bundle.decoder.predict(test_probs), tax.is_leaf)
        out[name] = {"products_per_second": round(float(np.median(runs)), 1),
                     "test_leaf_macro_f1": round(float(f1), 5),
                     "max_abs_prob_diff": round(float(np.abs(probs - reference).max()), 5)}
        common.log(f"{name}: {out[name]}")
    clf.model = float_model
    base = out["float32"]
    for r in out.values():
        r["speedup"] = round(r["products_per_second"] / base["products_per_second"], 3)
        r["f1_loss"] = round(base["test_leaf_macro_f1"] - r["test_leaf_macro_f1"], 5)
        r["within_target"] = r["f1_loss"] <= TARGET_F1_LOSS
    common.write_result("quantization", {"bundle": args.bundle, "texts": len(speed_tokens),
                                         "test_products": len(test), "torch_threads": 1,
                                         "target_f1_loss": TARGET_F1_LOSS, "variants": out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
