"""Screenshots of every dashboard page for the README: ``make screenshots``.

Starts ``streamlit run app.py`` on a free port (bundle: ``PRODEMB_BUNDLE``, default
``artifacts/demo``), opens each page in headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright; no browser download), waits until it has rendered and saves
``docs/screenshots/<page>.png`` at 1400x900. The Classify page is shown with an example
product classified, the Neighbours page with its default word.

Usage: ``.venv/bin/python bench/screenshots.py [--out DIR] [--bundle PATH] [--height PX]``
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("PRODEMB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}

# (url path, file name, query); pages whose script does not exist are skipped.
# Classify is the app's default page, served at the root URL.
PAGES = [
    ("", "classify", {"text": "Pletený šál z merino vlny, sivý - knitted merino wool scarf"}),
    ("neighbours", "neighbours", {}),
    ("per_class_f1", "per_class_f1", {}),
    ("embedding_map", "embedding_map", {}),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(bundle: str | None, port: int, log_path: Path | None = None) -> subprocess.Popen:
    """``streamlit run app.py`` in the background; returns once it answers its health check."""
    env = dict(os.environ)
    # As `make run` starts it: two malloc arenas from the start (prodemb.serving,
    # bounded_allocators), not one per script thread that memory freed by a page stays in.
    env.setdefault("MALLOC_ARENA_MAX", "2")
    if bundle:
        env["PRODEMB_BUNDLE"] = bundle
    streamlit = Path(sys.executable).parent / "streamlit"
    cmd = [str(streamlit), "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}"
                               + (f"; see {log_path}" if log_path else ""))
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    raise RuntimeError("streamlit did not answer within 60 s")


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


BUSY_JS = """() => !!document.querySelector(
    '[data-testid="stStatusWidget"], [data-testid="stSkeleton"], [data-testid="stAppSkeleton"]')
    || !document.querySelector('[data-testid="stMainBlockContainer"] [data-testid="stElementContainer"]')"""


def wait_rendered(page, timeout: float = 60.0, settle: float = 2.0) -> float:
    """Wait until the page has rendered: content present, no "running" indicator and no
    loading skeleton for ``settle`` seconds (Streamlit shows its running indicator only
    after a short delay, and plotly/data grids paint after the run). Returns the seconds
    until the page first looked ready."""
    start = time.perf_counter()
    deadline = start + timeout
    ready_at = None
    while time.perf_counter() < deadline:
        if page.evaluate(BUSY_JS):
            ready_at = None
        elif ready_at is None:
            ready_at = time.perf_counter()
        elif time.perf_counter() - ready_at >= settle:
            return ready_at - start
        page.wait_for_timeout(100)
    raise TimeoutError(f"page did not finish rendering within {timeout:.0f} s")


WATCH_JS = """() => {
    window.__prodembT0 = performance.now();
    window.__prodembLast = window.__prodembT0;
    if (!window.__prodembObserver) {
        window.__prodembObserver = new MutationObserver(() => { window.__prodembLast = performance.now(); });
        window.__prodembObserver.observe(document.body, {subtree: true, childList: true,
                                                         attributes: true, characterData: true});
    }
}"""


def timed(page, action, timeout: float = 60.0, quiet: float = 1.5) -> float:
    """Seconds from ``action()`` (e.g. a click in the sidebar) until the page stopped
    changing: the last DOM mutation before ``quiet`` seconds without any, with no
    "running" indicator left."""
    page.evaluate(WATCH_JS)
    action()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        page.wait_for_timeout(100)
        busy = page.evaluate(BUSY_JS)
        idle_ms = page.evaluate("() => performance.now() - window.__prodembLast")
        if not busy and idle_ms >= quiet * 1000:
            return page.evaluate("() => (window.__prodembLast - window.__prodembT0) / 1000")
    raise TimeoutError(f"page kept changing for {timeout:.0f} s")


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--bundle", default=os.environ.get("PRODEMB_BUNDLE", str(ROOT / "artifacts" / "demo")))
    ap.add_argument("--height", type=int, default=VIEWPORT["height"],
                    help="viewport height (taller shows more of long pages)")
    args = ap.parse_args(argv)
    if not os.path.isfile(os.path.join(args.bundle, "manifest.json")):
        print(f"no bundle at {args.bundle}; run `make demo-artifacts` or pass --bundle", file=sys.stderr)
        return 2
    if not os.path.exists(CHROMIUM):
        print(f"Chromium not found at {CHROMIUM}; run `make browser`", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_app(args.bundle, port, out / ".streamlit.log")
    try:
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_page(viewport={**VIEWPORT, "height": args.height})
            page.goto(f"http://127.0.0.1:{port}/")
            wait_rendered(page)  # the first run loads the bundle
            for url_path, name, query in PAGES:
                if not (ROOT / "pages" / f"{name}.py").is_file():
                    print(f"skip {name}: pages/{name}.py does not exist")
                    continue
                qs = ("?" + urllib.parse.urlencode(query)) if query else ""
                page.goto(f"http://127.0.0.1:{port}/{url_path}{qs}")
                seconds = wait_rendered(page)
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
                print(f"{shown}  (rendered in {seconds:.1f} s)")
            browser.close()
    finally:
        stop_app(proc)
        (out / ".streamlit.log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
