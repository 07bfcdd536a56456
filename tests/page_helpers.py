"""Running one dashboard page under Streamlit's AppTest (shared by the page tests)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_page(page: str, bundle_path: str, query: dict | None = None, state: dict | None = None):
    """AppTest of ``pages/<page>.py`` on ``bundle_path``, with query parameters and session
    state set first; fails on any exception or error element."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=60)
    at.session_state["bundle_path"] = bundle_path
    for k, v in (state or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at
