"""Small shared helpers: cores, progress bars, hashing, timing."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
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
