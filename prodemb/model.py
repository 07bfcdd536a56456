"""The classifier network, top to bottom.

    tokens ──► word embedding (Word2Vec init, fine-tuned)  ─┐
           └─► mean of hashed char n-gram embeddings ───────┴─(+)─► dropout
           ──► bidirectional LSTM
           ──► [max-pool ; mean-pool] over time          (B, 4·H)
           ──► dropout ─► Linear ─► tanh                  (B, E)   ← the product embedding
           ├─► dropout ─► Linear ─────────────── (+) ──── (B, N)   ← one logit per tree node
           └─► dropout ─► Linear ─► softmax ──┐                    ← leaf distribution
    words, word pairs, char n-grams ─► wide path ─► softmax ─┴─ mix (B, K)   (optional)

B: batch, H: LSTM hidden size per direction, E: embedding size, N: tree nodes, K: leaves.
The tree is predicted as multi-label: node probabilities are ``sigmoid(node logits)``.
With the leaf head, a node's probability is a weighted mean of its sigmoid and the leaf
distribution's mass below it (weight ``sigmoid_weight``): the softmax makes sibling leaves
compete, which helps rare leaves that the independent sigmoids get wrong; the sigmoids
carry products whose paths stop above the leaves.

The wide path (after Cheng et al. 2016, "Wide & Deep") is a sparse linear model of the
text's hashed words, word pairs and character n-grams, trained jointly with the deep part,
with a leaf softmax of its own; the leaf distribution is ``(1 - wide_mix) * deep +
wide_mix * wide``. It remembers what a linear model remembers: a rare leaf whose few
products share a decisive word. A mixture rather than a sum of logits, because a
confident but wrong BiLSTM logit (a rare leaf starts 9 below a common one) must not veto
that word. It is sparse by construction: a weight exists only for a (feature, output)
pair that occurs together in the training data, so its size grows with the training
data, not with features x outputs; a softmax is unchanged by adding a constant to all of
a feature's leaf logits, so leaving out the pairs never seen together costs it little.
Without a leaf head its outputs are the node logits instead. The embedding (the last
hidden layer) stays the deep part's alone.

Leaf scores are trained balanced (logit adjustment, prodemb.classifier); at prediction
``leaf_prior_weight`` times the log leaf prior is added back (chosen on validation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .encoding import Batch


@dataclass
class ModelConfig:
    vocab_size: int
    n_labels: int
    word_dim: int = 100
    lstm_hidden: int = 128
    lstm_layers: int = 1
    embedding_dim: int = 128
    dropout: float = 0.3
    subword_buckets: int = 0
    n_leaves: int = 0
    # With the leaf head: the weight of a node's sigmoid in its probability, the rest
    # being the leaf softmax mass below it (ClassifierConfig.sigmoid_weight); bundles
    # from before it was configurable used 0.5.
    sigmoid_weight: float = 0.5
    # Wide path: number of hashed features with weights, and of (feature, output) pairs.
    wide_features: int = 0
    wide_pairs: int = 0
    # The wide path has a leaf softmax of its own; the leaf distribution is
    # (1 - wide_mix) * deep + wide_mix * wide (a mixture, not a sum of logits: a confident
    # but wrong deep logit cannot veto a rare leaf's decisive word).
    wide_mix: float = 0.5
    # Share of the leaf prior added back to the leaf logits at prediction time (0: the
    # balanced scores as trained with leaf_logit_adjust = 1; 1: the prior fully back).
    leaf_prior_weight: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class _WideSum(torch.autograd.Function):
    """``out.flat[cells[j]] += weight[pairs[j]] * values[j]`` for every j, with a direct
    backward pass (a gather and an index_add over the pairs): autograd's generic
    embedding + index_put backward took a second per batch on long texts."""

    @staticmethod
    def forward(ctx, weight, pairs, cells, values, out):
        ctx.save_for_backward(pairs, cells, values)
        ctx.n_weights = weight.shape[0]
        flat = out.view(-1).index_add(0, cells, weight[pairs] * values)
        return flat.view(out.shape)

    @staticmethod
    def backward(ctx, grad):
        pairs, cells, values = ctx.saved_tensors
        per_entry = grad.reshape(-1)[cells] * values
        return (torch.zeros(ctx.n_weights, dtype=grad.dtype).index_add_(0, pairs, per_entry),
                None, None, None, None)


class ProductClassifier(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = c = config
        # Sparse gradients: a batch touches a few hundred of the vocabulary's rows, and
        # updating only those (SparseAdam) makes a CPU step several times faster.
        self.word_emb = nn.Embedding(c.vocab_size, c.word_dim, padding_idx=0, sparse=True)
        self.subword_emb = (nn.EmbeddingBag(c.subword_buckets, c.word_dim, mode="mean", sparse=True)
                            if c.subword_buckets else None)
        self.lstm = nn.LSTM(c.word_dim, c.lstm_hidden, num_layers=c.lstm_layers,
                            batch_first=True, bidirectional=True,
                            dropout=c.dropout if c.lstm_layers > 1 else 0.0)
        self.drop = nn.Dropout(c.dropout)
        self.fc = nn.Linear(4 * c.lstm_hidden, c.embedding_dim)
        self.out = nn.Linear(c.embedding_dim, c.n_labels)
        self.leaf_out = nn.Linear(c.embedding_dim, c.n_leaves) if c.n_leaves else None
        if c.n_leaves:
            # leaf_to_nodes[k, n] = 1 if node n is on the path of leaf k.
            self.register_buffer("leaf_to_nodes", torch.zeros(c.n_leaves, c.n_labels))
            # log of each leaf's share of the training products (for leaf_prior_weight).
            self.register_buffer("leaf_log_prior", torch.zeros(c.n_leaves))
        if self.subword_emb is not None:
            # Start the n-gram vectors small so the Word2Vec vectors dominate at first.
            nn.init.normal_(self.subword_emb.weight, std=0.01)
        self.wide_weight = None
        if c.wide_pairs:
            # wide_keys: sorted feature ids; the pairs of wide_keys[u] are
            # wide_offsets[u]:wide_offsets[u + 1]; wide_outputs: the output of each pair,
            # a node (< N) or a leaf (N + leaf position). One weight per pair, from 0.
            self.register_buffer("wide_keys", torch.zeros(c.wide_features, dtype=torch.int64))
            self.register_buffer("wide_offsets", torch.zeros(c.wide_features + 1, dtype=torch.int64))
            self.register_buffer("wide_outputs", torch.zeros(c.wide_pairs, dtype=torch.int64))
            self.wide_weight = nn.Parameter(torch.zeros(c.wide_pairs))

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The deep part's embedding tables, which get sparse gradients (the wide path's
        weights get them too, but are optimised apart: see prodemb.classifier)."""
        return [self.word_emb.weight] + ([self.subword_emb.weight] if self.subword_emb is not None else [])

    def store_tables_half(self) -> None:
        """Keep the embedding tables (most of the network's memory: 65,536 x 100 subword
        vectors are 26 MB in float32) in float16, as the bundle stores them, for
        prediction only. The rows a batch uses are converted to float32 when looked up,
        which gives the same values as a float32 table (half to float is exact)."""
        for emb in (self.word_emb, self.subword_emb):
            if emb is not None:
                emb.weight.requires_grad_(False)
                emb.weight.data = emb.weight.data.half()

    #: Buffers the networks of one ensemble can share, in groups shared whole (the wide
    #: path's reused lookups need all three of its pairs' buffers).
    SHARED_GROUPS = (("wide_keys", "wide_offsets", "wide_outputs"), ("leaf_to_nodes",),
                     ("leaf_log_prior",))
    SHARED_BUFFERS = frozenset(n for group in SHARED_GROUPS for n in group)

    def share_wide_pairs(self, other: ProductClassifier) -> None:
        """Use ``other``'s wide-path pairs (keys, offsets, outputs), the leaf-to-node map
        and the leaf prior where they are equal to this network's (networks of one
        ensemble are built from the same training data): one copy in memory, and the
        wide path's lookups are done once per batch for all (see :meth:`wide_logits`)."""
        for group in self.SHARED_GROUPS:
            if all(hasattr(self, n) and hasattr(other, n)
                   and torch.equal(getattr(self, n), getattr(other, n)) for n in group):
                for n in group:
                    setattr(self, n, getattr(other, n))

    def _word_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        w = self.word_emb.weight
        if w.dtype == torch.float16:  # store_tables_half: the rows in float32, same values
            return F.embedding(ids, w).float()
        return self.word_emb(ids)

    def _subword_vectors(self, batch: Batch) -> torch.Tensor:
        w = self.subword_emb.weight
        if w.dtype == torch.float16:
            # The used rows in float32, averaged by the same kernel in the same order as
            # the float32 table would be: the same sums.
            rows = F.embedding(batch.sub_ids, w).float()
            return F.embedding_bag(torch.arange(len(rows)), rows, batch.sub_offsets, mode="mean")
        return self.subword_emb(batch.sub_ids, batch.sub_offsets)

    def set_wide_pairs(self, keys: torch.Tensor, offsets: torch.Tensor, outputs: torch.Tensor) -> None:
        """Install the wide path's (feature, output) pairs (see the buffers in ``__init__``)."""
        self.wide_keys.copy_(keys)
        self.wide_offsets.copy_(offsets)
        self.wide_outputs.copy_(outputs)

    def wide_logits(self, batch: Batch) -> torch.Tensor:
        """The wide path's contribution to ``[node logits ; leaf logits]``, ``(B, N + K)``."""
        c = self.config
        if not torch.is_grad_enabled():
            return self._wide_logits_numpy(batch)
        out = torch.zeros(batch.lengths.shape[0], c.n_labels + c.n_leaves)
        if not batch.wide_ids.numel():
            return out
        # Sorted queries make the search cache-friendly (4x faster than in text order).
        ids, order = torch.sort(batch.wide_ids)
        u = torch.searchsorted(self.wide_keys, ids).clamp_(max=c.wide_features - 1)
        known = self.wide_keys[u] == ids               # features never seen in training: no pairs
        u = u[known]
        order = order[known]
        start = self.wide_offsets[u]
        count = self.wide_offsets[u + 1] - start
        # Pair indices start[g] .. start[g] + count[g] - 1 of every known feature g, flat.
        first = torch.cumsum(count, 0) - count
        pairs = torch.repeat_interleave(start - first, count) + torch.arange(int(count.sum()))
        cells = (torch.repeat_interleave(batch.wide_items[order] * out.shape[1], count)
                 + self.wide_outputs[pairs])
        values = torch.repeat_interleave(batch.wide_values[order], count)
        return _WideSum.apply(self.wide_weight, pairs, cells, values, out)

    def _wide_logits_numpy(self, batch: Batch) -> torch.Tensor:
        """:meth:`wide_logits` without gradients, the same sums in NumPy: its small ops cost
        a microsecond where torch's cost several, which made the wide path 0.37 ms of a
        pasted text's classification (0.15 ms here) and a third slower on batches."""
        c = self.config
        width = c.n_labels + c.n_leaves
        n = int(batch.lengths.shape[0])
        ids = batch.wide_ids.numpy()
        if not len(ids):
            return torch.zeros(n, width)
        # Networks of an ensemble share their pairs (share_wide_pairs): the lookups below
        # are done by the first and reused by the others on the same batch.
        plan = getattr(batch, "wide_plan", None)
        if plan is not None and plan[0] is self.wide_keys:
            _, pairs, cells, values = plan
            weights = values * self.wide_weight.detach().numpy()[pairs]
            return torch.from_numpy(np.bincount(cells, weights, minlength=n * width)
                                    .astype(np.float32).reshape(n, width))
        items, values = batch.wide_items.numpy(), batch.wide_values.numpy()
        if len(ids) > 256:  # sorted queries make the search cache-friendly
            # NumPy's default sort (SIMD, ~5x a stable sort here). Order among equal ids
            # is free: equal ids are one feature of different products, so they add into
            # different cells, and each cell's sum keeps the same order.
            order = np.argsort(ids)
            ids, items, values = ids[order], items[order], values[order]
        keys, offsets = self.wide_keys.numpy(), self.wide_offsets.numpy()
        u = np.searchsorted(keys, ids).clip(max=c.wide_features - 1)
        known = keys[u] == ids                         # features never seen in training: no pairs
        u = u[known]
        start = offsets[u]
        count = offsets[u + 1] - start
        # Pair indices start[g] .. start[g] + count[g] - 1 of every known feature g, flat.
        pairs = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(count.sum())
        cells = np.repeat(items[known] * width, count) + self.wide_outputs.numpy()[pairs]
        values = np.repeat(values[known], count)
        batch.wide_plan = (self.wide_keys, pairs, cells, values)
        weights = values * self.wide_weight.detach().numpy()[pairs]
        sums = np.bincount(cells, weights, minlength=n * width)
        return torch.from_numpy(sums.astype(np.float32).reshape(n, width))

    def init_word_vectors(self, vectors: torch.Tensor, rows: torch.Tensor) -> None:
        """Copy pretrained vectors (``(k, word_dim)``) into the embedding rows ``rows``."""
        with torch.no_grad():
            self.word_emb.weight[rows] = vectors

    def embed(self, batch: Batch) -> torch.Tensor:
        """The product embedding (output of the last hidden layer), shape ``(B, E)``."""
        if self.subword_emb is not None and batch.sub_offsets.numel():
            sub = self._subword_vectors(batch)                         # (n_types, D)
            if not self.training and batch.type_ids.numel():
                # Each distinct token's vector once, then one gather (B, T, D): the same
                # sums as per position, with one (B, T, D) lookup instead of two and an
                # addition per distinct token instead of per position. Padding positions
                # get type 0's vector; no path below reads them.
                x = (self._word_vectors(batch.type_ids) + sub)[batch.sub_types]
            else:
                x = self._word_vectors(batch.ids) + sub[batch.sub_types]  # (B, T, D)
        else:
            x = self._word_vectors(batch.ids)                          # (B, T, D)
        # Dropout is the identity in eval mode: not called (each call of a small op costs
        # microseconds that add up for a single text, once per network of an ensemble).
        if self.training:
            x = self.drop(x)
        lengths = batch.lengths
        distinct = torch.unique(lengths) if len(lengths) > 1 else None
        if distinct is None:  # one text: no padding, nothing to group
            h, _ = self.lstm(x)                                       # (1, T, 2H)
            pooled = torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=1)
        elif len(distinct) == 1 or len(distinct) * 8 <= len(lengths):
            # One length or few: no packing, whose bookkeeping cost as much as the LSTM
            # itself for one text.
            pooled = self._pool_by_length(x, lengths, distinct)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = self.lstm(packed)
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])  # (B, T, 2H)
            mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).unsqueeze(-1)
            max_pool = h.masked_fill(~mask, float("-inf")).amax(dim=1)
            mean_pool = (h * mask).sum(dim=1) / lengths[:, None].to(h.dtype)
            pooled = torch.cat([max_pool, mean_pool], dim=1)          # (B, 4H)
        return torch.tanh(self.fc(self.drop(pooled) if self.training else pooled))  # (B, E)

    def _pool_by_length(self, x: torch.Tensor, lengths: torch.Tensor,
                        distinct: torch.Tensor) -> torch.Tensor:
        """``[max-pool ; mean-pool]`` of the BiLSTM states, ``(B, 4H)``, running the LSTM
        once per distinct length on unpadded rows: the same result as the packed path,
        about twice as fast on CPU when batches hold few lengths (prediction sorts texts by
        length; training batches come from length buckets)."""
        pooled = x.new_empty(x.shape[0], 4 * self.config.lstm_hidden)
        for n in distinct.tolist():
            rows = (lengths == n).nonzero().squeeze(1)
            h, _ = self.lstm(x[rows, :n])                              # (b, n, 2H)
            # amax, not max(dim=1).values: max also finds the indices, and took 6 ms of a
            # batch of 512 where amax takes 0.3 ms (11 % of Bundle.classify's time).
            pooled = pooled.index_copy(0, rows, torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=1))
        return pooled

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Node logits ``(B, N)`` (deep + wide), the deep leaf logits ``(B, K)`` and the wide
        path's leaf logits ``(B, K)`` (``None`` without the leaf head or the wide path)."""
        return self.heads(self.embed(batch), batch)

    def heads(self, embedding: torch.Tensor, batch: Batch
              ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """:meth:`forward`'s outputs from the product embedding ``(B, E)`` of ``batch``
        (so a caller that needs both runs the BiLSTM once)."""
        h = self.drop(embedding) if self.training else embedding
        node_logits = self.out(h)
        leaf_logits = self.leaf_out(h) if self.leaf_out is not None else None
        wide_leaf = None
        if self.wide_weight is not None:
            wide = self.wide_logits(batch)
            node_logits = node_logits + wide[:, : self.config.n_labels]
            if leaf_logits is not None:
                wide_leaf = wide[:, self.config.n_labels:]
        return node_logits, leaf_logits, wide_leaf

    def node_probs(self, batch: Batch) -> torch.Tensor:
        """Probability of every tree node, shape ``(B, N)``."""
        return self.combine(*self(batch))

    def combine(self, node_logits: torch.Tensor, leaf_logits: torch.Tensor | None,
                wide_leaf: torch.Tensor | None) -> torch.Tensor:
        """Node probabilities ``(B, N)`` from the outputs of :meth:`forward`, with the
        config's weights: ``leaf_prior_weight`` puts that much of the leaf prior back into
        the balanced leaf scores (logit adjustment undone in part, chosen on validation),
        ``wide_mix`` and ``sigmoid_weight`` mix the heads."""
        c = self.config
        probs = torch.sigmoid(node_logits)
        if leaf_logits is not None:
            shift = c.leaf_prior_weight * self.leaf_log_prior
            leaf = torch.softmax(leaf_logits + shift, dim=1)
            if wide_leaf is not None:
                leaf = (1 - c.wide_mix) * leaf + c.wide_mix * torch.softmax(wide_leaf + shift, dim=1)
            probs = c.sigmoid_weight * probs + (1 - c.sigmoid_weight) * leaf @ self.leaf_to_nodes
        return probs
