"""Fitting and using the BiLSTM classifier: an estimator-like API.

``Classifier(config).fit(train_tokens, y_train, val_tokens, y_val, word_vectors)``,
then ``predict_proba(tokens)`` -> node probabilities and ``transform(tokens)`` ->
product embeddings. Weights are stored as safetensors, the rest as JSON.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .config import ClassifierConfig, TrainConfig
from .encoding import TokenEncoder, length_buckets
from .metrics import macro_f1
from .model import ModelConfig, ProductClassifier
from .taxonomy import Taxonomy
from .utils import available_cores, progress
from .word2vec import WordVectors

log = logging.getLogger(__name__)

Tokens = Sequence[Sequence[str]]


def label_pos_weights(y: np.ndarray, scheme: str = "sqrt_inverse",
                      max_weight: float = 100.0) -> np.ndarray:
    """Positive-class weight per label from its frequency in ``y`` ``(n, L)``; shape ``(L,)``.

    ``inverse``: n_neg / n_pos; ``sqrt_inverse``: its square root; ``none``: 1.
    Labels without positives get weight 1. Weights are clipped to ``max_weight``.
    """
    y = np.asarray(y)
    pos = y.sum(axis=0).astype(np.float64)
    neg = y.shape[0] - pos
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    if scheme == "inverse":
        w = ratio
    elif scheme == "sqrt_inverse":
        w = np.sqrt(ratio)
    elif scheme == "none":
        w = np.ones_like(ratio)
    else:
        raise ValueError(f"unknown pos_weight scheme {scheme!r} (inverse, sqrt_inverse, none)")
    return np.clip(w, 1.0 if scheme != "none" else 1.0, max_weight).astype(np.float32)


def leaf_class_weights(leaf_targets: np.ndarray, scheme: str = "none") -> torch.Tensor | None:
    """Class weights of the leaf softmax's cross-entropy, shape ``(n_leaves,)``, or None.

    ``leaf_targets`` ``(n, n_leaves)`` are the items' leaf distributions. ``sqrt_inverse``
    weighs a leaf by sqrt(largest leaf count / its count), scaled so that the average item
    weighs 1 (the loss keeps its size next to the node BCE); ``none``: unweighted.
    """
    if scheme == "none":
        return None
    if scheme != "sqrt_inverse":
        raise ValueError(f"unknown leaf_weight scheme {scheme!r} (sqrt_inverse, none)")
    t = np.asarray(leaf_targets, dtype=np.float64)
    count = t.sum(axis=0)
    w = np.sqrt(count.max() / np.maximum(count, 1.0))
    has = t.sum(axis=1) > 0
    w /= max(float((t[has] @ w).mean()), 1e-12) if has.any() else 1.0
    return torch.from_numpy(w.astype(np.float32))


def weighted_bce(logits: torch.Tensor, targets: torch.Tensor, pos_weight: torch.Tensor) -> torch.Tensor:
    """Mean over items and labels of ``-(w·y·log σ(z) + (1-y)·log(1-σ(z)))``."""
    return F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pos_weight)


def bce_of_probs(probs: np.ndarray, y: np.ndarray, pos_weight: np.ndarray) -> float:
    """:func:`weighted_bce` computed from probabilities instead of logits (for reporting)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype=np.float64)
    return float(np.mean(-(pos_weight * y * np.log(p) + (1 - y) * np.log1p(-p))))


def prune_wide(model: ProductClassifier, min_abs: float) -> ProductClassifier:
    """The model without the wide path's pairs whose weight is below ``min_abs`` in size.

    Most pairs of common features end near zero (a word seen with many categories tells
    little about any one), yet they cost inference time and bundle space; a weight under
    0.05 moves a logit by well under 0.01 (feature values are about 1/sqrt(number of
    features), 0.05 to 0.3). The pruned model is the one evaluated and saved.
    """
    w = model.wide_weight.detach()
    keep = w.abs() >= min_abs
    feature = torch.repeat_interleave(model.wide_keys, torch.diff(model.wide_offsets))[keep]
    keys, counts = torch.unique_consecutive(feature, return_counts=True)
    config = ModelConfig(**{**model.config.to_dict(), "wide_features": len(keys),
                            "wide_pairs": int(keep.sum())})
    pruned = ProductClassifier(config)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("wide")}
    pruned.load_state_dict(state, strict=False)
    if config.wide_pairs:
        pruned.set_wide_pairs(keys, torch.cat([torch.zeros(1, dtype=torch.int64),
                                               torch.cumsum(counts, 0)]), model.wide_outputs[keep])
        with torch.no_grad():
            pruned.wide_weight.copy_(w[keep])
    return pruned.train(model.training)


def leaf_argmax_macro_f1(probs: np.ndarray, y: np.ndarray, leaf_ids: Sequence[int]) -> float:
    """Leaf macro-F1 when each product (with a leaf label) gets its most probable leaf.

    ``probs``, ``y``: node probabilities and 0/1 labels ``(n, n_nodes)``; products whose
    paths all stop above the leaves are left out.
    """
    leaf_y = np.asarray(y, dtype=bool)[:, leaf_ids]
    has = leaf_y.any(axis=1)
    if not has.any():
        return 0.0
    best = np.asarray(probs)[has][:, leaf_ids].argmax(axis=1)
    pred = np.zeros((int(has.sum()), len(leaf_ids)), dtype=bool)
    pred[np.arange(len(best)), best] = True
    return macro_f1(leaf_y[has], pred)


def repeat_factors(y: np.ndarray, threshold: float) -> np.ndarray:
    """How often each training product is seen per epoch, on average, ``(n,)``.

    Repeat-factor sampling (Gupta et al. 2019, LVIS): a product whose rarest label has
    ``f`` training products is repeated ``max(1, sqrt(threshold / f))`` times (stochastic
    rounding per epoch), so a leaf with one product is seen ~4.5 times per epoch at
    threshold 20 while leaves with ``threshold`` or more products are unchanged. Rare
    leaves get the exposures they need to be fitted without training longer on
    everything. ``threshold`` 0: every product once.
    """
    y = np.asarray(y, dtype=bool)
    if threshold <= 0 or not len(y):
        return np.ones(len(y))
    count = y.sum(axis=0).astype(np.float64)
    rarest = np.where(y, count[None, :], np.inf).min(axis=1)
    return np.maximum(1.0, np.sqrt(threshold / np.maximum(rarest, 1.0)))


EMA_EVERY = 4  # optimiser steps between updates of the weights' moving average
WIDE_BUCKETS = 1 << 24  # hash space of the wide path's features (only the seen ones are stored)


def wide_pairs(encoder: TokenEncoder, tokens: Tokens, y: np.ndarray, leaf_ids: Sequence[int],
               max_leaves: int = 8, max_nodes: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The wide path's (feature, output) pairs: those that occur together in the training data.

    Outputs are the ``L`` nodes (``y`` ``(n, L)``) and then the leaves ``leaf_ids`` of the
    leaf head (output ``L + position``). A feature keeps its ``max_leaves`` most frequent
    leaves and ``max_nodes`` (default ``4 * max_leaves``; 0: none) most frequent nodes: a
    word that occurs with many categories says little about any one of them, and without
    the cap such words would cost most of the path's time and size. Rare features, which
    are what the path is for, keep all their pairs.

    Returns ``keys`` ``(U,)`` (sorted feature ids), ``offsets`` ``(U + 1,)`` and
    ``outputs`` ``(P,)``: the pairs of ``keys[u]`` are ``outputs[offsets[u]:offsets[u + 1]]``.
    """
    n_labels = y.shape[1]
    n_out = n_labels + len(leaf_ids)
    leaf_pos = np.full(n_labels, -1, dtype=np.int64)
    leaf_pos[np.asarray(leaf_ids, dtype=np.int64)] = np.arange(len(leaf_ids))
    chunks = [np.zeros(0, dtype=np.int64)]
    for toks, row in zip(tokens, np.asarray(y, dtype=bool)):
        feats = np.asarray(encoder.wide_features(toks), dtype=np.int64)
        nodes = np.flatnonzero(row)
        leaves = leaf_pos[nodes]
        outs = np.concatenate([nodes, n_labels + leaves[leaves >= 0]])
        chunks.append((feats[:, None] * n_out + outs[None, :]).ravel())
    pairs, counts = np.unique(np.concatenate(chunks), return_counts=True)
    feature, output = pairs // n_out, pairs % n_out
    to_leaf = output >= n_labels
    # Rank each pair within its (feature, nodes or leaves) group by count, most frequent first.
    order = np.lexsort((-counts, to_leaf, feature))
    f, g = feature[order], to_leaf[order]
    starts = np.r_[True, (f[1:] != f[:-1]) | (g[1:] != g[:-1])] if len(order) else np.zeros(0, bool)
    position = np.arange(len(order))
    rank = position - np.maximum.accumulate(np.where(starts, position, 0))
    kept = np.sort(order[rank < np.where(g, max_leaves, 4 * max_leaves if max_nodes is None
                                         else max_nodes)])
    keys, first = np.unique(feature[kept], return_index=True)
    return keys, np.append(first, len(kept)).astype(np.int64), output[kept]


def leaf_log_prior(y: np.ndarray, leaf_ids: Sequence[int]) -> torch.Tensor:
    """Log of each leaf's (add-one smoothed) share of the training products, ``(K,)``."""
    t = np.asarray(y, dtype=np.float32)[:, leaf_ids]
    return torch.from_numpy(np.log(t.sum(axis=0) + 1) - np.log(t.sum() + t.shape[1])).float()


@dataclass
class TrainingLoss:
    """The training loss of a batch: weighted BCE over the tree's nodes, plus, with the leaf
    head, a logit-adjusted cross-entropy over leaves for the BiLSTM's and the wide path's
    leaf logits.

    Attributes: ``y`` node targets ``(n, N)``; ``pos_weight`` ``(N,)``; ``leaf_targets``
    ``(n, K)`` (rows sum to 1, or 0 for products without a leaf); ``leaf_shift`` ``(K,)``
    added to leaf logits in the loss only; ``leaf_weight`` ``(K,)`` or None.
    """

    y: torch.Tensor
    pos_weight: torch.Tensor
    leaf_targets: torch.Tensor | None = None
    leaf_shift: torch.Tensor | None = None
    leaf_weight: torch.Tensor | None = None

    def __call__(self, outputs, idx: np.ndarray) -> torch.Tensor:
        node_logits, leaf_logits, wide_leaf = outputs
        loss = weighted_bce(node_logits, self.y[idx], self.pos_weight)
        if leaf_logits is not None:
            target = self.leaf_targets[idx]
            has = target.sum(dim=1) > 0
            if has.any():
                for logits in (leaf_logits, wide_leaf):
                    if logits is not None:
                        loss = loss + F.cross_entropy(logits[has] + self.leaf_shift, target[has],
                                                      weight=self.leaf_weight)
        return loss


#: Seed of network k of an ensemble: the classifier's seed + k * this.
NETWORK_SEED_STEP = 1000


class Classifier:
    """Word2Vec-initialised BiLSTM over the whole category tree.

    Args:
        config: hyper-parameters (:class:`prodemb.config.ClassifierConfig`).
        seed: seed of every random choice in fitting (init, dropout, batch order).
    """

    def __init__(self, config: ClassifierConfig | None = None, seed: int = 0):
        self.config = config or ClassifierConfig()
        self.seed = seed
        self.encoder: TokenEncoder | None = None
        # The first network; its last hidden layer is the product embedding.
        self.model: ProductClassifier | None = None
        # Further networks (``config.members - 1``), trained alike with seeds seed + 1000, ...:
        # the node probabilities are the mean over all networks.
        self.extra_models: list[ProductClassifier] = []
        self.history: list[dict] = []
        self.kept_epoch: int | None = None

    # ------------------------------------------------------------------ fitting
    def fit(self, train_tokens: Tokens, y_train: np.ndarray, val_tokens: Tokens, y_val: np.ndarray,
            word_vectors: WordVectors | list[WordVectors] | None = None,
            taxonomy: Taxonomy | None = None,
            show_progress: bool = True, on_epoch=None) -> Classifier:
        """Train on ``train_tokens`` with 0/1 labels ``y_train`` ``(n, L)``, validating each
        epoch on ``(val_tokens, y_val)``.

        With ``taxonomy`` (whose nodes are the L labels) and ``config.leaf_softmax``, a
        softmax head over the tree's leaves is trained too. ``on_epoch(epoch, self)``, if
        given, is called after each epoch; a dict it returns is added to that epoch's
        ``history`` record (diagnostics such as per-split scores). With ``show_progress``
        a bar per epoch and a line after it are printed; otherwise the lines are logged.

        With ``config.members`` k > 1, k networks are trained alike but for their seeds
        (``seed``, ``seed + 1000``, ...; ``on_epoch`` sees the first) and, given a list of
        ``word_vectors``, network i starts from the i-th (the vocabulary is the first's).
        Networks that share one Word2Vec run are too alike to gain from averaging
        (docs/quality.md, "Ensembles"). With ``config.parallel_members`` and a free core per
        network (``threads`` each), networks 2, 3, ... train in processes of their own while
        network 1 trains here; the weights are the same.
        """
        from .side_training import SideNetwork

        c = self.config
        if c.keep not in ("best", "last"):
            raise ValueError(f"classifier keep must be 'best' or 'last', got {c.keep!r}")
        torch.set_num_threads(c.threads or available_cores())
        train_tokens = list(train_tokens)
        say = (lambda msg: print(msg, flush=True)) if show_progress else log.info
        # One set of word vectors per network (each its own Word2Vec) or one for all.
        vectors = (list(word_vectors) if isinstance(word_vectors, (list, tuple))
                   else [word_vectors])
        seeds = [self.seed + NETWORK_SEED_STEP * k for k in range(c.members)]  # no shared network
        starts = [vectors[k % len(vectors)] for k in range(c.members)]
        # Networks 2.. in processes of their own while the machine has cores for them; the
        # rest (and always the first, whose epochs on_epoch sees) here, one after the other.
        side = self._side_processes()
        others = [SideNetwork(c, seeds[k], train_tokens, y_train, list(val_tokens), y_val,
                               starts[k], taxonomy, vectors[0]) for k in range(1, side + 1)]
        try:
            if others:
                names = ", ".join(str(k + 1) for k in range(1, side + 1))
                where = ("trains in a process of its own" if side == 1
                         else "train in processes of their own")
                say(f"network{'s' * (side > 1)} {names} of {c.members} {where}, at the same "
                    "time as network 1")
            trained = {}
            for k in [0, *range(side + 1, c.members)]:
                if c.members > 1:
                    say(f"network {k + 1} of {c.members} (seed {seeds[k]})")
                self._fit_network(seeds[k], train_tokens, y_train, val_tokens, y_val, starts[k],
                                  taxonomy, show_progress, on_epoch if k == 0 else None,
                                  vocabulary=vectors[0])
                trained[k] = (self.model, self.history, self.kept_epoch)
            for k, other in enumerate(others, start=1):
                trained[k] = other.result(lambda k=k: say(f"waiting for network {k + 1} of {c.members}"))
        finally:
            for other in others:
                other.stop()
        # The first network's history is the one reported (the others' are alike).
        self.model, self.history, self.kept_epoch = trained[0]
        self.extra_models = [trained[k][0] for k in range(1, c.members)]
        for net in self.extra_models:
            net.share_wide_pairs(self.model)
        return self

    def _side_processes(self) -> int:
        """How many networks train in processes of their own beside this one: while there
        are ``threads`` free cores for each (``parallel_members``)."""
        c = self.config
        if not c.parallel_members or c.members < 2 or not c.threads:
            return 0
        return max(0, min(c.members, available_cores() // c.threads) - 1)

    def _fit_network(self, seed: int, train_tokens: list, y_train: np.ndarray, val_tokens: Tokens,
                     y_val: np.ndarray, word_vectors: WordVectors | None, taxonomy: Taxonomy | None,
                     show_progress: bool, on_epoch, vocabulary: WordVectors | None = None) -> None:
        """Build and train one network (``self.model``) with ``seed``, its word embeddings
        started from ``word_vectors``, its vocabulary that of ``vocabulary`` (default:
        ``word_vectors``; the networks of an ensemble share one encoder)."""
        c = self.config
        say = (lambda msg: print(msg, flush=True)) if show_progress else log.info
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        leaf_ids = list(taxonomy.leaves) if taxonomy is not None else []
        self.extra_models = []  # validation during training judges this network alone
        self._build(train_tokens, y_train, word_vectors, taxonomy,
                    vocabulary if vocabulary is not None else word_vectors)
        loss_of = self._loss(y_train, leaf_ids)
        optimizers, clipped = self._optimizers()

        # Planned length: at least `epochs`, and at least `min_steps` optimiser steps, so a
        # small training set is not stopped before its rare products were seen often enough.
        repeats = repeat_factors(y_train, c.repeat_threshold)
        steps_per_epoch = max(1, -(-int(round(repeats.sum())) // c.batch_size))
        epochs = max(c.epochs, min(c.max_epochs, -(-c.min_steps // steps_per_epoch)))
        # Linear decay from the full rate to `final_learning_rate_share` of it over the
        # planned epochs.
        drop = 1 - c.final_learning_rate_share
        schedulers = [torch.optim.lr_scheduler.LambdaLR(
            opt, lambda e: 1 - drop * e / max(epochs - 1, 1)) for opt in optimizers]
        # Exponential moving average of the weights, over about `average_epochs` epochs; it
        # is what is validated and kept. One run's scores move from epoch to epoch and
        # seed to seed mostly by a few rare leaves flipping; the average moves less.
        averaged = None
        if c.average_epochs > 0:
            decay = max(0.0, 1 - EMA_EVERY / (c.average_epochs * steps_per_epoch))
            averaged = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(decay))

        lengths = np.array([max(1, len(t)) for t in train_tokens])
        pos_weight = loss_of.pos_weight.numpy()
        step = 0
        best_score, best_state, stale = -1.0, None, 0
        deadline = time.monotonic() + c.max_train_minutes * 60
        self.history, self.kept_epoch = [], None
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            # Rare products are seen more than once per epoch (repeat_factors).
            items = np.repeat(np.arange(len(repeats)), np.floor(repeats + rng.random(len(repeats)))
                              .astype(np.int64))
            batches = [items[b] for b in length_buckets(lengths[items], c.batch_size, rng)]
            bar = progress(batches, desc=f"epoch {epoch}/{epochs}", disable=not show_progress,
                           leave=False)
            total, seen = 0.0, 0
            self.model.train()
            for idx in bar:
                loss = loss_of(self.model(self.encoder.encode([train_tokens[i] for i in idx])), idx)
                for opt in optimizers:
                    opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(clipped, 5.0)
                for opt in optimizers:
                    opt.step()
                step += 1
                if averaged is not None and step % EMA_EVERY == 0:
                    averaged.update_parameters(self.model)
                total += loss.item() * len(idx)
                seen += len(idx)
                bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            bar.close()
            learning_rate = optimizers[0].param_groups[0]["lr"]  # of this epoch, for the record
            for scheduler in schedulers:
                scheduler.step()

            # Validate (and keep) the averaged weights once there are any.
            judged = averaged.module if averaged is not None and step >= EMA_EVERY else self.model
            record, score = self._validate(judged, val_tokens, y_val, pos_weight, leaf_ids)
            record = {"epoch": epoch, "learning_rate": learning_rate,
                      "train_loss": round(total / max(seen, 1), 5), **record,
                      "seconds": round(time.perf_counter() - start, 1)}
            if on_epoch is not None:
                trained, self.model = self.model, judged
                record.update(on_epoch(epoch, self) or {})
                self.model = trained
            self.history.append(record)
            say(f"epoch {epoch}: train loss {record['train_loss']:.4f}  val loss "
                f"{record['val_loss']:.4f}  val macro-F1 {record['val_macro_f1']:.4f}  "
                f"({record['seconds']:.0f} s)")
            # Ties go to the later epoch: more training, and the average covers more of it.
            stale = 0 if score > best_score + 1e-4 else stale + 1
            if c.keep == "last" or score >= best_score:
                best_state = copy.deepcopy(judged.state_dict())
                self.kept_epoch = epoch
            best_score = max(best_score, score)
            if c.patience and stale >= c.patience:
                say(f"early stop after epoch {epoch} (best validation score {best_score:.4f})")
                break
            if time.monotonic() > deadline:
                log.warning("stopping: training time budget of %.1f min used", c.max_train_minutes)
                break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        if self.model.wide_weight is not None and c.wide_prune:
            self.model = prune_wide(self.model, c.wide_prune)
        # The bundle stores weights as float16: evaluate the weights it will really hold.
        self.model.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                                    for k, v in self.model.state_dict().items()})
        self.model.eval()

    def _build(self, train_tokens: list, y_train: np.ndarray, word_vectors: WordVectors | None,
               taxonomy: Taxonomy | None, vocabulary: WordVectors | None = None) -> None:
        """The encoder (vocabulary, hashing: from ``vocabulary``'s words, default
        ``word_vectors``'s) and the network, with its wide path's pairs, Word2Vec rows
        (``word_vectors``) and output biases set from the training data."""
        c = self.config
        vocabulary = vocabulary if vocabulary is not None else word_vectors
        self.encoder = TokenEncoder.build(vocabulary.words if vocabulary is not None else [],
                                          train_tokens, min_count=2,
                                          subword_buckets=c.subword_buckets,
                                          ngram_range=tuple(c.subword_ngrams),
                                          wide_buckets=WIDE_BUCKETS if c.wide else 0,
                                          wide_char_ngrams=tuple(c.wide_char_ngrams),
                                          wide_char_tokens=c.wide_char_tokens)
        n_leaves = len(taxonomy.leaves) if taxonomy is not None and c.leaf_softmax else 0
        wide = (wide_pairs(self.encoder, train_tokens, y_train, taxonomy.leaves if n_leaves else [],
                           c.wide_max_leaves,
                           (0 if n_leaves else None) if c.wide_max_nodes is None
                           else c.wide_max_nodes) if c.wide else None)
        self.model = ProductClassifier(ModelConfig(
            vocab_size=self.encoder.vocab_size, n_labels=y_train.shape[1],
            word_dim=word_vectors.dim if word_vectors is not None else 100,
            lstm_hidden=c.lstm_hidden, lstm_layers=c.lstm_layers, embedding_dim=c.embedding_dim,
            dropout=c.dropout, subword_buckets=c.subword_buckets, n_leaves=n_leaves,
            sigmoid_weight=0.5 if c.sigmoid_weight is None else c.sigmoid_weight,
            wide_features=len(wide[0]) if wide else 0, wide_pairs=len(wide[2]) if wide else 0,
            wide_mix=0.5 if c.wide_mix is None else c.wide_mix,
            leaf_prior_weight=c.leaf_prior_weight or 0.0))
        if wide and len(wide[2]):
            self.model.set_wide_pairs(*(torch.from_numpy(a) for a in wide))
            log.info("wide path: %d features, %d (feature, output) pairs", len(wide[0]), len(wide[2]))
        if self.model.leaf_out is not None:
            leaf_ids = list(taxonomy.leaves)
            l2n = taxonomy.binarize([[taxonomy.nodes[i]] for i in leaf_ids]).astype(np.float32)
            self.model.leaf_to_nodes.copy_(torch.from_numpy(l2n))
            log_prior = leaf_log_prior(y_train, leaf_ids)
            self.model.leaf_log_prior.copy_(log_prior)
            with torch.no_grad():  # start at the leaf priors (minus what the loss adds)
                self.model.leaf_out.bias.copy_(log_prior - c.leaf_logit_adjust * log_prior)
        if word_vectors is not None:
            # By word: another Word2Vec run of an ensemble may order (or keep) words apart.
            rows = np.array([self.encoder.index.get(w, -1) for w in word_vectors.words])
            known = rows >= 0
            self.model.init_word_vectors(torch.from_numpy(word_vectors.vectors[known]),
                                         torch.from_numpy(rows[known]))
            if c.freeze_word_vectors:
                self.model.word_emb.weight.requires_grad_(False)
        # Start every output at its (weighted) label prior instead of 0.5: with hundreds
        # of mostly-negative labels this removes a long first phase of learning "no".
        pos_weight = label_pos_weights(y_train, c.pos_weight, c.max_pos_weight)
        prior = np.asarray(y_train, dtype=np.float64).mean(axis=0)
        weighted = np.clip(prior * pos_weight / (prior * pos_weight + 1 - prior), 1e-4, 1 - 1e-4)
        with torch.no_grad():
            self.model.out.bias.copy_(torch.from_numpy(np.log(weighted / (1 - weighted))))

    def _loss(self, y_train: np.ndarray, leaf_ids: list[int]) -> TrainingLoss:
        c = self.config
        leaf_targets = leaf_shift = leaf_weight = None
        if self.model.leaf_out is not None:
            # An item's leaf target: its leaves, equally weighted (several for multi-path
            # items); items whose paths stop above the leaves get no leaf loss.
            t = np.asarray(y_train, dtype=np.float32)[:, leaf_ids]
            leaf_targets = torch.from_numpy(t / np.maximum(t.sum(axis=1, keepdims=True), 1))
            # Logit adjustment (Menon et al. 2021): the loss sees logits + tau * log prior,
            # the model outputs the rest. With tau = 1 the leaf head learns balanced scores,
            # what macro-F1 asks for; otherwise a rare leaf's prior (-9 for 1 product in
            # 7,000) outweighs the evidence of its own decisive words.
            leaf_shift = c.leaf_logit_adjust * self.model.leaf_log_prior
            leaf_weight = leaf_class_weights(t, c.leaf_weight)
        return TrainingLoss(torch.from_numpy(np.asarray(y_train, dtype=np.float32)),
                            torch.from_numpy(label_pos_weights(y_train, c.pos_weight,
                                                               c.max_pos_weight)),
                            leaf_targets, leaf_shift, leaf_weight)

    def _optimizers(self) -> tuple[list[torch.optim.Optimizer], list[nn.Parameter]]:
        """Adam for the dense weights, SparseAdam for the embedding tables (sparse
        gradients), Adagrad for the wide path; and the dense weights (clipped)."""
        c = self.config
        sparse = [p for p in self.model.sparse_parameters() if p.requires_grad]
        wide = [self.model.wide_weight] if self.model.wide_weight is not None else []
        dense = [p for p in self.model.parameters()
                 if p.requires_grad and all(p is not q for q in sparse + wide)]
        optimizers = [torch.optim.Adam(dense, lr=c.learning_rate, weight_decay=c.weight_decay)]
        if sparse:
            optimizers.append(torch.optim.SparseAdam(sparse, lr=c.learning_rate))
        if wide:
            optimizers.append(torch.optim.Adagrad(wide, lr=c.wide_learning_rate))
        return optimizers, dense

    def _validate(self, model: ProductClassifier, val_tokens: Tokens, y_val: np.ndarray,
                  pos_weight: np.ndarray, leaf_ids: list[int]) -> tuple[dict, float]:
        """Validation scores of ``model`` and the one that decides which epoch is kept: the
        leaf macro-F1 of each product's most probable leaf (no thresholds to tune, and the
        leaves are the headline; node probabilities >= 0.5 said little once rare leaves
        get balanced, mixed scores), or without leaves the macro-F1 at 0.5."""
        trained, self.model = self.model, model
        val_probs = self.predict_proba(val_tokens)
        self.model = trained
        val_f1 = macro_f1(y_val, val_probs >= 0.5)
        score = leaf_argmax_macro_f1(val_probs, y_val, leaf_ids) if leaf_ids else val_f1
        return {"val_loss": round(bce_of_probs(val_probs, y_val, pos_weight), 5),
                "val_macro_f1": round(val_f1, 5), "val_leaf_macro_f1": round(score, 5)}, score

    # ------------------------------------------------------------------ inference
    def _check(self) -> None:
        if self.model is None or self.encoder is None:
            raise RuntimeError("the classifier is not fitted")

    @torch.inference_mode()
    def _run(self, tokens: Tokens, what: str, batch_size: int) -> dict[str, np.ndarray]:
        """``{"proba": (n, N), "embed": (n, E)}``, the parts named by ``what`` ("proba",
        "embed" or "both"), from one pass of the network."""
        self._check()
        was_training = self.model.training
        if was_training:  # eval() walks every module: 0.2 ms of a 2 ms single classification
            self.model.eval()  # (the extra networks are only ever in eval mode)
        tokens = list(tokens)
        c = self.model.config
        parts = ("proba", "embed") if what == "both" else (what,)
        out = {part: np.zeros((len(tokens), c.n_labels if part == "proba" else c.embedding_dim),
                              dtype=np.float32) for part in parts}
        if tokens:
            # Sorted by length, a batch holds few lengths (the LSTM runs once per length);
            # results do not depend on the batch.
            order = np.argsort([len(t) for t in tokens], kind="stable")
            for start in range(0, len(order), batch_size):
                idx = order[start: start + batch_size]
                batch = self.encoder.encode([tokens[i] for i in idx])
                emb = self.model.embed(batch)
                if "embed" in out:
                    out["embed"][idx] = emb.numpy()
                if "proba" in out:
                    proba = self.model.combine(*self.model.heads(emb, batch))
                    for net in self.extra_models:  # the same encoded batch for every network
                        proba += net.combine(*net.heads(net.embed(batch), batch))
                    out["proba"][idx] = (proba / self.n_networks).numpy()
        if was_training:
            self.model.train()
        return out

    @torch.inference_mode()
    def predict_logits(self, tokens: Tokens, batch_size: int = 512) -> list[np.ndarray | None]:
        """The networks' raw outputs for each text: node logits ``(n, N)`` and the BiLSTM's
        and the wide path's leaf logits ``(n, K)`` (None where absent), these three for each
        network in turn. With :meth:`combine` they give :meth:`predict_proba` under other
        mixing weights without running the networks again (used to choose the weights on
        validation)."""
        self._check()
        self.model.eval()
        tokens = list(tokens)
        networks = self.networks
        if not tokens:  # no texts: empty outputs of the right widths
            c = self.model.config
            return ([np.zeros((0, c.n_labels), np.float32)] + [
                np.zeros((0, c.n_leaves), np.float32) if present else None
                for present in (c.n_leaves > 0, c.n_leaves > 0 and c.wide_pairs > 0)]) * len(networks)
        parts: list[list[np.ndarray]] = [[] for _ in range(3 * len(networks))]
        order = np.argsort([len(t) for t in tokens], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            batch = self.encoder.encode([tokens[i] for i in idx])
            for n, net in enumerate(networks):
                for k, out in enumerate(net(batch)):
                    if out is not None:
                        parts[3 * n + k].append(out.numpy())
        inverse = np.argsort(order, kind="stable")
        return [np.concatenate(p)[inverse] if p else None for p in parts]

    def combine(self, parts: list[np.ndarray | None]) -> np.ndarray:
        """Node probabilities ``(n, N)`` from :meth:`predict_logits` with the networks'
        current weights (``sigmoid_weight``, ``wide_mix``, ``leaf_prior_weight``): the mean
        over the networks."""
        networks = self.networks
        with torch.inference_mode():
            probs = sum(net.combine(*(None if p is None else torch.from_numpy(p)
                                      for p in parts[3 * n: 3 * n + 3]))
                        for n, net in enumerate(networks))
            return (probs / len(networks)).numpy()

    @property
    def networks(self) -> list[ProductClassifier]:
        """Every network: the first (the embedding's), then the extra ones."""
        return [self.model, *self.extra_models]

    @property
    def n_networks(self) -> int:
        return len(self.networks)

    def set_weight(self, name: str, value: float) -> None:
        """Set the mixing weight ``name`` (``sigmoid_weight``, ``wide_mix`` or
        ``leaf_prior_weight``) of every network."""
        for net in self.networks:
            setattr(net.config, name, value)

    def predict_proba(self, tokens: Tokens, batch_size: int = 512) -> np.ndarray:
        """Node probabilities, float32 ``(n_items, n_labels)``."""
        return self._run(tokens, "proba", batch_size)["proba"]

    def transform(self, tokens: Tokens, batch_size: int = 512) -> np.ndarray:
        """Product embeddings (last hidden layer, not normalised), float32 ``(n_items, E)``."""
        return self._run(tokens, "embed", batch_size)["embed"]

    def predict_proba_and_transform(self, tokens: Tokens, batch_size: int = 512
                                    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict_proba` and :meth:`transform` from one pass of the network."""
        out = self._run(tokens, "both", batch_size)
        return out["proba"], out["embed"]

    # ------------------------------------------------------------------ storage
    def save(self, directory: str) -> list[str]:
        """Write ``classifier.safetensors`` (float16) and ``classifier.json``."""
        self._check()
        state = {}
        first = self.model.state_dict()
        # The first network's weights under their own names (as before ensembles), network
        # k's under "network<k>."; what network k shares with the first (its wide pairs,
        # ProductClassifier.share_wide_pairs) is stored once, as the first's.
        for n, net in enumerate(self.networks):
            prefix = f"network{n}." if n else ""
            state.update({prefix + k: (v.detach().to(torch.float16) if v.is_floating_point()
                                       else v.detach()).contiguous()
                          for k, v in net.state_dict().items()
                          if not (n and v.data_ptr() == first[k].data_ptr())})
        save_file(state, os.path.join(directory, "classifier.safetensors"))
        with open(os.path.join(directory, "classifier.json"), "w", encoding="utf-8") as f:
            json.dump({"model": self.model.config.to_dict(), "encoder": self.encoder.to_dict(),
                       "extra_models": [net.config.to_dict() for net in self.extra_models],
                       "seed": self.seed, "config": dataclasses.asdict(self.config)},
                      f, ensure_ascii=False)
        return ["classifier.safetensors", "classifier.json"]

    @classmethod
    def load(cls, directory: str, config: ClassifierConfig | None = None) -> Classifier:
        """The classifier saved in ``directory``, with the config it was trained with
        (``config`` instead, if given; defaults for classifiers saved before the config was)."""
        with open(os.path.join(directory, "classifier.json"), encoding="utf-8") as f:
            meta = json.load(f)
        if config is None and "config" in meta:
            config = TrainConfig.from_dict({"classifier": meta["config"]}).classifier
        self = cls(config, seed=meta.get("seed", 0))
        self.encoder = TokenEncoder.from_dict(meta["encoder"])
        state = load_file(os.path.join(directory, "classifier.safetensors"))
        networks = []
        for n, config in enumerate([meta["model"], *meta.get("extra_models", [])]):
            net = ProductClassifier(ModelConfig(**config))
            prefix = f"network{n}." if n else ""
            own = {k[len(prefix):]: v for k, v in state.items()
                   if (k.startswith(prefix) if n else not k.startswith("network"))}
            missing, unexpected = net.load_state_dict(
                {k: v.float() if v.is_floating_point() else v for k, v in own.items()}, strict=False)
            if n:  # what was stored once, as the first network's
                for k in ProductClassifier.SHARED_BUFFERS & set(missing):
                    setattr(net, k, getattr(networks[0], k))
                missing = [k for k in missing if k not in ProductClassifier.SHARED_BUFFERS]
            # Bundles from before leaf_prior_weight have no leaf prior; weight 0 does not use it.
            if unexpected or set(missing) - {"leaf_log_prior"}:
                raise ValueError(f"classifier weights of network {n} do not match the model: "
                                 f"missing {missing}, unexpected {unexpected}")
            net.store_tables_half()  # for prediction only: half the memory, same values
            if networks:
                net.share_wide_pairs(networks[0])
            networks.append(net.eval())
        self.model, self.extra_models = networks[0], networks[1:]
        return self
