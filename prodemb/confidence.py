"""Confidence a category manager can trust: a calibrated top-path probability and a verdict.

Raw path scores are not probabilities: the lowest node probability along the top path
said 89 % for "asdf qwer", because a text without one known word still lands somewhere.
Three signals decide what a classification's headline says:

* **confidence** - the probability that the top path is right, from the raw top-path
  score through an isotonic map fitted on validation products (:class:`Calibrator`);
* **evidence** - how many of the text's tokens the model knows: words of its vocabulary
  or words and character n-grams of its wide path (a text none of whose tokens is known
  has nothing to go on, whatever the network outputs);
* **nearness** - the cosine similarity of the product embedding to its nearest training
  product: a text the catalogue cannot hold (shoes in a tree of scarves and bags) lands
  far from every training product.

:class:`Verdicts` turns them into ``status`` ("ok", "uncertain", "out_of_catalogue") and
``flags`` (empty_text, no_known_words, low_confidence, out_of_catalogue, two_paths); its
thresholds are chosen on validation products (:meth:`Verdicts.fit`) and stored with the
bundle as JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

STATUSES = ("ok", "uncertain", "out_of_catalogue")
FLAGS = ("empty_text", "no_known_words", "low_confidence", "out_of_catalogue", "two_paths")


@dataclass
class Calibrator:
    """A non-decreasing map from raw top-path scores to the probability that the top path
    is right: isotonic regression fitted on validation products, stored as its knots
    (``x`` and ``y``, both ``(m,)``, x increasing) and applied by linear interpolation."""

    x: np.ndarray
    y: np.ndarray

    @classmethod
    def fit(cls, scores: np.ndarray, correct: np.ndarray) -> Calibrator:
        """Fit on raw scores ``(n,)`` in [0, 1] and whether each top path was right ``(n,)``."""
        from sklearn.isotonic import IsotonicRegression

        scores = np.asarray(scores, dtype=np.float64)
        correct = np.asarray(correct, dtype=np.float64)
        if len(scores) == 0:
            return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]))  # identity: nothing to learn
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, correct)
        return cls(np.asarray(iso.X_thresholds_, dtype=np.float64),
                   np.asarray(iso.y_thresholds_, dtype=np.float64))

    def __call__(self, scores: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities, the shape of ``scores``."""
        return np.interp(np.asarray(scores, dtype=np.float64), self.x, self.y)

    def to_dict(self) -> dict:
        return {"method": "isotonic", "x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> Calibrator:
        x, y = np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0 or np.any(np.diff(x) < 0):
            raise ValueError("calibration: x and y must be equally long, non-empty, x sorted")
        return cls(x, y)


def reliability_table(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data: products binned by confidence (``n_bins`` equal-width bins
    of [0, 1]); per non-empty bin ``bin_low, bin_high, count, mean_confidence, accuracy``."""
    confidence = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.minimum(np.searchsorted(edges, confidence, side="right") - 1, n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = which == b
        if mask.any():
            rows.append({"bin_low": edges[b], "bin_high": edges[b + 1], "count": int(mask.sum()),
                         "mean_confidence": float(confidence[mask].mean()),
                         "accuracy": float(correct[mask].mean())})
    return pd.DataFrame(rows, columns=["bin_low", "bin_high", "count", "mean_confidence", "accuracy"])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width
    confidence bins (0: calibrated; the usual 15 bins)."""
    table = reliability_table(confidence, correct, n_bins)
    if table.empty:
        return 0.0
    gaps = (table["mean_confidence"] - table["accuracy"]).abs()
    return float((gaps * table["count"]).sum() / table["count"].sum())


def top_path_correct(top_paths: Sequence[str], true_paths: Sequence[Sequence[str]]) -> np.ndarray:
    """Whether each product's top path (display form) is one of its true paths, ``(n,)``."""
    return np.array([top in set(true) for top, true in zip(top_paths, true_paths)], dtype=bool)


@dataclass
class Verdicts:
    """Thresholds that turn confidence, evidence and nearness into a status and flags.

    Attributes:
        min_confidence: calibrated confidence below this -> "uncertain" (flag low_confidence).
        min_similarity: cosine similarity to the nearest training product below this ->
            "out_of_catalogue"; ``-1`` never.
        ooc_confidence: calibrated confidence below this *and* similarity below
            ``ooc_similarity`` -> "out_of_catalogue" too (a weak, distant text).
        ooc_similarity: see ``ooc_confidence``.
    """

    min_confidence: float = 0.5
    min_similarity: float = -1.0
    ooc_confidence: float = 0.0
    ooc_similarity: float = -1.0

    @classmethod
    def fit(cls, val_confidence: np.ndarray, val_similarity: np.ndarray,
            max_in_catalogue_rate: float = 0.01, min_confidence: float = 0.5) -> Verdicts:
        """Thresholds from validation products (all in the catalogue): ``min_similarity``
        flags at most ``max_in_catalogue_rate`` of them as out of the catalogue by nearness
        alone (its quantile), and the weak-and-distant rule at most as many again."""
        sim = np.asarray(val_similarity, dtype=np.float64)
        conf = np.asarray(val_confidence, dtype=np.float64)
        if len(sim) == 0:
            return cls(min_confidence=min_confidence)
        min_similarity = float(np.quantile(sim, max_in_catalogue_rate))
        # Weak and distant: below the median similarity and in the lowest confidences,
        # chosen so that this rule alone flags at most the same share of validation.
        ooc_similarity = float(np.quantile(sim, 0.5))
        distant = sim < ooc_similarity
        ooc_confidence = 0.0
        if distant.any():
            # The confidence under which `max_in_catalogue_rate` of all products are distant.
            k = int(max_in_catalogue_rate * len(sim))
            ooc_confidence = float(np.sort(conf[distant])[k]) if k < distant.sum() else 1.0
        return cls(min_confidence=min_confidence, min_similarity=min_similarity,
                   ooc_confidence=ooc_confidence, ooc_similarity=ooc_similarity)

    def judge(self, confidence: float, similarity: float | None, n_tokens: int,
              n_known: int, n_paths: int = 1) -> tuple[str, list[str]]:
        """``(status, flags)`` of one classification.

        ``similarity``: to the nearest training product (None: not known, not used);
        ``n_tokens``/``n_known``: the text's tokens and those the model knows;
        ``n_paths``: paths shown (a second one adds the flag two_paths).
        """
        flags = []
        if n_tokens == 0:
            flags.append("empty_text")
        elif n_known == 0:
            flags.append("no_known_words")
        far = similarity is not None and (
            similarity < self.min_similarity
            or (similarity < self.ooc_similarity and confidence < self.ooc_confidence))
        if flags or far:
            flags.append("out_of_catalogue")
        if confidence < self.min_confidence:
            flags.append("low_confidence")
        if n_paths > 1:
            flags.append("two_paths")
        status = ("out_of_catalogue" if "out_of_catalogue" in flags
                  else "uncertain" if "low_confidence" in flags else "ok")
        return status, flags

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Verdicts:
        return cls(**{k: float(data[k]) for k in ("min_confidence", "min_similarity",
                                                  "ooc_confidence", "ooc_similarity") if k in data})


# ---------------------------------------------------------------------- with a bundle
#: Training products whose embeddings stand for "the catalogue" in the nearness test: a
#: seeded sample, so a classification costs one (E x 5,000) product more, not one per
#: training product (out-of-catalogue AUROC on the demo: 0.9975 with 5,000, 0.9972 with
#: all 40,000; 0.9886 with 1,000).
NEARNESS_SAMPLE = 5000


def nearness_rows(train_rows: np.ndarray, seed: int = 0, limit: int = NEARNESS_SAMPLE) -> np.ndarray:
    """The sorted rows (of the bundle's products) of the nearness sample, ``(m,)``."""
    train_rows = np.asarray(train_rows, dtype=np.int64)
    if len(train_rows) <= limit:
        return np.sort(train_rows)
    return np.sort(np.random.default_rng(seed).choice(train_rows, limit, replace=False))


def nearest_similarity(embeddings: np.ndarray, reference: np.ndarray, block: int = 256) -> np.ndarray:
    """Cosine similarity of each L2-normalised row of ``embeddings`` ``(q, E)`` to its most
    similar row of ``reference`` ``(m, E)`` (normalised too), ``(q,)``; -1 without reference.
    Blocks of 256 rows keep each block's ``(256, m)`` similarities in cache: 25 ms for 2,048
    queries against 5,000 references, 34 ms in blocks of 2,048 (one thread)."""
    q = np.asarray(embeddings, dtype=np.float32)
    if len(reference) == 0:
        return np.full(len(q), -1.0, dtype=np.float32)
    out = np.empty(len(q), dtype=np.float32)
    for start in range(0, len(q), block):
        out[start: start + block] = (q[start: start + block] @ reference.T).max(axis=1)
    return out


@dataclass
class ConfidenceModel:
    """What a bundle stores to judge its classifications (``confidence.json``)."""

    calibrator: Calibrator
    verdicts: Verdicts
    nearness_rows: np.ndarray  # rows of the bundle's products: its nearness sample

    def to_dict(self) -> dict:
        return {"calibration": self.calibrator.to_dict(), "verdicts": self.verdicts.to_dict(),
                "nearness_rows": self.nearness_rows.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> ConfidenceModel:
        rows = np.asarray(data.get("nearness_rows", []), dtype=np.int64)
        return cls(Calibrator.from_dict(data["calibration"]),
                   Verdicts.from_dict(data.get("verdicts", {})), rows)

    @classmethod
    def fit(cls, scores: np.ndarray, correct: np.ndarray, similarity: np.ndarray,
            nearness: np.ndarray) -> ConfidenceModel:
        """From validation products: raw top-path scores ``(n,)``, whether each top path is
        right ``(n,)`` and the similarity of each to the nearness sample ``(n,)``."""
        calibrator = Calibrator.fit(scores, correct)
        return cls(calibrator, Verdicts.fit(calibrator(scores), similarity), np.asarray(nearness))

    def judge_all(self, scores: np.ndarray, similarity: np.ndarray | None, n_tokens: Sequence[int],
                  n_known: Sequence[int], n_paths: Sequence[int]) -> tuple[np.ndarray, list[tuple[str, list[str]]]]:
        """Calibrated confidences ``(n,)`` and ``(status, flags)`` of each product."""
        confidence = self.calibrator(scores)
        sims = [None] * len(confidence) if similarity is None else similarity.tolist()
        verdicts = [self.verdicts.judge(c, s, t, k, p) for c, s, t, k, p
                    in zip(confidence.tolist(), sims, n_tokens, n_known, n_paths)]
        return confidence, verdicts


def calibration_report(scores: np.ndarray, confidence: np.ndarray, correct: np.ndarray,
                       statuses: Sequence[str]) -> dict:
    """Calibration and verdicts of one split: ECE of the raw scores and of the calibrated
    confidence, the reliability table (10 bins) and the share of each status."""
    statuses = list(statuses)
    return {"n": int(len(correct)), "accuracy": round(float(np.mean(correct)), 5) if len(correct) else None,
            "ece_raw": round(expected_calibration_error(scores, correct), 5),
            "ece": round(expected_calibration_error(confidence, correct), 5),
            "reliability": reliability_table(confidence, correct).round(5).to_dict("records"),
            "status_share": {s: round(statuses.count(s) / max(len(statuses), 1), 5) for s in STATUSES}}
