"""Bundles for the dashboard: finding them, loading them once per server process,
the one a session has chosen (session state), and the frame every page runs in.

Environment:
    PRODEMB_ARTIFACTS: directory searched for bundles (default ``artifacts`` next to app.py).
    PRODEMB_BUNDLE: name or path of the bundle selected by default (default ``demo``).
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from ..serving import bounded_allocators, single_threaded_blas
from .text import md_escape, shorten

if TYPE_CHECKING:
    from ..bundle import Bundle

# prodemb.bundle (torch, pandas) is imported where it is needed, not here: the frame and
# a page's heading and form are drawn before the first model is loaded (see prodemb.ui).

APP_ROOT = Path(__file__).resolve().parent.parent.parent
#: Key of the chosen bundle's path in ``st.session_state``: plain session state, kept
#: across pages (the sidebar selector, :data:`SELECT_KEY`, is drawn by each page, and a
#: widget drawn by a page is that page's: its state does not survive a page switch).
SESSION_KEY = "bundle_path"
#: Key of the sidebar's bundle selector (set from :data:`SESSION_KEY` on every run).
SELECT_KEY = "bundle_select"
#: Key of the last classified text in ``st.session_state`` (set by Classify, read by
#: Embedding map).
CLASSIFIED_TEXT_KEY = "classified_text"


# ---------------------------------------------------------------------- discovery
def artifacts_dir() -> str:
    return os.environ.get("PRODEMB_ARTIFACTS", str(APP_ROOT / "artifacts"))


def available_bundles() -> list[str]:
    """Paths of the bundles found under the artifacts directory, plus PRODEMB_BUNDLE if a path."""
    from ..bundle import find_bundles

    found = find_bundles(artifacts_dir())
    extra = os.environ.get("PRODEMB_BUNDLE")
    if extra and os.path.isdir(extra) and os.path.abspath(extra) not in map(os.path.abspath, found):
        found.append(extra)
    return found


def bundle_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def find_bundle(paths: list[str], name: str | None) -> str | None:
    """The bundle among ``paths`` whose directory name (or path) is ``name``."""
    if not name:
        return None
    for p in paths:
        if bundle_name(p) == name or os.path.abspath(p) == os.path.abspath(name):
            return p
    return None


def default_bundle(paths: list[str]) -> str | None:
    """PRODEMB_BUNDLE (default ``demo``) if it is usable, else the first usable bundle, so
    that one broken bundle does not greet every visitor with an error; when none is
    usable, the one asked for (its page then says what is wrong).

    "Usable" means it loads: the candidates are loaded in turn (a load is cached, and a
    failed one is remembered, so each broken bundle is tried once per server process)."""
    want = os.environ.get("PRODEMB_BUNDLE", "demo")
    wanted = [p for p in paths if os.path.abspath(p) == os.path.abspath(want) or bundle_name(p) == want]
    for p in dict.fromkeys(wanted + paths):
        if bundle_problem(p) is None and _loads(p):
            return p
    return (wanted or paths or [None])[0]


# ---------------------------------------------------------------------- loading and problems
@st.cache_resource(show_spinner="Loading the model bundle…", max_entries=4)
def load_bundle(path: str) -> Bundle:
    """Load (and verify) a bundle once per server process. The server answers many
    sessions at once: numpy's BLAS gets one thread per request, and malloc a bounded number
    of arenas (:mod:`prodemb.serving`)."""
    from ..bundle import Bundle

    single_threaded_blas()
    bounded_allocators()
    return Bundle.load(path)


def _loads(path: str) -> bool:
    try:
        load_bundle(path)
    except Exception as e:  # remembered, and shown when the bundle is chosen
        remember_failure(path, e)
        return False
    return True


def bundle_problem(path: str) -> str | None:
    """Why the bundle at ``path`` cannot be used, or None: what :func:`quick_check` finds
    (its manifest, its files' presence and sizes; cheap), or why it failed to load before."""
    return _checked_manifest(path)[1]


@st.cache_resource(show_spinner=False)
def _load_failures() -> dict[str, tuple[tuple, str]]:
    """Bundle path -> (its manifest's stat, why it failed to load); shared by all sessions."""
    return {}


def _manifest_stamp(path: str) -> tuple:
    try:
        info = os.stat(os.path.join(path, "manifest.json"))
    except OSError:
        return ()
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def remember_failure(path: str, error: BaseException) -> None:
    """Record that ``path`` failed to load, until its manifest changes (e.g. a retraining)."""
    _load_failures()[os.path.abspath(path)] = (_manifest_stamp(path), _short_reason(str(error), path))


def _checked_manifest(path: str) -> tuple[dict | None, str | None]:
    """``(manifest, None)``, or ``(None, reason)`` for a bundle that cannot be used. Never
    raises: one bad bundle in the artifacts folder must not break the selector of the others."""
    from ..bundle import BundleError, quick_check

    try:
        manifest = quick_check(path)
    except BundleError as e:
        return None, _short_reason(str(e), path)
    except Exception as e:  # quick_check promises BundleError; be safe anyway
        return None, _short_reason(f"{type(e).__name__}: {e}", path)
    failed = _load_failures().get(os.path.abspath(path))
    if failed is not None and failed[0] == _manifest_stamp(path):
        return None, failed[1]
    return manifest, None


def _short_reason(message: str, path: str) -> str:
    """A bundle error without the bundle's path (the selector already says which bundle)."""
    for p in dict.fromkeys((path, os.path.abspath(path))):
        for where in (f"bundle {p!r}: ", f" in {p!r}", f"{p!r} "):
            message = message.replace(where, "")
    return message.strip()


def unusable_bundles(paths: list[str]) -> list[tuple[str, str]]:
    """``(name, reason)`` of every bundle among ``paths`` that cannot be used."""
    problems = [(bundle_name(p), bundle_problem(p)) for p in paths]
    return [(name, reason) for name, reason in problems if reason is not None]


def bundle_label(path: str) -> str:
    """``name · created date · test macro-F1`` for the selector, or ``name · unusable: reason``."""
    name = bundle_name(path)
    m, problem = _checked_manifest(path)
    if m is None:
        return f"{name} · unusable: {shorten(problem, 70)}"
    f1 = m.get("metrics", {}).get("test", {}).get("macro_f1")
    date = str(m.get("created", ""))[:10]
    score = f" · F1 {f1:.3f}" if isinstance(f1, int | float) and not isinstance(f1, bool) and f1 else ""
    return f"{name} · {date}{score}"


def fingerprint(bundle: Bundle, file: str) -> tuple[str, str]:
    """Cache key of what a page derives from one file of ``bundle``: the bundle's path and
    that file's hash in the manifest (its creation time when the manifest has no hash), so
    a retrained bundle at the same path is not served from the cache."""
    entry = bundle.manifest.get("files", {}).get(file, {})
    return bundle.path, str(entry.get("sha256") or bundle.manifest.get("created"))


# ---------------------------------------------------------------------- the frame
_frame = threading.local()


@contextmanager
def page_frame() -> Iterator[None]:
    """``app.py`` runs the chosen page inside this: the page then knows that the frame
    (navigation, bundle selector, model card) is drawn around it."""
    outer = getattr(_frame, "active", False), getattr(_frame, "sidebar", False)
    _frame.active, _frame.sidebar = True, False
    try:
        yield
    finally:
        _frame.active, _frame.sidebar = outer


def draw_sidebar() -> None:
    """The frame's sidebar below the navigation: the bundle selector (honouring
    ``?bundle=NAME``) and the model card; once per run, and only inside app.py's frame
    (a page run on its own has no frame).

    Drawn by :func:`current_bundle`, i.e. when a page first needs its bundle, not by
    app.py before the page: the Classify page shows its heading and form first, and
    loads the model (seconds on a fresh server) after."""
    if not getattr(_frame, "active", False) or getattr(_frame, "sidebar", False):
        return
    _frame.sidebar = True
    bundle_selector()
    model_card()


def _on_bundle_change() -> None:
    path = st.session_state.get(SELECT_KEY)
    if path:
        st.session_state[SESSION_KEY] = path
        st.query_params["bundle"] = bundle_name(path)


def bundle_selector() -> None:
    """Sidebar selector of the bundles under ``artifacts/``; honours ``?bundle=NAME``."""
    bundles = available_bundles()
    if not bundles:
        st.sidebar.info(f"No model bundle found under `{artifacts_dir()}`.")
        return
    wanted = st.query_params.get("bundle")
    chosen = find_bundle(bundles, wanted)
    if wanted and chosen is None:
        st.sidebar.warning(f"No bundle named “{md_escape(wanted)}”; showing the default one.")
    current = st.session_state.get(SESSION_KEY)
    if chosen is not None and chosen != current:
        st.session_state[SESSION_KEY] = chosen
    elif current not in bundles:
        st.session_state[SESSION_KEY] = default_bundle(bundles)
    st.session_state[SELECT_KEY] = st.session_state[SESSION_KEY]
    st.sidebar.selectbox("Model bundle", bundles, key=SELECT_KEY, format_func=bundle_label,
                         on_change=_on_bundle_change,
                         help="Bundles found under the artifacts directory (each with a manifest).")
    for name, reason in unusable_bundles(bundles):
        st.sidebar.warning(f"Bundle “{md_escape(name)}” cannot be used: {md_escape(reason)}",
                           icon=":material/warning:")
    if wanted and chosen is not None:
        st.query_params["bundle"] = bundle_name(chosen)
    elif not wanted and st.session_state[SESSION_KEY] != default_bundle(bundles):
        # Going to another page clears the URL's query: name the bundle shown again, so a
        # reload or a bookmark of this page opens it, not the default bundle.
        st.query_params["bundle"] = bundle_name(st.session_state[SESSION_KEY])


def model_card() -> None:
    """The sidebar's model card of the chosen bundle: what the model is, its data, the
    languages of its training text, its test scores."""
    from .data import bundle_languages, model_summary
    from .text import card_markdown

    path = st.session_state.get(SESSION_KEY)
    if not path:
        return
    try:
        bundle = load_bundle(path)
    except Exception:  # the page shows the full message; keep the sidebar short
        st.sidebar.error("This bundle cannot be loaded (see the message on the page); "
                         "choose another one.")
        return
    card = bundle.card()
    with st.sidebar.container(border=True):
        st.markdown(f"**Model card** · {md_escape(card.get('name') or '')}")
        st.markdown(card_markdown(card, model_summary(bundle.config),
                                  bundle_languages(fingerprint(bundle, "word_vectors.npy"))))
        if card.get("catalogue"):
            st.caption(f"Catalogue file: {md_escape(card['catalogue'])}")


def ensure_frame() -> None:
    """Run the page inside ``app.py`` when Streamlit started it without it.

    A ``pages/`` folder beside the entry script makes Streamlit start in its legacy
    multipage mode, until some session has executed ``st.navigation`` (which app.py does;
    from then on, for all sessions, every run starts with app.py). The first visitor after
    a server start who opens a deep link such as ``/neighbours?word=nike`` would get the
    bare page: no navigation, no bundle selector, no model card, the default narrow
    layout. The page then executes ``app.py`` itself: app.py's ``st.navigation`` routes to
    this same page (its URL path is the file name in both modes) and renders it framed;
    the outer run of the bare page stops.

    Public API only: app.py marks the run it frames with :func:`page_frame`, and the
    script Streamlit was started with is Python's ``__main__`` module. A page that is
    itself that script (``streamlit run pages/x.py``, ``AppTest.from_file(page)``) has no
    frame to run in and is rendered alone.
    """
    if getattr(_frame, "active", False):
        return
    main = APP_ROOT / "app.py"
    started = getattr(sys.modules.get("__main__"), "__file__", None)
    if not started or not main.is_file() or Path(started).resolve() != main.resolve():
        return
    runpy.run_path(str(main))
    st.stop()


def current_bundle() -> Bundle:
    """The bundle chosen in the sidebar; on any problem shows a clear message and stops the page.

    Every page calls this (it also makes sure the page runs inside app.py's frame, and
    draws the frame's sidebar: :func:`draw_sidebar`)."""
    from ..bundle import BundleError

    ensure_frame()
    draw_sidebar()
    path = st.session_state.get(SESSION_KEY)
    if path is None:
        path = default_bundle(available_bundles())
        if path is None:
            st.error(f"No model bundle found under `{artifacts_dir()}`. Train one with "
                     "`prodemb train --data FILE --out artifacts/NAME`, or run `make demo-artifacts`.")
            st.stop()
        st.session_state[SESSION_KEY] = path
    try:
        return load_bundle(path)
    except BundleError as e:
        remember_failure(path, e)
        st.error(f"The bundle `{bundle_name(path)}` cannot be used: {md_escape(e)}. "
                 "Choose another bundle in the sidebar, or retrain it with `prodemb train`.")
        st.stop()
    except Exception as e:  # never a traceback in the browser
        remember_failure(path, e)
        st.error(f"The bundle `{bundle_name(path)}` failed to load ({type(e).__name__}: {md_escape(e)}).")
        st.stop()
