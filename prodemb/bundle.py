"""The artifact bundle: everything a trained prodemb model needs, and its Python API.

A bundle is a directory::

    manifest.json              format version, library versions, config, data fingerprint,
                               metrics summary, every file with its size and sha256
    config.json                training config and reader options
    taxonomy.json              the category tree
    word_vectors.npy/.json     Word2Vec vectors (float16) and vocabulary
    classifier.safetensors     BiLSTM weights (float16) ...
    classifier.json            ... its architecture and token encoder
    thresholds.npy             per-node decision thresholds (float32)
    metrics.json               evaluation of every split, training history, timings
    products.parquet           the catalogue's products: split, true and predicted paths,
                               map coordinates
    product_embeddings.npy     L2-normalised embeddings (float16), row-aligned with products

No file is a pickle. :meth:`Bundle.load` checks the manifest's format version and
every file's sha256 before reading anything else.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import numbers
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .catalogue import ReaderOptions
from .classifier import Classifier
from .decoding import Decoding
from .maps import place
from .neighbours import CosineIndex, l2_normalize, suggest_words
from .taxonomy import Taxonomy, format_path
from .text import MAX_TOKENS, tokenize
from .utils import json_loads_bounded, sha256_file
from .word2vec import WordVectors

FORMAT = "prodemb.bundle/1"
MANIFEST = "manifest.json"
#: Every file :meth:`Bundle.load` reads; each must be listed (and so hashed) in the manifest.
BUNDLE_FILES = ("taxonomy.json", "metrics.json", "config.json", "classifier.safetensors",
                "classifier.json", "word_vectors.npy", "word_vectors.json", "thresholds.npy",
                "products.parquet", "product_embeddings.npy")
#: The allowed ``by`` of :meth:`Bundle.similar_products`.
SIMILAR_BY = ("auto", "id", "text")
#: Manifest entries that are JSON objects when present (read with ``.get`` by the API,
#: the CLI and the dashboard; anything else there is a damaged manifest).
MANIFEST_OBJECTS = ("libraries", "config", "reader", "data", "taxonomy", "labels", "decoding",
                    "metrics", "metrics.*", "stage_seconds")
#: Columns of products.parquet that the API and the dashboard read (training writes them all).
PRODUCT_COLUMNS = ("id", "text", "split", "true_path", "pred_path", "pred_score", "pred_top",
                   "true_top", "correct")


class BundleError(RuntimeError):
    """A bundle is missing, incomplete, altered or of an unknown format."""


class OutputError(ValueError):
    """An output path prodemb will not write to, because writing would destroy or clobber
    something that is not a prodemb output (a user's folder or file, an input); nothing
    was changed. The message says what is wrong and what to do."""


class OutputInUseError(OutputError):
    """Another process is writing a bundle to the same directory (see :func:`output_lock`)."""


class UnknownWordError(KeyError):
    """A word is not in the Word2Vec vocabulary; ``suggestions`` holds close words."""

    def __init__(self, word: str, suggestions: list[str]):
        super().__init__(word)
        self.word, self.suggestions = word, suggestions

    def __str__(self) -> str:
        hint = f" Did you mean: {', '.join(self.suggestions)}?" if self.suggestions else ""
        shown = self.word if len(self.word) <= 80 else self.word[:79] + "…"  # pasted pages
        return f"{shown!r} is not in the vocabulary.{hint}"


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
    """

    text: str
    tokens: list[str]
    paths: list[tuple[str, float]]
    node_probs: np.ndarray
    unknown_tokens: list[str]

    @property
    def top_path(self) -> str:
        return self.paths[0][0] if self.paths else ""


def set_inference_threads(threads: int | None = None) -> int:
    """Set torch's (process-wide) thread count for inference and return it.

    ``None``: one thread unless PRODEMB_TORCH_THREADS says otherwise, the right setting
    for the app, whose server answers several sessions at once (more threads than cores
    per request only make them fight, see bench/). ``0``: all available cores, for a
    batch job that has the machine to itself (``prodemb predict``); on 2 cores this
    classifies ~1.4x as many products per second (bench/results/speed.json).
    """
    import torch

    from .utils import available_cores

    if threads is None:
        threads = int(os.environ.get("PRODEMB_TORCH_THREADS", "1"))
    threads = threads or available_cores()
    torch.set_num_threads(threads)
    return threads


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
    judge every bundle of a folder. :class:`BundleError` otherwise; :meth:`Bundle.load`
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
    return set(os.listdir(path)) <= {MANIFEST, *BUNDLE_FILES}


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

    def __init__(self, path: str, manifest: dict, taxonomy: Taxonomy, classifier: Classifier,
                 word_vectors: WordVectors, thresholds: np.ndarray, metrics: dict,
                 products: pd.DataFrame, product_embeddings: np.ndarray, config: dict):
        self.path = path
        self.manifest = manifest
        self.taxonomy = taxonomy
        self.classifier = classifier
        self.word_vectors = word_vectors
        self.thresholds = thresholds
        self.metrics = metrics
        self.products = products
        self.config = config
        self.product_index = CosineIndex(product_embeddings.astype(np.float32), normalized=False)
        self.complete_paths = bool(manifest.get("complete_paths", True))
        tuned = manifest.get("decoding", {})
        self.decoding = Decoding(thresholds, float(tuned.get("extra_path_min", 0.5)),
                                 bool(tuned.get("complete", self.complete_paths)))
        self.max_tokens = int(config.get("train", {}).get("text", {}).get("max_tokens", MAX_TOKENS))
        self._id_to_row = {pid: i for i, pid in enumerate(products["id"].astype(str))}

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
        manifest = read_manifest(path)
        if verify:
            unlisted = [f for f in BUNDLE_FILES if f not in manifest["files"]]
            if unlisted:
                raise BundleError(f"bundle {path!r}: the manifest does not list {', '.join(unlisted)}, "
                                  "so it cannot be verified; retrain or restore the bundle")
            verify_files(path, manifest)
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
        with _reading(path, "manifest.json, config.json or the arrays (inconsistent)"):
            return cls(path, manifest, taxonomy, classifier, word_vectors, thresholds, metrics,
                       products, embeddings, config)

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
        probs = self.classifier.predict_proba(tokens)
        decoded = self.decode(probs, max_paths)
        index = self.classifier.encoder.index
        return [Classification(text, toks, [(format_path(p), s) for p, s in paths], pr,
                               [t for t in toks if t not in index])
                for text, toks, paths, pr in zip(texts, tokens, decoded, probs)]

    def decode(self, probs: np.ndarray, max_paths: int = 3):
        """Hierarchy-consistent paths from node probabilities, with the bundle's tuned settings."""
        return self.decoding.decode(self.taxonomy, probs, max_paths)

    def classify_frame(self, texts: Sequence[str], batch_size: int = 2048, progress=None) -> pd.DataFrame:
        """Batch classification as a table: ``text, category, score, all_paths``.

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
                             "all_paths": " | ".join(f"{p} ({s:.2f})" for p, s in c.paths)})
            if progress is not None:
                progress(min(start + batch_size, len(texts)), len(texts))
        return pd.DataFrame(rows, columns=["text", "category", "score", "all_paths"])

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
        node = self.taxonomy.index(tuple(display_path.split(" > ")))
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

    def similar_products(self, text_or_id: str, k: int = 10, by: str = "auto") -> pd.DataFrame:
        """Nearest catalogue products by embedding cosine.

        ``by``: ``"id"`` (a product id of the bundle, as a str), ``"text"``, or ``"auto"`` (an
        id if one matches exactly, else text). ``k``: a positive int (above the number of
        products: all of them). Returns the product rows with ``similarity``.
        """
        if by not in SIMILAR_BY:
            raise ValueError(f"by must be 'auto', 'id' or 'text', got {_shown(by)}")
        _text("text_or_id", text_or_id)
        k = _count("k", k)
        row = self.product_row(text_or_id) if by in ("auto", "id") else None
        if by == "id" and row is None:
            raise KeyError(f"no product with id {text_or_id!r} in this bundle")
        if row is not None:
            query = self.product_index.vectors[row: row + 1]
            idx, sims = self.product_index.search(query, k, exclude=np.array([row]))
        else:
            idx, sims = self.product_index.search(self.embed([text_or_id]), k)
        out = self.products.iloc[idx[0]].copy()
        out.insert(0, "similarity", sims[0].astype(float))
        return out.reset_index(drop=True)

    def map_columns(self, method: str) -> tuple[str, str]:
        cols = (f"{method}_x", f"{method}_y")
        if cols[0] not in self.products.columns:
            raise KeyError(f"this bundle has no {method} map; it has {self.map_methods}")
        return cols

    @cached_property
    def map_methods(self) -> list[str]:
        return [m for m in ("tsne", "umap") if f"{m}_x" in self.products.columns]

    def place_on_map(self, texts: Sequence[str] | str, method: str = "umap",
                     k: int | None = None) -> np.ndarray:
        """Map coordinates for new texts by kNN interpolation, float32 ``(n_texts, 2)``, from
        the ``k`` nearest products (a positive int; None: the bundle's setting).

        ``texts``: a list of str; a single str is one text; None/NaN are empty texts; other items raise TypeError."""
        texts = _texts(texts)
        if k is not None:
            k = _count("k", k)
        xcol, ycol = self.map_columns(method)
        coords = self.products[[xcol, ycol]].to_numpy(np.float32)
        mapped = ~np.isnan(coords).any(axis=1)
        k = k or int(self.config.get("train", {}).get("maps", {}).get("n_neighbors_place", 10))
        if mapped.all():
            return place(self.embed(texts), self.product_index, coords, k)
        index = CosineIndex(self.product_index.vectors[mapped], normalized=True)
        return place(self.embed(texts), index, coords[mapped], k)

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
