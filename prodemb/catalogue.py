"""Catalogue readers: CSV, TSV, JSONL and Parquet files of products.

A product has an id, one or more text fields (joined in order, separated by
" . ") and zero or more category paths; unlabelled products have none.
Files are read in chunks, so a catalogue of millions of rows never needs all of its
rows as Python objects at once: :func:`iter_catalogue` yields one
:class:`pandas.DataFrame` per chunk with the columns

- ``id`` (str),
- ``text`` (str, the raw joined text fields),
- ``paths`` (list of ``tuple[str, ...]``; empty for unlabelled products),
- ``split`` (``"train"``, ``"validation"``, ``"test"``; ``""`` for unlabelled products),
  only with ``ReaderOptions.split_column``.

:func:`read_catalogue` concatenates the chunks. Every problem with the input is a
:class:`CatalogueError` naming the file, the row (1-based, header not counted) and
the column.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Literal, get_args

import numpy as np
import pandas as pd

from .split import SPLITS
from .taxonomy import Path, format_path, format_paths
from .utils import JSONTooDeepError, json_loads_bounded

log = logging.getLogger(__name__)

Format = Literal["csv", "tsv", "jsonl", "parquet"]
FORMATS: tuple[str, ...] = get_args(Format)

# Caps on category cells. Each node of the tree is a class the model learns, so one
# absurd cell (a 78 KB path of 10,000 levels) would otherwise become 10,000 classes and
# minutes of training, with no warning.
#: Without ``max_depth``, a path deeper than this many levels is a malformed path (the
#: error says to pass ``max_depth``/``--max-depth``, which cuts paths instead).
DEFAULT_MAX_DEPTH = 12
#: The largest ``max_depth`` accepted.
MAX_DEPTH_LIMIT = 100
#: A category cell longer than this many characters is a malformed path: far above any
#: real cell (12 levels of 100 characters are 1,300), yet room for a garbled 10,000-level
#: path to reach the clearer depth check (and be cut by ``max_depth`` if asked).
MAX_LABEL_CHARS = 100_000


class CatalogueError(ValueError):
    """Bad catalogue input. The message names the file and, where known, row and column."""

    def __init__(self, message: str, file: str | os.PathLike | None = None,
                 row: int | None = None, column: str | None = None):
        self.file, self.row, self.column = (str(file) if file else None), row, column
        where = []
        if file:
            where.append(f"{FilePath(file).name}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass
class ReaderOptions:
    """How to read a catalogue file. Every field has a CLI flag of the same name, made from
    the field's name and type (``prodemb.cli.add_reader_args``; help in ``cli.READER_HELP``).

    Attributes:
        text_columns: columns whose values form the product text, joined in order.
        id_column: column with a unique product id; ``None`` numbers rows from 1.
        label_column: column holding category path(s) as text, e.g.
            ``"Accessories > Scarves > Knit scarf"``; ``None`` if unlabelled or if
            ``level_columns`` is used.
        level_columns: alternatively, one column per tree level (top first); empty
            cells end the path.
        level_separator: separator between levels inside a path (``" > "``, ``">>"``, ``"/"``).
            Whitespace around levels is stripped.
        path_separator: separator between several paths in one cell (``"|"``), or
            ``"json"`` for a JSON list of path strings, or ``None`` for one path per cell.
        max_depth: cut paths longer than this (1 to :data:`MAX_DEPTH_LIMIT`, 100). Unset,
            a path deeper than :data:`DEFAULT_MAX_DEPTH` (12) levels is a malformed path,
            whose error names this option.
        min_depth: paths shorter than this are not categories and are dropped
            (e.g. a bare "Sale" in a shop's category column).
        ignore_labels: cell values meaning "no label" (compared after stripping).
        ignore_paths: paths (in display form ``"A > B"``) to drop, e.g. ``"Sale"``.
        duplicate_ids: ``"error"``, ``"warn"`` (keep the first) or ``"keep"`` (keep all).
        bad_paths: what to do with a malformed path cell: ``"error"`` or ``"skip"``
            (the product becomes unlabelled, with a warning). A category cell longer than
            :data:`MAX_LABEL_CHARS` (100,000 characters) or a JSON list nested more than
            100 deep is malformed too.
        format: ``"csv"``, ``"tsv"``, ``"jsonl"``, ``"parquet"``; ``None`` guesses from
            the file name.
        encoding: text encoding of CSV/TSV/JSONL files.
        delimiter: CSV field delimiter (TSV uses a tab).
        chunk_size: rows per chunk.
        split_column: optional column giving each labelled product's split, ``train``,
            ``validation`` or ``test`` (case-insensitive), instead of the iterative
            stratification of ``prodemb train``: to keep one split across retrainings or
            to compare with another system on exactly the same products. Its value is
            ignored for unlabelled products.
        allow_multiline: CSV/TSV cells may hold line breaks (quoted). By default a cell
            spanning lines is an error naming its row and line: it is almost always a
            quote opened and not closed, which silently merges the following rows into
            one product. With this option such cells are read, with a warning where a
            line inside a cell reads like a row of the file.
    """

    text_columns: list[str] = field(default_factory=lambda: ["title", "description"])
    id_column: str | None = "id"
    label_column: str | None = "category"
    level_columns: list[str] = field(default_factory=list)
    level_separator: str = ">"
    path_separator: str | None = "|"
    max_depth: int | None = None
    min_depth: int = 1
    ignore_labels: list[str] = field(default_factory=lambda: ["", "NA", "N/A", "null", "None"])
    ignore_paths: list[str] = field(default_factory=list)
    duplicate_ids: Literal["error", "warn", "keep"] = "warn"
    bad_paths: Literal["error", "skip"] = "error"
    format: Format | None = None
    encoding: str = "utf-8"
    delimiter: str = ","
    chunk_size: int = 100_000
    split_column: str | None = None
    allow_multiline: bool = False

    def replace(self, **changes) -> ReaderOptions:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ReaderOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown reader options: {sorted(unknown)}")
        return cls(**data)


#: Named reader settings for known catalogues.
PRESETS: dict[str, ReaderOptions] = {
    # The generated demo catalogue (`prodemb demo-data`).
    "demo": ReaderOptions(),
    # Fashion Product Images (Small) metadata, e.g. ../shared/data/fashion-product-images-styles.csv
    "fashion": ReaderOptions(
        text_columns=["productDisplayName"],
        id_column="id",
        label_column=None,
        level_columns=["masterCategory", "subCategory", "articleType"],
        # "NA" is a literal value in some of this file's columns, never a category.
        ignore_labels=[""],
    ),
}


def detect_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise CatalogueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}", path)
        return fmt
    name = str(path).lower()
    for suffix, f in ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".jsonl", "jsonl"),
                      (".ndjson", "jsonl"), (".parquet", "parquet"), (".pq", "parquet"),
                      (".csv.gz", "csv"), (".tsv.gz", "tsv"), (".jsonl.gz", "jsonl")):
        if name.endswith(suffix):
            return f
    raise CatalogueError("cannot tell the format from the file name; pass format= "
                         f"({', '.join(FORMATS)})", path)


# ---------------------------------------------------------------------- raw chunks
def raw_chunks(path: str, opts: ReaderOptions, fmt: str) -> Iterator[pd.DataFrame]:
    """Chunks of the file as DataFrames of strings (all columns, '' for missing)."""
    if fmt == "parquet":
        yield from _parquet_chunks(path, opts)
    elif fmt == "jsonl":
        yield from _jsonl_chunks(path, opts)
    else:
        yield from _csv_chunks(path, opts, "\t" if fmt == "tsv" else opts.delimiter)


def _parquet_chunks(path: str, opts: ReaderOptions) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # By path, never through a Python file object: a script that read Parquet from a
        # file object aborted at interpreter exit in 11 of 15 runs here (Arrow's thread
        # pool torn down under the GIL, apache/arrow#34314, #50482), by path in 0 of 15.
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise CatalogueError(f"not a readable Parquet file ({e})", path) from None
    for batch in pf.iter_batches(batch_size=opts.chunk_size):
        df = batch.to_pandas()
        yield df.astype(object).where(df.notna(), "").astype(str)


def _jsonl_chunks(path: str, opts: ReaderOptions) -> Iterator[pd.DataFrame]:
    rows: list[dict] = []
    with open(path, encoding=opts.encoding, errors="strict", newline="") as f:
        line_no = 0
        while True:
            try:
                line = f.readline()
            except UnicodeDecodeError as e:
                raise CatalogueError(f"bytes that are not valid {opts.encoding} ({e.reason})",
                                     path, line_no + 1) from None
            if not line:
                break
            line_no += 1
            if not line.strip():
                continue
            try:
                obj = json_loads_bounded(line)
            except json.JSONDecodeError as e:
                raise CatalogueError(f"invalid JSON ({e.msg} at character {e.pos})", path, line_no) from None
            except JSONTooDeepError as e:
                raise CatalogueError(str(e), path, line_no) from None
            if not isinstance(obj, dict):
                raise CatalogueError("each line must be a JSON object", path, line_no)
            obj["__row__"] = line_no
            rows.append(obj)
            if len(rows) >= opts.chunk_size:
                yield json_rows_to_frame(rows)
                rows = []
    if rows:
        yield json_rows_to_frame(rows)


def json_rows_to_frame(rows: list[dict]) -> pd.DataFrame:
    """JSON Lines records (dicts) as a frame of strings, as the readers make them (a list,
    several paths, kept as its JSON text); also what the Ray engine's JSON batches go
    through."""
    df = pd.DataFrame(rows)
    for col in df.columns:
        if col == "__row__":
            continue
        # Lists (several paths) are kept as JSON text so that one code path parses them.
        df[col] = [json.dumps(v, ensure_ascii=False) if isinstance(v, list)
                   else "" if v is None or (isinstance(v, float) and v != v) else str(v)
                   for v in df[col]]
    return df


def _csv_chunks(path: str, opts: ReaderOptions, sep: str) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                             chunksize=opts.chunk_size, encoding=opts.encoding,
                             encoding_errors="strict", engine="c")
        row_offset = 0
        with reader:  # closes the file when a check below raises, or the caller stops early
            for chunk in reader:
                _check_line_breaks(chunk, path, opts, sep, row_offset)
                row_offset += len(chunk)
                yield chunk
    except UnicodeDecodeError as e:
        row = _first_undecodable_row(path, opts.encoding)
        raise CatalogueError(f"bytes that are not valid {opts.encoding} ({e.reason}); "
                             "re-save the file as UTF-8 or pass encoding= (--encoding), e.g. "
                             "cp1252 or cp1250 for a file saved on Windows", path, row) from None
    except pd.errors.EmptyDataError:
        raise CatalogueError("the file is empty (no header row)", path) from None
    except pd.errors.ParserError as e:
        raise CatalogueError(f"not a well-formed {'TSV' if sep == chr(9) else 'CSV'} file: "
                             f"{str(e).strip()}. "
                             "Check the delimiter and the quoting"
                             f"{_delimiter_hint(path, opts.encoding, sep)}", path) from None
    except csv.Error as e:
        raise CatalogueError(f"not a well-formed CSV file: {e}", path) from None


def _delimiter_hint(path: str, encoding: str, sep: str) -> str:
    """When the header row has no ``sep`` but another common delimiter, the hint to pass
    it: a semicolon file whose cells hold commas (decimal commas, a European shop's
    export) fails in the parser, before the missing-column check could say so."""
    try:
        with open(path, encoding=encoding, errors="replace", newline="") as f:
            header = f.readline(100_000)
    except (OSError, LookupError):
        return ""
    if sep in header:
        return ""
    counts = {d: header.count(d) for d in ";\t|," if d != sep}
    found = max(counts, key=counts.get)
    if not counts[found]:
        return ""
    fix = ("format='tsv' (--format tsv)" if found == "\t"
           else f"delimiter={found!r} (--delimiter {found!r})")
    return f" (the header row has no {sep!r} but {counts[found]} {found!r}: pass {fix})"


def _first_undecodable_row(path: str, encoding: str) -> int | None:
    """Data row (1-based, header not counted) of the first line that does not decode."""
    if "\n".encode(encoding) != b"\n":
        return None  # UTF-16/32: a byte-wise line split would cut characters in half
    with open(path, "rb") as f:
        for line_no, line in enumerate(f):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return line_no if line_no > 0 else None
    return None


# ---------------------------------------------------------------------- multi-line cells
def _check_line_breaks(chunk: pd.DataFrame, path: str, opts: ReaderOptions, sep: str,
                       row_offset: int) -> None:
    """Refuse (or, with ``allow_multiline``, warn about) a cell holding a line break.

    A quote opened in one row and closed rows later makes the CSV parser read every line
    in between, commas and all, as part of one cell: products merge silently (P1's text
    swallows P2 and P3 and takes P3's category). Such a cell holds a line break, which a
    catalogue rarely has on purpose, so by default any is an error naming the row and the
    line; ``allow_multiline`` is for catalogues with multi-line descriptions.
    """
    hit = _first_line_break(chunk)
    if hit is None:
        return
    if opts.allow_multiline:
        _warn_swallowed_rows(chunk, path, sep, row_offset)
        return
    i, column = hit
    row = row_offset + i + 1
    cell = str(chunk[column].iat[i])
    start = _line_of_row(path, opts.encoding, sep, row)
    swallowed = _row_like_line(cell, sep, len(chunk.columns))
    at = f" on line {start}" if start else ""
    if swallowed is not None:
        k, text = swallowed
        where = f"line {start + k}" if start else "a later line"
        what = (f"a cell that starts{at} runs on to {where}, {_shorten(text)!r}, which reads like "
                "a row of this file: a quote is probably opened and not closed, which merges "
                "the following rows into this product")
    else:
        what = (f"a cell that starts{at} holds a line break (a quoted line break; a quote "
                "opened and not closed also looks like this)")
    raise CatalogueError(f"{what}. Check the quotes in that row (a quote inside a cell is written "
                         "as two quotes), or pass allow_multiline=True (--allow-multiline) if "
                         "cells may span several lines", path, row, column)


def _first_line_break(chunk: pd.DataFrame) -> tuple[int, str] | None:
    """(Position in the chunk, column) of the first cell holding a line break, if any."""
    best: tuple[int, str] | None = None
    for column in chunk.columns:
        values = chunk[column]
        if not _may_hold_line_break(values):
            continue
        found = np.flatnonzero(_line_break_mask(values))
        if len(found) and (best is None or found[0] < best[0]):
            best = (int(found[0]), column)
    return best


def _line_break_mask(values: pd.Series) -> np.ndarray:
    return values.astype(str).str.contains("[\r\n]", regex=True).to_numpy(dtype=bool)


def _may_hold_line_break(values: pd.Series) -> bool:
    """False when no cell of ``values`` holds a line break; True when one may.

    Searches the column's characters in one piece: Arrow keeps all strings of a column in
    one buffer, and a byte search of it costs ~1 % of reading the file, where a per-cell
    test costs ~10 % (measured on the 300k-row demo catalogue). Bytes of a sliced-off
    neighbour can give a True that :func:`_line_break_mask` then does not confirm.
    """
    import pyarrow as pa

    try:
        arr = pa.array(values.array if hasattr(values, "array") else values)
    except (pa.ArrowException, TypeError, ValueError):
        return True
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for part in chunks:
        if not (pa.types.is_string(part.type) or pa.types.is_large_string(part.type)):
            return True
        data = part.buffers()[2]
        if data is not None:
            raw = data.to_pybytes()
            if b"\n" in raw or b"\r" in raw:
                return True
    return False


def _row_like_line(cell: str, sep: str, n_columns: int) -> tuple[int, str] | None:
    """The first line after a cell's first line that reads like a whole row of a file with
    ``n_columns`` columns (as many fields), as (lines after the cell's first, text)."""
    if n_columns < 2:
        return None
    lines = re.split(r"\r\n|\r|\n", cell)  # what ends a row in a CSV file (not \f, \u2028, ...)
    for k, line in enumerate(lines[1:], start=1):
        if line.count(sep) < n_columns - 1:  # too few fields, whatever the quoting
            continue
        try:
            fields = next(csv.reader([line], delimiter=sep), [])
        except csv.Error:
            continue
        if len(fields) == n_columns:
            return k, line
    return None


def _warn_swallowed_rows(chunk: pd.DataFrame, path: str, sep: str, row_offset: int) -> None:
    """With ``allow_multiline``: warn about the first multi-line cell that holds a line
    reading like a row of the file (a probable unclosed quote)."""
    n_columns = len(chunk.columns)
    for column in chunk.columns:
        values = chunk[column]
        if not _may_hold_line_break(values):
            continue
        # Only a cell with as many delimiters as a row has can hold one: this keeps a file
        # of multi-line descriptions from being parsed line by line a second time.
        enough = values.astype(str).str.count(re.escape(sep)).to_numpy() >= n_columns - 1
        for i in np.flatnonzero(_line_break_mask(values) & enough):
            swallowed = _row_like_line(str(values.iat[i]), sep, n_columns)
            if swallowed is not None:
                warnings.warn(str(CatalogueError(
                    f"a multi-line cell holds a line, {_shorten(swallowed[1])!r}, that reads "
                    "like a row of this file; if products are missing, a quote in this row is "
                    "probably not closed", path, row_offset + int(i) + 1, column)), stacklevel=4)
                return


def _line_of_row(path: str, encoding: str, sep: str, row: int) -> int | None:
    """Physical line (1-based) on which data row ``row`` starts, or None if not found.

    Only for error messages: it reads the file again from the start with the ``csv``
    module (blank lines skipped, as the parser does)."""
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(sys.maxsize)  # a merged cell can be far longer than 128 KB
        with open(path, encoding=encoding, newline="") as f:
            reader = csv.reader(f, delimiter=sep)
            seen = -1  # the header is not a data row
            while True:
                start = reader.line_num + 1
                record = next(reader, None)
                if record is None:
                    return None
                if not record:
                    continue
                seen += 1
                if seen == row:
                    return start
    except (OSError, UnicodeError, csv.Error, OverflowError):
        return None
    finally:
        csv.field_size_limit(limit)


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# ---------------------------------------------------------------------- paths
def parse_path_cell(cell: str, opts: ReaderOptions) -> list[Path]:
    """Parse one label cell into paths; ``ValueError`` (with a reason) if malformed."""
    cell = cell.strip()
    if cell in opts.ignore_labels:
        return []
    if len(cell) > MAX_LABEL_CHARS:
        raise ValueError(f"the cell has {len(cell):,} characters, more than the "
                         f"{MAX_LABEL_CHARS:,} characters a category cell may have")
    if opts.path_separator == "json" and cell[:1] in "[\"":
        try:
            items = json_loads_bounded(cell)
        except JSONTooDeepError as e:
            raise ValueError(f"expected a JSON list of path strings, got {e}") from None
        except json.JSONDecodeError:
            raise ValueError("expected a JSON list of path strings") from None
        if isinstance(items, str):
            items = [items]
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("expected a JSON list of path strings")
        raw = items
    elif opts.path_separator == "json":
        raw = [cell]  # a bare path in a JSON-list column
    elif opts.path_separator and opts.path_separator in cell:
        raw = cell.split(opts.path_separator)
    elif cell.startswith("[") and cell.endswith("]"):
        # A JSON-style list in a column configured for plain paths: accept it.
        return parse_path_cell(cell, opts.replace(path_separator="json"))
    else:
        raw = [cell]
    paths: list[Path] = []
    for text in raw:
        if not text.strip():
            continue
        parts = tuple(p.strip() for p in text.split(opts.level_separator))
        if any(not p for p in parts):
            raise ValueError(f"empty level in path {text.strip()!r} "
                             f"(level separator {opts.level_separator!r})")
        paths.extend(_finish_path(parts, opts))
    return sorted(set(paths))


def flat_paths_warning(paths: Sequence[Sequence[Path]], opts: ReaderOptions) -> str | None:
    """A plain-words warning when the labels look like the levels of one path read as
    several one-level paths (a JSON list of levels, ``["Apparel", "Topwear", "Tshirts"]``,
    with ``path_separator="json"``): most labelled products have two or more paths, every
    one of them one level deep. ``None`` when the labels do not look like that."""
    labelled = [ps for ps in paths if ps]
    flat = [ps for ps in labelled if len(ps) >= 2 and all(len(p) == 1 for p in ps)]
    if not labelled or len(flat) * 2 <= len(labelled):
        return None
    example = ", ".join(repr(p[0]) for p in flat[0][:4]) + (", ..." if len(flat[0]) > 4 else "")
    how = (f"each part between {opts.path_separator!r} is a path of its own (--path-separator)"
           if opts.path_separator and opts.path_separator != "json" else
           "each item of a JSON list is a path of its own")
    return (f"{len(flat):,} of {len(labelled):,} labelled products have two or more category "
            f"paths, all one level deep (e.g. {example}): {how}, not a level, so the tree is "
            "flat. If these are the levels of one path, write each path as one text with a "
            f"separator between levels ('A > B > C', --level-separator, now "
            f"{opts.level_separator!r}) or give one column per level (--level-columns).")


def _finish_path(parts: tuple[str, ...], opts: ReaderOptions) -> list[Path]:
    if opts.max_depth:
        parts = parts[: opts.max_depth]
    elif len(parts) > DEFAULT_MAX_DEPTH:
        raise ValueError(f"the path has {len(parts):,} levels, more than the default cap of "
                         f"{DEFAULT_MAX_DEPTH}; pass --max-depth {DEFAULT_MAX_DEPTH} (max_depth="
                         f"{DEFAULT_MAX_DEPTH}) to cut deeper paths, or a larger --max-depth (at "
                         f"most {MAX_DEPTH_LIMIT}) if the tree really is that deep")
    if len(parts) < opts.min_depth:
        return []
    if format_path(parts) in opts.ignore_paths:
        return []
    return [parts]


# ---------------------------------------------------------------------- public API
def iter_catalogue(path: str | os.PathLike, options: ReaderOptions | str | None = None,
                   **overrides) -> Iterator[pd.DataFrame]:
    """Read a catalogue file chunk by chunk.

    Args:
        path: the file.
        options: a :class:`ReaderOptions`, the name of a preset (``"demo"``,
            ``"fashion"``) or ``None`` for the defaults.
        **overrides: fields of :class:`ReaderOptions` to change.

    Yields:
        DataFrames with columns ``id``, ``text``, ``paths`` (see module docstring).

    Raises:
        CatalogueError: for any problem with the file, naming file, row and column.
    """
    opts = _resolve_options(options, overrides)
    path = str(path)
    if not os.path.exists(path):
        raise CatalogueError("file not found", path)
    if os.path.isdir(path):
        raise CatalogueError("is a directory, not a catalogue file", path)
    if os.path.getsize(path) == 0:
        raise CatalogueError("the file is empty", path)
    fmt = detect_format(path, opts.format)
    if fmt != "parquet":
        opts = opts.replace(encoding=_text_encoding(path, opts.encoding))
    seen_ids: set[str] = set()
    row_offset = 0
    n_rows = 0
    for raw in raw_chunks(path, opts, fmt):
        rows = raw.pop("__row__").to_numpy() if "__row__" in raw else None
        chunk = convert_chunk(raw, opts, path, row_offset, rows)
        row_offset += len(raw)
        chunk = _check_ids(chunk, opts, path, seen_ids)
        n_rows += len(chunk)
        if len(chunk):
            yield chunk
    if n_rows == 0:
        raise CatalogueError("the catalogue has no products (only a header?)", path)


def read_catalogue(path: str | os.PathLike, options: ReaderOptions | str | None = None,
                   **overrides) -> pd.DataFrame:
    """Read a whole catalogue into one DataFrame (``id``, ``text``, ``paths``)."""
    return pd.concat(list(iter_catalogue(path, options, **overrides)), ignore_index=True)


def _resolve_options(options: ReaderOptions | str | None, overrides: dict) -> ReaderOptions:
    if options is None:
        opts = ReaderOptions()
    elif isinstance(options, str):
        if options not in PRESETS:
            raise ValueError(f"unknown preset {options!r}; known: {', '.join(PRESETS)}")
        opts = PRESETS[options]
    else:
        opts = options
    # Every keyword given is applied, None included: ``label_column=None`` reads no labels.
    if overrides:
        opts = opts.replace(**overrides)
    if opts.duplicate_ids not in ("error", "warn", "keep"):
        raise ValueError("duplicate_ids must be 'error', 'warn' or 'keep'")
    if opts.bad_paths not in ("error", "skip"):
        raise ValueError("bad_paths must be 'error' or 'skip'")
    if not opts.text_columns:
        raise ValueError("text_columns must name at least one column")
    if opts.label_column and opts.level_columns:
        raise ValueError("give either label_column or level_columns, not both")
    if opts.max_depth is not None and (isinstance(opts.max_depth, bool)
                                       or not isinstance(opts.max_depth, int)
                                       or not 1 <= opts.max_depth <= MAX_DEPTH_LIMIT):
        raise ValueError(f"max_depth must be a whole number from 1 to {MAX_DEPTH_LIMIT}, "
                         f"got {opts.max_depth!r}")
    return opts


#: Byte order marks of encodings that are not ASCII-compatible (UTF-32 first: its
#: little-endian mark begins with UTF-16's).
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _text_encoding(path: str, encoding: str) -> str:
    """The encoding to read text catalogue ``path`` with; :class:`CatalogueError` if the
    file is not text (a ZIP/Excel file, NUL characters) or the encoding is unknown.

    A UTF-16/32 byte order mark (Excel's "Unicode text" export) replaces the default
    UTF-8: such a file cannot be UTF-8. NUL is looked for in the decoded characters, not
    the bytes, so UTF-16 text (a NUL byte in every ASCII character) is not "binary".
    """
    with open(path, "rb") as f:
        head = f.read(8192)
    if head.startswith(b"PK\x03\x04"):
        raise CatalogueError("this looks like a ZIP or Excel (.xlsx) file, not text; "
                             "export it as CSV (UTF-8) first", path)
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise CatalogueError(f"unknown text encoding {encoding!r} (e.g. utf-8, utf-16, "
                             "cp1250, latin-1)", path) from None
    if codec.name in ("utf-8", "utf-8-sig"):
        encoding = next((name for bom, name in _BOMS if head.startswith(bom)), encoding)
    if "\x00" in head.decode(encoding, errors="replace"):
        utf16 = _utf16_without_bom(head)
        if utf16:
            raise CatalogueError(f"this looks like {utf16.upper()} text without a byte order "
                                 f"mark; pass encoding={utf16!r} (--encoding {utf16})", path)
        raise CatalogueError("this looks like a binary file (it contains NUL bytes), "
                             "not a text catalogue", path)
    return encoding


def _utf16_without_bom(head: bytes) -> str | None:
    """``"utf-16-le"`` or ``"utf-16-be"`` if ``head`` looks like text in it: mostly ASCII
    characters (a zero high byte in at least half of the code units: a catalogue's ids,
    digits, punctuation and column names) and no NUL character. Binary data and UTF-8
    text with a stray NUL byte look like neither."""
    n = len(head) // 2
    if n == 0:
        return None
    even, odd = head[0: 2 * n: 2], head[1: 2 * n: 2]
    for name, high, low in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        ascii_units = sum(1 for h, lo in zip(high, low) if h == 0 and lo != 0)
        nul_units = sum(1 for h, lo in zip(high, low) if h == 0 and lo == 0)
        if nul_units == 0 and ascii_units >= n / 2:
            return name
    return None


def convert_chunk(raw: pd.DataFrame, opts: ReaderOptions, path: str, row_offset: int,
                  rows: Sequence[int] | None) -> pd.DataFrame:
    """A raw chunk of catalogue rows (any format's columns, as read) into prodemb's columns
    (``id``, ``text``, ``paths``, ...) with ``opts``; ``path``, ``row_offset`` and ``rows``
    (the file's row number of each raw row, or None) name rows in errors. Shared by the
    local readers and the Ray engine, so both read a catalogue the same way."""
    raw.columns = [str(c).strip() for c in raw.columns]
    needed = list(opts.text_columns)
    if opts.id_column:
        needed.append(opts.id_column)
    if opts.label_column:
        needed.append(opts.label_column)
    needed += opts.level_columns
    if opts.split_column:
        needed.append(opts.split_column)
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        shown = ", ".join(repr(c) for c in list(raw.columns)[:12])
        hint = ""
        if len(raw.columns) == 1 and any(d in str(raw.columns[0]) for d in ";\t|,"):
            hint = " (only one column was found: is the delimiter right?)"
        elif set(missing) & set(opts.text_columns) and set(opts.text_columns) & set(raw.columns):
            # A file with a title and no description, read with the default text columns.
            present = [c for c in opts.text_columns if c in raw.columns]
            hint = (f" (the product text is read from {', '.join(opts.text_columns)}; to read it "
                    f"from {', '.join(present)} only: --text-columns {','.join(present)})")
        raise CatalogueError(f"missing column(s) {', '.join(repr(c) for c in missing)}; "
                             f"the file has {shown}{hint}", path)
    row_numbers = (list(rows) if rows is not None
                   else list(range(row_offset + 1, row_offset + len(raw) + 1)))
    text = raw[opts.text_columns[0]].astype(str).str.strip()
    for col in opts.text_columns[1:]:
        extra = raw[col].astype(str).str.strip()
        text = text.where(extra == "", text.where(text == "", text + " . ") + extra)
    ids = (raw[opts.id_column].astype(str).str.strip() if opts.id_column
           else pd.Series([str(r) for r in row_numbers], index=raw.index))
    if opts.id_column:
        empty = (ids == "").to_numpy()
        if empty.any():
            row = row_numbers[int(empty.argmax())]
            raise CatalogueError("empty product id", path, row, opts.id_column)
    paths = _paths_for_chunk(raw, opts, path, row_numbers)
    out = pd.DataFrame({"id": ids.to_numpy(), "text": text.to_numpy(), "paths": paths})
    if opts.split_column:
        out["split"] = _splits_for_chunk(raw[opts.split_column], paths, opts, path, row_numbers)
    return out


def _splits_for_chunk(cells: pd.Series, paths: list[list[Path]], opts: ReaderOptions, path: str,
                      row_numbers: Sequence[int]) -> np.ndarray:
    """The split of each labelled product ('' for unlabelled ones); errors name the row."""
    values = cells.astype(str).str.strip().str.lower().to_numpy()
    labelled = np.fromiter((len(p) > 0 for p in paths), dtype=bool, count=len(paths))
    bad = labelled & ~np.isin(values, SPLITS)
    if bad.any():
        i = int(bad.argmax())
        raise CatalogueError(f"split {cells.iat[i]!r} of a labelled product; expected one of "
                             f"{', '.join(SPLITS)}", path, row_numbers[i], opts.split_column)
    return np.where(labelled, values, "").astype(object)


def _paths_for_chunk(raw: pd.DataFrame, opts: ReaderOptions, path: str,
                     row_numbers: Sequence[int]) -> list[list[Path]]:
    n = len(raw)
    if opts.level_columns:
        levels = [raw[c].astype(str).str.strip().to_numpy() for c in opts.level_columns]
        _warn_path_separator_in_levels(levels, opts, path, row_numbers)
        out: list[list[Path]] = []
        for i in range(n):
            cells = [values[i] for values in levels]
            # An empty cell ends the path whatever ignore_labels says (`--ignore-labels ""`
            # reads as an empty list): no tree level is named ''.
            empty = [c == "" or c in opts.ignore_labels for c in cells]
            depth = empty.index(True) if True in empty else len(cells)
            parts = cells[:depth]
            # A gap followed by a value (A, '', C) is malformed.
            if not all(empty[depth:]):
                col = opts.level_columns[depth]
                err = f"level column {col!r} is empty but a deeper level is not"
                out.append(_bad_path(err, opts, path, row_numbers[i], col))
                continue
            try:
                out.append(_finish_path(tuple(parts), opts) if parts else [])
            except ValueError as e:
                out.append(_bad_path(str(e), opts, path, row_numbers[i], opts.level_columns[-1]))
        return out
    if not opts.label_column:
        return [[] for _ in range(n)]
    cells = raw[opts.label_column].astype(str).to_numpy()
    cache: dict[str, list[Path]] = {}
    out = []
    for i, cell in enumerate(cells):
        parsed = cache.get(cell)
        if parsed is None:
            try:
                parsed = parse_path_cell(cell, opts)
            except ValueError as e:
                out.append(_bad_path(str(e), opts, path, row_numbers[i], opts.label_column))
                continue
            cache[cell] = parsed
        out.append(list(parsed))
    return out


def _warn_path_separator_in_levels(levels: list[np.ndarray], opts: ReaderOptions, path: str,
                                   row_numbers: Sequence[int]) -> None:
    """Warn (once per chunk) when a level cell holds the path separator: level columns give
    one path per row, so ``Men|Women`` is read as one category of that name, not two paths."""
    sep = opts.path_separator
    if not sep or sep == "json":
        return
    for col, values in zip(opts.level_columns, levels):
        hits = np.flatnonzero(pd.Series(values).str.contains(sep, regex=False).to_numpy(bool))
        if len(hits):
            i = int(hits[0])
            warnings.warn(str(CatalogueError(
                f"{len(hits):,} cell(s) of level column {col!r} hold the path separator "
                f"{sep!r} (e.g. {values[i]!r}): level columns give one path per row, so each "
                "is read as one category of that name. For products in several categories, "
                f"give one label column of paths instead (--label-column, paths separated by "
                f"{sep!r}, levels by {opts.level_separator!r})", path, row_numbers[i], col)),
                stacklevel=3)
            return


def _bad_path(reason: str, opts: ReaderOptions, path: str, row: int, column: str) -> list[Path]:
    if opts.bad_paths == "error":
        raise CatalogueError(f"malformed category path: {reason}. Fix the cell, or pass "
                             "bad_paths='skip' (--bad-paths skip) to treat such products as unlabelled",
                             path, row, column)
    warnings.warn(str(CatalogueError(f"malformed category path skipped: {reason}", path, row, column)),
                  stacklevel=3)
    return []


def _check_ids(chunk: pd.DataFrame, opts: ReaderOptions, path: str, seen: set[str]) -> pd.DataFrame:
    if opts.duplicate_ids == "keep" or not opts.id_column:
        return chunk
    ids = chunk["id"].to_numpy()
    dup_mask = np.array(pd.Series(ids).duplicated(), dtype=bool)
    if seen:
        dup_mask |= np.array(pd.Series(ids).isin(seen), dtype=bool)
    if dup_mask.any():
        first = int(dup_mask.argmax())
        n_dup = int(dup_mask.sum())
        msg = f"duplicate product id {ids[first]!r} ({n_dup} row(s) with an id read before)"
        if opts.duplicate_ids == "error":
            raise CatalogueError(msg + "; pass duplicate_ids='warn' to keep the first of each",
                                 path, None, opts.id_column)
        warnings.warn(str(CatalogueError(msg + "; keeping the first of each", path, None,
                                         opts.id_column)), stacklevel=3)
        chunk = chunk[~dup_mask].reset_index(drop=True)
    seen.update(chunk["id"].tolist())
    return chunk


def write_catalogue(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame with ``id``, ``text``, ``paths`` in the default reader's format."""
    out = pd.DataFrame({
        "id": df["id"].astype(str),
        "title": df["text"].astype(str),
        "description": "",
        "category": [format_paths(paths) for paths in df["paths"]],
    })
    fmt = detect_format(path)
    if fmt == "parquet":
        out.to_parquet(path, index=False)
    elif fmt == "jsonl":
        out.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        out.to_csv(path, index=False, sep="\t" if fmt == "tsv" else ",")


def read_texts(buffer: bytes | str, text_columns: Sequence[str] | None = None,
               name: str = "upload.csv", max_rows: int | None = None,
               encoding: str = "utf-8") -> pd.DataFrame:
    """Read an uploaded CSV (bytes) into a DataFrame of strings, with clear errors.

    Used by the app's batch upload; ``text_columns`` are checked if given. Bytes are read
    as UTF-8 (a byte order mark is dropped), else in ``encoding`` (the dashboard passes
    the encoding the bundle's catalogue was read with). The delimiter found is kept in
    ``df.attrs["delimiter"]``.
    """
    if isinstance(buffer, bytes):
        if buffer.startswith(b"PK\x03\x04"):
            raise CatalogueError("this looks like an Excel (.xlsx) or ZIP file; "
                                 "save it as CSV (UTF-8) and upload again", name)
        if b"\x00" in buffer[:8192]:
            raise CatalogueError("this is a binary file, not a CSV", name)
        try:
            buffer = buffer.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = buffer[: e.start].count(b"\n")
            try:
                other = codecs.lookup(encoding).name not in ("utf-8", "utf-8-sig")
            except LookupError:
                other = False
            try:
                if not other:
                    raise e
                buffer = buffer.decode(encoding)
            except UnicodeDecodeError:
                also = f" (nor {encoding}, the encoding of the bundle's catalogue)" if other else ""
                raise CatalogueError(f"the file is not UTF-8 text{also}; save it as CSV (UTF-8)",
                                     name, line if line > 0 else None) from None
    if not buffer.strip():
        raise CatalogueError("the file is empty", name)
    try:
        sniff_sep = csv.Sniffer().sniff(buffer[:20000], delimiters=",;\t|").delimiter
    except csv.Error:
        sniff_sep = ","
    # The python engine reads with the csv module, whose default cap of 128 KB per field
    # would reject a long description ("field larger than field limit"); the upload itself
    # is size-limited, so allow fields up to its length (the limit only ever grows).
    if len(buffer) >= csv.field_size_limit():
        csv.field_size_limit(len(buffer) + 1)
    try:
        df = pd.read_csv(io.StringIO(buffer), sep=sniff_sep, dtype=str, keep_default_na=False,
                         na_filter=False, nrows=max_rows, engine="python", on_bad_lines="error")
    except pd.errors.EmptyDataError:
        raise CatalogueError("the file has no header row", name) from None
    except (pd.errors.ParserError, csv.Error) as e:
        raise CatalogueError(f"not a well-formed CSV file ({e}); check quotes and delimiter",
                             name) from None
    df.columns = [str(c).strip() for c in df.columns]
    if df.empty:
        raise CatalogueError("the file has a header but no rows", name)
    if text_columns:
        missing = [c for c in text_columns if c not in df.columns]
        if missing:
            raise CatalogueError(f"missing column(s) {missing}; the file has {list(df.columns)}", name)
    df.attrs["delimiter"] = sniff_sep  # so a download can be written as the file came
    return df
