"""Helpers of the reliability, security, browser and load tests (not a test module).

- :func:`hostile_bundle`: a bundle trained once per test session with the ``prodemb train``
  command line (``configs/tiny.json``, run in-process) on a small catalogue whose texts, ids
  and one category contain markup (see :func:`bad_inputs.write_hostile_catalogue`).
  Shared by several test modules through a module-level cache.
- :func:`start_app` / :func:`stop_app`: ``streamlit run app.py`` on a free local port,
  always stopped by the caller's fixture teardown (the whole process group, by id).
- :func:`rss_kb`: resident memory of a process from ``/proc/PID/status``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_screenshots():
    # bench/screenshots.py drives the app in Chromium for the docs; the tests share its
    # notion of "rendered" instead of keeping a copy.
    spec = importlib.util.spec_from_file_location("prodemb_screenshots", ROOT / "bench" / "screenshots.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_screenshots = _load_screenshots()
CHROMIUM, CHROMIUM_ARGS = _screenshots.CHROMIUM, _screenshots.CHROMIUM_ARGS
BIN = Path(sys.executable).parent
PRODEMB = str(BIN / "prodemb")
STREAMLIT = str(BIN / "streamlit")
TINY_CONFIG = ROOT / "configs" / "tiny.json"

_CACHE: dict[str, Path] = {}


# ---------------------------------------------------------------------- bundles
def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PRODEMB_PROGRESS"] = "0"
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.update(extra)
    return env


def hostile_bundle(tmp_path_factory) -> Path:
    """The bundle of the hostile catalogue, trained once per session by ``prodemb train``
    (:func:`prodemb.cli.main` in the test process: the same command line without a second
    interpreter start and a second compilation of UMAP's numba code; the installed
    executable is run by tests/test_reliability_cli.py and the kill tests of
    tests/test_security.py)."""
    if "hostile" in _CACHE and (_CACHE["hostile"] / "manifest.json").is_file():
        return _CACHE["hostile"]
    from bad_inputs import write_hostile_catalogue

    from prodemb.cli import main

    tmp = tmp_path_factory.mktemp("hostile")
    data = write_hostile_catalogue(tmp / "hostile.csv")
    out = tmp / "artifacts" / "hostile"
    err = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stderr(err):
        warnings.simplefilter("ignore")
        code = main(["train", "--data", str(data), "--out", str(out), "--config", str(TINY_CONFIG),
                     "--level-separator", ">>", "-q"])
    assert code == 0, err.getvalue()[-3000:]
    assert "Traceback" not in err.getvalue(), err.getvalue()[-3000:]
    _CACHE["hostile"] = out
    return out


def run_cli(capsys, argv: list[str]) -> tuple[int, str, str]:
    """``prodemb ARGV`` in this process (library warnings silenced): exit code, stdout, stderr."""
    from prodemb.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, err: str, command: str, pattern: str) -> str:
    """Exit status 2 and one ``prodemb CMD: error: ...`` line matching ``pattern``; the line."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(f"prodemb {command}: error: "), err
    assert re.search(pattern, lines[-1], re.I), f"{pattern!r} not in: {lines[-1]}"
    return lines[-1]


def fast_config(path: Path) -> Path:
    """``configs/tiny.json`` without maps (the slowest stage), for runs that are killed anyway."""
    config = json.loads(TINY_CONFIG.read_text())
    config["maps"] = {"methods": []}
    path.write_text(json.dumps(config))
    return path


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ---------------------------------------------------------------------- app server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(bundle: Path | str, log_path: Path, port: int | None = None,
              env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on 127.0.0.1; returns ``(process, base URL)`` once healthy."""
    port = port or free_port()
    cmd = [STREAMLIT, "run", str(ROOT / "app.py"), "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    run_env = cli_env(PRODEMB_BUNDLE=str(bundle), **(env or {}))
    log = open(log_path, "wb")  # noqa: SIM115 - closed by stop_app
    proc = subprocess.Popen(cmd, cwd=ROOT, env=run_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    proc._log = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            stop_app(proc)
            raise RuntimeError(f"streamlit exited with code {proc.returncode}: "
                               + Path(log_path).read_text(errors="replace")[-2000:])
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
    stop_app(proc)
    raise RuntimeError("streamlit did not answer its health check within 90 s")


def stop_app(proc: subprocess.Popen) -> None:
    """Stop the server started by :func:`start_app` (its own process group, by id)."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(15)
    except ProcessLookupError:
        pass
    finally:
        log = getattr(proc, "_log", None)
        if log is not None:
            log.close()


def rss_kb(pid: int) -> int:
    """VmRSS of ``pid`` in kB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    pytest.importorskip("playwright.sync_api")


#: True while the page shows Streamlit's running indicator or a loading skeleton.
#: Elements that could run script: inline event handlers, javascript: URLs, <script> in the
#: app's content, images pointing at "x". Streamlit's own markup has none of these.
SCRIPTABLE_JS = """() => {
    const out = [];
    for (const e of document.querySelectorAll('body *')) {
        for (const a of e.attributes) {
            const v = (a.value || '').toLowerCase();
            if (a.name.startsWith('on') || (['src', 'href', 'action', 'formaction'].includes(a.name)
                    && v.startsWith('javascript:'))) out.push(e.outerHTML.slice(0, 200));
        }
        if (e.tagName === 'IMG' && e.getAttribute('src') === 'x') out.push(e.outerHTML.slice(0, 200));
        if (e.tagName === 'SCRIPT' && /alert/.test(e.textContent || '')) out.push(e.outerHTML.slice(0, 200));
        if (e.tagName === 'IFRAME' && /javascript:/i.test(e.getAttribute('src') || '')) out.push(e.outerHTML.slice(0, 200));
    }
    return out;
}"""


def wait_rendered(page, timeout: float = 60.0, settle: float = 1.0) -> float:
    """Wait until the app is idle (no running indicator / skeleton) for ``settle`` seconds."""
    return _screenshots.wait_rendered(page, timeout, settle)
