"""The dashboard in headless Chromium: ``bench/results/app.json``.

Starts ``streamlit run app.py`` on a free port with the demo bundle (``--bundle``;
default: the bundle of ``bench/bench_training.py``, else ``artifacts/demo``), using the
server and browser helpers of ``bench/screenshots.py`` (Debian's ``/usr/bin/chromium``
driven by Playwright; nothing is downloaded). Measures, on a fresh server each time:

* server start: from ``streamlit run`` to its health check answering;
* first meaningful render: opening ``/`` in a fresh browser on the fresh server until
  the real navigation (the sidebar's "Classify" link, not Streamlit's list of the
  ``pages/`` files) and the Classify form (heading and text box) are shown;
* first render done: the same until nothing is running any more (the bundle loaded, the
  examples shown);
* a new session on the warm server: the same in a new browser context;
* per page, first visit and warm: switching pages through the sidebar navigation, from
  the click to the page's heading being shown and no "running" indicator or skeleton
  left (the first round visits every page once; ``--rounds`` further rounds are timed and
  the median is reported);
* requests to any origin other than the app's during the whole walk (Playwright);
* warnings in the server's log of that walk (``WARNING``, ``Inotify``, tracebacks);
* the server's resident memory: ``VmRSS`` of the server process and all its
  descendants (from ``/proc``), after each page and at the end of the walk, and the sum
  of their peaks (``VmHWM``).

The whole run is repeated with one CPU-bound background process (a busy loop on one of
the cores) unless ``--no-loaded``; its numbers are reported beside the quiet ones
(``loaded``), the targets are judged on the quiet run.

Targets (issue 16): first meaningful render <= 3 s; first visit of every page <= 3 s;
every page warm <= 1 s; no request outside the app; no warning in the server log; server
memory <= 700 MB (its peak over the walk, so also after it).

Usage: ``.venv/bin/python bench/bench_app.py [--bundle DIR] [--rounds N] [--quick] [--no-loaded]``
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
FIRST_RENDER_TARGET_S = 3.0
FIRST_VISIT_TARGET_S = 3.0
WARM_TARGET_S = 1.0
MEMORY_TARGET_MB = 700.0
#: Lines of the server log that count as warnings.
WARNING_MARKERS = ("WARNING", "Inotify", "Traceback", "Error")


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


# ---------------------------------------------------------------------- one run
def walk(h, bundle: Path, rounds: int) -> dict:
    """Fresh server, fresh browser: first render, a new session, every page first and warm,
    outside requests, log warnings and memory. Returns the measurements."""
    from playwright.sync_api import sync_playwright

    result: dict = {}
    log_file = Path(tempfile.gettempdir()) / f"prodemb-bench-app-{os.getpid()}.log"
    port = h.free_port()
    t = time.perf_counter()
    proc = h.start_app(str(bundle), port, log_file)
    result["server_start_seconds"] = round(time.perf_counter() - t, 2)
    url = f"http://127.0.0.1:{port}"
    own = f"127.0.0.1:{port}"
    outside: list[str] = []

    def record(request) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != own:
            outside.append(request.url)

    memory_samples = []
    try:
        with sync_playwright() as p:
            browser = h.launch_browser(p)
            try:
                page = browser.new_page(viewport=h.VIEWPORT)
                page.on("request", record)
                nav = page.locator("[data-testid='stSidebarNav']")
                t = time.perf_counter()
                page.goto(url + "/")
                # the real navigation and the Classify form, whatever else still loads
                nav.get_by_text(PAGES[0][0], exact=True).wait_for(timeout=180_000)
                page.get_by_role("heading", name=PAGES[0][1], exact=True).wait_for(timeout=180_000)
                page.get_by_label("Title and description").wait_for(timeout=180_000)
                meaningful = time.perf_counter() - t
                result["legacy_navigation_seen"] = nav.get_by_text("app", exact=True).count() > 0
                first = time.perf_counter() - t + h.wait_rendered(page, timeout=180)
                result["first_meaningful_render_seconds"] = round(meaningful, 2)
                result["first_render_seconds"] = round(first, 2)
                memory_samples.append(("after first render", tree_memory_mb(proc.pid)))
                log(f"first meaningful render {meaningful:.2f} s, done {first:.2f} s")

                ctx = browser.new_context(viewport=h.VIEWPORT)
                other = ctx.new_page()
                other.on("request", record)
                t = time.perf_counter()
                other.goto(url + "/")
                other.get_by_role("heading", name=PAGES[0][1], exact=True).wait_for(timeout=60_000)
                result["new_session_render_seconds"] = round(
                    time.perf_counter() - t + h.wait_rendered(other), 2)
                ctx.close()
                log(f"new session {result['new_session_render_seconds']:.2f} s")

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
    warnings = [line for line in server_log.splitlines() if any(m in line for m in WARNING_MARKERS)]
    result["server_log_warnings"] = len(warnings)
    result["server_log_warning_examples"] = warnings[:5]
    result["outside_requests"] = len(outside)
    result["outside_request_examples"] = outside[:5]
    result["pages"] = {
        link: {"first_visit_seconds": first_visit.get(link),
               "warm_median_seconds": round(statistics.median(v), 2),
               "warm_runs_seconds": [round(x, 2) for x in v]}
        for link, v in times.items()}
    peak_rss = max(m["rss_mb"] for _, m in memory_samples + [("end", mem_end)])
    result["memory"] = {"end": mem_end, "end_rss_mb": mem_end["rss_mb"], "max_rss_mb": peak_rss,
                        "peak_vmhwm_sum_mb": mem_end["peak_mb"],
                        "samples": [{"when": w, **m} for w, m in memory_samples]}
    return result


def targets(r: dict) -> dict:
    worst_warm = max(v["warm_median_seconds"] for v in r["pages"].values())
    worst_first = max(v["first_visit_seconds"] for v in r["pages"].values())

    def row(value, target, op="<="):
        met = value <= target if op == "<=" else value >= target
        return {"value": value, "target": target, "op": op, "met": bool(met)}

    return {
        "first_meaningful_render_seconds": row(r["first_meaningful_render_seconds"],
                                               FIRST_RENDER_TARGET_S),
        "page_first_visit_max_seconds": row(worst_first, FIRST_VISIT_TARGET_S),
        "page_warm_max_seconds": row(worst_warm, WARM_TARGET_S),
        "outside_requests": row(r["outside_requests"], 0),
        "server_log_warnings": row(r["server_log_warnings"], 0),
        # the peak over the walk (at least what it holds after it)
        "app_memory_mb": row(max(r["memory"]["max_rss_mb"], r["memory"]["peak_vmhwm_sum_mb"]),
                             MEMORY_TARGET_MB),
    }


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds over all pages")
    ap.add_argument("--tag", default="", help="suffix of the result file name, for another "
                    "bundle (e.g. --tag _x writes app_x.json, which the report ignores)")
    ap.add_argument("--quick", action="store_true", help="one timed round")
    ap.add_argument("--no-loaded", action="store_true",
                    help="skip the repeat with one CPU-bound background process")
    args = ap.parse_args(argv)
    rounds = 1 if args.quick else args.rounds

    h = helpers()
    if not os.path.exists(h.CHROMIUM):
        print(f"Chromium not found at {h.CHROMIUM}; run `make browser`", file=sys.stderr)
        common.write_result(("app_quick" if args.quick else "app") + args.tag,
                            {"skipped": f"Chromium not found at {h.CHROMIUM}"})
        return 0
    from bench_speed import find_bundle

    bundle = find_bundle(args.bundle, args.quick)
    log(f"bundle {bundle}")
    result: dict = {"bundle": str(bundle), "rounds": rounds, "quick": args.quick}
    result.update(walk(h, bundle, rounds))
    result["targets"] = targets(result)
    if not args.no_loaded:
        log("again, with one CPU-bound background process")
        busy = common.start_busy_process()
        try:
            loaded = walk(h, bundle, rounds)
        finally:
            common.stop_busy_process(busy)
        loaded["targets"] = targets(loaded)
        result["loaded"] = loaded
    for name, t in result["targets"].items():
        beside = (result.get("loaded") or {}).get("targets", {}).get(name, {}).get("value")
        log(f"{name}: {t['value']} (target {t['op']} {t['target']}, "
            f"{'met' if t['met'] else 'MISSED'})"
            + ("" if beside is None else f"; with a background process {beside}"))
    common.write_result(("app_quick" if args.quick else "app") + args.tag, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
