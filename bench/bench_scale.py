"""Catalogue scale (issue 15): ``bench/results/scale.json``.

1. **Batch scoring engines** on one generated catalogue (``--products``, default 400,000
   products of ``prodemb demo-data``, written once as one Parquet file and as 4 Parquet
   shards): ``prodemb predict`` on the local engine (``--threads 1``, its default; with
   ``--local-all-cores`` also ``--threads 0``), then ``--engine ray`` with 1 and 2 workers
   (a local Ray runtime on this machine's cores, started once and timed on its own), and
   ``prodemb embed --engine ray`` with 2 workers. Each is run twice, on the first shard (a
   quarter of the products) and on all of them, each run timed from the command's start
   to its output written (bundle loading, and for Ray the actors' start and bundle loads,
   included; the Ray runtime's start is not), in this process, one after the other. The
   **steady rate** is the marginal one between the two runs, (n - n/4) / (t - t_small):
   what the engine sustains once started, which is what a catalogue of millions sees;
   the rest of a run's time is its fixed cost (reported). The targets are judged on
   steady rates: at 100,000 products Ray's start (worker processes, a bundle load per
   actor) was a third of a run. Scaling efficiency = (2-worker rate / 1-worker rate) / 2.
   The Ray output is checked equal, row for row, to the local engine's.
2. **ANN index** (``prodemb.index``) at ``--sizes`` vectors (default 100,000 and
   1,000,000): the shipped demo bundle's 60,000 real product embeddings replicated with
   Gaussian noise (``NOISE`` = 0.3 expected norm per copy, then normalised) to the size;
   queries are 200 fresh noisy copies (not in the index). For the index kind chosen by
   size (and IVF-SQ8 and IVF-PQ beside HNSW at 1M, IVF-SQ8 beside IVF-RaBitQ from 4M): build
   seconds (all cores), index size (FAISS's serialised bytes) and resident memory growth,
   single-query latency p50/p95 on one thread (the app's setting; the median of 3 passes over
   the queries), recall@10 against exact
   search (``CosineIndex``), and recall / p50 over a sweep of the search parameter
   (``efSearch`` or ``nprobe``). Exact search latency at the same size beside it.

3. **The demo bundle's nearest-product search** (``--skip-demo-search`` leaves it out):
   which products the shipped ``artifacts/demo`` searches (``Bundle.coverage``) and, when
   it holds an ANN index, how well: the catalogue it was trained on is generated again
   (``prodemb demo-data``'s defaults) and embedded with the bundle (``prodemb embed``'s
   code); for ``DEMO_QUERIES`` random products, the index's 10 neighbours against the exact
   10 over all those embeddings: recall@10 by id, and the share of the found neighbours
   whose exact cosine is within 0.001 of the true 10th (the demo holds many near-copies,
   whose order among themselves is a coin toss); single-query latency of the index alone
   and of ``Bundle.similar_products`` by id end to end (texts read, paths of products
   outside products.parquet predicted), one thread; the memory a fresh process gains by
   loading the index and searching it.

Targets (issue 15; judged by :func:`judge`, reported by ``bench/report.py``): Ray with 2
workers >= 1.7x its 1-worker steady rate and >= 90 % of the local engine's steady rate on
the same cores (the faster of its two runs); the ANN index recall@10 >= 0.95 and query p50 <= 2 ms at the largest size measured
(the issue asks for 10M: ``--sizes 100000,1000000,10000000``, ~20 GB of RAM and most of
an hour on this machine), index memory <= 2 GB at 10M; the demo bundle's nearest-product
search covers every product of its catalogue.

Usage: ``.venv/bin/python bench/bench_scale.py [--products N] [--sizes 100000,1000000]
[--skip-ray] [--skip-index] [--skip-demo-search] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, ROOT, log, percentiles  # noqa: E402

DEMO = ROOT / "artifacts" / "demo"
#: Expected norm of the noise added to each copy of a real embedding (unit vectors).
NOISE = 0.3
N_QUERIES = 200
K = 10
#: Passes over the queries when timing them (the median pass is reported).
QUERY_ROUNDS = 3
#: Search-parameter sweeps of the approximate indexes (``faiss.ParameterSpace`` strings).
SWEEP = {"hnsw": ("efSearch=32", "efSearch=64", "efSearch=128", "efSearch=256"),
         "ivfrabitq": ("nprobe=32", "nprobe=64", "nprobe=80", "nprobe=96", "nprobe=128"),
         "ivfsq": ("nprobe=16", "nprobe=32", "nprobe=64", "nprobe=128"),
         "ivfpq": ("nprobe=16,k_factor_rf=64", "nprobe=32,k_factor_rf=64",
                   "nprobe=32,k_factor_rf=128", "nprobe=64,k_factor_rf=128",
                   "nprobe=64,k_factor_rf=256")}
#: key -> (target, op)
TARGETS = {
    "ray_speedup_2_workers": (1.7, ">="),
    "ray_share_of_local": (0.90, ">="),
    "ann_recall_at_10": (0.95, ">="),
    "ann_query_p50_ms": (2.0, "<="),
    "ann_index_mb_10m": (2000.0, "<="),
    "demo_search_coverage": (1.0, ">="),
}
#: Products whose neighbours the demo-search part checks against exact search.
DEMO_QUERIES = 1000


def judge(r: dict) -> dict:
    """``{key: {value, target, op, met, note}}`` from a scale result (missing parts left out).
    The ANN targets are judged at the largest size measured, on its auto-chosen index."""
    out = {}
    eng = r.get("engines") or {}

    def add(key, value, note=""):
        if value is None:
            return
        target, op = TARGETS[key]
        out[key] = {"value": value, "target": target, "op": op, "note": note,
                    "met": value <= target if op == "<=" else value >= target}

    def rate(key):  # the steady rate (results before it: the whole run's)
        m = eng[key]
        return (m.get("steady") or m)["products_per_second"]
    steady_note = "steady rates" if (eng.get("ray_2") or {}).get("steady") else "whole runs"
    if eng.get("ray_2") and eng.get("ray_1"):
        add("ray_speedup_2_workers", round(rate("ray_2") / rate("ray_1"), 3), steady_note)
    local = [rate(k) for k in ("local", "local_1_thread") if eng.get(k)]
    if eng.get("ray_2") and local:  # against the faster of the local runs (all cores, one)
        add("ray_share_of_local", round(rate("ray_2") / max(local), 3), steady_note)
    sizes = r.get("index") or []
    if sizes:
        top = max(sizes, key=lambda s: s["n"])
        auto = next((i for i in top["indexes"] if i["auto"]), None)
        if auto:
            note = f"{top['n']:,} vectors, {auto['kind']}"
            add("ann_recall_at_10", auto["recall_at_10"], note)
            add("ann_query_p50_ms", auto["query"]["p50_ms"], note)
            if top["n"] >= 10_000_000:
                add("ann_index_mb_10m", auto["index_mb"], note)
    demo = r.get("demo_search")
    if demo and demo.get("catalogue"):
        searched = demo.get("indexed") or demo["in_bundle"]
        add("demo_search_coverage", round(searched / demo["catalogue"], 4),
            f"{searched:,} of {demo['catalogue']:,} products")
    return out


# ---------------------------------------------------------------------- engines
def catalogue(n: int) -> tuple[Path, Path]:
    """``n`` generated products as one Parquet file and as a directory of 4 shards."""
    import pyarrow.parquet as pq

    from prodemb.demo import write_demo

    base = CACHE / f"scale_{n}"
    whole, shards = base / "all.parquet", base / "shards"
    if not whole.exists():
        base.mkdir(parents=True, exist_ok=True)
        write_demo(whole, n_labelled=n // 6, n_unlabelled=n - n // 6, seed=11, progress=False)
    if not shards.exists():
        tmp = base / "shards.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        table = pq.read_table(whole)
        step = -(-table.num_rows // 4)
        for i in range(4):
            pq.write_table(table.slice(i * step, step), tmp / f"part-{i}.parquet")
        os.replace(tmp, shards)
    return whole, shards


def steady(small: dict, whole: dict) -> dict:
    """The marginal rate between a run on part of the catalogue and one on all of it:
    ``(n - n_small) / (t - t_small)`` products/s, what the engine sustains once started, and
    the fixed seconds of a run (start, bundle loads, last write) that it leaves: the rate
    a 100M-product job sees, where 100,000 products are dominated by the start."""
    rate = (whole["products"] - small["products"]) / max(1e-9, whole["seconds"] - small["seconds"])
    return {"products_per_second": round(rate, 1),
            "fixed_seconds": round(whole["seconds"] - whole["products"] / rate, 2)}


def run_engines(n: int, work: Path, all_cores: bool = False) -> dict:
    """Each engine on the first of the 4 shards (a quarter of the products) and on all
    ``n``: whole-run rates and the steady rate between the two (:func:`steady`)."""
    import pandas as pd
    import pyarrow.parquet as pq

    from prodemb.bundle import set_inference_threads
    from prodemb.cli import main as cli

    whole, shards = catalogue(n)
    first = sorted(shards.glob("*.parquet"))[0]
    n_first = pq.ParquetFile(first).metadata.num_rows
    out: dict = {"products": n, "products_small": n_first, "bundle": str(DEMO),
                 "input": "Parquet: one file (local), 4 shards (ray); the small run: the "
                          "first shard"}

    def timed(key: str, size: int, fn) -> dict:
        start = time.perf_counter()
        extra = fn() or {}
        sec = time.perf_counter() - start
        m = {"products": size, "seconds": round(sec, 2),
             "products_per_second": round(size / sec, 1)} | extra
        log(f"  {key}, {size:,} products: {sec:.1f} s, {size / sec:,.0f} products/s")
        return m

    def both(key: str, fn, **info) -> None:
        small = timed(key, n_first, lambda: fn(first, f"{key}_small"))
        big = timed(key, n, lambda: fn(None, key))
        out[key] = info | big | {"small": small, "steady": steady(small, big)}
        log(f"  {key}: steady {out[key]['steady']['products_per_second']:,.0f} products/s, "
            f"{out[key]['steady']['fixed_seconds']:.1f} s fixed")

    def local(threads: int):
        def go(src, name):
            rc = cli(["predict", "--bundle", str(DEMO), "--in", str(src or whole),
                      "--out", str(work / f"{name}.parquet"), "--threads", str(threads), "-q"])
            assert rc == 0, f"local predict failed ({rc})"
            set_inference_threads(None)
        return go

    log(f"local engine on {n_first:,} and {n:,} products")
    both("local_1_thread", local(1), threads=1)  # prodemb predict's default
    if all_cores:
        # Two OpenMP threads beside other busy processes run many times slower (issue 15,
        # part 3): on a shared machine this run can take ten times as long as the other.
        both("local", local(0), threads=common.machine_info()["cores"])

    import ray

    from prodemb.ray_engine import run
    from prodemb.utils import available_cores

    start = time.perf_counter()
    ray.init(num_cpus=available_cores(), include_dashboard=False, log_to_driver=False,
             object_store_memory=1024 ** 3)
    out["ray_init_seconds"] = round(time.perf_counter() - start, 2)
    out["ray_version"] = ray.__version__

    def ray_job(task: str, workers: int):
        def go(src, name):
            target = work / name
            shutil.rmtree(target, ignore_errors=True)
            summary = run(task, str(DEMO), str(src or shards), str(target), workers=workers)
            return {"shards": summary["files"]}
        return go

    try:
        for workers in (1, 2):
            both(f"ray_{workers}", ray_job("predict", workers), workers=workers)
        # `prodemb embed --engine ray` (the input of an index of the whole catalogue).
        both("ray_embed_2", ray_job("embed", 2), workers=2)
    finally:
        ray.shutdown()
    got = pd.concat([pd.read_parquet(f) for f in sorted((work / "ray_2").glob("*.parquet"))],
                    ignore_index=True)
    want = pd.read_parquet(work / "local_1_thread.parquet")
    in_order = len(got) == len(want) and got["id"].equals(want["id"])
    # Row for row by product id (the demo's ids are unique): the Ray engine promises the
    # values, not the row order across its shards; whether the order happened to be kept
    # is reported beside it.
    got = got.sort_values("id", kind="stable").reset_index(drop=True)
    want = want.sort_values("id", kind="stable").reset_index(drop=True)
    same = len(got) == len(want) and got.equals(want)
    diff = int((got != want).any(axis=1).sum()) if len(got) == len(want) else None
    out["ray_equals_local"] = {"identical": bool(same), "rows_differing": diff,
                               "same_row_order": bool(in_order)}
    log(f"  ray output equals the local engine's: {same} (rows in the input's order: {in_order})")
    # The speed-up and the share of the local engine are judged from these rates (judge).
    return out


# ---------------------------------------------------------------------- index
def rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def synthetic(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors: rows of ``base`` in turn plus noise of expected norm NOISE."""
    from prodemb.neighbours import l2_normalize

    rng = np.random.default_rng(seed)
    sigma = NOISE / np.sqrt(base.shape[1])
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for s in range(0, n, 500_000):
        e = min(n, s + 500_000)
        rows = np.arange(s, e) % len(base)
        out[s:e] = l2_normalize(base[rows] + rng.normal(0, sigma, (e - s, base.shape[1]))
                                .astype(np.float32))
    return out


def timed_queries(fn, queries: np.ndarray, rounds: int = QUERY_ROUNDS) -> dict:
    """One query at a time, ``rounds`` passes over ``queries``: the percentiles of the pass
    with the median p50, and every pass's p50 (``round_p50_ms``). One pass on this shared
    host put 80 lists of the same index at 2.25 ms and 96 lists at 1.58 ms minutes apart: a
    burst of the host's noise moves a single pass, the median of three less so."""
    for q in queries[:10]:  # warm-up
        fn(q[None, :])
    passes = []
    for _ in range(rounds):
        secs = []
        for q in queries:
            t = time.perf_counter()
            fn(q[None, :])
            secs.append(time.perf_counter() - t)
        passes.append(percentiles(secs))
    out = sorted(passes, key=lambda p: p["p50_ms"])[len(passes) // 2]
    return {**out, "round_p50_ms": [p["p50_ms"] for p in passes]}


def run_index(sizes: list[int], save=None) -> list[dict]:
    import faiss
    from threadpoolctl import threadpool_limits

    from prodemb.index import AnnIndex, choose_spec, recall_at_k
    from prodemb.neighbours import CosineIndex, l2_normalize

    base = l2_normalize(np.load(DEMO / "product_embeddings.npy", allow_pickle=False)
                        .astype(np.float32))
    cores = common.machine_info()["cores"]
    results = []
    for n in sizes:
        log(f"index: {n:,} vectors ({len(base):,} real embeddings + noise {NOISE})")
        x = synthetic(base, n, seed=1)
        queries = synthetic(base[np.random.default_rng(2).choice(len(base), N_QUERIES)],
                            N_QUERIES, seed=3)
        exact = CosineIndex(x, normalized=True)
        with threadpool_limits(1, user_api="blas"):
            truth, _ = exact.search(queries, K, block=16)  # (16, n) similarities at a time
            exact_query = timed_queries(lambda q, e=exact: e.search(q, K), queries[:100])
        log(f"  exact search p50 {exact_query['p50_ms']:.2f} ms (one thread)")
        # Its float32 and float16 copies (8 GB at 10M) are not needed any more: held while
        # the indexes were built and timed, they left those runs short of memory.
        del exact
        gc.collect()
        entry = {"n": n, "dim": int(x.shape[1]), "vectors_mb": round(x.nbytes / 1e6, 1),
                 "exact_query": exact_query, "indexes": []}
        auto = choose_spec(n, x.shape[1]).kind
        # Beside the size rule's choice, the kinds it was chosen over.
        kinds = [auto] + {"hnsw": ["ivfsq", "ivfpq"], "ivfrabitq": ["ivfsq"]}.get(auto, [])
        ids = np.arange(n).astype(str)
        for kind in kinds:
            gc.collect()
            before = rss_mb()
            faiss.omp_set_num_threads(cores)
            ann = AnnIndex.build(x, ids, kind=kind)
            grown = rss_mb() - before
            size = ann.memory_bytes()
            faiss.omp_set_num_threads(1)  # one query at a time, one thread: the app
            blas = threadpool_limits(1, user_api="blas")  # (the flat kind's scan is BLAS)
            found, _ = ann.search(queries, K)
            rec = recall_at_k(found, truth)
            query = timed_queries(lambda q, a=ann: a.search(q, K), queries)
            item = {"kind": kind, "auto": kind == auto, "factory": ann.spec.factory,
                    "search": ann.spec.search, "build": ann.spec.build,
                    "build_seconds": ann.build_seconds, "build_threads": cores,
                    "index_mb": round(size / 1e6, 1), "rss_growth_mb": round(grown, 1),
                    "recall_at_10": round(rec, 4), "query": query}
            if kind in SWEEP:
                sweep = []
                for params in SWEEP[kind]:
                    faiss.ParameterSpace().set_index_parameters(ann.index, params)
                    f2, _ = ann.search(queries, K)
                    q2 = timed_queries(lambda q, a=ann: a.search(q, K), queries[:100])
                    sweep.append({"params": params, "p50_ms": q2["p50_ms"],
                                  "recall_at_10": round(recall_at_k(f2, truth), 4)})
                item["sweep"] = sweep
            blas.unregister()
            entry["indexes"].append(item)
            log(f"  {kind} ({ann.spec.factory}): build {ann.build_seconds:.1f} s, "
                f"{size / 1e6:,.0f} MB, recall@10 {rec:.3f}, p50 {query['p50_ms']:.3f} ms")
            del ann
        results.append(entry)
        if save is not None:  # a size done is kept even if a larger one fails
            save(results)
        del x
        gc.collect()
    return results


def index_memory_growth_mb(bundle_dir: Path) -> float:
    """How much a fresh process's resident memory grows (MB) from the loaded bundle to the
    bundle with its ANN index loaded and searched 20 times by id: what a server pays for
    the index. A child process, since this one's memory holds the benchmark's own arrays."""
    code = (
        "import os, torch\n"
        "torch.set_num_threads(1)\n"
        "from prodemb.bundle import Bundle\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) "
        "* os.sysconf('SC_PAGE_SIZE') / 1e6\n"
        f"b = Bundle.load({str(bundle_dir)!r}); before = rss()\n"
        "ids = b.products['id'].astype(str).tolist()\n"
        "[b.similar_products(ids[i * 997 % len(ids)], 10, by='id') for i in range(20)]\n"
        "print(round(rss() - before, 1), flush=True)\n"
        "os._exit(0)\n"  # no interpreter teardown: Arrow may abort in it (apache/arrow#34314)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    return float(out.stdout.split()[-1])


def run_demo_search(queries: int = DEMO_QUERIES) -> dict:
    """Part 3: what the demo bundle's nearest-product search covers, and how well its
    ANN index answers (module docstring)."""
    import torch

    from prodemb.bundle import Bundle
    from prodemb.demo import write_demo
    from prodemb.index import read_embeddings, recall_at_k
    from prodemb.neighbours import CosineIndex, l2_normalize
    from prodemb.scoring import embed_file

    torch.set_num_threads(1)
    bundle = Bundle.load(str(DEMO))
    out = {"bundle": str(DEMO.relative_to(ROOT)), **bundle.coverage()}
    ann = bundle.ann_index
    if ann is None:
        log(f"  demo search: no ANN index; exact over {out['in_bundle']:,} products")
        return out
    out.update(kind=ann.spec.kind, factory=ann.spec.factory, search=ann.spec.search,
               index_mb=round(ann.memory_bytes() / 1e6, 1),
               rss_growth_mb=index_memory_growth_mb(DEMO))
    data = CACHE / "demo_default.parquet"
    if not data.exists():
        data.parent.mkdir(parents=True, exist_ok=True)
        write_demo(data, progress=False)
    emb = CACHE / "demo_default_embeddings.parquet"
    if not emb.exists():
        start = time.perf_counter()
        # As `prodemb embed` reads it: the bundle's reader options, one row per input row.
        options = bundle.reader_options.replace(label_column=None, level_columns=[],
                                                split_column=None, duplicate_ids="keep")
        embed_file(bundle, str(data), str(emb), options)
        out["embed_seconds"] = round(time.perf_counter() - start, 1)
    ids, _, x = read_embeddings(str(emb))
    if len(ids) != len(ann) or not (ann.ids_at(np.arange(len(ids))) == ids.astype(object)).all():
        raise SystemExit("the demo catalogue generated again is not the one the bundle's index "
                         "holds (other ids or order): rebuild with `make demo-artifacts`")
    x = l2_normalize(x)
    rows = np.random.default_rng(0).choice(len(x), min(queries, len(x)), replace=False)
    truth, true_sims = CosineIndex(x, normalized=True).search(x[rows], K, exclude=rows)
    found, _ = ann.search(x[rows], K, exclude=rows)
    found_sims = np.einsum("qd,qkd->qk", x[rows], x[found])  # exact cosines of what was found
    out["queries"] = len(rows)
    out["recall_at_10"] = round(recall_at_k(found, truth), 4)
    out["within_0_001_of_true_10th"] = round(float(
        (found_sims >= true_sims[:, -1:] - 1e-3).mean()), 4)
    out["true_10th_minus_1st_mean"] = round(float((true_sims[:, 0] - true_sims[:, -1]).mean()), 4)
    secs = []
    for r in rows[:200]:
        t = time.perf_counter()
        ann.search(x[r: r + 1], K, exclude=np.array([r]))
        secs.append(time.perf_counter() - t)
    out["index_query"] = percentiles(secs)
    secs = []
    for pid in ids[rows[:200]]:
        t = time.perf_counter()
        bundle.similar_products(str(pid), K, by="id")
        secs.append(time.perf_counter() - t)
    out["similar_products_by_id"] = percentiles(secs)
    log(f"  demo search: {out['indexed']:,} of {out['catalogue']:,} products "
        f"({out['kind']}), recall@10 {out['recall_at_10']:.3f}, "
        f"{out['within_0_001_of_true_10th']:.1%} within 0.001 of the true 10th; "
        f"similar_products p50 {out['similar_products_by_id']['p50_ms']:.1f} ms")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=400_000)
    ap.add_argument("--sizes", default="100000,1000000",
                    help="comma-separated index sizes (vectors)")
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--local-all-cores", action="store_true",
                    help="also time the local engine with --threads 0 (all cores)")
    ap.add_argument("--skip-index", action="store_true")
    ap.add_argument("--skip-demo-search", action="store_true")
    ap.add_argument("--quick", action="store_true", help="10,000 products, 20,000 vectors")
    ap.add_argument("--append", action="store_true",
                    help="keep the parts of the existing result that this run does not "
                         "measure (e.g. --skip-ray --sizes 10000000 adds the 10M index to an "
                         "earlier run); the earlier run's provenance is kept under 'earlier'")
    args = ap.parse_args(argv)
    products = 10_000 if args.quick else args.products
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s.strip()]
    result: dict = {"quick": args.quick, "noise": NOISE, "queries": N_QUERIES, "k": K}
    earlier_index: list[dict] = []
    if args.append:
        import json

        path = common.RESULTS / f"{'scale_quick' if args.quick else 'scale'}.json"
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        if old:
            mine = {k: old.get(k) for k in ("command", "date", "load_average")}
            mine["machine"] = (old.get("machine") or {}).get("git_commit")
            before = old.get("earlier") or []
            result["earlier"] = (before if isinstance(before, list) else [before]) + [mine]
            if args.skip_ray and old.get("engines"):
                result["engines"] = old["engines"]
            if args.skip_demo_search and old.get("demo_search"):
                result["demo_search"] = old["demo_search"]
            earlier_index = [e for e in old.get("index") or [] if e["n"] not in sizes]
    work = CACHE / "scale_out"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    name = "scale_quick" if args.quick else "scale"

    def save(index=None) -> None:
        if index is not None:
            result["index"] = sorted(earlier_index + index, key=lambda e: e["n"])
        elif earlier_index and "index" not in result:
            result["index"] = earlier_index
        result["targets"] = judge(result)
        common.write_result(name, result)
    if not args.skip_ray:
        result["engines"] = run_engines(products, work, args.local_all_cores)
        save()
    if not args.skip_index:
        run_index(sizes, save)
    if not args.skip_demo_search and not args.quick:
        result["demo_search"] = run_demo_search()
    save()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
