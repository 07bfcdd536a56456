"""Batch scoring of catalogue files: what one batch of products becomes, for every engine.

``prodemb predict`` and ``prodemb embed`` run on the local engine (this process, the
file read chunk by chunk with :func:`prodemb.catalogue.iter_catalogue`) or on Ray
(:mod:`prodemb.ray_engine`, many workers). Both call the functions here on each batch,
so the two engines give the same rows:

* :func:`predict_frame`: a chunk ``(id, text)`` -> ``id`` + :data:`prodemb.bundle.FRAME_COLUMNS`
  (category, score, all paths, status, confidence, flags), by ``Bundle.classify_frame``;
* :func:`embed_table`: a chunk -> a pyarrow table ``id, text, embedding`` where
  ``embedding`` is a fixed-size list of ``E`` float32 (the L2-normalised product
  embedding of ``Bundle.embed``).

:func:`embed_file` is the local engine of ``prodemb embed``; :func:`expand_inputs` turns a
file, a directory of shards or a glob into the list of files to read.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pandas as pd

from .catalogue import FORMATS, CatalogueError, detect_format
from .utils import atomic_output

#: Parquet metadata key of ``prodemb embed``'s output: the sha256 of the bundle's
#: classifier weights, so that an index is not built from another model's embeddings.
EMBED_MODEL_KEY = b"prodemb.classifier_sha256"


def predict_frame(bundle, chunk: pd.DataFrame, batch_size: int = 2048) -> pd.DataFrame:
    """Predictions of a chunk of products (``id``, ``text`` columns, as
    :func:`prodemb.catalogue.iter_catalogue` yields): ``id`` then the columns of
    :meth:`prodemb.bundle.Bundle.classify_frame`, one row per input row, in order."""
    table = bundle.classify_frame(chunk["text"].tolist(), batch_size=batch_size)
    table.insert(0, "id", chunk["id"].to_numpy())
    return table


def embed_table(bundle, chunk: pd.DataFrame):
    """Embeddings of a chunk of products as a pyarrow table ``id`` (string), ``text``
    (string), ``embedding`` (fixed-size list of ``E`` float32, L2-normalised), one row per
    input row, in order."""
    import pyarrow as pa

    vectors = np.ascontiguousarray(bundle.embed(chunk["text"].tolist()), dtype=np.float32)
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    emb = pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), dim)
    return pa.table({"id": pa.array(chunk["id"].astype(str).tolist(), pa.string()),
                     "text": pa.array(chunk["text"].astype(str).tolist(), pa.string()),
                     "embedding": emb})


def model_fingerprint(bundle) -> str:
    """The sha256 of the bundle's classifier weights (from its manifest), '' if unknown."""
    return str(bundle.manifest.get("files", {}).get("classifier.safetensors", {}).get("sha256", ""))


def embed_file(bundle, path: str, out: str, options, progress=None) -> int:
    """The local engine of ``prodemb embed``: embed every product of catalogue file
    ``path`` (read chunk by chunk with ``options``, a :class:`ReaderOptions`) and write one
    Parquet file ``out`` (:func:`embed_table`'s columns), through a temporary file moved
    into place when complete. ``progress(n)`` is called after each chunk. Returns the row
    count."""
    import pyarrow.parquet as pq

    from .catalogue import iter_catalogue

    rows = 0
    with atomic_output(out) as tmp:
        writer = None
        try:
            for chunk in iter_catalogue(path, options):
                t = embed_table(bundle, chunk)
                if writer is None:
                    schema = t.schema.with_metadata({EMBED_MODEL_KEY: model_fingerprint(bundle)})
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                writer.write_table(t.replace_schema_metadata(writer.schema.metadata))
                rows += t.num_rows
                if progress is not None:
                    progress(t.num_rows)
        finally:
            if writer is not None:
                writer.close()
    return rows


def expand_inputs(spec: str, fmt: str | None = None) -> tuple[list[str], str]:
    """The files an input names, and their format.

    ``spec``: a file, a directory (every file in it of the format, sorted by name; hidden
    files and ``_SUCCESS``-style markers skipped) or a glob pattern (``shards/*.csv``);
    a URI (``s3://...``) is passed on as it is. ``fmt``: the format (``csv``, ``tsv``,
    ``jsonl``, ``parquet``); default: from the file names. :class:`CatalogueError` when
    nothing matches or the formats differ.
    """
    if "://" in spec:
        return [spec], detect_format(spec.rstrip("/"), fmt) if fmt or "." in spec else "parquet"
    if os.path.isdir(spec):
        names = sorted(n for n in os.listdir(spec)
                       if not n.startswith((".", "_")) and os.path.isfile(os.path.join(spec, n)))
        if fmt is None:
            names = [n for n in names if _format_or_none(n)]
        files = [os.path.join(spec, n) for n in names]
    elif any(c in spec for c in "*?["):
        files = sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    else:
        if not os.path.exists(spec):
            raise CatalogueError("file not found", spec)
        files = [spec]
    if not files:
        raise CatalogueError("no catalogue files found (a file, a directory of shards or a "
                             "glob such as 'shards/*.csv')", spec)
    formats = {detect_format(f, fmt) for f in files}
    if len(formats) > 1:
        raise CatalogueError(f"the files are of several formats ({', '.join(sorted(formats))}); "
                             "give one format per run (a glob such as 'dir/*.csv')", spec)
    for f in files:
        if os.path.getsize(f) == 0:
            raise CatalogueError("the file is empty", f)
    return files, formats.pop()


def _format_or_none(name: str) -> str | None:
    try:
        found = detect_format(name)
    except CatalogueError:
        return None
    return found if found in FORMATS else None
