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
                   show_progress: bool = True) -> WordVectors:
    """Train Word2Vec on a file of cleaned texts, one per line, tokens separated by spaces."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    bar = progress(total=config.epochs, desc="word2vec epochs", disable=not show_progress)

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
