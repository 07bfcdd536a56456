"""Serving many people from one process (the dashboard): one thread of numeric work per
request, and a bound on how many requests compute at once.

The dashboard runs every browser session's script in its own thread of one Python
process, beside the event loop that answers the browsers (websocket messages, pings,
static files). Two things made 30 sessions arriving together slow and starved that
loop (``bench/bench_sessions.py``):

* numpy's OpenBLAS starts as many threads as there are cores for every matrix product,
  including the one-query cosine searches of the Classify page. Thirty script threads
  each asking for two BLAS threads on two cores spin against each other: on this
  2-core machine 90 such searches from 30 threads took 16 s of wall clock against 0.3 s
  with one BLAS thread. :func:`single_threaded_blas` sets BLAS to one thread (torch
  already has one: :func:`prodemb.bundle.set_inference_threads`); requests then run side
  by side, one core each.
* every script thread that computes holds Python's GIL most of the time, and the event
  loop needs the GIL for every message it sends or answers. With 30 threads competing,
  the loop got the GIL seldom enough to leave websocket pings unanswered for 9 s.
  :data:`WORK` lets at most as many requests compute at once as there are cores; the
  others wait on a lock (without the GIL), so the loop stays responsive and the first
  requests finish first instead of all finishing at the end.

And one thing made its memory grow with use (``bench/bench_app.py``): glibc's malloc gives
every thread that allocates an arena of its own (up to 8 per core), and Streamlit runs
each rerun in a thread, so memory freed by one page visit stayed reserved in that
thread's arena: the server grew by ~40 MB per visit of the map page, to 832 MB after four
rounds of the pages in one run. Arrow's mimalloc pool likewise keeps what Parquet reads
freed. :func:`bounded_allocators` caps the arenas and hands Arrow's
allocations to the system allocator; it runs when the first bundle loads, after Streamlit's
own threads have their arenas (682 and 819 MB in two runs with only this), so ``make run``
also starts the server with ``MALLOC_ARENA_MAX=2`` (673, 704 and 704 MB in three runs).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading

from .utils import available_cores

_settings_lock = threading.Lock()
_blas_set = [False]


def single_threaded_blas() -> None:
    """Use one BLAS thread (numpy/scipy's OpenBLAS, process-wide), once per process: for a
    server that answers several requests at once, where more threads than cores per
    request only make them fight. Does nothing if ``threadpoolctl`` is missing."""
    with _settings_lock:
        if _blas_set[0]:
            return
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            return
        threadpool_limits(1, user_api="blas")
        _blas_set[0] = True


#: glibc's ``mallopt`` parameter number of ``M_ARENA_MAX`` (malloc.h).
_M_ARENA_MAX = -8
_alloc_set = [False]


def bounded_allocators(arenas: int = 2) -> None:
    """At most ``arenas`` malloc arenas (glibc only; elsewhere nothing) and Arrow on the
    system allocator, once per process: for a server whose requests run in many threads
    (module docstring). Threads that allocated before keep their arenas; later ones share."""
    with _settings_lock:
        if _alloc_set[0]:
            return
        _alloc_set[0] = True
        name = ctypes.util.find_library("c")
        try:
            libc = ctypes.CDLL(name) if name else None
            if libc is not None and hasattr(libc, "mallopt"):
                libc.mallopt(_M_ARENA_MAX, int(arenas))
        except OSError:  # pragma: no cover - no C library to load (not Linux)
            pass
        try:
            import pyarrow as pa

            pa.set_memory_pool(pa.system_memory_pool())
        except ImportError:  # pragma: no cover - pyarrow comes with pandas' Parquet
            pass


class WorkSlots(contextlib.ContextDecorator):
    """At most ``n`` threads inside ``with slots:`` (or a function decorated with
    ``@slots``) at once; the others wait (FIFO-ish, without holding the GIL). Re-entrant:
    a thread already inside does not take a second slot, so functions that use it may
    call each other.

    Do not call a function that waits for a lock held by a thread that may be waiting
    for a slot (for example a ``st.cache_data`` function whose body takes a slot) while
    holding a slot: take slots only in code that runs to its end on its own.
    """

    def __init__(self, n: int):
        self.n = max(1, int(n))
        self._semaphore = threading.BoundedSemaphore(self.n)
        self._local = threading.local()

    def __enter__(self) -> WorkSlots:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._semaphore.acquire()
        self._local.depth = depth + 1
        return self

    def __exit__(self, *exc) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            self._semaphore.release()


#: The dashboard's slots: one per available core.
WORK = WorkSlots(available_cores())
