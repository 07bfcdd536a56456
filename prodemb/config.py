"""Training configuration: one dataclass per stage, all with explicit defaults.

A config is written into every bundle (``config.json``) and can be given to
``prodemb train --config FILE`` as JSON holding any subset of the fields, e.g.
``{"classifier": {"epochs": 3}, "maps": {"methods": ["umap"]}}``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass
class TextConfig:
    max_tokens: int = 64


@dataclass
class Word2VecConfig:
    sg: bool = True            # skip-gram (True) or CBOW (False)
    vector_size: int = 100
    window: int = 5
    min_count: int = 3
    epochs: int = 5
    # A small catalogue gets more passes, until the corpus has been read this many tokens
    # (at most 50 epochs): with 5 passes over Fashion's 260,000 tokens the vectors stayed
    # near their random start (mean cosine of random word pairs 0.94; after 20 passes
    # 0.36, and "mascara" is next to "lash"). 0: always `epochs`.
    min_corpus_tokens: int = 5_000_000
    negative: int = 5
    sample: float = 1e-3     # gensim's default; 1e-4 discarded most of a small corpus
    workers: int = 0           # 0: all available cores
    probe_words: list[str] = field(default_factory=lambda: ["nike", "scarf", "kabelka", "cierna"])


@dataclass
class SplitConfig:
    train: float = 0.8
    validation: float = 0.1
    test: float = 0.1
    # Seed of the split; None: TrainConfig.seed. Fixing it keeps the same test products
    # while the models are retrained with other seeds (bench/bench_quality.py --seeds).
    seed: int | None = None

    def split_seed(self, default: int) -> int:
        return default if self.seed is None else self.seed


@dataclass
class ClassifierConfig:
    # Architecture (see prodemb/model.py).
    lstm_hidden: int = 128     # per direction
    lstm_layers: int = 1
    embedding_dim: int = 128   # the product embedding (last hidden layer)
    dropout: float = 0.3
    subword_buckets: int = 65536  # hashed char n-gram buckets added to word vectors; 0: off
    subword_ngrams: tuple[int, int] = (3, 5)
    freeze_word_vectors: bool = False
    # A softmax head over leaves beside the per-node sigmoids (see prodemb/model.py).
    leaf_softmax: bool = True
    # Class weights of the leaf softmax's cross-entropy: "none" or "sqrt_inverse"
    # (rare leaves count more; see prodemb.classifier.leaf_class_weights).
    leaf_weight: str = "none"
    # Logit adjustment of the leaf softmax's loss (prodemb.classifier): 1 learns balanced
    # leaf scores (rare leaves are not outweighed by their prior), 0 plain cross-entropy.
    leaf_logit_adjust: float = 1.0
    # Share of the leaf prior added back at prediction time (prodemb.model.combine); None:
    # chosen on validation from 0, 0.25, ..., 1 (prodemb.pipeline.tune_leaf_mixing).
    leaf_prior_weight: float | None = None
    # A node's probability = w * its sigmoid + (1 - w) * the leaf softmax mass below it.
    # None: chosen on validation per model (prodemb.pipeline.tune_sigmoid_weight). 0.25 had
    # the best validation macro-F1 averaged over 7 models (5 fashion seeds, 2 demo); tuning
    # per model was noisy (the demo's validation scores for 0.25-0.75 were within 0.003).
    sigmoid_weight: float | None = 0.25
    # Wide path (prodemb/model.py): hashed words and word pairs straight into the node and
    # leaf logits, trained jointly with the deep part (Adagrad, the classic optimiser of
    # sparse linear models), so a rare leaf's decisive word is remembered as a linear
    # model remembers it.
    wide: bool = True
    wide_learning_rate: float = 1.0
    wide_char_ngrams: tuple[int, int] = (3, 5)  # char n-grams of each word too; (0, 0): words only
    # A feature's weights: its most frequent leaves and nodes (prodemb.classifier.wide_pairs).
    # None: no node weights with a leaf head (they doubled the path's cost on long texts,
    # and the leaves, where the path matters, get theirs through its own softmax);
    # 4 * wide_max_leaves without one.
    wide_max_leaves: int = 8
    wide_max_nodes: int | None = None
    # Char n-grams of the first 16 words only (the title, in most catalogues): a long
    # description's n-grams halved prediction speed and add little that its words lack.
    wide_char_tokens: int = 16
    # The wide path has a leaf softmax of its own, trained with its own loss; the leaf
    # distribution is (1 - wide_mix) * the BiLSTM's + wide_mix * the wide path's. None:
    # chosen on validation per model from 0, 0.25, ..., 1 (prodemb.pipeline.tune_mix).
    wide_mix: float | None = None
    wide_prune: float = 0.0  # after training, drop the wide pairs whose |weight| is below this
    # Loss: per-label positive weights from label frequency.
    #   "sqrt_inverse" (default): w = sqrt(n_neg / n_pos), rare classes count more without
    #   letting a class of 12 examples dominate the gradient (inverse weights of 1000+
    #   made training unstable and hurt precision on rare classes in our runs).
    #   "inverse": w = n_neg / n_pos;  "none": w = 1.
    pos_weight: str = "sqrt_inverse"
    max_pos_weight: float = 100.0
    # Optimisation. Training runs for `epochs`, or, when that is fewer than `min_steps`
    # optimiser steps, longer, up to `max_epochs` (a small training set: its rare products
    # must be seen often enough to be fitted; Fashion with 20 % of its training products
    # rose from 0.71 to 0.80 test leaf macro-F1 with 36 instead of 12 epochs).
    epochs: int = 12
    min_steps: int = 2000
    max_epochs: int = 40
    # Weights averaged (exponential moving average) over about this many epochs; the
    # average is validated and kept. 0: off.
    average_epochs: float = 2.0
    # Repeat-factor sampling: a product of a leaf with f < repeat_threshold training
    # products is seen sqrt(repeat_threshold / f) times per epoch (prodemb.classifier.
    # repeat_factors); 0: off.
    repeat_threshold: float = 20.0
    batch_size: int = 128
    learning_rate: float = 4e-3
    weight_decay: float = 0.0
    # Which weights are kept: "best", those of the epoch with the best validation leaf
    # macro-F1 (most probable leaf), or "last", those at the end of training. With rare
    # leaves the validation score moves by +-0.015 from epoch to epoch on a flat curve,
    # so "best" picks noise; the averaged weights at the end of a decaying learning
    # rate are the steadier choice.
    keep: str = "last"
    patience: int = 0          # early stop after this many epochs without a better score; 0: never
    max_train_minutes: float = 30.0  # a safety net; epochs and patience decide normally
    # Torch threads for training. 1 by default: a BiLSTM step on a batch of short titles
    # is too small to split well, and with any other load on the machine two spinning
    # OpenMP threads made training 13x slower here (bench/results, tiny config).
    threads: int = 1           # 0: all available cores


@dataclass
class EmbeddingConfig:
    unlabelled_sample: int = 10_000  # unlabelled products embedded and mapped beside the labelled


@dataclass
class MapConfig:
    methods: list[str] = field(default_factory=lambda: ["tsne", "umap"])
    # t-SNE / UMAP are fitted on at most this many products (a fixed random sample); the
    # others are placed by kNN interpolation, like new products. Keeps demo training
    # under 10 minutes on 2 cores (fitting all 60k took ~5 min for both maps).
    fit_points: int = 40_000
    n_neighbors_place: int = 10  # k of the kNN interpolation that places new products


@dataclass
class TrainConfig:
    seed: int = 0
    # Leaves with fewer labelled products than this are rolled up into their parent before
    # the tree is built (prodemb.taxonomy.roll_up_rare_leaves; `prodemb train
    # --min-leaf-count N`). 0 or 1: the tree as labelled.
    min_leaf_count: int = 0
    text: TextConfig = field(default_factory=TextConfig)
    word2vec: Word2VecConfig = field(default_factory=Word2VecConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    maps: MapConfig = field(default_factory=MapConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        return _from_dict(cls, data, "config")

    @classmethod
    def from_json_file(cls, path: str) -> TrainConfig:
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


def _from_dict(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a JSON object")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {sorted(unknown)}; known: {sorted(fields)}")
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        current = getattr(defaults, name)
        if dataclasses.is_dataclass(current):
            kwargs[name] = _from_dict(type(current), value, f"{where}.{name}")
        elif isinstance(current, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)
