"""Many sessions at once: ``bench/results/sessions.json`` (issue 17, item 6).

Starts ``streamlit run app.py`` on a free port with the shipped demo bundle
(``artifacts/demo``; ``--bundle DIR`` for another), then:

1. a first session on the fresh server loads the Classify page and classifies one
   product (it loads the bundle), then a second session does the same on the warm
   server alone: the "one session alone" baseline;
2. :data:`SESSIONS` new browser contexts (each its own Streamlit session, one headless
   Debian Chromium driven by Playwright's async API) at the same time each open ``/``
   (the Classify page), type a different catalogue product, press *Classify* and wait
   for the page to show its predicted path. **Time to first classification** is the
   time from the session's first page request to that result being shown.

Meanwhile a separate prober process (its own interpreter, so the benchmark's own work
does not delay it) measures how responsive the server stays: every
:data:`PROBE_INTERVAL` seconds a websocket ping on ``/_stcore/stream`` (answered by the
server's event loop; a browser or client whose pings go unanswered for long is
dropped) and an HTTP ``GET /_stcore/health``. A probe answered later than
:data:`MISSED_AFTER` seconds, or never, is **missed**.

The server's resident memory (``VmRSS`` of the server process and its children, from
``/proc``) is read at start, after the warm-up (bundle loaded: "before"), after the
concurrent sessions with their sessions still open ("after") and once they have
closed; the added memory per session is (after - before) / sessions. The server's CPU
time during the concurrent phase is recorded too (per session: a load-independent
measure of the work one session costs).

The sessions do not draw the Plotly charts (``--draw-charts`` to draw them): on a
2-core machine 30 headless tabs drawing three charts each measure the browser more
than the server (see ``tests/test_load.py``); the server still builds, serialises and
sends every chart.

Targets: p95 time to first classification <= 5 s; 0 pings missed.

Usage: ``.venv/bin/python bench/bench_sessions.py [--bundle DIR] [--sessions N] [--quick]``
(``--quick``: 5 sessions, ``sessions_quick.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import log  # noqa: E402

SESSIONS = 30
QUICK_SESSIONS = 5
PROBE_INTERVAL = 0.5
#: A probe answered later than this (or never) is missed.
MISSED_AFTER = 5.0
P95_TARGET_S = 5.0
MISSED_TARGET = 0
#: Upper bound for one session (the benchmark fails instead of hanging).
SESSION_TIMEOUT_S = 300.0
#: Streamlit's Plotly component, loaded on demand by the browser (see the docstring).
PLOTLY_CHUNK = "**/static/js/PlotlyChart*"
LOCAL_ONLY = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"

#: The page shows this text as classified and a predicted path (an ``h4``), no exception.
RESULT_JS = """(text) => {
    const shown = document.querySelector('[data-testid="stText"]');
    const h4 = document.querySelector('[data-testid="stMarkdownContainer"] h4');
    return !!(shown && shown.innerText.trim() === text && h4 && h4.innerText.trim())
        && !document.querySelector('[data-testid="stException"]');
}"""


def _module(name: str, file: str):
    spec = importlib.util.spec_from_file_location(name, common.ROOT / "bench" / file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------- /proc
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its descendants (from /proc)."""
    from bench_app import descendants

    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return total


def browser_cpu_seconds(*not_browser: int) -> float:
    """CPU seconds of this process's children and their descendants except ``not_browser``
    (the server, the prober): Playwright's driver and Chromium."""
    me = os.getpid()
    children: list[int] = []
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            with open(f"/proc/{me}/task/{task}/children", encoding="ascii") as f:
                children += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return sum(cpu_seconds(c) for c in set(children) if c not in not_browser)


# ---------------------------------------------------------------------- the prober
def _prober(base_url: str, stop, conn, interval: float, give_up: float) -> None:
    """Runs in its own process: websocket pings and health checks until ``stop`` is set;
    sends ``{"ws": [...], "http": [...], "errors": [...]}`` through ``conn``. Each probe
    is ``[sent (time.time()), latency seconds or None]``."""
    asyncio.run(_probe_all(base_url, stop, conn, interval, give_up))


async def _probe_all(base_url: str, stop, conn, interval: float, give_up: float) -> None:
    ws_probes: list[list] = []
    http_probes: list[list] = []
    errors: list[str] = []
    host, port = base_url.removeprefix("http://").split(":")
    done = asyncio.Event()

    async def stopper() -> None:
        while not stop.is_set():
            await asyncio.sleep(0.1)
        done.set()

    async def timed(record: list, awaitable) -> None:
        start = time.perf_counter()
        try:
            await asyncio.wait_for(awaitable, give_up)
            record[1] = time.perf_counter() - start
        except Exception as e:  # never answered: stays None (missed)
            if not isinstance(e, TimeoutError):
                errors.append(f"{type(e).__name__}: {e}"[:200])

    async def pinger() -> None:
        from websockets.asyncio.client import connect

        tasks = []
        while not done.is_set():
            try:
                async with connect(f"ws://{host}:{port}/_stcore/stream", ping_interval=None,
                                   open_timeout=give_up, close_timeout=1,
                                   max_size=None) as ws:
                    async def drain() -> None:  # keep reading so control frames are processed
                        async for _ in ws:
                            pass
                    reader = asyncio.create_task(drain())
                    while not done.is_set():
                        record = [time.time(), None]
                        ws_probes.append(record)
                        waiter = await ws.ping()
                        tasks.append(asyncio.create_task(timed(record, waiter)))
                        try:
                            await asyncio.wait_for(done.wait(), interval)
                        except TimeoutError:
                            pass
                    await asyncio.gather(*tasks, return_exceptions=True)
                    reader.cancel()
            except Exception as e:  # the connection failed or dropped: reconnect
                errors.append(f"websocket: {type(e).__name__}: {e}"[:200])
                ws_probes.append([time.time(), None])
                await asyncio.sleep(interval)
        await asyncio.gather(*tasks, return_exceptions=True)

    async def health_once() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(f"GET /_stcore/health HTTP/1.1\r\nHost: {host}:{port}\r\n"
                         "Connection: close\r\n\r\n".encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " not in status:
                raise RuntimeError(f"health answered {status!r}")
        finally:
            writer.close()

    async def health() -> None:
        tasks = []
        while not done.is_set():
            record = [time.time(), None]
            http_probes.append(record)
            tasks.append(asyncio.create_task(timed(record, health_once())))
            try:
                await asyncio.wait_for(done.wait(), interval)
            except TimeoutError:
                pass
        await asyncio.gather(*tasks, return_exceptions=True)

    await asyncio.gather(stopper(), pinger(), health())
    conn.send({"ws": ws_probes, "http": http_probes, "errors": errors[:50]})
    conn.close()


def probe_summary(probes: list[list], start: float, end: float) -> dict:
    """The probes sent between ``start`` and ``end`` (time.time()): counts, latencies, missed."""
    chosen = [p for p in probes if start <= p[0] <= end]
    answered = [p[1] for p in chosen if p[1] is not None]
    missed = sum(1 for p in chosen if p[1] is None or p[1] > MISSED_AFTER)
    out = {"sent": len(chosen), "answered": len(answered), "missed": missed,
           "never_answered": sum(1 for p in chosen if p[1] is None)}
    if answered:
        ordered = sorted(answered)
        out.update({"p50_ms": round(1000 * statistics.median(ordered), 1),
                    "p95_ms": round(1000 * ordered[min(len(ordered) - 1,
                                                       int(0.95 * (len(ordered) - 1) + 0.5))], 1),
                    "max_ms": round(1000 * ordered[-1], 1)})
    # The longest stretch without an answered probe (a stalled event loop).
    stall, last_ok = 0.0, start
    for sent, lat in sorted(chosen):
        if lat is not None and lat <= MISSED_AFTER:
            stall = max(stall, sent + lat - last_ok)
            last_ok = sent + lat
    out["longest_gap_seconds"] = round(max(stall, (end - last_ok) if chosen else 0.0), 2)
    return out


# ---------------------------------------------------------------------- the sessions
def pick_texts(bundle: Path, n: int) -> list[str]:
    """``n`` distinct catalogue texts (test split first), whitespace collapsed, 20-300
    characters: what the page shows back as the classified text."""
    import numpy as np
    import pandas as pd

    p = pd.read_parquet(bundle / "products.parquet", columns=["text", "split"])
    texts = p["text"].astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
    pool = texts[(p["split"] == "test") & texts.str.len().between(20, 300)]
    if len(pool) < n:
        pool = texts[texts.str.len().between(5, 300)]
    pool = list(dict.fromkeys(pool))
    if len(pool) < n:
        raise SystemExit(f"the bundle has only {len(pool)} usable distinct texts, need {n}")
    rng = np.random.default_rng(0)
    return [pool[i] for i in sorted(rng.choice(len(pool), n, replace=False))]


async def first_classification(context, url: str, text: str) -> dict:
    """Open ``/`` in a new page of ``context``, classify ``text``; seconds per step."""
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(url + "/", timeout=SESSION_TIMEOUT_S * 1000)
    await page.get_by_role("heading", name="Classify a product").wait_for(
        timeout=SESSION_TIMEOUT_S * 1000)
    t_page = time.perf_counter()
    await page.get_by_role("textbox", name="Title and description").fill(text)
    t_click = time.perf_counter()
    await page.get_by_role("button", name="Classify", exact=True).click()
    await page.wait_for_function(RESULT_JS, arg=text, timeout=SESSION_TIMEOUT_S * 1000,
                                 polling=100)
    t_end = time.perf_counter()
    return {"seconds": t_end - t0, "page_seconds": t_page - t0, "classify_seconds": t_end - t_click}


async def protocol_session(url: str, text: str) -> dict:
    """One session without a browser: Streamlit's own websocket protocol, as the page's
    JavaScript speaks it. Opens ``/_stcore/stream``, asks for a run of the Classify page
    with ``?text=...`` (the deep link classifies on the first run) and reads the server's
    messages until the predicted path (the ``####`` line) arrives and the run finishes."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://") + "/_stcore/stream"
    t0 = time.perf_counter()
    async with connect(ws_url, max_size=None, ping_interval=None, open_timeout=SESSION_TIMEOUT_S,
                       subprotocols=["streamlit"]) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = urllib.parse.urlencode({"text": text})
        msg.rerun_script.page_name = ""
        await ws.send(msg.SerializeToString())
        result = None
        async for raw in ws:
            fwd = ForwardMsg()
            fwd.ParseFromString(raw)
            kind = fwd.WhichOneof("type")
            if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                el = fwd.delta.new_element
                if el.WhichOneof("type") == "exception":
                    raise RuntimeError(f"the page shows an exception: {el.exception.message[:200]}")
                if (result is None and el.WhichOneof("type") == "markdown"
                        and el.markdown.body.startswith("#### ")):
                    result = time.perf_counter() - t0
            elif kind == "script_finished" and result is not None:
                return {"seconds": result, "run_seconds": time.perf_counter() - t0}
    raise RuntimeError("the connection closed before the classification was shown")


async def run_sessions(url: str, texts: list[str], sessions: int, draw_charts: bool,
                       server_pid: int, prober_pid: int, marks: dict) -> dict:
    from bench_app import tree_memory_mb
    from playwright.async_api import async_playwright

    h = _module("prodemb_screenshots", "screenshots.py")
    out: dict = {"memory": {}}

    async def new_context(browser):
        ctx = await browser.new_context(viewport={"width": 1200, "height": 800})
        ctx.set_default_timeout(SESSION_TIMEOUT_S * 1000)
        if not draw_charts:
            await ctx.route(PLOTLY_CHUNK, lambda route: route.abort())
        return ctx

    async def concurrently(coros) -> list:
        return await asyncio.wait_for(asyncio.gather(*coros, return_exceptions=True),
                                      SESSION_TIMEOUT_S + 60)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=h.CHROMIUM, headless=True,
                                          args=h.CHROMIUM_ARGS + [LOCAL_ONLY])
        try:
            marks["warm_up_start"] = time.time()
            for key, text in (("first_session_fresh_server", texts[0]),
                              ("one_session_alone", texts[1])):
                ctx = await new_context(browser)
                r = await first_classification(ctx, url, text)
                await ctx.close()
                out[key] = {k: round(v, 2) for k, v in r.items()}
                log(f"{key.replace('_', ' ')}: {r['seconds']:.2f} s to the first classification")
            r = await protocol_session(url, texts[2])
            out["one_session_alone_server_only"] = {k: round(v, 2) for k, v in r.items()}
            marks["warm_up_end"] = time.time()
            await asyncio.sleep(2.0)
            out["memory"]["before"] = tree_memory_mb(server_pid)

            # The browsers: every session opens the page and classifies its own product.
            contexts = [await new_context(browser) for _ in range(sessions)]
            own = texts[3: 3 + sessions]
            cpu0 = cpu_seconds(server_pid)
            # The browser (Playwright's driver and Chromium): this process's other children.
            browser_cpu0 = browser_cpu_seconds(server_pid, prober_pid)
            marks["sessions_start"] = time.time()
            t = time.perf_counter()
            results = await concurrently(first_classification(c, url, own[i])
                                         for i, c in enumerate(contexts))
            out["wall_seconds"] = round(time.perf_counter() - t, 2)
            marks["sessions_end"] = time.time()
            out["server_cpu_seconds"] = round(cpu_seconds(server_pid) - cpu0, 2)
            out["browser_cpu_seconds"] = round(
                browser_cpu_seconds(server_pid, prober_pid) - browser_cpu0, 2)
            await asyncio.sleep(2.0)
            out["memory"]["after"] = tree_memory_mb(server_pid)
            for c in contexts:
                await c.close()
        finally:
            await browser.close()
    out["sessions"] = _outcomes(results)
    await asyncio.sleep(5.0)
    out["memory"]["after_sessions_closed"] = tree_memory_mb(server_pid)

    # The server alone: as many sessions again, without browsers (other products).
    own = texts[3 + sessions: 3 + 2 * sessions]
    cpu0 = cpu_seconds(server_pid)
    marks["server_only_start"] = time.time()
    t = time.perf_counter()
    results = await concurrently(protocol_session(url, own[i]) for i in range(sessions))
    out["server_only_wall_seconds"] = round(time.perf_counter() - t, 2)
    marks["server_only_end"] = time.time()
    out["server_only_cpu_seconds"] = round(cpu_seconds(server_pid) - cpu0, 2)
    out["server_only_sessions"] = _outcomes(results)
    await asyncio.sleep(2.0)
    out["memory"]["end"] = tree_memory_mb(server_pid)
    return out


def _outcomes(results: list) -> list[dict]:
    return [r if isinstance(r, dict) else {"error": f"{type(r).__name__}: {str(r)[:300]}"}
            for r in results]


def spread(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)

    def q(x: float) -> float:
        k = (len(ordered) - 1) * x
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    return {"p50": round(q(0.5), 2), "p95": round(q(0.95), 2), "max": round(ordered[-1], 2),
            "min": round(ordered[0], 2), "mean": round(statistics.fmean(ordered), 2)}


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", help="bundle directory (default: artifacts/demo)")
    ap.add_argument("--sessions", type=int, help=f"concurrent sessions (default {SESSIONS})")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_SESSIONS} sessions")
    ap.add_argument("--draw-charts", action="store_true",
                    help="let the browsers draw the Plotly charts")
    ap.add_argument("--tag", default="", help="suffix of the result name (sessions_TAG.json)")
    args = ap.parse_args(argv)
    sessions = args.sessions or (QUICK_SESSIONS if args.quick else SESSIONS)
    name = "sessions" + ("_quick" if args.quick else "") + (f"_{args.tag}" if args.tag else "")

    h = _module("prodemb_screenshots", "screenshots.py")
    if not os.path.exists(h.CHROMIUM):
        print(f"Chromium not found at {h.CHROMIUM}; run `make browser`", file=sys.stderr)
        common.write_result(name, {"skipped": f"Chromium not found at {h.CHROMIUM}"})
        return 0
    from bench_app import tree_memory_mb

    bundle = Path(args.bundle) if args.bundle else common.ROOT / "artifacts" / "demo"
    if not (bundle / "manifest.json").is_file():
        raise SystemExit(f"no bundle at {bundle}")
    texts = pick_texts(bundle, 2 * sessions + 3)
    log(f"bundle {bundle}, {sessions} concurrent sessions")

    log_file = Path(tempfile.gettempdir()) / f"prodemb-bench-sessions-{os.getpid()}.log"
    port = h.free_port()
    url = f"http://127.0.0.1:{port}"
    t = time.perf_counter()
    proc = h.start_app(str(bundle), port, log_file)
    result: dict = {"bundle": str(bundle), "sessions": sessions, "draw_charts": args.draw_charts,
                    "server_start_seconds": round(time.perf_counter() - t, 2),
                    "probe": {"interval_seconds": PROBE_INTERVAL,
                              "missed_after_seconds": MISSED_AFTER}}
    memory = {"start": tree_memory_mb(proc.pid)}
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    receiver, sender = ctx.Pipe(duplex=False)
    prober = ctx.Process(target=_prober, args=(url, stop, sender, PROBE_INTERVAL,
                                               MISSED_AFTER * 4), daemon=True)
    marks: dict = {}
    try:
        prober.start()
        time.sleep(1.0)
        run = asyncio.run(run_sessions(url, texts, sessions, args.draw_charts, proc.pid,
                                       prober.pid, marks))
        marks["end"] = time.time()
    finally:
        stop.set()
        probes = receiver.recv() if receiver.poll(MISSED_AFTER * 4 + 30) else None
        prober.join(10)
        if prober.is_alive():
            prober.terminate()
        h.stop_app(proc)
    server_log = log_file.read_text(errors="replace") if log_file.exists() else ""
    log_file.unlink(missing_ok=True)

    ok = [s for s in run["sessions"] if "seconds" in s]
    failed = [s["error"] for s in run["sessions"] if "error" in s]
    ok_server = [s for s in run["server_only_sessions"] if "seconds" in s]
    failed += [f"server only: {s['error']}" for s in run["server_only_sessions"] if "error" in s]
    memory.update(run["memory"])
    added = (memory["after"]["rss_mb"] - memory["before"]["rss_mb"]) / sessions
    result.update({
        "first_session_fresh_server": run["first_session_fresh_server"],
        "one_session_alone": run["one_session_alone"],
        "one_session_alone_server_only": run["one_session_alone_server_only"],
        "succeeded": len(ok), "failed": len(failed), "failures": failed[:10],
        "time_to_first_classification_seconds": spread([s["seconds"] for s in ok]),
        "page_seconds": spread([s["page_seconds"] for s in ok]),
        "classify_seconds": spread([s["classify_seconds"] for s in ok]),
        "per_session_seconds": [round(s["seconds"], 2) for s in ok],
        "wall_seconds": run["wall_seconds"],
        "server_cpu_seconds": run["server_cpu_seconds"],
        "server_cpu_seconds_per_session": round(run["server_cpu_seconds"] / sessions, 3),
        "browser_cpu_seconds": run["browser_cpu_seconds"],
        "browser_cpu_seconds_per_session": round(run["browser_cpu_seconds"] / sessions, 3),
        "server_only": {
            "succeeded": len(ok_server),
            "time_to_first_classification_seconds": spread([s["seconds"] for s in ok_server]),
            "run_seconds": spread([s["run_seconds"] for s in ok_server]),
            "wall_seconds": run["server_only_wall_seconds"],
            "server_cpu_seconds": run["server_only_cpu_seconds"],
            "server_cpu_seconds_per_session": round(run["server_only_cpu_seconds"] / sessions, 3),
        },
        "memory": {**memory, "added_per_session_mb": round(added, 1)},
        "server_log_has_traceback": "Traceback" in server_log,
    })
    if probes is None:
        result["probe"]["error"] = "the prober sent no results"
        ws = http = ws_server = {"sent": 0, "missed": None}
    else:
        window = (marks["sessions_start"], marks["sessions_end"])
        ws = probe_summary(probes["ws"], *window)
        http = probe_summary(probes["http"], *window)
        server_window = (marks["server_only_start"], marks["server_only_end"])
        ws_server = probe_summary(probes["ws"], *server_window)
        result["probe"].update({
            "websocket_ping": ws, "http_health": http,
            "server_only": {"websocket_ping": ws_server,
                            "http_health": probe_summary(probes["http"], *server_window)},
            "websocket_ping_whole_run": probe_summary(probes["ws"], marks["warm_up_start"],
                                                      marks["end"]),
            "errors": probes["errors"]})
    p95 = result["time_to_first_classification_seconds"].get("p95")
    p95_server = result["server_only"]["time_to_first_classification_seconds"].get("p95")
    missed = None if ws.get("missed") is None else ws["missed"] + ws_server["missed"]
    result["targets"] = {
        "sessions_p95_first_classification_seconds": {
            "value": p95, "target": P95_TARGET_S, "op": "<=",
            "met": p95 is not None and len(ok) == sessions and p95 <= P95_TARGET_S},
        "sessions_server_only_p95_first_classification_seconds": {
            "value": p95_server, "target": P95_TARGET_S, "op": "<=",
            "met": p95_server is not None and len(ok_server) == sessions
            and p95_server <= P95_TARGET_S},
        "sessions_pings_missed": {
            "value": missed, "target": MISSED_TARGET, "op": "<=",
            "met": missed is not None and missed <= MISSED_TARGET},
    }
    tt = result["time_to_first_classification_seconds"]
    ts = result["server_only"]["time_to_first_classification_seconds"]
    log(f"{len(ok)}/{sessions} browser sessions: time to first classification p50 {tt.get('p50')} s, "
        f"p95 {tt.get('p95')} s, max {tt.get('max')} s; CPU per session: server "
        f"{result['server_cpu_seconds_per_session']} s, browser "
        f"{result['browser_cpu_seconds_per_session']} s")
    log(f"{len(ok_server)}/{sessions} sessions without browsers: p50 {ts.get('p50')} s, "
        f"p95 {ts.get('p95')} s, max {ts.get('max')} s; server CPU "
        f"{result['server_only']['server_cpu_seconds_per_session']} s per session")
    log(f"websocket pings (browser phase): {ws.get('sent')} sent, {ws.get('missed')} missed, max "
        f"{ws.get('max_ms')} ms; without browsers: {ws_server.get('missed')} missed, max "
        f"{ws_server.get('max_ms')} ms; health: {http.get('missed')} missed, max {http.get('max_ms')} ms")
    log(f"server RSS: start {memory['start']['rss_mb']:.0f} MB, before {memory['before']['rss_mb']:.0f}"
        f" MB, after {memory['after']['rss_mb']:.0f} MB ({added:+.1f} MB per session), "
        f"closed {memory['after_sessions_closed']['rss_mb']:.0f} MB, end {memory['end']['rss_mb']:.0f} MB")
    if failed:
        log(f"failures: {failed[:3]}")
    common.write_result(name, result)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
