"""Exact nearest-neighbour search by cosine similarity.

Brute force over L2-normalised float32 vectors: one matrix product per block of
queries. Exact, with no index to build or pickle, and fast enough for 1M products
of 128 dimensions (see ``bench/``).

A scan of one query is bound by memory bandwidth (1M x 128 float32 = 512 MB read per
query). From :data:`HALF_SCAN_MIN` vectors on, and with FAISS installed, a few queries at
a time are answered by a scan of a float16 copy (half the bytes, FAISS's kernel) for
candidates, which are then scored again in float32; a check on the float16 rounding
bound proves that no vector outside the candidates can be among the true ``k``, and the
full float32 scan runs whenever it cannot prove it. So the answer stays exact.
"""

from __future__ import annotations

import numpy as np


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero); float32, same shape."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


#: From this many vectors a float16 copy is kept for the two-stage scan of a few queries
#: (module docstring); below it the float32 scan is fast and the copy not worth its memory.
HALF_SCAN_MIN = 200_000
#: At most this many queries per call take the two-stage scan; more go to one matrix product.
HALF_SCAN_MAX_QUERIES = 8
#: Candidates taken from the float16 scan per query, beyond k.
HALF_SCAN_EXTRA = 54
#: Bound on |float16 score - float32 score| of unit vectors: each stored component is
#: rounded to 11 significant bits (relative error <= 2^-11), so the score moves by at most
#: 2^-11 * sum |q_i v_i| <= 2^-11; doubled for the float32 accumulation and the query.
HALF_SCAN_ERROR = 2.0 ** -10


class CosineIndex:
    """Exact cosine search over ``vectors`` ``(n, d)``.

    Vectors are normalised on construction (pass ``normalized=True`` to skip).
    """

    def __init__(self, vectors: np.ndarray, normalized: bool = False):
        v = np.asarray(vectors, dtype=np.float32)
        self.vectors = np.ascontiguousarray(v if normalized else l2_normalize(v))
        self._half = None  # the float16 scan (FAISS), made on first use

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
        if n >= HALF_SCAN_MIN and len(q) <= HALF_SCAN_MAX_QUERIES and k <= 1024:
            found = self._two_stage(q, k, exclude)
            if found is not None:
                return found
        return self._scan(q, k, block, exclude)

    def _scan(self, q: np.ndarray, k: int, block: int,
              exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The float32 scan: one matrix product per block of queries."""
        n = len(self.vectors)
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

    def _two_stage(self, q: np.ndarray, k: int, exclude: np.ndarray | None):
        """Candidates from the float16 scan, scored again in float32; None when FAISS is
        missing or the bound cannot prove a query's answer (the caller scans in float32)."""
        half = self._half_index()
        if half is None:
            return None
        n = len(self.vectors)
        want = min(n, k + 1 + HALF_SCAN_EXTRA)
        cand_scores, cand = half.search(np.ascontiguousarray(q, dtype=np.float32), want)
        idx_out = np.empty((len(q), k), dtype=np.int64)
        sim_out = np.empty((len(q), k), dtype=np.float32)
        for i in range(len(q)):
            rows = cand[i][cand[i] >= 0]
            if exclude is not None and exclude[i] >= 0:
                rows = rows[rows != exclude[i]]
            if len(rows) < k:
                return None
            exact = self.vectors[rows] @ q[i]
            order = np.lexsort((rows, -exact))[:k]
            # Every vector outside the candidates scored at most the last candidate's
            # float16 score, so at most that + the bound in float32: if the k-th exact
            # score beats it, no outsider can be among the k. (All n candidates: nothing
            # is outside.)
            if want < n and exact[order[-1]] < cand_scores[i][-1] + HALF_SCAN_ERROR:
                return None
            idx_out[i] = rows[order]
            sim_out[i] = exact[order]
        return idx_out, sim_out

    def _half_index(self):
        if self._half is None:
            try:
                import faiss
            except ImportError:
                self._half = False
                return None
            index = faiss.IndexScalarQuantizer(self.vectors.shape[1], faiss.ScalarQuantizer.QT_fp16,
                                               faiss.METRIC_INNER_PRODUCT)
            index.add(self.vectors)  # float16 needs no training
            self._half = index
        return self._half or None


# ---------------------------------------------------------------------- word suggestions
#: Function words never offered as suggestions: English and the Slovak/Czech of the demo
#: catalogue (cleaned as product text is: lower case, no diacritics). Any token of fewer
#: than 3 characters is left out too, so short words of other languages are covered.
STOP_WORDS = frozenset("""
about above after again against all also and any are because been before being below
between both but can cannot could did does doing down during each few for from further
had has have having her here hers herself him himself his how into its itself just more
most not now off once only other our ours out over own same she should some such than
that the their theirs them then there these they this those through too under until very
was were what when where which while who whom why will with would you your yours
aby ako ale ani bez bol bola boli pre pri pod nad cez ked kde ktora ktore ktory lebo len
ich jej jeho iba tak tiez uz sme ste som nie ani alebo vsetky vsetko tento tato toto tieto
jako jsou jsem neni nebo pro tak take tedy kdyz ktery ktera ktere byl byla bylo jen jeste
und der die das mit fur von den dem des ein eine einer auf aus bei ist nicht oder sie
""".split())


def suggestable(word: str) -> bool:
    """Whether a vocabulary word may be offered to a user: not a function word (see
    :data:`STOP_WORDS`), at least 3 characters, and no digit (cleaning turns every digit
    into 0, so tokens such as ``000`` or ``j0`` are sizes and codes, not words)."""
    return len(word) >= 3 and word not in STOP_WORDS and not any(c.isdigit() for c in word)


def suggest_words(word: str, words, n: int = 5, limit: int = 50_000) -> list[str]:
    """Known words close to an unknown ``word``, best first, at most ``n``.

    Close spellings (:func:`difflib.get_close_matches` over the ``limit`` most frequent
    of ``words``, a vocabulary most frequent first), else words that begin with the same
    four letters or that contain ``word`` (or are contained in it), most frequent first.
    Only :func:`suggestable` words are offered.
    """
    import difflib

    candidates = [w for w in list(words)[:limit] if w != word and suggestable(w)]
    if not word or not candidates:
        return []
    out = difflib.get_close_matches(word, candidates, n=n, cutoff=0.7)
    if not out:
        out = difflib.get_close_matches(word, candidates, n=n, cutoff=0.6)
    if len(out) < n and len(word) >= 4:
        stem = word[:4]
        for w in candidates:
            if len(out) >= n:
                break
            if w not in out and (w.startswith(stem) or (len(w) >= 4 and (w in word or word in w))):
                out.append(w)
    return out[:n]
