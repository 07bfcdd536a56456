"""Small shared helpers: cores, progress bars, hashing, timing, JSON of bounded depth,
spreadsheet-safe CSV cells, recognising a full disk."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import sys
import threading
import time

from tqdm.auto import tqdm

log = logging.getLogger("prodemb")


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def progress_enabled() -> bool:
    """False when the environment turns progress output off (``PRODEMB_PROGRESS=0``)."""
    return os.environ.get("PRODEMB_PROGRESS") != "0"


#: ``time.monotonic()`` of the last update of any :func:`progress` bar: a stage's heartbeat
#: (:class:`StageTimer`) stays quiet while a bar shows that work goes on.
_last_bar_update = [0.0]


class _Bar(tqdm):
    """tqdm that notes when it last moved (tqdm's own loop calls ``update`` at most every
    ``mininterval``)."""

    def update(self, n=1):
        _last_bar_update[0] = time.monotonic()
        return super().update(n)


def progress(iterable=None, **kwargs) -> tqdm:
    """A tqdm progress bar on stderr; disabled when PRODEMB_PROGRESS=0."""
    if not progress_enabled():
        kwargs["disable"] = True
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", True)
    return _Bar(iterable, **kwargs)


def sha256_file(path: str) -> str:
    """The sha256 of a file's bytes, hex (read in blocks by :func:`hashlib.file_digest`)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


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


@contextlib.contextmanager
def atomic_output(path: str):
    """Yield the name of a hidden temporary file beside ``path`` to write the output to;
    when the block ends without error the file is flushed to disk and moved to ``path`` in
    one step, on any error (a full disk) or interruption it is removed and ``path`` is
    untouched. Close any writer of the file inside the block."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual permissions
        yield tmp
        with open(tmp, "rb") as f:  # on disk before it takes the name
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


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


def format_seconds(seconds: float) -> str:
    """``"8.2 s"``, ``"45 s"``, ``"2 min 05 s"``, ``"1 h 02 min"``: a duration for people."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class Stage:
    """The stage a :class:`StageTimer` is timing; ``note(text)`` says what it does now (shown
    at once and in the heartbeat lines)."""

    def __init__(self, timer: StageTimer, name: str, label: str) -> None:
        self.timer, self.name, self.label = timer, name, label
        self.detail = ""
        self.start = time.monotonic()

    def note(self, text: str) -> None:
        self.detail = text
        self.timer.say(f"      {self.label}: {text}")

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class StageTimer:
    """Records wall-clock seconds per named stage: ``with timer("word2vec"): ...``.

    With ``show`` (and progress output not turned off by ``PRODEMB_PROGRESS=0``), each stage
    is announced on stderr as ``[3/8] split: ...`` (numbered when ``stages`` lists the
    stages to come) and, while it runs, a heartbeat line says how long it has been running,
    every ``heartbeat`` seconds (twice that after two minutes), unless a progress bar moved
    in the meantime. ``labels`` maps stage names to what the user reads (``read_clean`` ->
    ``read + clean``). :meth:`table` is the summary of stage times.
    """

    def __init__(self, show: bool = False, stages: tuple[str, ...] | list[str] = (),
                 labels: dict[str, str] | None = None, heartbeat: float = 15.0) -> None:
        self.seconds: dict[str, float] = {}
        self.show = show and progress_enabled()
        self.stages = list(stages)
        self.labels = dict(labels or {})
        self.heartbeat = heartbeat
        self.current: Stage | None = None

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def say(self, line: str) -> None:
        """Write one line to stderr (through tqdm, so an open progress bar is not broken)."""
        if self.show:
            tqdm.write(line, file=sys.stderr)
            sys.stderr.flush()

    @contextlib.contextmanager
    def __call__(self, name: str, note: str | None = None):
        log.info("stage %s ...", name)
        stage = self.current = Stage(self, name, self.label(name))
        if self.show:
            number = (f"[{self.stages.index(name) + 1}/{len(self.stages)}] "
                      if name in self.stages else "")
            stage.detail = note or ""
            self.say(f"{number}{stage.label}" + (f": {note}" if note else ""))
        stop = threading.Event()
        beat = None
        if self.show and self.heartbeat > 0:
            beat = threading.Thread(target=self._beat, args=(stage, stop), daemon=True,
                                    name=f"prodemb-heartbeat-{name}")
            beat.start()
        start = time.perf_counter()
        try:
            yield stage
        finally:
            stop.set()
            if beat is not None:
                beat.join()
            self.current = None
            self.seconds[name] = round(time.perf_counter() - start, 2)
            log.info("stage %s done in %.1f s", name, self.seconds[name])

    def _beat(self, stage: Stage, stop: threading.Event) -> None:
        """Heartbeat lines of ``stage`` until ``stop`` is set."""
        while True:
            interval = self.heartbeat * (2 if stage.elapsed() >= 120 else 1)
            if stop.wait(interval):
                return
            if time.monotonic() - _last_bar_update[0] < interval:
                continue  # a progress bar shows that work goes on
            detail = f" ({stage.detail})" if stage.detail else ""
            self.say(f"      {stage.label}: still running, {format_seconds(stage.elapsed())} "
                     f"elapsed{detail}")

    def table(self) -> str:
        """:func:`stage_table` of the stages timed so far."""
        return stage_table(self.seconds, self.labels)


def stage_table(seconds: dict[str, float], labels: dict[str, str] | None = None) -> str:
    """Stage times (``{stage: seconds}``, in order) as a small text table: stage, time and
    share of the total, then the total. ``labels`` renames stages for people."""
    labels = labels or {}
    total = sum(seconds.values())
    width = max([len(labels.get(n, n)) for n in seconds] + [len("total")])
    lines = [f"{'stage':<{width}}  {'time':>11}  share"]
    for name, secs in seconds.items():
        share = f"{100 * secs / total:3.0f} %" if total > 0 else "  - %"
        lines.append(f"{labels.get(name, name):<{width}}  {format_seconds(secs):>11}  {share}")
    lines.append(f"{'total':<{width}}  {format_seconds(total):>11}")
    return "\n".join(lines)


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
