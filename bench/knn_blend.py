"""Does a k-nearest-neighbour vote over training products' embeddings add to the network?

A linear model memorises a rare leaf's few products; the network's softmax has to learn
them. A kNN vote over the product embeddings of the *training* products (the labels of
the k most similar ones) remembers them as they are. This re-decodes trained bundles
without training: node probabilities of every labelled product once, the embeddings of
every network (L2-normalised, concatenated), then for each share ``a`` on a grid the
blend ``(1 - a) * network + a * kNN`` (kNN: the similarity-weighted mean of the k nearest
training products' node indicators, weights ``exp(sim / tau)``), the tree decoder fitted
on validation, validation and test leaf macro-F1, and the train fit (each training
product's vote leaves itself out). Per setting (bundle name prefix): the mean over bundles
of each share, and of the share validation picks. Writes ``bench/results/knn_blend.json``.

    .venv/bin/python bench/knn_blend.py --bundle DIR [--bundle DIR ...] [--k 10] [--tau 0.05]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from decoding_rule import labelled_truth  # noqa: E402
from mixing_rule import setting_of  # noqa: E402

from prodemb import decoding as D  # noqa: E402
from prodemb.bundle import Bundle  # noqa: E402
from prodemb.metrics import macro_f1  # noqa: E402

SHARES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)


@torch.inference_mode()
def outputs(bundle: Bundle, texts: list[str], batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Node probabilities ``(n, N)`` and every network's L2-normalised embedding,
    concatenated ``(n, k * E)``."""
    clf = bundle.classifier
    tokens = bundle.tokenize(texts)
    probs = clf.predict_proba(tokens)
    embs = []
    order = np.argsort([len(t) for t in tokens], kind="stable")
    nets = clf.networks
    out = np.zeros((len(tokens), len(nets) * clf.model.config.embedding_dim), np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start: start + batch_size]
        batch = clf.encoder.encode([tokens[i] for i in idx])
        e = [net.embed(batch).numpy() for net in nets]
        out[idx] = np.concatenate([v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
                                   for v in e], axis=1)
    embs = out / np.sqrt(len(nets))
    return probs, embs


def knn_votes(query: np.ndarray, ref: np.ndarray, y_ref: np.ndarray, k: int, tau: float,
              exclude_self: bool = False, block: int = 1024) -> np.ndarray:
    """Similarity-weighted node votes ``(n, N)`` of the ``k`` nearest rows of ``ref``."""
    votes = np.zeros((len(query), y_ref.shape[1]), np.float32)
    yf = y_ref.astype(np.float32)
    for s in range(0, len(query), block):
        sim = query[s: s + block] @ ref.T
        if exclude_self:
            sim[np.arange(len(sim)), np.arange(s, s + len(sim))] = -np.inf
        top = np.argpartition(-sim, k, axis=1)[:, :k]
        tsim = np.take_along_axis(sim, top, axis=1)
        w = np.exp((tsim - tsim.max(axis=1, keepdims=True)) / tau)
        w /= w.sum(axis=1, keepdims=True)
        votes[s: s + block] = np.einsum("qk,qkn->qn", w, yf[top])
    return votes


def scores(path: str, k: int, tau: float) -> dict:
    b = Bundle.load(path)
    tax = b.taxonomy
    lab, y, split = labelled_truth(b)
    probs, emb = outputs(b, lab["text"].tolist())
    tr, va, te = split == "train", split == "validation", split == "test"
    votes = np.zeros_like(probs)
    votes[tr] = knn_votes(emb[tr], emb[tr], y[tr], k, tau, exclude_self=True)
    votes[~tr] = knn_votes(emb[~tr], emb[tr], y[tr], k, tau)
    grid = {}
    for a in SHARES:
        p = (1 - a) * probs + a * votes
        dec = D.TreeDecoder(tax, b.complete_paths).fit(p[va], y[va], y_known=y[~te])
        grid[str(a)] = [round(macro_f1(y[s], dec.predict(p[s]), tax.is_leaf), 5) for s in (va, te, tr)]
    return {"grid": grid}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", action="append", required=True, help="a bundle directory (repeat)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    bundles = {}
    for path in args.bundle:
        bundles[Path(path).name] = r = scores(path, args.k, args.tau)
        common.log(f"{Path(path).name}: " + "  ".join(f"{a}: {v[1]:.4f}/{v[2]:.3f}" for a, v in r["grid"].items()))
    groups = defaultdict(list)
    for name, r in bundles.items():
        groups[setting_of(name)].append(r)
    summary = {}
    for setting, rs in groups.items():
        summary[setting] = {
            "bundles": len(rs),
            "test": {a: round(float(np.mean([r["grid"][a][1] for r in rs])), 5) for a in rs[0]["grid"]},
            "train": {a: round(float(np.mean([r["grid"][a][2] for r in rs])), 5) for a in rs[0]["grid"]},
            "validation_argmax_test": round(float(np.mean(
                [max(r["grid"].values(), key=lambda v: v[0])[1] for r in rs])), 5),
        }
        common.log(f"{setting}: {summary[setting]}")
    common.write_result(f"knn_blend{args.tag}", {"k": args.k, "tau": args.tau, "shares": SHARES,
                                                 "bundles": bundles, "by_setting": summary})
    return 0


if __name__ == "__main__":
    sys.exit(main())
