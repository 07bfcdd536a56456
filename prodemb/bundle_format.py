"""The bundle format: one owner of how a trained model is written to and read from disk.

A bundle is a directory::

    manifest.json              format version, library versions, config, data fingerprint,
                               metrics summary, every file with its size and sha256
    config.json                training config and reader options
    taxonomy.json              the category tree
    word_vectors.npy/.json     Word2Vec vectors (float16) and vocabulary
    classifier.safetensors     BiLSTM weights (float16) ...
    classifier.json            ... its architecture and token encoder
    thresholds.npy             the tree decoder's per-node thresholds (float32); its other
                               settings are the manifest's ``decoding`` (extra-path cut-off,
                               completion, and since issue 12 the co-occurring sibling ends
                               of the sibling rule; absent in older bundles: no rule)
    metrics.json               evaluation of every split, training history, timings
    products.parquet           the catalogue's products: split, true and predicted paths,
                               map coordinates
    product_embeddings.npy     L2-normalised embeddings (float16), row-aligned with products
    ann_index.faiss            optional (``prodemb index``, issue 15): a FAISS index of product
    ann_index.parquet          embeddings (FAISS's binary format) and the id and text of each
                               indexed row; described by the manifest's ``index``

No file is a pickle. :func:`write_bundle` writes one (from :class:`BundleContents`, into a
hidden directory that then takes the bundle's place atomically, :func:`write_atomically`);
:func:`read_bundle` checks the manifest's format version and every file's sha256 before
reading anything else and returns the same :class:`BundleContents`. Around them: the
manifest checks (:func:`read_manifest`, :func:`quick_check`, :func:`verify_files`), bundle
discovery (:func:`find_bundles`, :func:`is_bundle_dir`) and what may be written where
(:func:`check_bundle_output`, :func:`output_lock`, :func:`remove_leftovers`).
:class:`prodemb.bundle.Bundle` is the Python API over a read bundle.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
import platform
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata

import numpy as np
import pandas as pd

from . import __version__
from .classifier import Classifier
from .decoding import SIBLINGS_KEY, TreeDecoder
from .taxonomy import Taxonomy
from .utils import json_default, json_loads_bounded, sha256_file
from .word2vec import WordVectors

FORMAT = "prodemb.bundle/1"
MANIFEST = "manifest.json"
#: Optional (bundles trained before it lack it): the confidence model (prodemb.confidence).
CONFIDENCE = "confidence.json"
#: Optional (``prodemb index``): the ANN index of product embeddings and its rows' ids; the
#: manifest's ``index`` says how it was built (:mod:`prodemb.index`).
INDEX_FILE = "ann_index.faiss"
INDEX_IDS = "ann_index.parquet"
INDEX_KEY = "index"
#: Every file :func:`read_bundle` reads; each must be listed (and so hashed) in the manifest.
BUNDLE_FILES = ("taxonomy.json", "metrics.json", "config.json", "classifier.safetensors",
                "classifier.json", "word_vectors.npy", "word_vectors.json", "thresholds.npy",
                "products.parquet", "product_embeddings.npy")
#: Manifest entries that are JSON objects when present (read with ``.get`` by the API,
#: the CLI and the dashboard; anything else there is a damaged manifest).
MANIFEST_OBJECTS = ("libraries", "config", "reader", "data", "taxonomy", "labels", "decoding",
                    "metrics", "metrics.*", "stage_seconds", INDEX_KEY)
#: Columns of products.parquet that the API and the dashboard read (training writes them all).
PRODUCT_COLUMNS = ("id", "text", "split", "true_path", "pred_path", "pred_score", "pred_top",
                   "true_top", "correct")
#: Paths per product the manifest's ``decoding`` records (what the API shows at most).
MAX_PATHS = 3
#: Libraries whose versions the manifest records.
LIBRARIES = ("prodemb", "torch", "gensim", "numpy", "pandas", "pyarrow", "scikit-learn",
             "umap-learn", "openTSNE", "unidecode", "safetensors", "iterative-stratification")


class BundleError(RuntimeError):
    """A bundle is missing, incomplete, altered or of an unknown format."""


class OutputError(ValueError):
    """An output path prodemb will not write to, because writing would destroy or clobber
    something that is not a prodemb output (a user's folder or file, an input); nothing
    was changed. The message says what is wrong and what to do."""


class OutputInUseError(OutputError):
    """Another process is writing a bundle to the same directory (see :func:`output_lock`)."""


# ---------------------------------------------------------------------- contents
@dataclass
class BundleContents:
    """What a bundle holds, as Python objects (one field per file or pair of files).

    Attributes:
        taxonomy: the category tree (taxonomy.json).
        classifier: the trained model (classifier.safetensors + classifier.json).
        word_vectors: the Word2Vec vectors (word_vectors.npy + word_vectors.json).
        decoder: the tree decoder fitted on validation (thresholds.npy + the manifest's
            ``decoding``).
        metrics: metrics.json.
        config: config.json, ``{"train": TrainConfig.to_dict(), "reader": ReaderOptions.to_dict()}``.
        products: products.parquet (:data:`PRODUCT_COLUMNS` and the map coordinates).
        embeddings: product embeddings, ``(len(products), E)``, L2-normalised.
        manifest: the manifest (as read; :func:`write_bundle` writes it from
            :class:`TrainingFacts` and the files).
        confidence: confidence.json (:class:`prodemb.confidence.ConfidenceModel` as a
            dict), or None: bundles trained before it have no such file.
    """

    taxonomy: Taxonomy
    classifier: Classifier
    word_vectors: WordVectors
    decoder: TreeDecoder
    metrics: dict
    config: dict
    products: pd.DataFrame
    embeddings: np.ndarray
    manifest: dict | None = None
    confidence: dict | None = None


@dataclass
class TrainingFacts:
    """What the manifest says about the training besides the files (written by
    :func:`write_bundle` in this order, after the format, date and library versions).

    Attributes:
        data: the catalogue: file name, sha256, product counts, split counts.
        labels: the roll-up report and rare-leaf counts.
        warnings: plain-words warnings of the training.
        complete_paths: every labelled path ends at a leaf.
        mixing: the model's mixing weights chosen on validation (``sigmoid_weight``,
            ``leaf_prior_weight``, ``wide_mix``), recorded in ``decoding``.
        metrics: the summary of every split's scores.
        stage_seconds: seconds per training stage.
    """

    data: dict
    labels: dict
    warnings: list[str]
    complete_paths: bool
    mixing: dict
    metrics: dict
    stage_seconds: dict

    @classmethod
    def from_manifest(cls, manifest: dict) -> TrainingFacts:
        """The facts a written manifest holds (to write a read bundle again)."""
        decoding = manifest.get("decoding", {})
        return cls(data=manifest.get("data", {}), labels=manifest.get("labels", {}),
                   warnings=manifest.get("warnings", []),
                   complete_paths=manifest.get("complete_paths", True),
                   mixing={k: v for k, v in decoding.items()
                           if k not in ("extra_path_min", "max_paths", "complete", SIBLINGS_KEY)},
                   metrics=manifest.get("metrics", {}),
                   stage_seconds=manifest.get("stage_seconds", {}))


def library_versions(libraries: Sequence[str] = LIBRARIES) -> dict[str, str]:
    """Python's version and each of ``libraries``' installed version ("not installed")."""
    out = {"python": platform.python_version()}
    for lib in libraries:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


# ---------------------------------------------------------------------- writing
def write_bundle(out: str, contents: BundleContents, facts: TrainingFacts,
                 overwrite: bool = True) -> dict:
    """Write a bundle to directory ``out`` atomically (:func:`write_atomically`; ``out`` must
    be allowed by :func:`check_bundle_output`) and return its manifest."""
    written: dict = {}

    def write(tmp: str) -> None:
        written.update(write_files(tmp, contents, facts))

    write_atomically(out, write, overwrite=overwrite)
    return written


def write_files(directory: str, contents: BundleContents, facts: TrainingFacts) -> dict:
    """Write every file of a bundle and then its manifest into the empty ``directory``;
    return the manifest."""
    c = contents
    files = []
    with open(os.path.join(directory, "taxonomy.json"), "w", encoding="utf-8") as f:
        f.write(c.taxonomy.to_json())
    files.append("taxonomy.json")
    files += c.word_vectors.save(directory)
    files += c.classifier.save(directory)
    np.save(os.path.join(directory, "thresholds.npy"), np.asarray(c.decoder.thresholds).astype(np.float32),
            allow_pickle=False)
    files.append("thresholds.npy")
    np.save(os.path.join(directory, "product_embeddings.npy"), c.embeddings.astype(np.float16),
            allow_pickle=False)
    files.append("product_embeddings.npy")
    c.products.to_parquet(os.path.join(directory, "products.parquet"), index=False,
                          compression="zstd")
    files.append("products.parquet")
    _dump(os.path.join(directory, "metrics.json"), c.metrics)
    files.append("metrics.json")
    _dump(os.path.join(directory, "config.json"), c.config)
    files.append("config.json")
    if c.confidence is not None:
        _dump(os.path.join(directory, CONFIDENCE), c.confidence)
        files.append(CONFIDENCE)
    settings = c.decoder.settings()
    manifest = {
        "format": FORMAT,
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "prodemb_version": __version__,
        "libraries": library_versions(),
        "config": c.config["train"],
        "reader": c.config["reader"],
        "data": facts.data,
        "taxonomy": {"nodes": c.taxonomy.n_nodes, "leaves": len(c.taxonomy.leaves),
                     "depth": c.taxonomy.depth},
        "labels": facts.labels,
        "warnings": facts.warnings,
        "complete_paths": facts.complete_paths,
        "decoding": {"extra_path_min": settings["extra_path_min"], "max_paths": MAX_PATHS,
                     **facts.mixing,
                     # Go on to a leaf where the thresholds stop (chosen on validation
                     # when some paths of the catalogue stop above the leaves).
                     "complete": settings["complete"],
                     # The sibling rule's allowed pairs (absent: no rule, older bundles).
                     **({SIBLINGS_KEY: settings[SIBLINGS_KEY]} if SIBLINGS_KEY in settings else {})},
        "metrics": facts.metrics,
        "stage_seconds": facts.stage_seconds,
        "files": file_entries(directory, files),
    }
    _dump(os.path.join(directory, MANIFEST), manifest)
    return manifest


def _dump(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1, default=json_default)


# ---------------------------------------------------------------------- reading
def read_bundle(path: str, verify: bool = True) -> BundleContents:
    """Read bundle directory ``path``: the manifest (format and shape), every file's size
    and sha256 against it (unless ``verify`` is false; the ANN index files' sha256 only
    when :attr:`prodemb.bundle.Bundle.ann_index` reads them), then each file; any problem
    is a :class:`BundleError` naming the file."""
    manifest = read_manifest(path)
    if verify:
        unlisted = [f for f in BUNDLE_FILES if f not in manifest["files"]]
        if unlisted:
            raise BundleError(f"bundle {path!r}: the manifest does not list {', '.join(unlisted)}, "
                              "so it cannot be verified; retrain or restore the bundle")
        # The ANN index (up to GBs at catalogue scale) is hashed when it is first used
        # (Bundle.ann_index), not at every load: here only its presence and size.
        lazy = (INDEX_FILE, INDEX_IDS)
        files = manifest["files"]
        verify_files(path, {"files": {n: e for n, e in files.items() if n not in lazy}})
        verify_files(path, {"files": {n: e for n, e in files.items() if n in lazy}},
                     hashes=False)
    with _reading(path, "taxonomy.json"):
        with open(os.path.join(path, "taxonomy.json"), encoding="utf-8") as f:
            taxonomy = Taxonomy.from_json(f.read())
    metrics = _read_json_object(path, "metrics.json", ("splits", "splits.*"))
    config = _read_json_object(path, "config.json", ("train", "train.text", "train.maps",
                                                     "train.word2vec", "reader"))
    with _reading(path, "classifier.json or classifier.safetensors"):
        classifier = Classifier.load(path)
    with _reading(path, "word_vectors.json or word_vectors.npy"):
        word_vectors = WordVectors.load(path)
    with _reading(path, "thresholds.npy"):
        thresholds = np.load(os.path.join(path, "thresholds.npy"), allow_pickle=False)
    with _reading(path, "products.parquet"):
        products = pd.read_parquet(os.path.join(path, "products.parquet"))
    with _reading(path, "product_embeddings.npy"):
        embeddings = np.load(os.path.join(path, "product_embeddings.npy"), allow_pickle=False)
    _check_parts(path, taxonomy, thresholds, products, embeddings)
    confidence = None
    if CONFIDENCE in manifest["files"]:  # optional: bundles trained before it lack it
        confidence = _read_json_object(path, CONFIDENCE, ("calibration", "verdicts"))
        with _reading(path, CONFIDENCE):
            rows = np.asarray(confidence.get("nearness_rows", []), dtype=np.int64)
            if rows.ndim != 1 or (len(rows) and (rows.min() < 0 or rows.max() >= len(products))):
                raise ValueError("nearness_rows name products the bundle does not hold")
    with _reading(path, "manifest.json, config.json or the arrays (inconsistent)"):
        decoder = TreeDecoder.from_settings(taxonomy, thresholds, manifest.get("decoding", {}),
                                            bool(manifest.get("complete_paths", True)))
    return BundleContents(taxonomy, classifier, word_vectors, decoder, metrics, config, products,
                          embeddings, manifest, confidence)


# ---------------------------------------------------------------------- manifest
def file_entries(directory: str, names: Sequence[str]) -> dict[str, dict]:
    return {n: {"bytes": os.path.getsize(os.path.join(directory, n)),
                "sha256": sha256_file(os.path.join(directory, n))} for n in sorted(names)}


def read_manifest(path: str) -> dict:
    """The manifest of a bundle directory, checked for format and shape (every entry the
    API reads has the right type); files are not hashed here. Any problem is a
    :class:`BundleError`."""
    mpath = os.path.join(path, MANIFEST)
    if not os.path.isdir(path):
        raise BundleError(f"no bundle at {path!r}: the directory does not exist")
    if not os.path.exists(mpath):
        raise BundleError(f"{path!r} is not a prodemb bundle: {MANIFEST} is missing")
    manifest = _read_json(mpath, f"{MANIFEST} in {path!r}")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else None
        raise BundleError(f"{path!r} has bundle format {found!r}; this prodemb reads {FORMAT!r}")
    if not isinstance(manifest.get("files"), dict):
        raise BundleError(f"{MANIFEST} in {path!r} lists no files")
    _check_manifest_shape(path, manifest)
    return manifest


def _read_json(fpath: str, what: str):
    """A JSON file of a bundle, parsed with bounded nesting; :class:`BundleError` naming
    ``what`` if it cannot be read (a directory, unreadable, not UTF-8, not JSON, too deep)."""
    try:
        with open(fpath, encoding="utf-8") as f:
            return json_loads_bounded(f.read())
    except ValueError as e:  # JSONDecodeError, JSONTooDeepError, UnicodeDecodeError
        raise BundleError(f"{what} is corrupt ({e}); retrain or restore the bundle") from None
    except OSError as e:
        raise BundleError(f"{what} cannot be read ({e.strerror or e}); retrain or restore "
                          "the bundle") from None


def _wrong_type(where: str, key: str, value: object, expected: str) -> BundleError:
    return BundleError(f"{where}: {key!r} is {type(value).__name__}, expected {expected}; "
                       "retrain or restore the bundle")


def _check_manifest_shape(path: str, manifest: dict) -> None:
    """Raise :class:`BundleError` for an entry of the wrong type or a file name that is not
    a plain name inside the bundle (so that no caller meets an AttributeError later)."""
    where = f"{MANIFEST} in {path!r}"
    _check_objects(where, manifest, MANIFEST_OBJECTS)
    for name, entry in manifest["files"].items():
        if name in ("", ".", "..") or os.path.basename(name) != name or "\0" in name:
            raise BundleError(f"manifest of {path!r} names a file outside the bundle: {name!r}")
        if not isinstance(entry, dict):
            raise _wrong_type(where, f"files.{name}", entry, "an object with bytes and sha256")


def verify_files(path: str, manifest: dict, hashes: bool = True) -> None:
    """Raise :class:`BundleError` naming the first file that is missing, truncated or altered
    (without ``hashes``: missing, not a file or of another size; a quick check)."""
    for name, entry in manifest["files"].items():
        fpath = os.path.join(path, name)
        if os.path.basename(name) != name or name in ("", ".", ".."):
            raise BundleError(f"manifest of {path!r} names a file outside the bundle: {name!r}")
        if not os.path.exists(fpath):
            raise BundleError(f"bundle {path!r} is incomplete: {name} is missing")
        if not os.path.isfile(fpath):
            raise BundleError(f"bundle {path!r}: {name} is not a file (a directory?); retrain "
                              "or restore the bundle")
        try:
            size = os.path.getsize(fpath)
            digest = sha256_file(fpath) if hashes and size == entry.get("bytes") else None
        except OSError as e:
            raise BundleError(f"bundle {path!r}: {name} cannot be read ({e.strerror or e})") from None
        if size != entry.get("bytes"):
            raise BundleError(f"bundle {path!r}: {name} has {size} bytes, the manifest says "
                              f"{entry.get('bytes')} (truncated or replaced)")
        if hashes and digest != entry.get("sha256"):
            raise BundleError(f"bundle {path!r}: {name} was altered (sha256 differs from the manifest)")


def quick_check(path: str) -> dict:
    """The manifest of bundle ``path`` once it and the files it lists look right (every
    file present, a file, of the listed size), without hashing the files: cheap enough to
    judge every bundle of a folder. :class:`BundleError` otherwise; :func:`read_bundle`
    checks everything."""
    manifest = read_manifest(path)
    verify_files(path, manifest, hashes=False)
    return manifest


def find_bundles(root: str = "artifacts") -> list[str]:
    """Bundle directories directly under ``root`` that have a manifest (hidden ones skipped)."""
    try:
        names = os.listdir(root)
    except OSError:  # missing or unreadable: no bundles there
        return []
    return sorted(os.path.join(root, d) for d in names
                  if not d.startswith(".") and os.path.isfile(os.path.join(root, d, MANIFEST)))


def is_bundle_dir(path: str) -> bool:
    """True when the directory ``path`` holds a prodemb bundle: its ``manifest.json`` is a
    prodemb manifest, or (a bundle whose manifest is damaged) every entry in it is one of
    a bundle's file names."""
    mpath = os.path.join(path, MANIFEST)
    if os.path.islink(path) or not os.path.isdir(path) or os.path.islink(mpath) \
            or not os.path.isfile(mpath):
        return False
    try:
        manifest = _read_json(mpath, MANIFEST)
    except BundleError:  # damaged: judged by the directory's entries below
        manifest = None
    if isinstance(manifest, dict) and str(manifest.get("format", "")).startswith("prodemb.bundle"):
        return True
    return set(os.listdir(path)) <= {MANIFEST, CONFIDENCE, INDEX_FILE, INDEX_IDS, *BUNDLE_FILES}


def _listing(names: list[str], shown: int = 4) -> str:
    names = sorted(names)
    more = f", ... ({len(names)} entries)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _within(path: str, directory: str) -> bool:
    """``path`` is ``directory`` or below it (both already resolved)."""
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


def check_bundle_output(out: str, inputs: Iterable[str | os.PathLike | None] = (),
                        overwrite: bool = True) -> None:
    """Raise :class:`OutputError` unless a bundle may be written to directory ``out``.

    Allowed: a path that does not exist yet (it is created), an empty directory, and a
    directory that holds a prodemb bundle (:func:`is_bundle_dir`) when ``overwrite`` is
    true (``prodemb train --force``); replacing a bundle replaces the whole directory.
    Refused, with nothing changed: a directory that is not a bundle and is not empty, a
    file, a symbolic link, an existing bundle without ``overwrite``, and any path that is,
    contains or lies inside one of ``inputs`` (the catalogue being trained on).
    """
    path = os.path.abspath(out)
    where = f"cannot write the bundle to {os.fspath(out)!r}"
    if not os.path.basename(path):
        raise OutputError(f"{where}: the root directory cannot hold a bundle. Nothing was "
                          "changed: choose a new directory, e.g. artifacts/my-model")
    real = os.path.realpath(path)
    for inp in inputs:
        if inp is None or not os.path.exists(inp):
            continue  # a missing input is the reader's error, with its own message
        rin = os.path.realpath(inp)
        same = rin == real or (os.path.exists(path) and os.path.samefile(inp, path))
        if same:
            raise OutputError(f"{where}: it is the catalogue being trained on ({os.fspath(inp)!r}), "
                              "which a bundle directory would replace. Nothing was changed: "
                              "choose a new directory for the bundle, e.g. artifacts/my-model")
        if _within(rin, real):
            raise OutputError(f"{where}: it contains the catalogue being trained on "
                              f"({os.fspath(inp)!r}), and the bundle replaces the whole directory. "
                              "Nothing was changed: choose another directory, e.g. artifacts/my-model")
        if _within(real, rin):
            raise OutputError(f"{where}: it is inside the input {os.fspath(inp)!r}. Nothing was "
                              "changed: choose a directory outside it")
    if os.path.islink(path):
        raise OutputError(f"{where}: it is a symbolic link (to {os.readlink(path)!r}); a bundle "
                          "replaces its directory, so prodemb does not write through links. "
                          "Nothing was changed: give the real directory or a new one")
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise OutputError(f"{where}: it is an existing file, and a bundle is a directory. Nothing "
                          "was changed: choose a new directory, e.g. artifacts/my-model")
    entries = os.listdir(path)
    if not entries:
        return
    if is_bundle_dir(path):
        if overwrite:
            return
        raise OutputError(f"{where}: it already holds a prodemb bundle. Nothing was changed: "
                          "pass --force to replace that bundle (overwrite=True in Python), or "
                          "choose another directory")
    raise OutputError(f"{where}: it is a directory that is not a prodemb bundle (no {MANIFEST}) "
                      f"and is not empty (it holds {_listing(entries)}); writing the bundle would "
                      "replace everything in it. Nothing was changed: choose a new or empty "
                      "directory, e.g. artifacts/my-model")


def lock_path(out: str) -> str:
    """The lock file of bundle directory ``out``: ``.NAME.lock`` beside it."""
    parent, name = os.path.split(os.path.abspath(out))
    return os.path.join(parent, f".{name}.lock")


@contextlib.contextmanager
def output_lock(out: str):
    """Hold an exclusive lock on bundle directory ``out`` for the whole ``with`` block.

    A second holder (another training to the same directory, in any process) gets
    :class:`OutputInUseError` at once instead of silently overwriting the first one's
    bundle. The lock is an ``flock`` on ``.NAME.lock`` beside ``out``: the kernel releases
    it when the process ends, however it ends, so a killed run never blocks the next one;
    the file itself is removed when the lock is released (a killed run's file is reused).
    Creates ``out``'s parent directory if needed. Without ``fcntl`` (not POSIX) no lock is
    taken.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield None
        return
    lock = lock_path(out)
    os.makedirs(os.path.dirname(lock), exist_ok=True)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputInUseError(
                f"{os.fspath(out)!r} is in use: another training is writing a bundle there right "
                f"now (it holds the lock {lock!r}). Nothing was changed: wait for it to finish, "
                "or choose another directory") from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the previous holder may have removed the file between our open and flock
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield lock
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)  # while still locked: a waiting opener sees the file changed
        os.close(fd)


def remove_leftovers(final_dir: str) -> None:
    """Remove what killed runs left beside bundle directory ``final_dir``: hidden
    ``.NAME.tmp-*`` directories (half-written bundles, Word2Vec corpora) of processes that
    are gone; a previous bundle a run moved aside (``.NAME.old-*``) is put back if the name
    is empty (only without RENAME_EXCHANGE)."""
    final_dir = os.path.abspath(final_dir)
    parent, name = os.path.split(final_dir)
    if not os.path.isdir(parent):
        return
    for stale in sorted(os.listdir(parent)):
        if stale.startswith(f".{name}.tmp-") or stale.startswith(f".{name}.old-"):
            pid = stale.rsplit("-", 1)[-1]
            if not (pid.isdigit() and _pid_alive(int(pid))):
                if stale.startswith(f".{name}.old-") and not os.path.exists(final_dir):
                    # A run was killed between moving the previous bundle aside and putting
                    # the new one in place (only without RENAME_EXCHANGE): restore it.
                    os.rename(os.path.join(parent, stale), final_dir)
                else:
                    shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)


def write_atomically(final_dir: str, write, overwrite: bool = True) -> None:
    """Create a bundle directory atomically.

    ``write(tmp_dir)`` fills a hidden temporary directory beside ``final_dir``; only
    then does it take the place of any previous bundle, in one atomic exchange of the
    two directories (Linux ``renameat2``; elsewhere two renames, and a run killed between
    them has its previous bundle restored by the next run). A run killed part-way leaves
    the previous bundle untouched and only a hidden ``.NAME.tmp-*`` directory, which
    :func:`find_bundles` ignores and the next run removes.

    ``final_dir`` must be allowed by :func:`check_bundle_output` (checked before ``write``
    and again just before the new bundle takes its place): :class:`OutputError` for a
    file, a link, a directory that is not a bundle and not empty, or, unless
    ``overwrite``, an existing bundle.
    """
    final_dir = os.path.abspath(final_dir)
    parent, name = os.path.split(final_dir)
    os.makedirs(parent, exist_ok=True)
    remove_leftovers(final_dir)
    check_bundle_output(final_dir, overwrite=overwrite)
    tmp = os.path.join(parent, f".{name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        write(tmp)
        _fsync_dir(tmp)
        check_bundle_output(final_dir, overwrite=overwrite)  # nothing else moved in meanwhile
        if not os.path.exists(final_dir):
            os.rename(tmp, final_dir)
        elif _exchange(tmp, final_dir):
            # One atomic step: the name holds the old bundle or the new one, never neither.
            shutil.rmtree(tmp, ignore_errors=True)  # now the previous bundle
        else:
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.rename(final_dir, old)
            os.rename(tmp, final_dir)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(parent, files=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_to_bundle(path: str, write, manifest_changes: dict, remove: Sequence[str] = ()) -> dict:
    """Add files to (or replace files of) the existing bundle ``path``, atomically.

    A new bundle directory is made beside it (:func:`write_atomically`): every file the
    manifest lists is hard-linked into it (copied where links are impossible), except
    ``remove``; ``write(tmp_dir)`` writes the new files and returns their names; the
    manifest gets ``manifest_changes`` (top-level keys; a value of None removes the key)
    and the new files with their sizes and sha256; then the new directory takes the
    bundle's place in one atomic exchange. A reader sees the old bundle or the new one,
    never a file that disagrees with its manifest; the bundle's lock
    (:func:`output_lock`) is held throughout. Returns the new manifest.
    """
    path = os.path.abspath(path)
    manifest = read_manifest(path)
    verify_files(path, manifest, hashes=False)
    result: dict = {}

    def build(tmp: str) -> None:
        files = {k: v for k, v in manifest["files"].items() if k not in remove}
        for name in files:
            src, dst = os.path.join(path, name), os.path.join(tmp, name)
            try:
                os.link(src, dst)  # no copy of a large file; the old directory is removed
            except OSError:
                shutil.copy2(src, dst)
        new_names = list(write(tmp))
        new = {k: v for k, v in manifest.items() if k != "files"}
        for key, value in manifest_changes.items():
            if value is None:
                new.pop(key, None)
            else:
                new[key] = value
        new["files"] = {**files, **file_entries(tmp, new_names)}
        new["files"] = dict(sorted(new["files"].items()))
        _dump(os.path.join(tmp, MANIFEST), new)
        result.update(new)

    with output_lock(path):
        write_atomically(path, build, overwrite=True)
    return result


def _exchange(a: str, b: str) -> bool:
    """Swap two existing paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the platform or file system cannot, and the caller falls back to
    two renames (with a short window in which the name is missing; see
    :func:`write_atomically` for the recovery).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), b)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: str, files: bool = True) -> None:
    """Flush a directory entry to disk, and with ``files`` every file below it."""
    for root, _dirs, names in os.walk(path) if files else ():
        for f in names:
            with open(os.path.join(root, f), "rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _reading(path: str, what: str):
    """Turn any failure while reading part ``what`` of bundle ``path`` into a
    :class:`BundleError` naming it: a damaged bundle must never show a traceback."""
    try:
        yield
    except BundleError:
        raise
    except RecursionError:  # a JSON file nested far too deep for the parser
        raise BundleError(f"bundle {path!r}: {what} could not be read (nested too deeply); "
                          "retrain or restore the bundle") from None
    except Exception as e:
        raise BundleError(f"bundle {path!r}: {what} could not be read ({type(e).__name__}: "
                          f"{str(e)[:300]}); retrain or restore the bundle") from e


def _read_json_object(path: str, name: str, objects: Sequence[str]) -> dict:
    """JSON file ``name`` of bundle ``path``: an object whose entries at the dotted keys
    ``objects`` (when present) are objects too."""
    where = f"bundle {path!r}: {name}"
    data = _read_json(os.path.join(path, name), where)
    if not isinstance(data, dict):
        raise BundleError(f"{where} is {type(data).__name__}, expected an object; retrain or "
                          "restore the bundle")
    _check_objects(where, data, objects)
    return data


def _check_objects(where: str, data: dict, objects: Sequence[str]) -> None:
    """Raise :class:`BundleError` unless every entry of ``data`` at the dotted keys
    ``objects`` (``*``: every key; parents listed before children) is an object."""
    for dotted in objects:
        found = [("", data)]
        for part in dotted.split("."):
            found = [(f"{key}.{k}".lstrip("."), v) for key, parent in found if isinstance(parent, dict)
                     for k, v in (parent.items() if part == "*" else
                                  [(part, parent[part])] if part in parent else [])]
        for key, value in found:
            if not isinstance(value, dict):
                raise _wrong_type(where, key, value, "an object")


def _check_parts(path: str, taxonomy: Taxonomy, thresholds: np.ndarray, products: pd.DataFrame,
                 embeddings: np.ndarray) -> None:
    """The files of a bundle agree with each other (each was read on its own)."""
    missing = [c for c in PRODUCT_COLUMNS if c not in products.columns]
    if missing:
        raise BundleError(f"bundle {path!r}: products.parquet has no column {', '.join(missing)}; "
                          "retrain or restore the bundle")
    if embeddings.ndim != 2 or len(products) != len(embeddings):
        raise BundleError(f"bundle {path!r}: products.parquet and product_embeddings.npy differ in length")
    if thresholds.ndim != 1 or len(thresholds) != taxonomy.n_nodes:
        raise BundleError(f"bundle {path!r}: thresholds.npy does not match the taxonomy")
