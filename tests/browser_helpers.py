"""What the browser tests share: the helpers of ``bench/screenshots.py`` (start and stop
the app, launch Debian's Chromium) and an app server for a module's tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def screenshot_helpers():
    """``bench/screenshots.py`` as a module; the test is skipped without Chromium or
    Playwright."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (install the Debian package: make browser)")
    pytest.importorskip("playwright.sync_api")
    spec = importlib.util.spec_from_file_location("prodemb_screenshots", ROOT / "bench" / "screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def app_server(helpers, bundle_path: str, tmp_path_factory, env: dict | None = None):
    """``streamlit run app.py`` on a free port with ``env`` added to its environment;
    yields its URL, always stops it, and fails if its log holds a traceback."""
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    port = helpers.free_port()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (env or {}).items():
            mp.setenv(name, str(value))  # the server's environment
        proc = helpers.start_app(bundle_path, port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        helpers.stop_app(proc)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def launched_browser(helpers):
    """A context manager: headless Chromium through Playwright, closed at the end."""
    @contextlib.contextmanager
    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = helpers.launch_browser(p)
            try:
                yield b
            finally:
                b.close()
    return run()
