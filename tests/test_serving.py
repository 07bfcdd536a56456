"""Many sessions in one server process (``prodemb.serving``, issue 17 item 6): the work
slots, the single BLAS thread and the Classify map built from a shared base.

The load itself (30 concurrent sessions, pings, memory) is measured by
``bench/bench_sessions.py``; these tests check the mechanisms, not timings.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from prodemb.serving import WorkSlots, single_threaded_blas


def test_work_slots_bound_concurrency():
    slots = WorkSlots(2)
    inside, most, lock = [0], [0], threading.Lock()
    entered = threading.Barrier(2, timeout=30)

    def work(i: int) -> None:
        with slots:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            if i < 2:
                entered.wait()  # the first two are inside together
            time.sleep(0.01)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    threads[0].start()
    threads[1].start()
    for t in threads[2:]:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert most[0] == 2 and inside[0] == 0


def test_work_slots_reentrant_decorator_and_errors():
    slots = WorkSlots(1)

    @slots
    def inner() -> str:
        return "ok"

    with slots:  # a thread inside may call functions that use the slots again
        with slots:
            assert inner() == "ok"
    with pytest.raises(ValueError), slots:
        raise ValueError("boom")
    done = []  # the slot was released: another thread gets in
    t = threading.Thread(target=lambda: done.append(inner()))
    t.start()
    t.join(10)
    assert done == ["ok"]
    assert WorkSlots(0).n == 1


def test_single_threaded_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = threadpoolctl.threadpool_info()
    try:
        single_threaded_blas()
        single_threaded_blas()  # once per process; a second call changes nothing
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and all(i["num_threads"] == 1 for i in blas)
    finally:  # the rest of the test session keeps its threads
        for info in before:
            if info["user_api"] == "blas":
                threadpoolctl.threadpool_limits(info["num_threads"], user_api="blas")


def _json(fig) -> dict:
    import plotly.io

    return json.loads(plotly.io.to_json(fig.to_dict(), validate=False))


def test_classify_map_is_map_figure_with_shared_base(bundle, bundle_path):
    from prodemb import ui

    if not bundle.map_methods:
        pytest.skip("the bundle has no map")
    method = bundle.map_methods[0]
    point, label = np.array([0.25, -1.5]), "<b>scarf</b> & hat"
    fig, shown = ui.classify_map(bundle_path, method, point, label)
    sample = ui.map_sample(bundle_path, method)
    assert shown == len(sample)
    assert _json(fig) == _json(ui.map_figure(sample, point, label, height=420))
    star = _json(fig)["data"][-1]
    assert star["name"] == "this product" and star["x"] == [0.25]
    assert "&lt;b&gt;scarf&lt;/b&gt;" in star["hovertemplate"]  # escaped as before

    # Another session's figure (and changing it) leaves the shared base as it was.
    base = json.dumps(_json(fig)["data"][:-1])
    other, _ = ui.classify_map(bundle_path, method, np.array([9.0, 9.0]), "other")
    other.update_layout(title="changed")
    other.data[0].marker.size = 11
    again, _ = ui.classify_map(bundle_path, method, point, label)
    assert json.dumps(_json(again)["data"][:-1]) == base
    assert "title" not in _json(again)["layout"] or _json(again)["layout"]["title"] != {"text": "changed"}


def test_bounded_allocators_run_in_a_fresh_process():
    """Arrow ends up on the system allocator (a Parquet read still works), and a second
    call changes nothing; run in a child process, as it changes process-wide settings."""
    import subprocess
    import sys

    code = (
        "import io, pyarrow as pa, pyarrow.parquet as pq\n"
        "from prodemb.serving import bounded_allocators\n"
        "before = pa.default_memory_pool().backend_name\n"
        "bounded_allocators(); bounded_allocators()\n"
        "buf = io.BytesIO(); pq.write_table(pa.table({'a': ['x'] * 1000}), buf)\n"
        "assert pq.read_table(io.BytesIO(buf.getvalue())).num_rows == 1000\n"
        "print(before, pa.default_memory_pool().backend_name, flush=True)\n"
        # A short script that read Parquet sometimes aborts at interpreter exit, with or
        # without this change (Arrow's thread pool torn down while a worker lives,
        # apache/arrow#34314): leave without the teardown.
        "import os; os._exit(0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "system"
