"""Small shared helpers: cores, progress bars, hashing, timing, JSON of bounded depth,
spreadsheet-safe CSV cells, recognising a full disk."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import time

from tqdm.auto import tqdm

log = logging.getLogger("prodemb")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def progress(iterable=None, **kwargs) -> tqdm:
    """A tqdm progress bar on stderr; disabled when PRODEMB_PROGRESS=0."""
    if os.environ.get("PRODEMB_PROGRESS") == "0":
        kwargs["disable"] = True
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def sha256_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def json_default(o):
    """``json.dump(default=...)`` for numpy scalars and arrays, tuples and paths."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray | tuple):
        return list(o.tolist() if isinstance(o, np.ndarray) else o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


#: First characters that make a spreadsheet read a cell as a formula (tab and CR: some
#: spreadsheets strip them and then read what follows).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """Neutralise spreadsheet formulas: a cell starting with = + - @ (or a tab/CR) gets a
    leading apostrophe, so a hostile product title opened in Excel stays text."""
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


def csv_safe_frame(frame):
    """``frame`` (a DataFrame) with :func:`csv_safe` applied to every text column; numbers
    stay numbers. For every CSV prodemb writes for people (dashboard download, ``predict``)."""
    import pandas as pd

    return frame.apply(lambda col: col.map(csv_safe)
                       if col.dtype == object or pd.api.types.is_string_dtype(col) else col)


#: "Disk full" in the messages of writers that do not set ``errno``: numpy's short write
#: ("5200 requested and 1984 written"), pyarrow's "[errno 28]", safetensors' "os error 28".
_DISK_FULL_TEXT = re.compile(r"no space left on device|disk quota exceeded|"
                             r"\b(?:os error|errno) (?:28|122)\b|^\d+ requested and \d+ written$",
                             re.IGNORECASE)


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk or the quota is
    full, whatever library raised it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if _DISK_FULL_TEXT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


class StageTimer:
    """Records wall-clock seconds per named stage: ``with timer("word2vec"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        log.info("stage %s ...", name)
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - start, 2)
            log.info("stage %s done in %.1f s", name, self.seconds[name])


#: Deepest nesting of JSON objects/arrays prodemb reads (bundle files, JSONL catalogue
#: lines, JSON path cells). prodemb's own files nest about 6 deep; a cap keeps a hostile
#: file from exhausting Python's recursion limit (a parser or a later walk of the data).
MAX_JSON_DEPTH = 100


class JSONTooDeepError(ValueError):
    """JSON nested deeper than :data:`MAX_JSON_DEPTH` (or than the parser can follow)."""


def json_loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH):
    """``json.loads`` that never raises ``RecursionError``: JSON nested more than
    ``max_depth`` levels raises :class:`JSONTooDeepError` (a ``ValueError``), malformed
    JSON ``json.JSONDecodeError`` as usual."""
    import json

    try:
        value = json.loads(text)
    except RecursionError:
        raise JSONTooDeepError(f"JSON nested too deeply (more than {max_depth} levels)") from None
    # Counting brackets is C-fast and bounds the depth from above, so the walk below only
    # runs for text that could be too deep.
    opens = (text.count("[") + text.count("{")) if isinstance(text, str) \
        else (text.count(b"[") + text.count(b"{"))
    if opens > max_depth and json_depth(value) > max_depth:
        raise JSONTooDeepError(f"JSON nested too deeply (more than {max_depth} levels)")
    return value


def json_depth(value) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, ``[]`` and ``[1]`` are 1), without
    recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((v, depth) for v in item if isinstance(v, dict | list))
    return deepest
