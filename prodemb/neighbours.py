"""Exact nearest-neighbour search by cosine similarity.

Brute force over L2-normalised float32 vectors: one matrix product per block of
queries. Exact, with no index to build or pickle, and fast enough for 1M products
of 128 dimensions (see ``bench/``).
"""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32, same shape."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class CosineIndex:
    """Exact cosine search over ``vectors`` ``(n, d)``.

    Vectors are normalised on construction (pass ``normalized=True`` to skip).
    """

    def __init__(self, vectors: np.ndarray, normalized: bool = False):
        v = np.asarray(vectors, dtype=np.float32)
        self.vectors = np.ascontiguousarray(v if normalized else l2_normalize(v))

    def __len__(self) -> int:
        return len(self.vectors)

    def search(self, queries: np.ndarray, k: int = 10, block: int = 256,
               exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most similar rows for each query.

        Args:
            queries: ``(q, d)`` (normalised here).
            k: neighbours per query (capped at ``n``).
            exclude: optional row index per query to leave out (e.g. the query itself), ``(q,)``.

        Returns:
            ``(indices, similarities)``, each ``(q, k)``, most similar first.
        """
        q = l2_normalize(np.atleast_2d(queries))
        n = len(self.vectors)
        k = min(k, n - (1 if exclude is not None else 0))
        if k <= 0:
            return np.zeros((len(q), 0), dtype=np.int64), np.zeros((len(q), 0), dtype=np.float32)
        idx_out = np.empty((len(q), k), dtype=np.int64)
        sim_out = np.empty((len(q), k), dtype=np.float32)
        for start in range(0, len(q), block):
            sims = q[start: start + block] @ self.vectors.T          # (b, n)
            if exclude is not None:
                rows = np.arange(sims.shape[0])
                ex = np.asarray(exclude[start: start + block])
                valid = ex >= 0
                sims[rows[valid], ex[valid]] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n else np.tile(np.arange(n), (len(sims), 1))
            top_sims = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_sims, axis=1, kind="stable")
            idx_out[start: start + block] = np.take_along_axis(top, order, axis=1)
            sim_out[start: start + block] = np.take_along_axis(top_sims, order, axis=1)
        return idx_out, sim_out
