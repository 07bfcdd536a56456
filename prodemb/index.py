"""Approximate (and exact) nearest-product search with FAISS: the bundle's ANN index.

An :class:`AnnIndex` holds L2-normalised product embeddings ``(n, d)`` float32 in a FAISS
index searched by inner product (= cosine similarity), with the product id (and text) of
every indexed row. Which FAISS index is built depends on ``n`` (:func:`choose_spec`):

* ``n < FLAT_MAX`` (200,000): ``IndexFlatIP``, exact: the same neighbours as
  :class:`prodemb.neighbours.CosineIndex` (ties aside), a scan of ``n * d * 4`` bytes per
  query (~5 ms at 200,000 x 128 on one core);
* ``FLAT_MAX <= n < HNSW_MAX`` (4,000,000): HNSW over the full vectors (``HNSW32,Flat``),
  recall@10 near 1 at ``efSearch`` 64-128, memory ~``n * (4 d + 8 M)`` bytes (0.8 GB at 1M);
* ``n >= HNSW_MAX``: IVF with extended RaBitQ codes after a random rotation
  (``RR{d},IVF{nlist},RaBitQ8``, kind ``"ivfrabitq"``): ``nlist ~ 2 sqrt(n)`` inverted lists,
  ``nprobe`` (80) of them searched per query, each vector stored as the 8-bit RaBitQ code of
  its residual from its list's centroid (one sign bit and 7 more bits per dimension plus a
  few correction factors: ``d + 20`` bytes, with the id ~``d + 28`` bytes per vector, 1.6 GB
  at 10M x 128). RaBitQ estimates inner products from its codes with a bounded error where
  8-bit scalar quantisation rounds every dimension on its own: at 10M demo-embedding
  vectors it finds more of the true neighbours at the same number of lists searched
  (bench/results/scale.json; docs/SCALING.md). Queries are quantised to 4 bits for the
  scan (FAISS's default; raw float32 queries take a path without SIMD, many times slower).
  RaBitQ's codes do not give back a vector close to the one indexed
  (:meth:`AnnIndex.vector`), so a product found only in the index is searched by its text,
  embedded again. The kind a 100M catalogue needs (split into shards of a few tens of
  millions, see docs/SCALING.md);
* ``"ivfsq"`` (forced only, the choice from 4M before): IVF with 8-bit scalar quantisation after a random rotation
  (``RR{d},IVF{nlist},SQ8``): each vector stored as one byte per dimension of its residual
  from its list's centroid (per-dimension ranges that leave out 0.1 % of the values at either end, after
  the rotation: recall@10 0.957 against 0.942 with plain min-max ranges at 1M; FAISS's
  ``RS_optim`` ranges found none of the true neighbours on a small clustered set); ~``d + 8`` bytes per
  vector, 1.4 GB at 10M x 128. The shipped demo bundle's index is of this kind. At 1M demo-embedding vectors it found more
  of the true neighbours than IVF-PQ with 8-bit re-ranking, in less memory and about
  half the query time (recall@10 0.94 against 0.92 at 64 lists; 0.6 against 0.83 ms at
  32);
* ``"ivfpq"`` (forced only): IVF-PQ with re-ranking (``IVF{nlist},PQ{m}np,Refine(SQ8)``),
  ``m = d / 4`` one-byte PQ codes for the candidate scan, the best ``k_factor_rf * k``
  re-ranked with 8-bit vectors; kept to compare against.

The chosen factory string and search parameters are recorded in the bundle's manifest
(``index``); ``bench/bench_scale.py`` measures build time, memory, latency and recall@10
against exact search. Index files are FAISS's own binary format
(``faiss.write_index`` / ``read_index``), never a pickle; the ids go in a Parquet file.

FAISS (``faiss-cpu``) is optional: the bundle falls back to exact search without it.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .neighbours import l2_normalize

#: Below this many vectors the index is exact (``IndexFlatIP``).
FLAT_MAX = 200_000
#: Below this many vectors (and from FLAT_MAX) HNSW over the full vectors; IVF-RaBitQ above.
HNSW_MAX = 4_000_000
#: HNSW graph degree and build / search beam widths.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 128
#: Lists searched per query: IVF-PQ, and IVF-SQ8 (at 1M, 32 lists: recall@10 0.935, 64: 0.941;
#: at 10M, bench/results/scale.json: 0.873 and 0.905).
IVF_NPROBE = 32
IVFSQ_NPROBE = 64
#: Lists searched per query, IVF-RaBitQ: at 10M x 128 (8,192 lists) recall@10 0.951 at 64
#: lists, 0.960 at 80, 0.972 at 96 (bench/results/scale.json), while query time grows with
#: the lists and moves by tens of percent between passes on this host (1.6-2.8 ms at 80-96
#: lists); 80 leaves room on both of issue 15's targets (recall 0.95, p50 2 ms).
IVFRQ_NPROBE = 80
#: IVF-SQ8: how each dimension's 8-bit range is chosen (FAISS's ScalarQuantizer RangeStat
#: and its argument): cut 0.1 % of the training residuals at either end.
IVFSQ_RANGE = "quantiles:0.001"
#: IVF-PQ: candidates re-ranked per query, as a multiple of k (the re-ranking, not the
#: lists searched, limits recall on near-equal neighbours: bench/results/scale.json).
IVF_K_FACTOR = 128
#: The IVF kinds: training points per list (the k-means sample).
IVF_TRAIN_PER_LIST = 40
#: Rows per Parquet row group of the ids-and-texts file: the unit :meth:`AnnIndex.texts_at`
#: reads (10 neighbours = at most 10 groups of ~150 kB of demo text; groups of 10,000 took
#: 52 ms and 55 MB of memory for the 10 texts of one search of the 300,000 demo products).
TEXT_ROW_GROUP = 1_000

INSTALL_HINT = ("FAISS is not installed: install it with `pip install faiss-cpu==1.15.1` "
                "(`make setup` does; pinned in requirements-scale.txt)")


def import_faiss():
    """The ``faiss`` module, or ``ImportError`` saying how to install it."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError(INSTALL_HINT) from e
    return faiss


@dataclass
class IndexSpec:
    """Which FAISS index to build and how to search it.

    Attributes:
        kind: ``"flat"`` (exact), ``"hnsw"``, ``"ivfrabitq"``, ``"ivfsq"`` or ``"ivfpq"``.
        factory: the ``faiss.index_factory`` string, e.g. ``"IVF8192,PQ64"``.
        search: search parameters for ``faiss.ParameterSpace`` (``{"efSearch": 128}``,
            ``{"nprobe": 64}``; empty for flat).
        build: build-time parameters (``{"efConstruction": 64}``, ``{"train_points": n}``).
    """

    kind: str
    factory: str
    search: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "factory": self.factory, "search": dict(self.search),
                "build": dict(self.build)}

    @classmethod
    def from_dict(cls, d: dict) -> IndexSpec:
        return cls(str(d["kind"]), str(d["factory"]), dict(d.get("search") or {}),
                   dict(d.get("build") or {}))


KINDS = ("auto", "flat", "hnsw", "ivfrabitq", "ivfsq", "ivfpq")


def choose_spec(n: int, dim: int, kind: str = "auto") -> IndexSpec:
    """The index for ``n`` vectors of ``dim`` dimensions (``kind="auto"``: by size, see the
    module docstring; or force ``"flat"``, ``"hnsw"``, ``"ivfrabitq"``, ``"ivfsq"``,
    ``"ivfpq"``)."""
    if kind not in KINDS:
        raise ValueError(f"index kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        kind = "flat" if n < FLAT_MAX else "hnsw" if n < HNSW_MAX else "ivfrabitq"
    if kind == "flat":
        return IndexSpec("flat", "Flat")
    if kind == "hnsw":
        return IndexSpec("hnsw", f"HNSW{HNSW_M},Flat", {"efSearch": HNSW_EF_SEARCH},
                         {"efConstruction": HNSW_EF_CONSTRUCTION})
    # IVF: ~2 sqrt(n) lists (a power of two, at most n / 39 so that k-means has its 39
    # points per centroid; k-means costs ~nlist^2 here, which keeps training minutes long at
    # 10M).
    nlist = 2 ** round(math.log2(max(1.0, 2 * math.sqrt(max(n, 1)))))
    nlist = max(1, min(nlist, n // 39))
    train = int(min(n, max(nlist * IVF_TRAIN_PER_LIST, 256 * 39)))
    if kind == "ivfrabitq":
        # RaBitQ's error bound assumes randomly rotated vectors; FAISS leaves the rotation
        # to the caller (RR); bench/results/ivf_precision_rabitq.json compares the two.
        return IndexSpec("ivfrabitq", f"RR{dim},IVF{nlist},RaBitQ8",
                         {"nprobe": min(IVFRQ_NPROBE, nlist)}, {"train_points": train})
    if kind == "ivfsq":
        # A random rotation first (RR: orthogonal, so inner products are kept) spreads each
        # vector's energy evenly over the dimensions, and each dimension's 8-bit range
        # leaves out the 0.1 % most extreme residuals at either end instead of stretching
        # to them: finer steps where the values are. At 1M vectors, nprobe 32 / 64:
        # recall@10 0.936 / 0.942 -> 0.953 / 0.957, the same bytes and ~0.05 ms more per
        # query (bench/results/ivf_precision_sq8_*.json).
        return IndexSpec("ivfsq", f"RR{dim},IVF{nlist},SQ8", {"nprobe": min(IVFSQ_NPROBE, nlist)},
                         {"train_points": train, "sq_range": IVFSQ_RANGE})
    # IVF-PQ: m = d / 4 sub-quantizers of 8 bits (the largest divisor of d up to d / 4)
    # for the candidate scan, then 8-bit scalar-quantised vectors to re-rank them.
    m = max(d for d in range(1, max(1, dim // 4) + 1) if dim % d == 0)
    # "np": no polysemous training of the codes (prodemb does not search by Hamming
    # distance; it costs minutes for nothing).
    return IndexSpec("ivfpq", f"IVF{nlist},PQ{m}np,Refine(SQ8)",
                     {"nprobe": min(IVF_NPROBE, nlist), "k_factor_rf": IVF_K_FACTOR},
                     {"train_points": train})


def _set_sq_range(faiss, index, sq_range: str) -> None:
    """Set how the scalar quantiser of an IVF-SQ index chooses each dimension's range, from
    ``"name:arg"`` (``"quantiles:0.001"``, ``"meanstd:3"``, ``"minmax"``), before training."""
    name, _, arg = sq_range.partition(":")
    stats = {"minmax": "RS_minmax", "quantiles": "RS_quantiles", "meanstd": "RS_meanstd",
             "optim": "RS_optim"}
    if name not in stats:
        raise ValueError(f"unknown scalar-quantiser range {sq_range!r}; one of {', '.join(stats)}")
    sq = faiss.downcast_index(faiss.extract_index_ivf(index)).sq
    sq.rangestat = getattr(faiss.ScalarQuantizer, stats[name])
    if arg:
        sq.rangestat_arg = float(arg)


def _set_search(faiss, index, search: dict) -> None:
    if search:
        faiss.ParameterSpace().set_index_parameters(
            index, ",".join(f"{k}={v}" for k, v in search.items()))


class AnnIndex:
    """A FAISS index of L2-normalised vectors with the id of every row.

    Build with :meth:`build`, store with :meth:`write`, load with :meth:`read`; search with
    :meth:`search` (the interface of :class:`prodemb.neighbours.CosineIndex`).

    The ids are held as one Arrow string array (at 300,000 products a few MB, where NumPy
    object arrays of ids and texts took 145 MB); an index read from disk reads the texts
    of the rows asked for (:meth:`texts_at`) from its Parquet file, one row group at a time.

    Attributes:
        index: the FAISS index (inner product on unit vectors = cosine).
        ids: product id of every row, ``(n,)`` Arrow string array (:meth:`ids_at`).
        spec: the :class:`IndexSpec` it was built with.
        build_seconds: time to build (train + add), seconds.
    """

    def __init__(self, index, ids, texts=None, spec: IndexSpec | None = None,
                 build_seconds: float | None = None, texts_file: str | None = None):
        import pyarrow as pa

        self.index = index
        self.ids = _string_array(ids)
        # texts: given (an array, "" where unknown), or read on demand from texts_file
        # (the Parquet file of :meth:`write`), or none at all (all "").
        self._texts = _string_array(texts) if texts is not None else None
        self._texts_file = texts_file
        if self._texts is None and texts_file is None:
            self._texts = pa.array([""] * len(self.ids), pa.string())
        n_texts = len(self._texts) if self._texts is not None else len(self.ids)
        if len(self.ids) != index.ntotal or n_texts != index.ntotal:
            raise ValueError(f"the index holds {index.ntotal} vectors but {len(self.ids)} ids "
                             f"and {n_texts} texts were given")
        self.spec = spec or IndexSpec("flat", "Flat")
        self.build_seconds = build_seconds
        self._exact = None  # the flat kind's exact scan (built on first search)
        self._direct_map = False

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    @property
    def exact(self) -> bool:
        return self.spec.kind == "flat"

    @property
    def reconstructs(self) -> bool:
        """Whether :meth:`vector` gives back (nearly) the vector indexed. Not from RaBitQ
        codes, whose reconstruction is rough (tests/test_index.py): search by the product's
        text instead."""
        return self.spec.kind != "ivfrabitq"

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, vectors: np.ndarray, ids, texts=None, kind: str = "auto",
              spec: IndexSpec | None = None, threads: int | None = None,
              seed: int = 0) -> AnnIndex:
        """Index ``vectors`` ``(n, d)`` (normalised here) with ids ``(n,)``.

        ``kind``: ``"auto"`` (by size, :func:`choose_spec`) or a forced kind; ``spec``
        overrides both. ``threads``: OpenMP threads for building (default: FAISS's, all
        cores). The IVF kinds train on a random sample of ``spec.build["train_points"]`` rows
        drawn with ``seed``.
        """
        faiss = import_faiss()
        x = np.ascontiguousarray(l2_normalize(vectors))
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"need a non-empty (n, d) array of vectors, got shape {x.shape}")
        spec = spec or choose_spec(len(x), x.shape[1], kind)
        if threads:
            faiss.omp_set_num_threads(int(threads))
        start = time.perf_counter()
        index = faiss.index_factory(x.shape[1], spec.factory, faiss.METRIC_INNER_PRODUCT)
        if spec.kind == "hnsw":
            index.hnsw.efConstruction = int(spec.build.get("efConstruction", HNSW_EF_CONSTRUCTION))
        if spec.build.get("sq_range"):
            _set_sq_range(faiss, index, str(spec.build["sq_range"]))
        if not index.is_trained:
            n_train = int(min(len(x), spec.build.get("train_points", len(x))))
            rows = np.random.default_rng(seed).choice(len(x), n_train, replace=False)
            index.train(x[np.sort(rows)])
        # Added in blocks: one call would hold a second copy of a large input for the IVF
        # kinds' residuals; the result is the same.
        for start_row in range(0, len(x), 1_000_000):
            index.add(x[start_row: start_row + 1_000_000])
        _set_search(faiss, index, spec.search)
        return cls(index, ids, texts, spec, round(time.perf_counter() - start, 3))

    # ------------------------------------------------------------------ storage
    def write(self, index_path: str, ids_path: str) -> None:
        """Write the FAISS index (``faiss.write_index``, FAISS's binary format) and the ids
        and texts (Parquet, row ``i`` = vector ``i``, in row groups of
        :data:`TEXT_ROW_GROUP` rows so that :meth:`texts_at` reads little)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        faiss = import_faiss()
        faiss.write_index(self.index, index_path)
        texts = self._texts if self._texts is not None else self.texts_at(np.arange(len(self)))
        table = pa.table({"id": self.ids, "text": _string_array(texts)})
        pq.write_table(table, ids_path, compression="zstd", row_group_size=TEXT_ROW_GROUP)

    @classmethod
    def read(cls, index_path: str, ids_path: str, spec: IndexSpec | None = None) -> AnnIndex:
        """An index written by :meth:`write` (``spec``: the manifest's, for the search
        parameters; they are set again after reading). The texts stay on disk until asked
        for (:meth:`texts_at`)."""
        import pyarrow.parquet as pq

        faiss = import_faiss()
        index = faiss.read_index(index_path)
        ids = pq.read_table(ids_path, columns=["id"]).column("id")
        spec = spec or IndexSpec("flat", "Flat")
        _set_search(faiss, index, spec.search)
        return cls(index, ids, spec=spec, texts_file=ids_path)

    # ------------------------------------------------------------------ lookup
    def row_of(self, product_id: str, ignore_case: bool = False) -> int | None:
        """The row of ``product_id`` in the index (None if not indexed; the first row of
        a repeated id; with ``ignore_case``, of the same id in any case, spaces around it
        ignored). A scan of the ids in Arrow (a few ms at 300,000), not a dict of them
        all in memory."""
        import pyarrow.compute as pc

        if ignore_case:
            row = pc.index(pc.utf8_lower(self.ids), str(product_id).strip().lower()).as_py()
        else:
            row = pc.index(self.ids, str(product_id)).as_py()
        return None if row is None or row < 0 else int(row)

    def ids_at(self, rows) -> np.ndarray:
        """The ids of ``rows`` (``(m,)`` ints), ``(m,)`` object array of str."""
        return np.asarray(self.ids.take(np.asarray(rows, dtype=np.int64)).to_pylist(),
                          dtype=object)

    def texts_at(self, rows) -> np.ndarray:
        """The texts of ``rows`` (``(m,)`` ints), ``(m,)`` object array of str ("" where
        unknown); read from the Parquet file's row groups holding them when the index
        was read from disk."""
        rows = np.asarray(rows, dtype=np.int64)
        if self._texts is not None:
            return np.asarray(self._texts.take(rows).to_pylist(), dtype=object)
        import pyarrow.parquet as pq

        out = np.empty(len(rows), dtype=object)
        with pq.ParquetFile(self._texts_file) as f:
            starts = np.cumsum([0] + [f.metadata.row_group(g).num_rows
                                      for g in range(f.num_row_groups)])
            groups = np.searchsorted(starts, rows, side="right") - 1
            for g in np.unique(groups):
                texts = f.read_row_group(int(g), columns=["text"]).column("text")
                at = groups == g
                out[at] = texts.take(rows[at] - starts[g]).to_pylist()
        return out

    def vector(self, row: int) -> np.ndarray:
        """The stored vector of ``row``, ``(1, d)`` float32 (the IVF kinds: its quantised
        reconstruction, an approximation: close for ivfsq, far for ivfrabitq, see
        :attr:`reconstructs`)."""
        try:
            vec = self.index.reconstruct(int(row))
        except RuntimeError:  # an IVF index without its direct map: make it once
            if self._direct_map:
                raise
            import_faiss().extract_index_ivf(self.index).make_direct_map()
            self._direct_map = True
            vec = self.index.reconstruct(int(row))
        return np.asarray(vec, dtype=np.float32)[None, :]

    def search(self, queries: np.ndarray, k: int = 10,
               exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar rows for each query, as :meth:`CosineIndex.search`.

        Args:
            queries: ``(q, d)`` (normalised here).
            k: neighbours per query (capped at ``n``, minus one with ``exclude``).
            exclude: optional row per query to leave out (the query product itself),
                ``(q,)``; -1 for none.

        Returns:
            ``(rows, similarities)``, each ``(q, k')``, most similar first; an approximate
            index may return fewer than ``k`` for a query (rows padded with -1 are
            dropped only when every query has them).
        """
        if self.exact:
            # The flat index answers with prodemb's own exact scan over its vectors: the
            # same results as CosineIndex by construction (ties too), and faster for one
            # query (one BLAS product; FAISS's own flat scan of a single query was about
            # twice as slow at 100,000 vectors in bench_scale's first run).
            if self._exact is None:
                from .neighbours import CosineIndex

                self._exact = CosineIndex(self.index.reconstruct_n(0, len(self)),
                                          normalized=True)
            return self._exact.search(queries, k, exclude=exclude)
        q = np.ascontiguousarray(l2_normalize(np.atleast_2d(queries)))
        n = len(self)
        k = min(int(k), n - (1 if exclude is not None else 0))
        if k <= 0:
            return np.zeros((len(q), 0), dtype=np.int64), np.zeros((len(q), 0), dtype=np.float32)
        extra = 1 if exclude is not None else 0
        sims, rows = self.index.search(q, k + extra)
        if exclude is not None:
            ex = np.asarray(exclude).reshape(-1, 1)
            keep = rows != ex
            # Each row keeps its first k entries that are not the excluded one.
            order = np.argsort(~keep, axis=1, kind="stable")
            rows = np.take_along_axis(rows, order, axis=1)[:, :k]
            sims = np.take_along_axis(sims, order, axis=1)[:, :k]
        valid = (rows >= 0).all(axis=0)
        return rows[:, valid].astype(np.int64), sims[:, valid].astype(np.float32)

    def memory_bytes(self) -> int:
        """The index's size in FAISS's serialised form, bytes (≈ its memory)."""
        return int(import_faiss().serialize_index(self.index).nbytes)


def _string_array(values):
    """``values`` (a list, NumPy array or Arrow array of str) as one Arrow string array."""
    import pyarrow as pa

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values.cast(pa.string())
    return pa.array([str(v) for v in values], pa.string())


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true ``k`` neighbours found: ``found`` and ``truth`` are row
    indices ``(q, k)`` (``found`` may have fewer columns)."""
    hits = [len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)]
    return float(np.mean(hits) / truth.shape[1]) if len(truth) else float("nan")


def read_embeddings(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Product embeddings written by ``prodemb embed`` (a Parquet file or a directory of
    shards): ``(ids (n,), texts (n,), vectors (n, d) float32)``. Needs the columns ``id``
    and ``embedding`` (a list of floats per row); ``text`` is optional."""
    import pyarrow as pa
    import pyarrow.dataset as pads

    if not os.path.exists(path):
        raise FileNotFoundError(f"no embeddings at {path!r}")
    ds = pads.dataset(path, format="parquet")
    names = ds.schema.names
    missing = [c for c in ("id", "embedding") if c not in names]
    if missing:
        raise ValueError(f"{path!r} has no column {', '.join(missing)}: give the output of "
                         "`prodemb embed` (columns id, text, embedding)")
    cols = ["id", "embedding"] + (["text"] if "text" in names else [])
    table = ds.to_table(columns=cols)
    if table.num_rows == 0:
        raise ValueError(f"{path!r} holds no embeddings")
    emb = table.column("embedding").combine_chunks()
    if pa.types.is_fixed_size_list(emb.type):
        dim = emb.type.list_size
    else:
        lengths = np.unique(emb.value_lengths().to_numpy(zero_copy_only=False))
        if len(lengths) != 1:
            raise ValueError(f"{path!r}: the embeddings differ in length ({lengths[:5].tolist()})")
        dim = int(lengths[0])
    vectors = emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    if not np.isfinite(vectors).all():
        raise ValueError(f"{path!r}: some embeddings are not finite numbers")
    ids = table.column("id").cast(pa.string()).to_numpy(zero_copy_only=False)
    texts = (table.column("text").to_numpy(zero_copy_only=False) if "text" in names
             else np.full(len(ids), "", dtype=object))
    return ids, texts, vectors


def embeddings_fingerprint(path: str) -> str | None:
    """The sha256 of the classifier weights that made the embeddings at ``path`` (a
    ``prodemb embed`` file's Parquet metadata, or a shard directory's ``_prodemb.json``),
    None when not recorded."""
    import json

    import pyarrow.parquet as pq

    from .scoring import EMBED_MODEL_KEY

    try:
        if os.path.isdir(path):
            with open(os.path.join(path, "_prodemb.json"), encoding="utf-8") as f:
                return json.load(f).get(EMBED_MODEL_KEY.decode()) or None
        meta = pq.read_schema(path).metadata or {}
        value = meta.get(EMBED_MODEL_KEY)
        return value.decode() if value else None
    except (OSError, ValueError):
        return None


def index_bundle(bundle: str, embeddings: str | None = None, kind: str = "auto",
                 threads: int | None = None, progress=None) -> dict:
    """Build the ANN index of bundle directory ``bundle`` and store it in the bundle
    (``ann_index.faiss`` + ``ann_index.parquet``, listed with their sha256 in the manifest,
    whose ``index`` entry describes it); an index already there is replaced. The bundle is
    replaced atomically (:func:`prodemb.bundle_format.add_to_bundle`).

    Args:
        bundle: the bundle directory.
        embeddings: a Parquet file or directory of shards from ``prodemb embed`` (columns
            ``id``, ``text``, ``embedding``), e.g. the whole catalogue; default: the
            bundle's own product embeddings.
        kind: ``"auto"`` (by size) or ``"flat"``, ``"hnsw"``, ``"ivfrabitq"``, ``"ivfsq"``,
            ``"ivfpq"``.
        threads: OpenMP threads for building (default all cores).
        progress: optional ``callable(str)`` told what is happening.

    Returns:
        The manifest's ``index`` entry: kind, factory, search and build parameters,
        ``n``, ``dim``, ``source``, ``build_seconds``, ``bytes``, the faiss version.
    """
    import datetime as dt

    import pandas as pd

    from .bundle_format import (
        INDEX_FILE,
        INDEX_IDS,
        INDEX_KEY,
        BundleError,
        add_to_bundle,
        read_manifest,
        verify_files,
    )

    say = progress or (lambda _msg: None)
    faiss = import_faiss()
    manifest = read_manifest(bundle)
    own = {n: manifest["files"][n] for n in ("product_embeddings.npy", "products.parquet")
           if n in manifest["files"]}
    if len(own) < 2:
        raise BundleError(f"bundle {bundle!r}: the manifest does not list the product "
                          "embeddings; retrain or restore the bundle")
    verify_files(bundle, {"files": own})
    bundle_vectors = np.load(os.path.join(bundle, "product_embeddings.npy"), allow_pickle=False,
                             mmap_mode="r")
    dim = int(bundle_vectors.shape[1])
    if embeddings is None:
        say(f"reading the bundle's {len(bundle_vectors):,} product embeddings")
        products = pd.read_parquet(os.path.join(bundle, "products.parquet"), columns=["id", "text"])
        ids, texts = products["id"].astype(str).to_numpy(), products["text"].astype(str).to_numpy()
        vectors = np.asarray(bundle_vectors, dtype=np.float32)
        source = "bundle"
    else:
        say(f"reading embeddings from {embeddings}")
        ids, texts, vectors = read_embeddings(embeddings)
        if vectors.shape[1] != dim:
            raise ValueError(f"{embeddings!r} holds {vectors.shape[1]}-dimensional embeddings; "
                             f"this bundle's are {dim}-dimensional: embed the catalogue with "
                             "this bundle (`prodemb embed --bundle ...`)")
        made_by = embeddings_fingerprint(embeddings)
        ours = manifest["files"].get("classifier.safetensors", {}).get("sha256")
        if made_by and ours and made_by != ours:
            raise ValueError(f"{embeddings!r} was embedded by another model (its classifier "
                             "weights differ from this bundle's): its vectors are not "
                             "comparable with this bundle's; embed the catalogue with this "
                             "bundle (`prodemb embed --bundle ...`)")
        source = os.path.basename(os.path.normpath(embeddings))
        # The index finds a product by its id, so one vector per id: `prodemb embed --engine
        # ray` writes one row per input row, a repeated id included (dropping them would
        # need a shuffle across its shards); the first row of each id is kept, as the
        # local engine and the catalogue reader keep it.
        repeated = pd.Index(ids).duplicated(keep="first")
        if repeated.any():
            n = int(repeated.sum())
            warnings.warn(f"{n:,} {'row' if n == 1 else 'rows'} of {embeddings} "
                          f"{'repeats' if n == 1 else 'repeat'} an id of an earlier row: the "
                          "first row of each id is indexed", stacklevel=2)
            ids, texts, vectors = ids[~repeated], texts[~repeated], vectors[~repeated]
    spec = choose_spec(len(vectors), dim, kind)
    say(f"building the {spec.kind} index ({spec.factory}) of {len(vectors):,} vectors")
    ann = AnnIndex.build(vectors, ids, texts, spec=spec, threads=threads)
    del vectors
    entry = {**spec.to_dict(), "n": len(ann), "dim": dim, "source": source,
             "build_seconds": ann.build_seconds, "faiss": faiss.__version__,
             "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}

    def write(tmp: str) -> list[str]:
        say(f"writing {INDEX_FILE}")
        ann.write(os.path.join(tmp, INDEX_FILE), os.path.join(tmp, INDEX_IDS))
        entry["bytes"] = os.path.getsize(os.path.join(tmp, INDEX_FILE))
        return [INDEX_FILE, INDEX_IDS]

    add_to_bundle(bundle, write, {INDEX_KEY: entry}, remove=(INDEX_FILE, INDEX_IDS))
    return entry


def remove_index(bundle: str) -> bool:
    """Remove the ANN index from bundle directory ``bundle`` (its files and its manifest
    entry, atomically as :func:`index_bundle` adds them); nearest-product search is then
    the exact scan of the bundle's own products. Returns whether there was one."""
    from .bundle_format import INDEX_FILE, INDEX_IDS, INDEX_KEY, add_to_bundle, read_manifest

    manifest = read_manifest(bundle)
    if INDEX_KEY not in manifest and not {INDEX_FILE, INDEX_IDS} & set(manifest["files"]):
        return False
    add_to_bundle(bundle, lambda tmp: [], {INDEX_KEY: None}, remove=(INDEX_FILE, INDEX_IDS))
    return True
