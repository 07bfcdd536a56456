"""Map fitting time (t-SNE and UMAP) for 20,000 and 60,000 products: ``bench/results/maps.json``.

Takes the product embeddings of a trained bundle (default: the demo bundle that
``bench/bench_training.py`` writes, else ``artifacts/demo``), draws 20,000 and 60,000 of
them (with replacement plus a little noise when the bundle holds fewer, so the sizes are
the ones the target names) and times the training pipeline's map stage on each size: both
methods fitted on at most ``MapConfig.fit_points`` products and the rest placed by kNN
interpolation, exactly as ``prodemb train`` does. The first fit of each method runs once
on 2,000 products beforehand, so numba's and openTSNE's one-off compilation is not counted
against the 20,000 (it is reported apart).

Target (issue 11): both maps for 20,000 products in at most 120 s on this machine.

Usage: ``.venv/bin/python bench/bench_maps.py [--bundle DIR] [--sizes 20000,60000] [--quick]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, ROOT, log  # noqa: E402

from prodemb.config import MapConfig  # noqa: E402
from prodemb.pipeline import _map_all  # noqa: E402

TARGET_SECONDS_20K = 120


def embeddings_of(bundle_dir: Path) -> np.ndarray:
    """The bundle's product embeddings ``(n, E)`` float32 (stored as float16 ``.npy``)."""
    return np.load(bundle_dir / "product_embeddings.npy", allow_pickle=False).astype(np.float32)


def sample(emb: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of ``emb``: a sample without replacement when there are enough, else
    every row plus resampled rows with small noise (distinct points, same clusters)."""
    rng = np.random.default_rng(seed)
    if n <= len(emb):
        return emb[np.sort(rng.choice(len(emb), n, replace=False))]
    extra = emb[rng.integers(0, len(emb), n - len(emb))]
    extra = extra + rng.normal(scale=0.02, size=extra.shape).astype(np.float32)
    out = np.concatenate([emb, extra])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", help="bundle directory (default: the benchmark's demo bundle, "
                    "else artifacts/demo)")
    ap.add_argument("--sizes", default="20000,60000", help="comma-separated product counts")
    ap.add_argument("--quick", action="store_true", help="2,000 and 4,000 products")
    ap.add_argument("--append", action="store_true",
                    help="keep the runs of other sizes already in maps.json (each run keeps "
                         "its own date, commit and load)")
    args = ap.parse_args(argv)
    sizes = [2000, 4000] if args.quick else [int(s) for s in args.sizes.split(",")]
    if args.bundle:
        bundle_dir = Path(args.bundle)
    else:
        bundle_dir = next((d for d in (CACHE / "bundles" / "demo", ROOT / "artifacts" / "demo")
                           if (d / "product_embeddings.npy").exists()), None)
        if bundle_dir is None:
            log("no bundle with product embeddings: run bench/bench_training.py or "
                "make demo-artifacts first")
            return 2
    emb = embeddings_of(bundle_dir)
    config = MapConfig()
    log(f"{len(emb):,} embeddings of {bundle_dir}; methods {config.methods}, "
        f"fit on at most {config.fit_points:,} products")

    warmup = {}
    for method in config.methods:
        t = time.perf_counter()
        _map_all(sample(emb, 2000, seed=1), method, config.fit_points, config.n_neighbors_place, 0)
        warmup[method] = round(time.perf_counter() - t, 1)
    log(f"warm-up on 2,000 products (compilation included): {warmup}")

    runs = []
    for n in sizes:
        x = sample(emb, n)
        row = {"products": n, "fitted": min(n, config.fit_points), "seconds": {},
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "git_commit": common.git_commit(), "load_average_before": common.load_average()["end"]}
        for method in config.methods:
            t = time.perf_counter()
            coords = _map_all(x, method, config.fit_points, config.n_neighbors_place, 0)
            row["seconds"][method] = round(time.perf_counter() - t, 1)
            assert coords.shape == (n, 2) and np.isfinite(coords).all()
        row["total_seconds"] = round(sum(row["seconds"].values()), 1)
        log(f"{n:,} products: {row['seconds']} (total {row['total_seconds']} s)")
        runs.append(row)

    name = "maps_quick" if args.quick else "maps"
    previous = common.RESULTS / f"{name}.json"
    if args.append and previous.exists():
        import json

        old = json.loads(previous.read_text())
        kept = [r for r in old.get("runs", []) if r["products"] not in sizes]
        for r in kept:  # runs written before runs carried their own provenance
            r.setdefault("date", old.get("date"))
            r.setdefault("git_commit", old.get("machine", {}).get("git_commit"))
            r.setdefault("load_average_before", (old.get("load_average") or {}).get("start"))
        runs = sorted(kept + runs, key=lambda r: r["products"])
    targets = {}
    at_20k = next((r for r in runs if r["products"] == 20_000), None)
    if at_20k:
        targets["maps_20k_seconds"] = {"value": at_20k["total_seconds"],
                                       "target": TARGET_SECONDS_20K, "op": "<=",
                                       "met": at_20k["total_seconds"] <= TARGET_SECONDS_20K}
    common.write_result(name, {
        "quick": args.quick, "bundle": str(bundle_dir), "embedding_dim": int(emb.shape[1]),
        "bundle_products": len(emb), "config": vars(config), "warmup_seconds": warmup,
        "runs": runs, "targets": targets,
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
