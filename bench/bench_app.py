"""The dashboard in headless Chromium: ``bench/results/app.json``.

Starts ``streamlit run app.py`` on a free port with the demo bundle (``--bundle``;
default: the bundle of ``bench/bench_training.py``, else ``artifacts/demo``), using the
server and browser helpers of ``bench/screenshots.py`` (Debian's ``/usr/bin/chromium``
driven by Playwright; nothing is downloaded). Measures:

* server start: from ``streamlit run`` to its health check answering;
* time to first render: opening ``/`` in a fresh browser on the fresh server until
  the Classify page has rendered (the bundle is loaded in this first run);
* a new session on the warm server: the same in a new browser context;
* per page, warm: switching pages through the sidebar navigation, from the click to
  the page's heading being shown and no "running" indicator or skeleton left (the
  first round visits every page once; ``--rounds`` further rounds are timed and the
  median is reported);
* the server's resident memory: ``VmRSS`` of the server process and all its
  descendants (from ``/proc``), after each page and at the end, and the sum of their
  peaks (``VmHWM``).

Targets: every page warm <= 2 s; server memory <= 1.5 GB.

Usage: ``.venv/bin/python bench/bench_app.py [--bundle DIR] [--rounds N] [--quick]``
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import log  # noqa: E402

#: (sidebar link, page heading)
PAGES = [("Classify", "Classify a product"), ("Neighbours", "Neighbours"),
         ("Per-class F1", "Per-class F1"), ("Embedding map", "Embedding map")]
WARM_TARGET_S = 2.0
MEMORY_TARGET_MB = 1536.0


def helpers():
    spec = importlib.util.spec_from_file_location("prodemb_screenshots",
                                                  common.ROOT / "bench" / "screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------- /proc memory
def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])  # kB
    except (OSError, ValueError):
        pass
    return out


def descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants (via /proc/PID/task/*/children)."""
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    stack.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def tree_memory_mb(pid: int) -> dict:
    pids = descendants(pid)
    stats = [_status(p) for p in pids]
    return {"rss_mb": round(sum(s.get("VmRSS", 0) for s in stats) / 1024, 1),
            "peak_mb": round(sum(s.get("VmHWM", 0) for s in stats) / 1024, 1),
            "processes": len(pids)}


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds over all pages")
    ap.add_argument("--quick", action="store_true", help="one timed round")
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else args.rounds

    h = helpers()
    if not os.path.exists(h.CHROMIUM):
        print(f"Chromium not found at {h.CHROMIUM}; run `make browser`", file=sys.stderr)
        common.write_result("app_quick" if args.quick else "app",
                            {"skipped": f"Chromium not found at {h.CHROMIUM}"})
        return 0
    from bench_speed import find_bundle
    from playwright.sync_api import sync_playwright

    bundle = find_bundle(args.bundle, args.quick)
    log(f"bundle {bundle}")
    result: dict = {"bundle": str(bundle), "rounds": rounds, "quick": args.quick}
    log_file = Path(tempfile.gettempdir()) / f"prodemb-bench-app-{os.getpid()}.log"
    port = h.free_port()
    t = time.perf_counter()
    proc = h.start_app(str(bundle), port, log_file)
    result["server_start_seconds"] = round(time.perf_counter() - t, 2)
    url = f"http://127.0.0.1:{port}"
    memory_samples = []
    try:
        with sync_playwright() as p:
            browser = h.launch_browser(p)
            try:
                page = browser.new_page(viewport=h.VIEWPORT)
                t = time.perf_counter()
                page.goto(url + "/")
                page.get_by_role("heading", name=PAGES[0][1], exact=True).wait_for(timeout=180_000)
                first = time.perf_counter() - t + h.wait_rendered(page, timeout=180)
                result["first_render_seconds"] = round(first, 2)
                memory_samples.append(("after first render", tree_memory_mb(proc.pid)))
                log(f"first render {first:.2f} s")

                ctx = browser.new_context(viewport=h.VIEWPORT)
                other = ctx.new_page()
                t = time.perf_counter()
                other.goto(url + "/")
                other.get_by_role("heading", name=PAGES[0][1], exact=True).wait_for(timeout=60_000)
                result["new_session_render_seconds"] = round(
                    time.perf_counter() - t + h.wait_rendered(other), 2)
                ctx.close()
                log(f"new session {result['new_session_render_seconds']:.2f} s")

                nav = page.locator("[data-testid='stSidebarNav']")
                times: dict[str, list[float]] = {}
                first_visit: dict[str, float] = {}
                for rnd in range(rounds + 1):
                    for link, heading in PAGES:
                        if not nav.get_by_text(link, exact=True).count():
                            continue
                        t = time.perf_counter()
                        nav.get_by_text(link, exact=True).click()
                        page.get_by_role("heading", name=heading, exact=True).wait_for(
                            timeout=120_000)
                        secs = time.perf_counter() - t + h.wait_rendered(page, timeout=120)
                        if page.locator("[data-testid='stException']").count():
                            raise RuntimeError(f"{link}: the page shows an exception")
                        if rnd == 0:
                            first_visit[link] = round(secs, 2)
                        else:
                            times.setdefault(link, []).append(secs)
                        memory_samples.append((f"round {rnd} {link}", tree_memory_mb(proc.pid)))
                    log(f"round {rnd}: " + ", ".join(
                        f"{k} {v[-1]:.2f} s" for k, v in times.items()) if rnd else
                        "round 0 (first visits): " + ", ".join(f"{k} {v:.2f} s"
                                                             for k, v in first_visit.items()))
            finally:
                browser.close()
        mem_end = tree_memory_mb(proc.pid)
    finally:
        h.stop_app(proc)
    server_log = log_file.read_text(errors="replace") if log_file.exists() else ""
    log_file.unlink(missing_ok=True)
    result["server_log_has_traceback"] = "Traceback" in server_log

    result["pages"] = {
        link: {"first_visit_seconds": first_visit.get(link),
               "warm_median_seconds": round(statistics.median(v), 2),
               "warm_runs_seconds": [round(x, 2) for x in v]}
        for link, v in times.items()}
    peak_rss = max(m["rss_mb"] for _, m in memory_samples + [("end", mem_end)])
    result["memory"] = {"end": mem_end, "max_rss_mb": peak_rss,
                        "peak_vmhwm_sum_mb": mem_end["peak_mb"],
                        "samples": [{"when": w, **m} for w, m in memory_samples]}
    worst = max(v["warm_median_seconds"] for v in result["pages"].values())
    result["targets"] = {
        "page_warm_max_seconds": {"value": worst, "target": WARM_TARGET_S, "op": "<=",
                                  "met": worst <= WARM_TARGET_S},
        "app_memory_mb": {"value": max(peak_rss, mem_end["peak_mb"]), "target": MEMORY_TARGET_MB,
                          "op": "<=", "met": max(peak_rss, mem_end["peak_mb"]) <= MEMORY_TARGET_MB},
    }
    for link, v in result["pages"].items():
        log(f"{link}: warm median {v['warm_median_seconds']:.2f} s")
    log(f"server memory: RSS {mem_end['rss_mb']:.0f} MB at the end, max {peak_rss:.0f} MB, "
        f"sum of peaks {mem_end['peak_mb']:.0f} MB")
    common.write_result("app_quick" if args.quick else "app", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
