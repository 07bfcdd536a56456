"""Where IVF search loses the true neighbours: the lists, or the stored vectors' precision.

On ``--n`` vectors made as bench/bench_scale.py makes them (the demo bundle's embeddings
copied with noise), one FAISS index per factory string, searched on one thread with 16,
32 and 64 of ``--nlist`` lists: recall@10 against exact search and query p50. Full
float32 vectors in the lists (``IVF,Flat``) show what the lists keep; float16, 8-bit and
PQ codes what their precision costs; PCA what fewer dimensions cost. docs/SCALING.md
quotes the result, ``bench/results/ivf_precision.json``.

    .venv/bin/python bench/ivf_precision.py --n 1000000 --nlist 2048
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from bench_scale import DEMO, N_QUERIES, K, synthetic  # noqa: E402

FACTORIES = ("IVF{nlist},Flat", "IVF{nlist},SQfp16", "IVF{nlist},SQ8",
             "IVF{nlist},PQ32np,Refine(SQ8)", "PCA64,IVF{nlist},SQfp16", "PCA80,IVF{nlist},SQfp16")
#: A factory string (``--factories``) may end in ``@name:arg``, how the 8-bit scalar
#: quantiser chooses each dimension's range (``prodemb.index._set_sq_range``:
#: ``@quantiles:0.001``, ``@meanstd:3``, ``@optim``), and start with ``L2:``, to search by L2
#: distance instead of inner product (the same order on unit vectors, and the metric PCA
#: needs: it centres the vectors, which changes inner products).


def make_index(faiss, dim: int, spec: str):
    """A FAISS index from a factory string with the optional ``L2:`` prefix and ``@range``
    suffix described above."""
    from prodemb.index import _set_sq_range

    metric = faiss.METRIC_INNER_PRODUCT
    if spec.startswith("L2:"):
        metric, spec = faiss.METRIC_L2, spec[3:]
    factory, _, rng = spec.partition("@")
    index = faiss.index_factory(dim, factory, metric)
    if rng:
        _set_sq_range(faiss, index, rng)
    return index


def main(argv: list[str] | None = None) -> int:
    import faiss
    from threadpoolctl import threadpool_limits

    from prodemb.index import recall_at_k
    from prodemb.neighbours import CosineIndex, l2_normalize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--nlist", type=int, default=2048)
    ap.add_argument("--factories", default=";".join(FACTORIES),
                    help="';'-separated factory strings ({nlist} is replaced; see make_index "
                         "for the L2: prefix and @range suffix)")
    ap.add_argument("--out", default="ivf_precision", help="result file name")
    args = ap.parse_args(argv)
    base = l2_normalize(np.load(DEMO / "product_embeddings.npy", allow_pickle=False).astype(np.float32))
    x = synthetic(base, args.n, seed=1)
    queries = synthetic(base[np.random.default_rng(2).choice(len(base), N_QUERIES)], N_QUERIES, seed=3)
    with threadpool_limits(1, user_api="blas"):
        truth, _ = CosineIndex(x, normalized=True).search(queries, K, block=16)
    faiss.omp_set_num_threads(1)
    rows = []
    factories = [f.strip() for f in args.factories.split(";") if f.strip()]
    for factory in (f.format(nlist=args.nlist) for f in factories):
        start = time.perf_counter()
        index = make_index(faiss, x.shape[1], factory)
        index.train(x[np.random.default_rng(0).choice(args.n, min(args.n, args.nlist * 40),
                                                      replace=False)])
        index.add(x)
        build = time.perf_counter() - start
        for nprobe in (16, 32, 64):
            faiss.ParameterSpace().set_index_parameters(index, f"nprobe={nprobe}")
            _, found = index.search(queries, K)
            secs = []
            for q in queries[:100]:
                t = time.perf_counter()
                index.search(q[None], K)
                secs.append(time.perf_counter() - t)
            row = {"factory": factory, "nprobe": nprobe, "recall_at_10": round(recall_at_k(found, truth), 4),
                   "p50_ms": round(float(np.median(secs)) * 1e3, 3), "build_seconds": round(build, 1),
                   "bytes": int(faiss.serialize_index(index).nbytes)}
            common.log(f"{factory} nprobe {nprobe}: recall@10 {row['recall_at_10']:.3f}, "
                       f"p50 {row['p50_ms']:.2f} ms")
            rows.append(row)
        del index
    common.write_result(args.out, {"n": args.n, "nlist": args.nlist, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
