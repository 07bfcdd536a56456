"""Training configuration: one dataclass per stage, all with explicit defaults.

A config is written into every bundle (``config.json``) and can be given to
``prodemb train --config FILE`` as JSON holding any subset of the fields, e.g.
``{"classifier": {"epochs": 3}, "maps": {"methods": ["umap"]}}``.

Every field is validated (pydantic) when a config is made and on assignment, so a bad
value fails before any catalogue is read. Values are strict: ``"12"`` is not 12 and ``1``
is not ``true``. From a file or a dict (:meth:`TrainConfig.from_dict`), a bad value or an
unknown key is a :class:`ConfigError` naming each field by its dotted path
(``classifier.pos_weight``), what it accepts and the value given; in code, pydantic's
``ValidationError`` (also a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import field
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, PlainValidator, Strict, ValidationError
from pydantic.dataclasses import dataclass


class ConfigError(ValueError):
    """A bad training config: every bad field, named by its dotted path, and what it accepts."""


# Field types. Strict: no conversion of strings or bools into numbers (a whole number is
# a valid float, 3 for 3.0).
Whole = Annotated[int, Strict(), Field(ge=0)]            # 0, 1, 2, ...
Positive = Annotated[int, Strict(), Field(ge=1)]         # 1, 2, ...
Flag = Annotated[bool, Strict()]                         # true or false
Number = Annotated[float, Strict(), Field(ge=0)]         # a number >= 0
Rate = Annotated[float, Strict(), Field(gt=0)]           # a number > 0
Share = Annotated[float, Strict(), Field(ge=0, le=1)]    # from 0 to 1


def _ngram_range(value: object) -> tuple[int, int]:
    lo_hi = tuple(value) if isinstance(value, (list, tuple)) else ()
    if (len(lo_hi) == 2 and all(type(n) is int for n in lo_hi)
            and (1 <= lo_hi[0] <= lo_hi[1] or lo_hi == (0, 0))):
        return lo_hi
    raise ValueError(f"must be [lo, hi], two whole numbers with 1 <= lo <= hi, or [0, 0] for "
                     f"none; got {value!r}")


NgramRange = Annotated[tuple[int, int], PlainValidator(_ngram_range)]

#: The config parts are pydantic dataclasses: still dataclasses (``dataclasses.replace``,
#: ``asdict``, attribute access), validated when made and on assignment.
VALIDATED = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


@dataclass(config=VALIDATED)
class TextConfig:
    max_tokens: Positive = 64


@dataclass(config=VALIDATED)
class Word2VecConfig:
    sg: Flag = True  # skip-gram (True) or CBOW (False)
    vector_size: Positive = 100
    window: Positive = 5
    min_count: Whole = 3
    epochs: Positive = 5
    # A small catalogue gets more passes, until the corpus has been read this many tokens
    # (at most 50 epochs): with 5 passes over Fashion's 260,000 tokens the vectors stayed
    # near their random start (mean cosine of random word pairs 0.94; after 20 passes
    # 0.36, and "mascara" is next to "lash"). 0: always `epochs`.
    min_corpus_tokens: Whole = 5_000_000
    negative: Whole = 5
    sample: Number = 1e-3  # gensim's default; 1e-4 discarded most of a small corpus
    workers: Whole = 0  # 0: all available cores, shared by an ensemble's runs (side by side)
    probe_words: list[str] = field(default_factory=lambda: ["nike", "scarf", "kabelka", "cierna"])


@dataclass(config=VALIDATED)
class SplitConfig:
    train: Share = 0.8
    validation: Share = 0.1
    test: Share = 0.1
    # Seed of the split; None: TrainConfig.seed. Fixing it keeps the same test products
    # while the models are retrained with other seeds (bench/bench_quality.py --seeds).
    seed: Whole | None = None

    def __post_init__(self) -> None:  # when made; an assignment may be one of several
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-6:
            raise ValueError(f"train + validation + test must sum to 1, got {self.train} + "
                             f"{self.validation} + {self.test} = {total:g}")

    def split_seed(self, default: int) -> int:
        return default if self.seed is None else self.seed


@dataclass(config=VALIDATED)
class ClassifierConfig:
    # Architecture (see prodemb/model.py).
    # Units per direction. 64, with two networks (members): over 5 seeds per setting two
    # 64-unit networks, each from a Word2Vec run of its own, beat one 128-unit network on
    # every public setting (Fashion 0.938 against 0.929 test leaf macro-F1, fashion-small
    # 0.850 against 0.846, demo-longtail and demo too; docs/quality.md, "Smaller networks
    # and ensembles") for about the same training time and BiLSTM arithmetic. One 64-unit
    # network alone fitted its training products less well than one of 128.
    lstm_hidden: Positive = 64
    lstm_layers: Positive = 1
    embedding_dim: Positive = 128  # the product embedding (last hidden layer)
    # Networks trained alike but for their seeds (and their Word2Vec runs: two networks
    # of one run were too alike to gain), their node probabilities averaged; the first
    # one's last hidden layer is the product embedding.
    members: Positive = 2
    # Train the networks side by side, one process each, when the machine has `threads`
    # cores for each; the weights are the same as trained one after the other. Demo
    # bundle, 2 cores, 2 networks: classifier stage 214 s against 365 s one after the
    # other (bench/results/training.json, training_h64x2.json).
    parallel_members: Flag = True
    dropout: Annotated[float, Strict(), Field(ge=0, lt=1)] = 0.3
    subword_buckets: Whole = 65536  # hashed char n-gram buckets added to word vectors; 0: off
    subword_ngrams: NgramRange = (3, 5)
    freeze_word_vectors: Flag = False
    # A softmax head over leaves beside the per-node sigmoids (see prodemb/model.py).
    leaf_softmax: Flag = True
    # Class weights of the leaf softmax's cross-entropy: "none" or "sqrt_inverse"
    # (rare leaves count more; see prodemb.classifier.leaf_class_weights).
    leaf_weight: Literal["none", "sqrt_inverse"] = "none"
    # Logit adjustment of the leaf softmax's loss (prodemb.classifier): 1 learns balanced
    # leaf scores (rare leaves are not outweighed by their prior), 0 plain cross-entropy.
    leaf_logit_adjust: Number = 1.0
    # Share of the leaf prior added back at prediction time (prodemb.model.combine); None:
    # chosen on validation from 0, 0.25, ..., 1 (prodemb.pipeline.tune_leaf_mixing). How
    # much prior a catalogue wants differs (the balanced demo 0.75, fashion-small 0): a
    # fixed 0.5 / 0.5 pair, tried as the default at commit 56ced6b after re-decoding 12
    # bundles favoured it, cost fashion-small 0.012 test leaf macro-F1 over 5 fresh seeds
    # (the same networks re-decoded with the validation choice: 0.845 against 0.834;
    # docs/quality.md, "Mixing weights"), so each model chooses again.
    leaf_prior_weight: Share | None = None
    # A node's probability = w * its sigmoid + (1 - w) * the leaf softmax mass below it.
    # None: chosen on validation per model (prodemb.pipeline.tune_sigmoid_weight). 0.25 had
    # the best validation macro-F1 averaged over 7 models (5 fashion seeds, 2 demo); tuning
    # per model was noisy (the demo's validation scores for 0.25-0.75 were within 0.003).
    sigmoid_weight: Share | None = 0.25
    # Wide path (prodemb/model.py): hashed words and word pairs straight into the node and
    # leaf logits, trained jointly with the deep part (Adagrad, the classic optimiser of
    # sparse linear models), so a rare leaf's decisive word is remembered as a linear
    # model remembers it.
    wide: Flag = True
    wide_learning_rate: Rate = 1.0
    wide_char_ngrams: NgramRange = (3, 5)  # char n-grams of each word too; (0, 0): words only
    # A feature's weights: its most frequent leaves and nodes (prodemb.classifier.wide_pairs).
    # None: no node weights with a leaf head (they doubled the path's cost on long texts,
    # and the leaves, where the path matters, get theirs through its own softmax);
    # 4 * wide_max_leaves without one.
    wide_max_leaves: Whole = 8
    wide_max_nodes: Whole | None = None
    # Char n-grams of the first 16 words only (the title, in most catalogues): a long
    # description's n-grams halved prediction speed and add little that its words lack.
    wide_char_tokens: Whole = 16
    # The wide path has a leaf softmax of its own, trained with its own loss; the leaf
    # distribution is (1 - wide_mix) * the BiLSTM's + wide_mix * the wide path's. None:
    # chosen on validation per model from 0, 0.25, ..., 1 (prodemb.pipeline.tune_mix); see
    # leaf_prior_weight.
    wide_mix: Share | None = None
    wide_prune: Number = 0.0  # after training, drop the wide pairs whose |weight| is below this
    # Loss: per-label positive weights from label frequency.
    #   "sqrt_inverse" (default): w = sqrt(n_neg / n_pos), rare classes count more without
    #   letting a class of 12 examples dominate the gradient (inverse weights of 1000+
    #   made training unstable and hurt precision on rare classes in our runs).
    #   "inverse": w = n_neg / n_pos;  "none": w = 1.
    pos_weight: Literal["sqrt_inverse", "inverse", "none"] = "sqrt_inverse"
    max_pos_weight: Rate = 100.0
    # Optimisation. Training runs for `epochs`, or, when that is fewer than `min_steps`
    # optimiser steps, longer, up to `max_epochs` (a small training set: its rare products
    # must be seen often enough to be fitted; Fashion with 20 % of its training products
    # rose from 0.71 to 0.80 test leaf macro-F1 with 36 instead of 12 epochs). 4,000
    # rather than 2,000 steps: Fashion's train leaf macro-F1 0.936 -> 0.955 and demo-longtail's
    # test 0.641 -> 0.654, 5 seeds each (docs/quality.md, "Comparison at one commit with
    # min_steps 4,000"); the cap of 34 keeps fashion-small at the 34 epochs it had, since 40
    # cost it 0.01 test leaf macro-F1 ("Longer training for the train fit").
    epochs: Whole = 12  # 0 with min_steps 0: not trained (the model as initialised)
    min_steps: Whole = 4000
    max_epochs: Positive = 34
    # Weights averaged (exponential moving average) over about this many epochs; the
    # average is validated and kept. 0: off.
    average_epochs: Number = 2.0
    # Repeat-factor sampling: a product of a leaf with f < repeat_threshold training
    # products is seen sqrt(repeat_threshold / f) times per epoch (prodemb.classifier.
    # repeat_factors); 0: off.
    repeat_threshold: Number = 20.0
    batch_size: Positive = 128
    learning_rate: Rate = 4e-3
    # The rate decays linearly, epoch by epoch, to this share of it in the last planned
    # epoch (all optimisers, the wide path's too).
    final_learning_rate_share: Share = 0.2
    weight_decay: Number = 0.0
    # Which weights are kept: "best", those of the epoch with the best validation leaf
    # macro-F1 (most probable leaf), or "last", those at the end of training. With rare
    # leaves the validation score moves by +-0.015 from epoch to epoch on a flat curve,
    # so "best" picks noise; the averaged weights at the end of a decaying learning
    # rate are the steadier choice.
    keep: Literal["best", "last"] = "last"
    patience: Whole = 0          # early stop after this many epochs without a better score; 0: never
    max_train_minutes: Rate = 30.0  # a safety net; epochs and patience decide normally
    # Torch threads for training. 1 by default: a BiLSTM step on a batch of short titles
    # is too small to split well, and with any other load on the machine two spinning
    # OpenMP threads made training 13x slower here (bench/results, tiny config).
    threads: Whole = 1           # 0: all available cores


@dataclass(config=VALIDATED)
class EmbeddingConfig:
    unlabelled_sample: Whole = 10_000  # unlabelled products embedded and mapped beside the labelled


@dataclass(config=VALIDATED)
class MapConfig:
    methods: list[Literal["tsne", "umap"]] = field(default_factory=lambda: ["tsne", "umap"])
    # t-SNE / UMAP are fitted on at most this many products (a fixed random sample); the
    # others are placed by kNN interpolation, like new products. Keeps demo training
    # under 10 minutes on 2 cores (fitting all 60k took ~5 min for both maps).
    fit_points: Positive = 40_000
    n_neighbors_place: Positive = 10  # k of the kNN interpolation that places new products


@dataclass(config=VALIDATED)
class ReviewConfig:
    # Label review (prodemb.review.label_doubts): out-of-fold probabilities of a TF-IDF +
    # logistic-regression model over the labelled products, k folds; 0: no review columns.
    # 3 folds on the 50,000-product demo: 20-50 s, and 94-98 % of the 50 most doubted
    # labels were planted errors (2 % planted; bench/bench_review.py, results/review.json).
    folds: Whole = 3

    def __post_init__(self) -> None:
        if self.folds == 1:
            raise ValueError("folds must be 0 (no label review) or at least 2, got 1")


@dataclass(config=VALIDATED)
class TrainConfig:
    seed: Whole = 0
    # Leaves with fewer labelled products than this are rolled up into their parent before
    # the tree is built (prodemb.taxonomy.roll_up_rare_leaves; `prodemb train
    # --min-leaf-count N`). 0 or 1: the tree as labelled.
    min_leaf_count: Whole = 0
    text: TextConfig = field(default_factory=TextConfig)
    word2vec: Word2VecConfig = field(default_factory=Word2VecConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    embeddings: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    maps: MapConfig = field(default_factory=MapConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> TrainConfig:
        """The config of ``data`` (any subset of the fields, nested as in :meth:`to_dict`);
        :class:`ConfigError` naming every bad field (``source`` starts the message)."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: must be a JSON object, got {type(data).__name__}")
        try:
            return cls(**data)
        except ValidationError as e:
            raise ConfigError(f"{source}: " + "; ".join(_problems(e, cls))) from None

    @classmethod
    def from_json_file(cls, path: str) -> TrainConfig:
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except ValueError as e:
                raise ConfigError(f"{path}: not valid JSON: {e}") from None
        return cls.from_dict(data, source=path)


def _problems(error: ValidationError, root: type) -> list[str]:
    """One line per problem of ``error``: the field's dotted path (``classifier.epochs``),
    what it accepts and the value given; unknown keys with the known keys beside them."""
    lines, unknown = [], {}
    for e in error.errors():
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"])[1:]
        if e["type"] == "unexpected_keyword_argument":
            unknown.setdefault(where.rpartition(".")[0], []).append(where.rpartition(".")[2])
            continue
        msg = e["msg"].removeprefix("Value error, ")
        if "got " not in msg:
            msg += f", got {e['input']!r}"
        lines.append(f"{where or 'config'}: {msg[0].lower()}{msg[1:]}")
    for parent, keys in unknown.items():
        part = root()
        for name in filter(None, parent.split(".")):
            part = getattr(part, name)
        known = ", ".join(f.name for f in dataclasses.fields(part))
        lines.append(f"unknown key(s) {', '.join(map(repr, keys))} in {parent or 'the config'}"
                     f"; known: {known}")
    return lines
