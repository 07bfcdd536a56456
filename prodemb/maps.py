"""2-D maps of product embeddings: t-SNE (openTSNE) and UMAP (umap-learn).

New products are placed on an existing map without any fitted model object:
their coordinates are the similarity-weighted mean of the coordinates of their
``k`` nearest mapped products in embedding space (kNN interpolation). Only the
embeddings and the coordinates are stored, both as arrays.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from .neighbours import CosineIndex
from .utils import available_cores

log = logging.getLogger(__name__)

METHODS = ("tsne", "umap")
#: Maps of fewer points than this are fitted on one thread (t-SNE with Barnes-Hut).
SMALL_MAP = 10_000


def fit_map(embeddings: np.ndarray, method: str = "umap", seed: int = 0,
            verbose: bool = False) -> np.ndarray:
    """2-D coordinates of ``embeddings`` ``(n, E)``; float32 ``(n, 2)``."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = len(x)
    if n < 5:
        # Too few points for a neighbourhood graph: spread them on a line.
        return np.column_stack([np.arange(n), np.zeros(n)]).astype(np.float32)
    if method == "tsne":
        from openTSNE import TSNE

        perplexity = float(min(30, max(2, (n - 1) / 3)))
        # Below SMALL_MAP points (a subtree re-projected on the dashboard): Barnes-Hut on
        # one thread. FFT's interpolation grid costs the same for 60 points as for 10,000,
        # and two threads spinning beside other work made it 20x slower (60 points: 36 s
        # against 1.8 s; 3,000: 58 s with FFT, 23 s with Barnes-Hut, on a loaded machine).
        small = n < SMALL_MAP
        emb = TSNE(n_components=2, perplexity=perplexity, metric="cosine",
                   n_jobs=1 if small else available_cores(),
                   negative_gradient_method="bh" if small else "fft",
                   random_state=seed, verbose=verbose).fit(x)
        coords = np.asarray(emb)
    elif method == "umap":
        # umap-learn warns at import that ParametricUMAP (TensorFlow) is unavailable; it is
        # not used here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ImportWarning)
            import umap

        # PCA initialisation instead of the spectral one: on 10,000 product embeddings
        # 24 s against 145 s (loaded 2-core machine), and no "Spectral initialisation
        # failed" fallback to a random start when the neighbour graph is disconnected
        # (rare categories form their own islands). n_jobs=1 says out loud what a fixed
        # random_state implies in UMAP (reproducible maps are worth the single thread).
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1), min_dist=0.1,
                            metric="cosine", init="pca",
                            random_state=seed, n_jobs=1, verbose=verbose)
        coords = reducer.fit_transform(x)
    else:
        raise ValueError(f"unknown map method {method!r}; choose one of {METHODS}")
    return np.asarray(coords, dtype=np.float32)


def place(new_embeddings: np.ndarray, index: CosineIndex, coords: np.ndarray,
          k: int = 10) -> np.ndarray:
    """kNN interpolation of map coordinates for new items; float32 ``(q, 2)``.

    Weights are the squared (non-negative) cosine similarities, so the closest
    neighbours dominate; an item identical to a mapped product lands on it.
    """
    idx, sims = index.search(new_embeddings, k)
    w = np.clip(sims, 0, None) ** 2
    w[w.sum(axis=1) == 0] = 1.0
    w = w / w.sum(axis=1, keepdims=True)
    return np.einsum("qk,qkd->qd", w, coords[idx]).astype(np.float32)
