"""The Python API of a trained bundle: classification, embeddings, neighbours,
explanations, map placement and the model card.

:meth:`Bundle.load` reads a bundle directory through :func:`prodemb.bundle_format.read_bundle`,
which owns the format (its files, the manifest, hashes, atomic replace; see
:mod:`prodemb.bundle_format`). :class:`Bundle` is a facade over what it read: the tree
decoder saved with the bundle (:class:`prodemb.decoding.TreeDecoder`), the classifier, the
word vectors and the products with their embeddings and map coordinates.

The format's names (``BundleError``, ``find_bundles``, ``check_bundle_output``, ...) are
importable from here as well.
"""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .bundle_format import (  # noqa: F401  (re-exported: the format's names, as before)
    BUNDLE_FILES,
    FORMAT,
    MANIFEST,
    MANIFEST_OBJECTS,
    PRODUCT_COLUMNS,
    BundleContents,
    BundleError,
    OutputError,
    OutputInUseError,
    _reading,
    check_bundle_output,
    file_entries,
    find_bundles,
    is_bundle_dir,
    lock_path,
    output_lock,
    quick_check,
    read_bundle,
    read_manifest,
    remove_leftovers,
    verify_files,
    write_atomically,
)
from .catalogue import ReaderOptions
from .confidence import Calibrator, ConfidenceModel, Verdicts, nearest_similarity
from .maps import place
from .neighbours import CosineIndex, l2_normalize, suggest_words
from .taxonomy import LEVEL_SEPARATOR, PATH_SEPARATOR, format_path, parse_path
from .text import MAX_TOKENS, tokenize

#: The allowed ``by`` of :meth:`Bundle.similar_products`.
SIMILAR_BY = ("auto", "id", "text")


class UnknownWordError(KeyError):
    """A word is not in the Word2Vec vocabulary; ``suggestions`` holds close words."""

    def __init__(self, word: str, suggestions: list[str]):
        super().__init__(word)
        self.word, self.suggestions = word, suggestions

    def __str__(self) -> str:
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        shown = self.word if len(self.word) <= 80 else self.word[:79] + "…"  # pasted pages
        return f"{shown!r} is not in the vocabulary.{hint}"


#: Columns of :meth:`Bundle.classify_frame` (and of ``prodemb predict``'s output, after
#: the input's own columns).
FRAME_COLUMNS = ("text", "category", "score", "all_paths", "status", "confidence", "flags")


@dataclass
class Classification:
    """The prediction for one text.

    Attributes:
        text: the input text.
        tokens: its cleaned tokens.
        paths: predicted paths, most probable first, each ``(display path, score)``;
            the score is the lowest node probability along the path.
        node_probs: probability of every tree node, float32 ``(n_nodes,)``.
        unknown_tokens: tokens the classifier has no word vector for.
        confidence: the probability that the top path is right (its score calibrated on
            validation products; the raw score for bundles trained without calibration).
        status: "ok", "uncertain" (low confidence) or "out_of_catalogue" (nothing known
            in the text, or far from every training product): see prodemb.confidence.
        flags: why, any of empty_text, no_known_words, low_confidence, out_of_catalogue,
            two_paths.
        similarity: cosine similarity of the product embedding to the nearest training
            product of the bundle's nearness sample (None without one).
        embedding: the product embedding, L2-normalised, float32 ``(E,)``: what
            :meth:`Bundle.place_on_map` takes (``embeddings=``) so a page that shows a
            classification and its place on the map runs the network once.
    """

    text: str
    tokens: list[str]
    paths: list[tuple[str, float]]
    node_probs: np.ndarray
    unknown_tokens: list[str]
    confidence: float = 0.0
    status: str = "ok"
    flags: list[str] = field(default_factory=list)
    similarity: float | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def top_path(self) -> str:
        return self.paths[0][0] if self.paths else ""


def set_inference_threads(threads: int | None = None) -> int:
    """Set torch's (process-wide) thread count for inference and return it.

    ``None``: one thread unless PRODEMB_TORCH_THREADS says otherwise, the right setting
    for the app, whose server answers several sessions at once (more threads than cores
    per request only make them fight, see bench/). ``0``: all available cores, for a
    batch job on an otherwise idle machine (``prodemb predict --threads 0``; about 10 %
    faster on 2 cores, and several times slower than one thread as soon as another
    process is busy: bench/results/speed.json, ``batch_loaded``).

    NumPy's BLAS gets the same count: its own default (a thread per core) made the
    nearness test's (1 x 128) @ (128 x 5,000) product take 2 ms instead of 0.1 ms when
    another process held a core, the threads waiting on each other for a tiny job.
    """
    import torch
    from threadpoolctl import threadpool_limits

    from .utils import available_cores

    if threads is None:
        threads = int(os.environ.get("PRODEMB_TORCH_THREADS", "1"))
    threads = threads or available_cores()
    torch.set_num_threads(threads)
    threadpool_limits(threads, user_api="blas")
    return threads


# ---------------------------------------------------------------------- argument checks
def _count(name: str, value: object) -> int:
    """``value`` as an int >= 1, else ``ValueError`` naming ``name``: a count of 0, -1,
    1.5 or True is a caller's mistake, not a request for nothing or for everything."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _shown(value: object, limit: int = 60) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 1] + "…"


def _is_missing(value: object) -> bool:
    """None, NaN (Python or numpy) or pandas' NA/NaT: what an empty table cell becomes."""
    return value is None or value is pd.NA or value is pd.NaT \
        or (isinstance(value, float | np.floating) and value != value)


def _texts(texts: Iterable[str] | str) -> list[str]:
    """The ``texts`` argument of the API as a list of str.

    ``texts`` is a list (or any iterable, such as a pandas Series) of str; a single str is
    one text, as a caller who passes one product's title means, not a list of characters.
    Missing values (None, NaN, pd.NA) are empty texts, as in a table with empty cells; any
    other item (bytes, a number, a list) raises ``TypeError`` naming its index.
    """
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, bytes | bytearray | Mapping) or not isinstance(texts, Iterable):
        raise TypeError(f"texts must be a list of str (or one str), got {type(texts).__name__} "
                        f"{_shown(texts)}")
    out = []
    for i, t in enumerate(texts):
        if isinstance(t, str):
            out.append(t)
        elif _is_missing(t):
            out.append("")
        else:
            hint = "decode it first" if isinstance(t, bytes | bytearray) else "pass text as str"
            # Silently using str(t) would classify the repr "b'...'" or "['a', 'list']".
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str: {_shown(t)} ({hint})")
    return out


def _text(name: str, value: object) -> str:
    """A single-text argument: must be a str."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__} {_shown(value)}")
    return value


# ---------------------------------------------------------------------- the bundle
class Bundle:
    """A trained model bundle. Load with :meth:`Bundle.load`."""

    def __init__(self, path: str, contents: BundleContents):
        """A bundle from what :func:`prodemb.bundle_format.read_bundle` read (its
        ``manifest`` included); use :meth:`load`."""
        self.path = path
        self.contents = contents
        self.manifest: dict = contents.manifest or {}
        self.taxonomy = contents.taxonomy
        self.classifier = contents.classifier
        self.word_vectors = contents.word_vectors
        #: The tree decoder fitted on validation when the bundle was trained.
        self.decoder = contents.decoder
        self.metrics = contents.metrics
        self.products = contents.products
        self.config = contents.config
        self.product_index = CosineIndex(contents.embeddings.astype(np.float32), normalized=False)
        # The index holds the embeddings (float32, normalised): the stored float16 copy
        # would be 15 MB more of the app's memory on the demo bundle.
        contents.embeddings = None
        self.complete_paths = bool(self.manifest.get("complete_paths", True))
        self.max_tokens = int(self.config.get("train", {}).get("text", {}).get("max_tokens", MAX_TOKENS))
        self._id_to_row = {pid: i for i, pid in enumerate(self.products["id"].astype(str))}
        #: How classifications are judged (prodemb.confidence); bundles trained without a
        #: confidence.json get raw scores as confidence and no nearness test.
        self.use_confidence(ConfidenceModel.from_dict(contents.confidence)
                            if contents.confidence is not None else
                            ConfidenceModel(Calibrator.fit(np.array([]), np.array([])),
                                            Verdicts(), np.zeros(0, dtype=np.int64)),
                            calibrated=contents.confidence is not None)

    def use_confidence(self, model: ConfidenceModel, calibrated: bool = True) -> None:
        """Judge classifications with ``model`` (prodemb.confidence): the bundle's own
        confidence.json when it has one, or one fitted afterwards
        (:func:`prodemb.pipeline.confidence_for_bundle`). ``calibrated``: whether its
        confidence is a calibrated probability (:attr:`calibrated`)."""
        self.confidence_model = model
        #: Whether ``Classification.confidence`` is calibrated (False: the raw path score
        #: of a bundle trained before calibration, without a nearness test).
        self.calibrated = bool(calibrated)
        self._nearness = self.product_index.vectors[model.nearness_rows]

    @property
    def thresholds(self) -> np.ndarray:
        """The decoder's per-node thresholds, ``(n_nodes,)``."""
        return self.decoder.thresholds

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.path))

    @cached_property
    def reader_options(self) -> ReaderOptions:
        """The reader options the bundle was trained with (config.json's ``reader``, else the
        manifest's; the defaults for a bundle that stored none). ``prodemb predict``,
        ``evaluate`` and the dashboard's batch upload read files with them unless told
        otherwise. Fields this version does not know are ignored."""
        stored = self.config.get("reader") or self.manifest.get("reader") or {}
        known = {f.name for f in dataclasses.fields(ReaderOptions)}
        try:
            return ReaderOptions.from_dict({k: v for k, v in stored.items() if k in known})
        except (TypeError, ValueError) as e:
            raise BundleError(f"bundle {self.path!r}: config.json: the reader options are not "
                              f"what prodemb writes ({e}); retrain or restore the bundle") from None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str, verify: bool = True) -> Bundle:
        """Load a bundle directory; ``BundleError`` naming the file if anything is wrong."""
        path = os.path.abspath(path)
        set_inference_threads()
        contents = read_bundle(path, verify)
        with _reading(path, "manifest.json, config.json or the arrays (inconsistent)"):
            return cls(path, contents)

    # ------------------------------------------------------------------ classification
    def tokenize(self, texts: Sequence[str] | str) -> list[list[str]]:
        """The cleaned tokens of each text.

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError."""
        return [tokenize(t, self.max_tokens) for t in _texts(texts)]

    def predict_proba(self, texts: Sequence[str] | str) -> np.ndarray:
        """Node probabilities, float32 ``(n_texts, n_nodes)``.

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError."""
        return self.classifier.predict_proba(self.tokenize(texts))

    def classify(self, texts: Sequence[str] | str, max_paths: int = 3) -> list[Classification]:
        """Predicted paths (hierarchy-consistent, tuned thresholds) for each text, at most
        ``max_paths`` (a positive int) each.

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError."""
        texts = _texts(texts)
        max_paths = _count("max_paths", max_paths)
        tokens = self.tokenize(texts)
        probs, embeddings = self.classifier.predict_proba_and_transform(tokens)
        decoded = self.decode(probs, max_paths)
        index = self.classifier.encoder.index
        unknown = [[t for t in toks if t not in index] for toks in tokens]
        embeddings = l2_normalize(embeddings)
        similarity = (nearest_similarity(embeddings, self._nearness)
                      if len(self._nearness) else None)
        confidence, verdicts = self.confidence_model.judge_all(
            np.array([paths[0][1] if paths else 0.0 for paths in decoded]), similarity,
            [len(t) for t in tokens], [len(t) - len(u) for t, u in zip(tokens, unknown)],
            [len(paths) for paths in decoded])
        return [Classification(text, toks, [(format_path(p), s) for p, s in paths], pr, unk,
                               float(conf), status, flags,
                               None if similarity is None else float(similarity[i]),
                               embeddings[i])
                for i, (text, toks, paths, pr, unk, conf, (status, flags))
                in enumerate(zip(texts, tokens, decoded, probs, unknown, confidence, verdicts))]

    def decode(self, probs: np.ndarray, max_paths: int = 3):
        """Hierarchy-consistent paths from node probabilities, with the bundle's decoder."""
        return self.decoder.decode(probs, max_paths)

    def classify_frame(self, texts: Sequence[str], batch_size: int = 2048, progress=None) -> pd.DataFrame:
        """Batch classification as a table: ``text, category, score, all_paths, status,
        confidence, flags`` (flags joined by ", "; see :class:`Classification`).

        ``progress(done, total)`` is called after each batch if given.
        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError.
        """
        rows = []
        texts = _texts(texts)  # checked whole, so an error names the item's index in texts
        batch_size = _count("batch_size", batch_size)
        for start in range(0, len(texts), batch_size):
            for c in self.classify(texts[start: start + batch_size]):
                rows.append({"text": c.text, "category": c.top_path,
                             "score": round(c.paths[0][1], 4) if c.paths else 0.0,
                             "all_paths": PATH_SEPARATOR.join(f"{p} ({s:.2f})" for p, s in c.paths),
                             "status": c.status, "confidence": round(c.confidence, 4),
                             "flags": ", ".join(c.flags)})
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return pd.DataFrame(rows, columns=list(FRAME_COLUMNS))

    def top_nodes(self, node_probs: np.ndarray, k: int = 10) -> pd.DataFrame:
        """The ``k`` (a positive int) most probable nodes: ``node, level, probability, threshold``."""
        order = np.argsort(-node_probs)[: _count("k", k)]
        return pd.DataFrame({"node": [self.taxonomy.name(i) for i in order],
                             "level": self.taxonomy.levels[order],
                             "probability": node_probs[order].astype(float),
                             "threshold": self.thresholds[order].astype(float)})

    def explain(self, text: str, max_words: int = 30) -> pd.DataFrame:
        """Which words pushed the decision: the drop in the top path's score when each
        word is removed (positive: the word supports the prediction).

        Returns ``position, word, delta`` for the first ``max_words`` (a positive int) tokens.
        """
        tokens = self.tokenize([_text("text", text)])[0][: _count("max_words", max_words)]
        if not tokens:
            return pd.DataFrame(columns=["position", "word", "delta"])
        base = self.classify([text])[0]
        nodes = self._path_nodes(base.top_path)
        variants = [tokens[:i] + tokens[i + 1:] for i in range(len(tokens))]
        probs = self.classifier.predict_proba([tokens] + variants)
        score = probs[:, nodes].min(axis=1)
        return pd.DataFrame({"position": np.arange(len(tokens)), "word": tokens,
                             "delta": (score[0] - score[1:]).astype(float)})

    def _path_nodes(self, display_path: str) -> list[int]:
        node = self.taxonomy.index(parse_path(display_path))
        return self.taxonomy.ancestors(node)

    # ------------------------------------------------------------------ embeddings
    def embed(self, texts: Sequence[str] | str) -> np.ndarray:
        """L2-normalised product embeddings, float32 ``(n_texts, E)``.

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError."""
        return l2_normalize(self.classifier.transform(self.tokenize(texts)))

    def similar_words(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """Nearest words by Word2Vec cosine. The word is cleaned first (``Šál`` -> ``sal``).

        Raises :class:`UnknownWordError` (with suggestions) for words not in the vocabulary,
        ``TypeError`` if ``word`` is not a str, ``ValueError`` unless ``k`` is a positive int
        (a ``k`` above the vocabulary size gives every other word).
        """
        k = _count("k", k)
        toks = tokenize(_text("word", word))
        w = toks[0] if len(toks) == 1 else " ".join(toks)
        if w not in self.word_vectors:
            raise UnknownWordError(w or word, suggest_words(w, self.word_vectors.words) if w else [])
        return self.word_vectors.similar(w, k)

    def product_row(self, product_id: str) -> int | None:
        return self._id_to_row.get(str(product_id))

    def similar_products(self, text_or_id: str, k: int = 10, by: str = "auto",
                         embedding: np.ndarray | None = None) -> pd.DataFrame:
        """Nearest catalogue products by embedding cosine.

        ``by``: ``"id"`` (a product id of the bundle, as a str), ``"text"``, or ``"auto"`` (an
        id if one matches exactly, else text). ``k``: a positive int (above the number of
        products: all of them). Returns the product rows with ``similarity``.
        ``embedding``: for a text, its L2-normalised embedding if already computed
        (:attr:`Classification.embedding`), so the network does not run again.

        With an ANN index in the bundle (``prodemb index``, :attr:`ann_index`) the search
        runs on it: exact for a flat index, approximate for HNSW / IVF; it may hold
        products that products.parquet does not (``--embeddings``): those rows have their
        id, text and predicted path (``pred_path``, ``pred_score``, ``pred_top``, computed
        from the text here), no true path, and missing values in the other columns. Without one, an exact scan of the bundle's products.
        """
        if by not in SIMILAR_BY:
            raise ValueError(f"by must be 'auto', 'id' or 'text', got {_shown(by)}")
        _text("text_or_id", text_or_id)
        k = _count("k", k)
        ann = self.ann_index
        if ann is not None:
            return self._similar_products_ann(ann, text_or_id, k, by, embedding)
        row = self.product_row(text_or_id) if by in ("auto", "id") else None
        if by == "id" and row is None:
            raise KeyError(f"no product with id {text_or_id!r} in this bundle")
        if row is not None:
            query = self.product_index.vectors[row: row + 1]
            idx, sims = self.product_index.search(query, k, exclude=np.array([row]))
        else:
            idx, sims = self.product_index.search(self._text_query(text_or_id, embedding), k)
        out = self.products.iloc[idx[0]].copy()
        out.insert(0, "similarity", sims[0].astype(float))
        return out.reset_index(drop=True)

    @cached_property
    def ann_index(self):
        """The bundle's ANN index (:class:`prodemb.index.AnnIndex`), loaded on first use,
        or None: no index in the bundle, or FAISS not installed (a warning; exact search
        then). Its files' sha256 are checked against the manifest again before FAISS
        reads them."""
        from .bundle_format import INDEX_FILE, INDEX_IDS, INDEX_KEY

        entry = self.manifest.get(INDEX_KEY)
        files = self.manifest.get("files", {})
        if not entry or INDEX_FILE not in files or INDEX_IDS not in files:
            return None
        try:
            from .index import AnnIndex, IndexSpec, import_faiss

            faiss = import_faiss()
        except ImportError as e:
            import warnings

            warnings.warn(f"bundle {self.path!r} has an ANN index but {e}; nearest products "
                          "use exact search", stacklevel=2)
            return None
        verify_files(self.path, {"files": {n: files[n] for n in (INDEX_FILE, INDEX_IDS)}})
        with _reading(self.path, f"{INDEX_FILE} or {INDEX_IDS}"):
            ann = AnnIndex.read(os.path.join(self.path, INDEX_FILE),
                                os.path.join(self.path, INDEX_IDS),
                                IndexSpec.from_dict(entry))
            if ann.dim != self.product_index.vectors.shape[1]:
                raise ValueError(f"the index has {ann.dim} dimensions, the embeddings "
                                 f"{self.product_index.vectors.shape[1]}")
        # One query at a time in the app: FAISS's threads follow torch's (one by default).
        import torch

        faiss.omp_set_num_threads(torch.get_num_threads())
        return ann

    def _text_query(self, text: str, embedding: np.ndarray | None) -> np.ndarray:
        """The query vector ``(1, E)`` of a text: ``embedding`` if given, else embedded."""
        if embedding is None:
            return self.embed([text])
        return np.atleast_2d(np.asarray(embedding, dtype=np.float32))

    def _similar_products_ann(self, ann, text_or_id: str, k: int, by: str,
                              embedding: np.ndarray | None = None) -> pd.DataFrame:
        """:meth:`similar_products` on the ANN index ``ann``."""
        row = self.product_row(text_or_id) if by in ("auto", "id") else None
        ann_row = ann.row_of(text_or_id) if by in ("auto", "id") else None
        if by == "id" and row is None and ann_row is None:
            raise KeyError(f"no product with id {text_or_id!r} in this bundle")
        if row is not None:
            query = self.product_index.vectors[row: row + 1]
        elif ann_row is not None:
            # Indexed from `prodemb embed` of this model (index_bundle checks): embedding
            # its text again gives the vector indexed, which RaBitQ codes do not.
            text = "" if ann.reconstructs else str(ann.texts_at([ann_row])[0])
            query = self.embed([text]) if text else ann.vector(ann_row)
        else:
            query = self._text_query(text_or_id, embedding)
        exclude = None if row is None and ann_row is None else \
            np.array([-1 if ann_row is None else ann_row])
        rows, sims = ann.search(query, k, exclude=exclude)
        ids = ann.ids_at(rows[0])
        at = np.array([self._id_to_row.get(str(i), -1) for i in ids], dtype=np.int64)
        known = self.products.iloc[at[at >= 0]].reset_index(drop=True)
        if (at < 0).any():  # indexed from --embeddings, not among the bundle's products
            extra = self._indexed_only_rows(ann, rows[0][at < 0])
            if len(known):
                order = np.concatenate([np.flatnonzero(at >= 0), np.flatnonzero(at < 0)])
                out = pd.concat([known, extra], ignore_index=True)
                out = out.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
            else:
                out = extra
        else:
            out = known
        out.insert(0, "similarity", sims[0].astype(float))
        return out

    def _indexed_only_rows(self, ann, rows: np.ndarray) -> pd.DataFrame:
        """Product rows (the columns of :attr:`products`) of the ANN index's ``rows``, for
        products it holds that products.parquet does not (``prodemb index --embeddings``):
        their id and text, and their predicted path computed here from the text (one
        forward pass of ``len(rows)`` texts), as products.parquet holds it for the others;
        no true path is known (text columns "", as for an unlabelled product), the other
        columns missing."""
        ids = ann.ids_at(rows)
        extra = pd.DataFrame({c: ("" if pd.api.types.is_string_dtype(t) else None)
                              for c, t in self.products.dtypes.items()}, index=range(len(rows)))
        extra = extra.astype(self.products.dtypes.to_dict())
        extra["id"] = ids.astype(str)
        extra["text"] = ann.texts_at(rows)
        found = self.classify(extra["text"].tolist())
        extra["pred_path"] = [PATH_SEPARATOR.join(p for p, _ in c.paths) for c in found]
        extra["pred_score"] = [round(c.paths[0][1], 4) if c.paths else 0.0 for c in found]
        extra["pred_top"] = extra["pred_path"].str.split(LEVEL_SEPARATOR, regex=False).str[0]
        return extra

    def find_product(self, product_id: str, ignore_case: bool = False) -> str | None:
        """The id of the catalogue product ``product_id`` names, or None: an id of
        :attr:`products`, else of the ANN index (which may hold the whole catalogue). With
        ``ignore_case``, also the same id in another case or with spaces around it."""
        pid = str(product_id)
        if pid in self._id_to_row:
            return pid
        ann = self.ann_index
        if ann is not None and ann.row_of(pid) is not None:
            return pid
        if not ignore_case:
            return None
        q = pid.strip().casefold()
        # Scans, not folded copies kept in memory: an unknown id costs ~30 ms on the demo
        # (60,000 products, 300,000 indexed).
        for known in self._id_to_row:
            if known.casefold() == q:
                return known
        if ann is not None:
            row = ann.row_of(q, ignore_case=True)
            if row is not None:
                return str(ann.ids_at([row])[0])
        return None

    def product_frame(self, product_id: str) -> pd.DataFrame:
        """The catalogue product ``product_id`` as a one-row frame of :attr:`products`'
        columns: its row there, else (a product only the ANN index holds) its id, text and
        predicted path (:meth:`_indexed_only_rows`); no rows if it is unknown."""
        row = self.product_row(product_id)
        if row is not None:
            return self.products.iloc[[row]].reset_index(drop=True)
        ann = self.ann_index
        ann_row = ann.row_of(str(product_id)) if ann is not None else None
        if ann_row is None:
            return self.products.head(0)
        return self._indexed_only_rows(ann, np.array([ann_row]))

    # ------------------------------------------------------------------ review
    def merge_proposals(self, min_rate: float | None = None) -> list:
        """Groups of leaves the classifier confuses with each other, the worst first, from
        the stored validation and test predictions (:func:`prodemb.review.merge_proposals`)."""
        from . import review

        rate = review.MIN_MERGE_RATE if min_rate is None else min_rate
        return review.merge_proposals(self.products, self.taxonomy, rate)

    def what_if_merge(self, paths: Sequence[str], into: str | None = None) -> dict:
        """Validation and test metrics with the leaves ``paths`` (display paths) merged into
        one leaf ``into``, recomputed from the stored predictions without retraining
        (:func:`prodemb.review.what_if_merge`)."""
        from . import review

        return review.what_if_merge(self.products, self.taxonomy, paths, into)

    def confused_products(self, true: str, predicted: str) -> pd.DataFrame:
        """Validation and test products of the category ``true`` predicted as ``predicted``
        (:func:`prodemb.review.confused_products`)."""
        from . import review

        return review.confused_products(self.products, self.taxonomy, true, predicted)

    def map_columns(self, method: str) -> tuple[str, str]:
        cols = (f"{method}_x", f"{method}_y")
        if cols[0] not in self.products.columns:
            raise KeyError(f"this bundle has no {method} map; it has {self.map_methods}")
        return cols

    @cached_property
    def map_methods(self) -> list[str]:
        return [m for m in ("tsne", "umap") if f"{m}_x" in self.products.columns]

    def place_on_map(self, texts: Sequence[str] | str | None, method: str = "umap",
                     k: int | None = None, embeddings: np.ndarray | None = None) -> np.ndarray:
        """Map coordinates for new texts by kNN interpolation, float32 ``(n_texts, 2)``, from
        the ``k`` nearest products (a positive int; None: the bundle's setting).

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError.
        ``embeddings``: instead of texts, their L2-normalised embeddings ``(n, E)`` (e.g.
        :attr:`Classification.embedding`), so the network does not run again."""
        if embeddings is None:
            texts = _texts(texts)
        if k is not None:
            k = _count("k", k)
        xcol, ycol = self.map_columns(method)
        embeddings = (self.embed(texts) if embeddings is None
                      else np.atleast_2d(np.asarray(embeddings, dtype=np.float32)))
        coords = self.products[[xcol, ycol]].to_numpy(np.float32)
        mapped = ~np.isnan(coords).any(axis=1)
        k = k or int(self.config.get("train", {}).get("maps", {}).get("n_neighbors_place", 10))
        if mapped.all():
            return place(embeddings, self.product_index, coords, k)
        index = CosineIndex(self.product_index.vectors[mapped], normalized=True)
        return place(embeddings, index, coords[mapped], k)

    def nearest_rows(self, row: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products of products.parquet nearest to its product at position
        ``row`` (itself left out), by exact embedding cosine: ``(rows (k,), similarities
        (k,))``, most similar first. For the map, whose points are these rows; nearest
        products across a whole catalogue are :meth:`similar_products`."""
        n = len(self.products)
        if not isinstance(row, int | np.integer) or not 0 <= int(row) < n:
            raise IndexError(f"row must be a product position from 0 to {n - 1}, got {_shown(row)}")
        k = _count("k", k)
        row = int(row)
        rows, sims = self.product_index.search(self.product_index.vectors[row: row + 1], k,
                                               exclude=np.array([row]))
        return rows[0], sims[0]

    def reproject(self, rows: np.ndarray, method: str = "umap", seed: int = 0) -> np.ndarray:
        """A map of just the products at positions ``rows`` of products.parquet: t-SNE or
        UMAP (``method``) fitted on their embeddings alone, float32 ``(len(rows), 2)``. A
        subtree's categories, crowded together on the whole catalogue's map, spread out
        over the whole plane. Seconds per thousand products (one core): cache the result."""
        from .maps import METHODS, fit_map

        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {_shown(method)}")
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= len(self.products))):
            raise IndexError(f"rows must be positions from 0 to {len(self.products) - 1}")
        return fit_map(self.product_index.vectors[rows], method, seed)

    def coverage(self) -> dict:
        """How much of the catalogue the bundle's products (products.parquet: the map, the
        neighbour search without an ANN index) hold: ``catalogue`` products read at
        training, ``in_bundle``, ``labelled``, ``unlabelled_sample`` (the random sample of
        unlabelled products embedded beside the labelled ones), and ``indexed``, the
        products the ANN index searches (None without one). Counts missing from an older
        manifest are None."""
        data = self.manifest.get("data", {})
        index = self.manifest.get("index") or {}
        return {"catalogue": data.get("n_products"), "in_bundle": len(self.products),
                "labelled": data.get("n_labelled"),
                "unlabelled_sample": data.get("n_embedded_unlabelled"),
                "indexed": index.get("n") if index else None}

    # ------------------------------------------------------------------ card
    def card(self) -> dict:
        """Facts for a model card: sizes, classes, levels, test macro-F1, date."""
        m = self.manifest
        data = m.get("data", {})
        test = m.get("metrics", {}).get("test", {})
        return {
            "name": self.name,
            "catalogue": data.get("file"),
            "products": data.get("n_products"),
            "labelled": data.get("n_labelled"),
            "unlabelled": data.get("n_unlabelled"),
            "classes": self.taxonomy.n_nodes,
            "leaves": len(self.taxonomy.leaves),
            "levels": self.taxonomy.depth,
            "test_macro_f1": test.get("macro_f1"),
            "test_leaf_macro_f1": test.get("leaf_macro_f1"),
            "trained_at": m.get("created"),
            "vocabulary": len(self.word_vectors),
        }
