"""Word2Vec word embeddings (gensim), trained on ALL product text.

:func:`train_word2vec` learns vectors from a file of cleaned, space-separated
texts (gensim's ``corpus_file`` mode streams it and uses every core).
:class:`WordVectors` is what a bundle keeps: the vocabulary, the vectors and the
word counts, stored as ``.npy`` + JSON, never as a gensim pickle.
"""

from __future__ import annotations

import difflib
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .config import Word2VecConfig
from .neighbours import suggestable
from .utils import available_cores, progress


@dataclass
class WordVectors:
    """Word vectors.

    Attributes:
        words: vocabulary, most frequent first, length ``n_words``.
        vectors: float32 array, shape ``(n_words, dim)``.
        counts: corpus frequency of each word, shape ``(n_words,)``.
    """

    words: list[str]
    vectors: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        self.counts = np.asarray(self.counts, dtype=np.int64)
        if self.vectors.shape[0] != len(self.words) or len(self.counts) != len(self.words):
            raise ValueError("words, vectors and counts must have the same length")
        self.index = {w: i for i, w in enumerate(self.words)}
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        self._unit = self.vectors / np.maximum(norms, 1e-12)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` nearest words by cosine similarity; ``KeyError`` if unknown."""
        i = self.index.get(word)
        if i is None:
            raise KeyError(word)
        sims = self._unit @ self._unit[i]
        sims[i] = -np.inf
        k = min(k, len(self.words) - 1)
        top = np.argpartition(-sims, k)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.argsort(-sims[top])]
        return [(self.words[j], float(sims[j])) for j in top[:k]]

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Close vocabulary words for an unknown ``word`` (spelling suggestions)."""
        candidates = self.words[:50_000]
        return difflib.get_close_matches(word, candidates, n=n, cutoff=0.7)

    # ---------------------------------------------------------------- storage
    def save(self, directory: str, name: str = "word_vectors") -> list[str]:
        """Write ``NAME.npy`` (float16) and ``NAME.json``; returns the file names."""
        np.save(os.path.join(directory, f"{name}.npy"), self.vectors.astype(np.float16),
                allow_pickle=False)
        with open(os.path.join(directory, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump({"words": self.words, "counts": self.counts.tolist()}, f, ensure_ascii=False)
        return [f"{name}.npy", f"{name}.json"]

    @classmethod
    def load(cls, directory: str, name: str = "word_vectors") -> WordVectors:
        vectors = np.load(os.path.join(directory, f"{name}.npy"), allow_pickle=False)
        with open(os.path.join(directory, f"{name}.json"), encoding="utf-8") as f:
            meta = json.load(f)
        return cls(meta["words"], vectors.astype(np.float32), np.asarray(meta["counts"]))


def stable_hash(text: str) -> int:
    """CRC32 of the UTF-8 text: gensim seeds each word's initial vector with ``hashfxn``,
    and its default, Python's ``hash``, changes from process to process (PYTHONHASHSEED),
    which made two trainings with the same seed start from different vectors."""
    return zlib.crc32(text.encode("utf-8"))


def train_word2vec(corpus_file: str, config: Word2VecConfig, seed: int = 0,
                   show_progress: bool = True, desc: str = "word2vec epochs") -> WordVectors:
    """Train Word2Vec on a file of cleaned texts, one per line, tokens separated by spaces
    (``desc``: the progress bar's label)."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    bar = progress(total=config.epochs, desc=desc, disable=not show_progress)

    class _Epochs(CallbackAny2Vec):
        def on_epoch_end(self, model):  # noqa: D102
            bar.update(1)

    model = Word2Vec(
        corpus_file=corpus_file,
        vector_size=config.vector_size,
        window=config.window,
        min_count=config.min_count,
        sg=1 if config.sg else 0,
        negative=config.negative,
        sample=config.sample,
        epochs=config.epochs,
        workers=config.workers or available_cores(),
        seed=seed,
        hashfxn=stable_hash,
        callbacks=[_Epochs()],
    )
    bar.close()
    kv = model.wv
    words = list(kv.index_to_key)
    counts = np.array([kv.get_vecattr(w, "count") for w in words], dtype=np.int64)
    return WordVectors(words, kv.vectors.copy(), counts)


def probe_table(wv: WordVectors, probe_words: Sequence[str], k: int = 10) -> dict[str, list]:
    """Nearest words of each probe word that is in the vocabulary (a sanity table)."""
    return {w: [[n, round(s, 4)] for n, s in wv.similar(w, k)] for w in probe_words if w in wv}


def random_pair_cosine(wv: WordVectors, n_pairs: int = 2000, top: int = 5000,
                       seed: int = 0) -> float | None:
    """Mean cosine similarity of ``n_pairs`` random pairs of distinct words among the ``top``
    most frequent (a fixed seed, so the same vectors give the same number).

    A health check of the vectors: well below :data:`DEGENERATE_COSINE` when Word2Vec
    learned (0.48 on the demo bundle, 0.18 on a 4,000-product catalogue after 50 passes),
    near 1 when the vectors stayed close to one another (too small or too repetitive a
    corpus for the passes made), so that every word is "similar" to every other and
    nearest-word lists mean little. None with fewer than two words.
    """
    n = min(len(wv), top)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, n_pairs)
    b = (a + rng.integers(1, n, n_pairs)) % n  # never the same word
    unit = wv._unit
    return float(np.mean(np.sum(unit[a] * unit[b], axis=1)))


#: Random-pair cosine above which the vectors are reported as nearly all alike.
DEGENERATE_COSINE = 0.8


def choose_probe_words(wv: WordVectors, configured: Sequence[str] = (), n: int = 4,
                       tokens: Sequence[Sequence[str]] | None = None,
                       groups: Sequence[object] | None = None, top: int = 1000,
                       max_products: int = 20_000) -> list[str]:
    """Probe words of the catalogue's own vocabulary, for the nearest-word sanity table.

    The ``configured`` words that are in the vocabulary come first (the demo's "nike",
    "scarf", "kabelka", "cierna"); the rest, up to ``n`` in all, are chosen among the
    ``top`` most frequent words a user would look up (:func:`prodemb.neighbours.suggestable`:
    no function word, no digit, at least 3 characters), most frequent first.

    With ``tokens`` and ``groups`` (the cleaned tokens of the labelled products and a
    category of each, e.g. its top level; at most ``max_products`` of them are read,
    evenly spaced), the choice alternates between

    - *brand-like* words: found in products of several categories, none holding 60 % of
      them, and the first word of at least a quarter of the product texts holding them
      (titles often start with the brand: "Nike Men Black ...", "Tommy Hilfiger ...");
    - *category* words: 60 % or more of their products in one category, each from a
      category not probed yet ("kabelka" for handbags).

    Other words (colours, shop boilerplate such as "free delivery") come last. Without
    labels, the most frequent words. Deterministic.
    """
    chosen = [w for w in dict.fromkeys(configured) if w in wv]
    if len(chosen) >= n:
        return chosen
    candidates = [w for w in wv.words[:top] if suggestable(w) and w not in chosen]
    if tokens is None or groups is None or len(tokens) == 0:
        return chosen + candidates[: n - len(chosen)]
    rows = np.unique(np.linspace(0, len(tokens) - 1, min(len(tokens), max_products)).astype(int))
    names = sorted({groups[i] for i in rows}, key=str)
    col = {g: j for j, g in enumerate(names)}
    index = {w: j for j, w in enumerate(candidates)}
    counts = np.zeros((len(candidates), len(names)))
    leading = np.zeros(len(candidates))
    for i in rows:
        toks = tokens[i]
        for w in index.keys() & set(toks):
            counts[index[w], col[groups[i]]] += 1
        if toks and toks[0] in index:
            leading[index[toks[0]]] += 1
    brand, category, general = [], [], []
    for w, row, first in zip(candidates, counts, leading):
        total = row.sum()
        if total < 3:
            general.append((w, None))
        elif row.max() >= 0.6 * total:
            category.append((w, int(row.argmax())))
        elif first >= 0.25 * total:
            brand.append((w, None))
        else:
            general.append((w, None))
    picks: list[str] = []
    probed: set[int] = set()
    kinds = [iter(brand), iter(category)]
    while len(chosen) + len(picks) < n and kinds:
        for kind in list(kinds):
            if len(chosen) + len(picks) >= n:
                break
            for w, g in kind:
                if g is None or g not in probed:
                    probed.add(g)
                    picks.append(w)
                    break
            else:
                kinds.remove(kind)
    picks += [w for w, _ in general][: n - len(chosen) - len(picks)]
    return chosen + picks


def word2vec_diagnostics(wv: WordVectors, probe_words: Sequence[str],
                         configured: Sequence[str]) -> dict:
    """What ``metrics.json`` reports about the word vectors (``word2vec``): vocabulary size,
    the mean cosine of random word pairs (:func:`random_pair_cosine`), the probe words and
    where they come from (the config or the catalogue), and a plain-words warning when the
    vectors are nearly all alike. The probe table itself is :func:`probe_table`."""
    cosine = random_pair_cosine(wv)
    out = {
        "vocabulary": len(wv), "dim": wv.dim,
        "random_pair_cosine": None if cosine is None else round(cosine, 4),
        "random_pairs": {"pairs": 2000, "among_most_frequent": min(len(wv), 5000)},
        "probe_words": list(probe_words),
        "probe_words_from_config": [w for w in probe_words if w in set(configured)],
        "probe_words_from_catalogue": [w for w in probe_words if w not in set(configured)],
        "warning": None,
    }
    if cosine is not None and cosine > DEGENERATE_COSINE:
        out["warning"] = (
            f"Word2Vec's word vectors are nearly all alike (mean cosine of random word pairs "
            f"{cosine:.2f}; vectors that learned give well below 0.8), so nearest-word lists mean "
            "little: the catalogue's text is probably too small or too repetitive for the "
            "passes made. The classifier fine-tunes the vectors, so it still learns.")
    return out
