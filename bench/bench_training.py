"""Training time of the demo bundle, stage by stage: ``bench/results/training.json``.

Trains the demo bundle exactly as ``make demo-artifacts`` does (``prodemb train --preset
demo --config configs/demo.json``; another config with ``--config``), on the default demo
catalogue (50,000 labelled + 250,000 unlabelled products), into
``$PRODEMB_BENCH_CACHE/bundles/demo`` (default ``/tmp/prodemb-bench``). The other
benchmarks (speed, app) use this bundle. Stage times come from the bundle manifest's
``stage_seconds``. Target: the whole training in at most 10 minutes.

The classifier stage stops at ``max_train_minutes`` (a guard in the config): the
result says whether that budget, and not early stopping, ended training.

Usage: ``.venv/bin/python bench/bench_training.py [--quick] [--config FILE] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402

from prodemb.config import TrainConfig  # noqa: E402

TARGET_SECONDS = 600


def default_bundle_dir(quick: bool = False) -> Path:
    return CACHE / "bundles" / ("demo-quick" if quick else "demo")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small catalogue, tiny config")
    ap.add_argument("--config", help="training config (JSON overrides of the default; "
                    "default: configs/demo.json, as make demo-artifacts)")
    ap.add_argument("--out", help="bundle directory (default: the benchmark cache)")
    ap.add_argument("--tag", default="", help="suffix of the result file name, for another "
                    "config (e.g. --tag _x writes training_x.json, which the report ignores)")
    args = ap.parse_args(argv)

    from prodemb.pipeline import train_bundle

    if args.quick:
        data = common.demo_catalogue(3000, 3000, seed=1)
        config = TrainConfig.from_json_file(str(common.ROOT / "configs" / "tiny.json"))
    else:
        data = common.demo_catalogue()
        config_file = args.config or str(common.ROOT / "configs" / "demo.json")
        config = TrainConfig.from_json_file(config_file)
    out = Path(args.out) if args.out else default_bundle_dir(args.quick)
    log(f"training the demo bundle from {data.name} into {out}")
    start = time.perf_counter()
    manifest = train_bundle(str(data), str(out), common.PRESETS["demo"], config,
                            show_progress=False, overwrite=True)
    total = time.perf_counter() - start
    with open(out / "metrics.json", encoding="utf-8") as f:
        metrics = json.load(f)
    history = metrics.get("history", [])
    c = config.classifier
    budget_hit = (len(history) < c.epochs
                  and sum(h["seconds"] for h in history) >= 0.9 * c.max_train_minutes * 60)
    stages = manifest["stage_seconds"]
    result = {
        "quick": args.quick,
        "data": {"file": data.name, **{k: manifest["data"][k] for k in
                                       ("n_products", "n_labelled", "n_unlabelled")}},
        "bundle": str(out),
        "config_file": None if args.quick else os.path.relpath(config_file, common.ROOT),
        "config": config.to_dict(),
        "stage_seconds": stages,
        "total_seconds": round(total, 1),
        "epochs": [{k: h[k] for k in ("epoch", "seconds", "val_macro_f1")} for h in history],
        "epochs_planned": c.epochs,
        "stopped_by_time_budget": budget_hit,
        "max_train_minutes": c.max_train_minutes,
        "test_leaf_macro_f1": manifest["metrics"].get("test", {}).get("leaf_macro_f1"),
        "targets": {"demo_bundle_training_seconds": {
            "value": round(total, 1), "target": TARGET_SECONDS, "op": "<=",
            "met": total <= TARGET_SECONDS}},
    }
    for name, secs in stages.items():
        log(f"  {name:12s} {secs:8.1f} s")
    log(f"total {total:.1f} s (target <= {TARGET_SECONDS} s); epochs {len(history)}/{c.epochs}"
        + (" (stopped by the time budget)" if budget_hit else ""))
    common.write_result(("training_quick" if args.quick else "training") + args.tag, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
