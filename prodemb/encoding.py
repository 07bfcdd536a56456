"""Turning token lists into the integer tensors the classifier reads.

:class:`TokenEncoder` holds the classifier's word vocabulary (Word2Vec words plus
training words that Word2Vec dropped) and hashes every token's character n-grams
into buckets, fastText-style, so a misspelt or unseen word still carries signal.
Hashing uses CRC32, which is stable across processes (Python's ``hash`` is not).
"""

from __future__ import annotations

import itertools
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

PAD, UNK = "<pad>", "<unk>"


@dataclass
class Batch:
    """One padded batch.

    Attributes:
        ids: word ids, int64 ``(batch, max_len)``, 0 is padding.
        lengths: tokens per item, int64 ``(batch,)``, at least 1.
        sub_ids: flat char n-gram bucket ids, int64 ``(n_ngrams,)`` (empty if disabled).
        sub_offsets: start of each bag in ``sub_ids``, int64 ``(n_types,)``: one bag per
            distinct token of the batch, the first (empty) for padding and ``<unk>``.
        sub_types: the bag of each token position, int64 ``(batch, max_len)``.
        type_ids: the word id of each distinct token (bag), int64 ``(n_types,)``.
        wide_ids: the distinct hashed word unigrams and bigrams of every item, flat int64
            ``(n_features,)`` (empty if the wide path is off); ``wide_items`` ``(n_features,)``
            is the item of each, ``wide_values`` ``(n_features,)`` its value, 1/sqrt(number
            of the item's features), so that every item's feature vector has unit length.
        wide_plan: set by the wide path at prediction (prodemb.model): its lookups for
            this batch, reused by the other networks of an ensemble.
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    sub_ids: torch.Tensor
    sub_offsets: torch.Tensor
    sub_types: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    type_ids: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    wide_ids: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    wide_items: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    wide_values: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    wide_plan: tuple | None = None


@dataclass
class TokenEncoder:
    words: list[str]
    subword_buckets: int = 0
    ngram_range: tuple[int, int] = (3, 5)
    wide_buckets: int = 0
    wide_char_ngrams: tuple[int, int] = (0, 0)  # char n-gram lengths of the wide path; (0, 0): none
    wide_char_tokens: int = 0  # char n-grams of the first this many words only; 0: all
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.words[:2] != [PAD, UNK]:
            self.words = [PAD, UNK] + [w for w in self.words if w not in (PAD, UNK)]
        self.index = {w: i for i, w in enumerate(self.words)}
        self.ngram_range = tuple(self.ngram_range)
        self.wide_char_ngrams = tuple(self.wide_char_ngrams)
        self._ngrams = lru_cache(maxsize=200_000)(self._ngram_buckets)
        self._wide_word = lru_cache(maxsize=200_000)(self._wide_word_features)
        self._wide_plain = lru_cache(maxsize=200_000)(self._wide_plain_word)
        self._wide_pair = lru_cache(maxsize=500_000)(self._wide_word_pair)

    @classmethod
    def build(cls, base_words: Sequence[str], train_tokens: Iterable[Sequence[str]],
              min_count: int = 2, **kwargs) -> TokenEncoder:
        """Vocabulary = ``base_words`` (Word2Vec's) + training words seen ``min_count`` times."""
        known = set(base_words)
        counts = Counter(t for toks in train_tokens for t in toks if t not in known)
        extra = sorted(w for w, c in counts.items() if c >= min_count)
        return cls(list(base_words) + extra, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def _ngram_buckets(self, token: str) -> tuple[int, ...]:
        s = f"<{token}>"
        lo, hi = self.ngram_range
        out = []
        for n in range(lo, hi + 1):
            for i in range(0, len(s) - n + 1):
                out.append(zlib.crc32(s[i:i + n].encode()) % self.subword_buckets)
        return tuple(out)

    def wide_features(self, tokens: Sequence[str]) -> list[int]:
        """Distinct hashed ids in ``[0, wide_buckets)`` of the text's words, word pairs and
        char n-grams (of the first ``wide_char_tokens`` words), sorted."""
        return sorted(self._wide_set(tokens))

    def _wide_set(self, tokens: Sequence[str]) -> set[int]:
        if list(tokens) == [UNK]:  # the placeholder of an empty text
            return set()
        k = self.wide_char_tokens or len(tokens)
        # Hashes are cached per word and word pair (texts repeat them): prediction ran
        # 10 % faster than hashing every pair of every text.
        feats = set().union(*map(self._wide_word, tokens[:k]))
        feats.update(map(self._wide_plain, tokens[k:]))
        feats.update(map(self._wide_pair, tokens, tokens[1:]))
        return feats

    def _wide_plain_word(self, token: str) -> int:
        return zlib.crc32(b"w\x00" + token.encode()) % self.wide_buckets

    def _wide_word_pair(self, x: str, y: str) -> int:
        return zlib.crc32(f"b\x00{x}\x00{y}".encode()) % self.wide_buckets

    def _wide_word_features(self, token: str) -> frozenset[int]:
        """Hashed ids of a word and of its char n-grams (``wide_char_ngrams``)."""
        b = self.wide_buckets
        feats = {self._wide_plain(token)}
        lo, hi = self.wide_char_ngrams
        if hi:
            w = f" {token} ".encode()
            feats.update(zlib.crc32(b"c\x00" + w[i:i + n]) % b
                         for n in range(lo, hi + 1) for i in range(len(w) - n + 1))
        return frozenset(feats)

    def encode(self, tokens_list: Sequence[Sequence[str]]) -> Batch:
        """Pad a list of token lists into a :class:`Batch`. Empty texts become ``[<unk>]``."""
        tokens_list = [list(t) if len(t) else [UNK] for t in tokens_list]
        lengths = np.fromiter((len(t) for t in tokens_list), dtype=np.int64, count=len(tokens_list))
        max_len = int(lengths.max()) if len(lengths) else 1
        # Each distinct token of the batch once (type 0: <unk>, and padding): its word id
        # and its bag of n-grams are found once, not at every position (a batch of 512
        # texts has about 10,000 positions and 2,000 distinct tokens).
        types: dict[str, int] = {UNK: 0}
        position_types = np.zeros((len(tokens_list), max_len), dtype=np.int64)
        for row, toks in enumerate(tokens_list):
            position_types[row, : len(toks)] = [types.setdefault(t, len(types)) for t in toks]
        get = self.index.get
        type_ids = np.fromiter((get(t, 1) for t in types), dtype=np.int64, count=len(types))
        padding = np.arange(max_len)[None, :] >= lengths[:, None]
        ids = np.where(padding, 0, type_ids[position_types])
        if self.subword_buckets:
            bags = [()] + [self._ngrams(t) for t in itertools.islice(types, 1, None)]
            sizes = np.fromiter(map(len, bags), dtype=np.int64, count=len(bags))
            sub_ids = torch.as_tensor(np.fromiter(itertools.chain.from_iterable(bags),
                                                  dtype=np.int64, count=int(sizes.sum())))
            sub_offsets = torch.as_tensor(np.cumsum(sizes) - sizes)
        else:
            sub_ids = torch.zeros(0, dtype=torch.int64)
            sub_offsets = torch.zeros(0, dtype=torch.int64)
        batch = Batch(torch.as_tensor(ids), torch.as_tensor(lengths), sub_ids, sub_offsets,
                      torch.as_tensor(position_types), torch.as_tensor(type_ids))
        if self.wide_buckets:
            feats = [self._wide_set(t) for t in tokens_list]
            counts = np.fromiter((len(f) for f in feats), dtype=np.int64, count=len(feats))
            batch.wide_ids = torch.as_tensor(np.fromiter(
                itertools.chain.from_iterable(feats), dtype=np.int64, count=int(counts.sum())))
            batch.wide_items = torch.as_tensor(np.repeat(np.arange(len(feats)), counts))
            batch.wide_values = torch.as_tensor(
                np.repeat(1.0 / np.sqrt(np.maximum(counts, 1)), counts).astype(np.float32))
        return batch

    def to_dict(self) -> dict:
        return {"words": self.words, "subword_buckets": self.subword_buckets,
                "ngram_range": list(self.ngram_range), "wide_buckets": self.wide_buckets,
                "wide_char_ngrams": list(self.wide_char_ngrams),
                "wide_char_tokens": self.wide_char_tokens}

    @classmethod
    def from_dict(cls, data: dict) -> TokenEncoder:
        return cls(data["words"], data["subword_buckets"], tuple(data["ngram_range"]),
                   data.get("wide_buckets", 0), tuple(data.get("wide_char_ngrams", (0, 0))),
                   data.get("wide_char_tokens", 0))


def length_buckets(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                   pool: int = 50) -> list[np.ndarray]:
    """Batches of indices of similar length (dynamic padding), in random order.

    Items are shuffled, cut into pools of ``batch_size * pool``, sorted by length
    inside each pool and cut into batches; the batch order is shuffled.
    """
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), batch_size * pool):
        chunk = order[start: start + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i: i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches
