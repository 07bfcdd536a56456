"""The classifier network, top to bottom.

    tokens ──► word embedding (Word2Vec init, fine-tuned)  ─┐
           └─► mean of hashed char n-gram embeddings ───────┴─(+)─► dropout
           ──► bidirectional LSTM
           ──► [max-pool ; mean-pool] over time          (B, 4·H)
           ──► dropout ─► Linear ─► tanh                  (B, E)   ← the product embedding
           ├─► dropout ─► Linear                          (B, N)   ← one logit per tree node
           └─► dropout ─► Linear ─► softmax               (B, K)   ← leaf distribution (optional)

B: batch, H: LSTM hidden size per direction, E: embedding size, N: tree nodes, K: leaves.
The tree is predicted as multi-label: node probabilities are ``sigmoid(node logits)``.
With the optional leaf head, a node's probability is a weighted mean of its sigmoid and
the softmax mass of the leaves below it (weight ``sigmoid_weight``, a training setting):
the softmax makes sibling leaves compete, which helps rare leaves that the independent
sigmoids get wrong; the sigmoids carry products whose paths stop above the leaves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
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

    def to_dict(self) -> dict:
        return asdict(self)


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
        if self.subword_emb is not None:
            # Start the n-gram vectors small so the Word2Vec vectors dominate at first.
            nn.init.normal_(self.subword_emb.weight, std=0.01)

    def sparse_parameters(self) -> list[nn.Parameter]:
        """The embedding tables, which get sparse gradients."""
        return [self.word_emb.weight] + ([self.subword_emb.weight] if self.subword_emb is not None else [])

    def init_word_vectors(self, vectors: torch.Tensor, rows: torch.Tensor) -> None:
        """Copy pretrained vectors (``(k, word_dim)``) into the embedding rows ``rows``."""
        with torch.no_grad():
            self.word_emb.weight[rows] = vectors

    def embed(self, batch: Batch) -> torch.Tensor:
        """The product embedding (output of the last hidden layer), shape ``(B, E)``."""
        x = self.word_emb(batch.ids)                                   # (B, T, D)
        if self.subword_emb is not None and batch.sub_offsets.numel():
            sub = self.subword_emb(batch.sub_ids, batch.sub_offsets)   # (B*T, D)
            x = x + sub.view(x.shape)
        x = self.drop(x)
        packed = pack_padded_sequence(x, batch.lengths, batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])  # (B, T, 2H)
        mask = (torch.arange(x.shape[1])[None, :] < batch.lengths[:, None]).unsqueeze(-1)
        max_pool = h.masked_fill(~mask, float("-inf")).max(dim=1).values
        mean_pool = (h * mask).sum(dim=1) / batch.lengths[:, None].to(h.dtype)
        pooled = torch.cat([max_pool, mean_pool], dim=1)              # (B, 4H)
        return torch.tanh(self.fc(self.drop(pooled)))                 # (B, E)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Node logits ``(B, N)`` and leaf logits ``(B, K)`` (``None`` without the leaf head)."""
        h = self.drop(self.embed(batch))
        return self.out(h), (self.leaf_out(h) if self.leaf_out is not None else None)

    def node_probs(self, batch: Batch) -> torch.Tensor:
        """Probability of every tree node, shape ``(B, N)``."""
        node_logits, leaf_logits = self(batch)
        probs = torch.sigmoid(node_logits)
        if leaf_logits is not None:
            w = self.config.sigmoid_weight
            probs = w * probs + (1 - w) * torch.softmax(leaf_logits, dim=1) @ self.leaf_to_nodes
        return probs
