"""The Ray Data engine of ``prodemb predict --engine ray`` and ``prodemb embed --engine ray``.

A catalogue too large for one process (a file, a directory of shards or a glob of CSV,
TSV, JSONL or Parquet files) is read by Ray Data, each batch goes through the SAME code as
the local engine (:func:`prodemb.catalogue` conversion of raw columns to ``id, text``, then
:func:`prodemb.scoring.predict_frame` or :func:`prodemb.scoring.embed_table`), inside
``map_batches`` on a fixed pool of actors (:class:`BundleWorker`) that each load the bundle
once and run one torch thread (one actor per CPU: threads of one process fighting over
cores lose to processes, see issue 15), and the result is written as Parquet shards into a
new directory.

Without ``address`` a local Ray runtime is started with the machine's cores
(``ray.init(num_cpus=...)``) and stopped afterwards; with one (``"auto"``,
``"ray://host:10001"``, ``"host:6379"``) the job attaches to that cluster, whose nodes must
see the bundle directory, the inputs and the output directory at the same paths (a shared
file system; inputs may also be ``s3://`` URIs). A Ray session already open in this process
(``ray.is_initialized()``) is used as it is and left open (tests share one).

Ray is optional (``pip install 'ray[data]==2.60.0'``, pinned in requirements-scale.txt,
installed by ``make setup``): without it :func:`import_ray` raises :class:`RayNotInstalled`
saying how to install it.

Usage::

    from prodemb.ray_engine import run
    summary = run("predict", "artifacts/demo", "shards/*.parquet", "predictions/")
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import threading
import time

import pandas as pd

from .catalogue import CatalogueError, ReaderOptions
from .scoring import EMBED_MODEL_KEY, embed_table, expand_inputs, model_fingerprint, predict_frame

log = logging.getLogger("prodemb")

RAY_VERSION = "2.60.0"
INSTALL_HINT = (f"Ray is not installed: install it with `pip install 'ray[data]=={RAY_VERSION}'` "
                "(or `pip install -r requirements-scale.txt`; `make setup` does), or run without "
                "--engine ray (the local engine)")
TASKS = ("predict", "embed")
#: Written into every output directory: what produced the shards (a name pyarrow and Ray
#: skip when reading the directory, as it starts with "_").
SUMMARY_FILE = "_prodemb.json"
#: Around a worker's input error in the exception Ray hands to the driver: Ray passes it on
#: as text inside its own traceback (the CatalogueError itself does not reach the driver),
#: and :func:`run` raises the marked message as the CatalogueError it was.
INPUT_ERROR_MARK = "<<prodemb input error>>"


class RayNotInstalled(ImportError):
    """Ray (``ray[data]``) is not installed; the message says how to install it."""


def import_ray():
    """The ``ray`` module with Ray Data, or :class:`RayNotInstalled`."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise RayNotInstalled(INSTALL_HINT) from e
    return ray


def verbose() -> bool:
    """Whether the caller asked for informational logs (``prodemb -v``): Ray's own
    warnings and notes are shown only then."""
    return logging.getLogger().isEnabledFor(logging.INFO)


@contextlib.contextmanager
def callers_signal_handlers():
    """Keep this process's SIGTERM and SIGINT handlers across the block.

    ``ray.init`` installs a SIGTERM handler of its own that ends the process, and
    ``ray.shutdown`` leaves it in place: `prodemb predict`'s clean unwinding on SIGTERM
    (temporary files removed) was lost, and in a test process every later test that sends
    itself SIGTERM killed the whole run. Only on the main thread (signals live there)."""
    saved = ({s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
             if threading.current_thread() is threading.main_thread() else {})
    try:
        yield
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None):
    """A Ray session for the ``with`` block: an open one is reused (and left open);
    otherwise ``address`` attaches to a cluster, or a local runtime starts with
    ``num_cpus`` CPUs (default: the cores this process may use), stopped at the end."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    from .utils import available_cores

    kwargs: dict = {"address": address} if address else {
        "num_cpus": int(num_cpus or available_cores()),
        # A bounded object store: batches stream through it, and the machine is shared.
        "object_store_memory": 1024 ** 3}
    # Ray's worker processes (started by the runtime with this process's environment)
    # each import torch, pandas and prodemb: where PYTHONDONTWRITEBYTECODE is set they
    # compile all of it again, seconds per worker, so a local runtime starts without it.
    no_bytecode = None if address else os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        with callers_signal_handlers():
            ray.init(include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING if verbose() else logging.ERROR, **kwargs)
    finally:
        if no_bytecode is not None:
            os.environ["PYTHONDONTWRITEBYTECODE"] = no_bytecode
    try:
        yield ray
    finally:
        with callers_signal_handlers():
            ray.shutdown()


def raw_frame(batch: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """A Ray Data batch as the local reader's raw chunk: every column a string, ``""`` for
    a missing value (as :func:`prodemb.catalogue.raw_chunks`); JSONL arrives as lines
    (``read_text``) and is parsed here with the local reader's JSON rules."""
    from .catalogue import json_rows_to_frame
    from .utils import JSONTooDeepError, json_loads_bounded

    if fmt == "jsonl":
        rows = []
        for line in batch["text"].tolist():
            if not line.strip():
                continue
            try:
                obj = json_loads_bounded(line)
            except json.JSONDecodeError as e:
                raise CatalogueError(f"invalid JSON ({e.msg} at character {e.pos}) in the "
                                     f"line {line.strip()[:80]!r}", "an input batch") from None
            except JSONTooDeepError as e:
                raise CatalogueError(str(e), "an input batch") from None
            if not isinstance(obj, dict):
                raise CatalogueError(f"each line must be a JSON object, not {line.strip()[:80]!r}",
                                     "an input batch")
            rows.append(obj)
        return json_rows_to_frame(rows) if rows else pd.DataFrame()
    return batch.astype(object).where(batch.notna(), "").astype(str)


class BundleWorker:
    """A Ray Data actor: loads the bundle once, then turns each batch of raw catalogue
    rows into predictions or embeddings with the local engine's functions.

    Args:
        bundle: the bundle directory (the same path on every node).
        options: the reader options as a dict (:meth:`ReaderOptions.to_dict`).
        fmt: the input format (``csv``, ``tsv``, ``jsonl``, ``parquet``).
        task: ``"predict"`` or ``"embed"``.
        batch_size: products per forward pass.
    """

    def __init__(self, bundle: str, options: dict, fmt: str, task: str, batch_size: int = 2048):
        from .bundle import Bundle, set_inference_threads

        self.bundle = Bundle.load(bundle)
        # One torch (and BLAS) thread per actor: Ray runs one actor per CPU.
        set_inference_threads(1)
        self.options = ReaderOptions.from_dict(options)
        self.fmt, self.task, self.batch_size = fmt, task, batch_size

    def __call__(self, batch: pd.DataFrame):
        from .catalogue import convert_chunk

        try:
            raw = raw_frame(batch, self.fmt)
            chunk = convert_chunk(raw, self.options, "an input batch", 0, None)
        except CatalogueError as e:
            raise RuntimeError(f"{INPUT_ERROR_MARK}{e}{INPUT_ERROR_MARK}") from None
        if self.task == "predict":
            return predict_frame(self.bundle, chunk, self.batch_size)
        return embed_table(self.bundle, chunk)


def input_error(error: BaseException) -> CatalogueError | None:
    """The CatalogueError a worker marked in ``error`` (see :data:`INPUT_ERROR_MARK`), or None."""
    import re

    found = re.search(f"{re.escape(INPUT_ERROR_MARK)}(.*?){re.escape(INPUT_ERROR_MARK)}",
                      str(error), re.S)
    return CatalogueError(found.group(1)) if found else None


def check_first_rows(files: list[str], fmt: str, options: ReaderOptions) -> None:
    """Read and convert the first rows of the first (local) input as the local engine
    does: a missing column or a wrong delimiter is said at once, naming the file, before
    a Ray runtime starts (seconds) and not from inside a worker."""
    from .catalogue import convert_chunk, raw_chunks

    first = files[0]
    if "://" in first:
        return
    raw = next(raw_chunks(first, options.replace(chunk_size=100), fmt), None)
    if raw is not None and len(raw):
        convert_chunk(raw, options, first, 0, None)


def read_dataset(ray, files: list[str], fmt: str, options: ReaderOptions, read_cpus: float):
    """The input files as a Ray Dataset of raw rows (see :func:`raw_frame`)."""
    rd = ray.data
    if fmt == "parquet":
        return rd.read_parquet(files, num_cpus=read_cpus)
    if fmt == "jsonl":
        return rd.read_text(files, encoding=options.encoding, num_cpus=read_cpus)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    sep = "\t" if fmt == "tsv" else options.delimiter
    # Every column as text, empty cells as "", as the local reader (pandas, dtype=str,
    # no NA values): an id "007" stays "007", a "NA" title stays "NA".
    first = files[0]
    if "://" in first:  # a URI: the header through pyarrow's file system for it
        import pyarrow.fs as pafs

        fs, where = pafs.FileSystem.from_uri(first)
        first = fs.open_input_stream(where)
    with pacsv.open_csv(first, read_options=pacsv.ReadOptions(encoding=options.encoding),
                        parse_options=pacsv.ParseOptions(delimiter=sep)) as head:
        names = head.schema.names
    return rd.read_csv(
        files, num_cpus=read_cpus,
        read_options=pacsv.ReadOptions(encoding=options.encoding),
        parse_options=pacsv.ParseOptions(delimiter=sep,
                                         newlines_in_values=bool(options.allow_multiline)),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False,
                                             quoted_strings_can_be_null=False))


def check_output_dir(out: str, inputs: list[str], bundle: str) -> None:
    """Refuse (:class:`prodemb.bundle_format.OutputError`) an output directory that
    exists and is not empty, is a file, lies inside the bundle or holds an input."""
    from .bundle_format import OutputError

    where = f"cannot write to {out!r}"
    if "://" in out:
        return
    if os.path.exists(out) and not os.path.isdir(out):
        raise OutputError(f"{where}: it is a file; the ray engine writes a directory of "
                          "Parquet shards. Nothing was changed: give a new directory")
    if os.path.isdir(out) and os.listdir(out):
        raise OutputError(f"{where}: the directory is not empty. Nothing was changed: give a "
                          "new or empty directory for the Parquet shards")
    real = os.path.realpath(out)
    rb = os.path.realpath(bundle)
    if real == rb or real.startswith(rb.rstrip(os.sep) + os.sep):
        raise OutputError(f"{where}: it is inside the bundle. Nothing was changed")
    for f in inputs:
        if "://" not in f and os.path.realpath(f).startswith(real.rstrip(os.sep) + os.sep):
            raise OutputError(f"{where}: it holds the input {f!r}. Nothing was changed")
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise OutputError(f"{where}: the folder {parent!r} does not exist")


def run(task: str, bundle: str, inputs: str, out: str, options: ReaderOptions | None = None,
        address: str | None = None, workers: int | None = None, batch_size: int = 2048,
        progress: bool = False) -> dict:
    """Predict or embed every product of ``inputs`` with Ray Data; write Parquet shards.

    Args:
        task: ``"predict"`` (columns ``id`` + :data:`prodemb.bundle.FRAME_COLUMNS`) or
            ``"embed"`` (``id, text, embedding``: a fixed-size list of E float32).
        bundle: the bundle directory.
        inputs: a file, a directory of shards or a glob (see
            :func:`prodemb.scoring.expand_inputs`).
        out: a new (or empty) directory for the shards; written under a hidden name
            beside it and renamed when complete (local paths). One output row per input
            row, in no fixed order across shards: join on the id.
        options: reader options (default: the bundle's, with duplicate ids kept: one
            output row per input row). An id column is required (rows cannot be numbered
            across shards read in parallel).
        address: a Ray cluster to attach to; default: a local runtime on this machine.
        workers: actors (each one CPU, one torch thread); default: the cluster's CPUs.
        batch_size: products per ``map_batches`` batch and forward pass.
        progress: show Ray Data's progress bars.

    Returns:
        ``{"task", "rows", "files", "workers", "seconds", "out", ...}`` (``seconds``: wall
        time from the Ray session being ready to the last shard written, the workers'
        bundle loading included; ``rows`` None for an output URI).
    """
    from .bundle import Bundle

    if task not in TASKS:
        raise ValueError(f"task must be 'predict' or 'embed', got {task!r}")
    import_ray()  # before any work: a clear message if Ray is missing
    loaded = Bundle.load(bundle)  # checked (hashes) once here, before any cluster work
    if options is None:
        options = loaded.reader_options.replace(duplicate_ids="keep")
    options = options.replace(label_column=None, level_columns=[], split_column=None)
    if not options.id_column:
        raise ValueError("the ray engine needs an id column (--id-column): rows read in "
                         "parallel from several shards cannot be numbered")
    files, fmt = expand_inputs(inputs, options.format)
    check_output_dir(out, files, bundle)
    check_first_rows(files, fmt, options)
    fingerprint = model_fingerprint(loaded)
    del loaded
    local_out = "://" not in out
    tmp = (os.path.join(os.path.dirname(os.path.abspath(out)),
                        f".{os.path.basename(os.path.normpath(out))}.tmp-{os.getpid()}")
           if local_out else out)
    with ray_session(address) as ray:
        start = time.perf_counter()
        ctx = ray.data.DataContext.get_current()
        # No preserve_order: rows are keyed by id (required above), and Ray 2.60 did not
        # keep the input's order across output shards even with it set (2 of 3 runs of
        # bench/bench_scale.py at 100,000 products), so the output promises none.
        ctx.enable_progress_bars = bool(progress)
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        if workers and workers > cpus:  # each actor holds a CPU: the rest would never start
            raise ValueError(f"--workers {workers}: the Ray cluster has {cpus} CPUs, and "
                             "each worker takes one")
        n_workers = int(workers or cpus)
        # Ray schedules by CPU count: actors holding every CPU would leave none for the
        # read, list and write tasks, and the job would wait forever (it did, with 2
        # workers on 2 CPUs). So the actors together claim at most all CPUs but one (each
        # still runs one torch thread: the claim is only a scheduling label), and the read
        # and write tasks, light next to the network, a tenth of a CPU each.
        actor_cpus = min(1.0, (cpus - 1) / n_workers) if cpus > 1 else 0.5
        if not verbose():
            # Ray Data's notes ("Progress bars disabled", a user-code error logged before it
            # is raised, which run() then says in plain words) only with -v.
            logging.getLogger("ray.data").setLevel(logging.CRITICAL)
        ds = read_dataset(ray, files, fmt, options, read_cpus=0.1)
        # Ray reads small files into one block, which one actor would classify alone:
        # blocks of a few batches keep every worker busy.
        ds = ds.repartition(target_num_rows_per_block=4 * batch_size)
        ds = ds.map_batches(BundleWorker, fn_constructor_kwargs={
            "bundle": os.path.abspath(bundle), "options": options.to_dict(), "fmt": fmt,
            "task": task, "batch_size": batch_size}, batch_size=batch_size,
            batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=n_workers),
            num_cpus=actor_cpus)
        try:
            ds.write_parquet(tmp, compression="zstd", ray_remote_args={"num_cpus": 0.1})
            seconds = time.perf_counter() - start
            shards = sorted(f for f in os.listdir(tmp) if f.endswith(".parquet")) \
                if local_out else []
            rows = _count_rows([os.path.join(tmp, f) for f in shards]) if local_out else None
            summary = {"task": task, "rows": rows, "files": len(shards), "workers": n_workers,
                       "seconds": round(seconds, 3), "inputs": len(files), "format": fmt,
                       "bundle": os.path.abspath(bundle),
                       EMBED_MODEL_KEY.decode(): fingerprint}
            if local_out:
                with open(os.path.join(tmp, SUMMARY_FILE), "w", encoding="utf-8") as f:
                    json.dump(summary, f, indent=1)
                if os.path.isdir(out):
                    os.rmdir(out)  # empty (checked above)
                os.rename(tmp, out)
        except BaseException as e:
            if local_out:
                shutil.rmtree(tmp, ignore_errors=True)
            marked = input_error(e)
            if marked is not None:  # bad input in a later row or shard: said as locally
                raise marked from None
            raise
    return summary | {"out": out}


def _count_rows(files: list[str]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
