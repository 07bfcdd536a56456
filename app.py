"""prodemb dashboard: ``streamlit run app.py`` (or ``make run``).

The entry point only builds the frame shared by every page: navigation, the bundle
selector and the model card in the sidebar (the last two drawn by
:func:`prodemb.ui.current_bundle` when the page first needs its bundle). Pages live in ``pages/`` and get the
chosen bundle from :func:`prodemb.ui.current_bundle`. The page runs inside
:func:`prodemb.ui.page_frame`, so that it knows the frame is drawn (a deep link opened
before any session ran ``st.navigation`` starts the page alone; it then runs this file).

Deep links: ``?bundle=NAME`` selects a bundle; pages read their own parameters
(``/?text=...`` or ``/classify?text=...``: Classify is the home page, and ``/classify``
is a hidden alias of it that forwards its parameters; ``/neighbours?word=...``).

The navigation is drawn before anything heavy is imported (``prodemb.ui`` pulls in torch,
pandas and plotly: seconds on a fresh server), so the first thing a visitor sees in the
sidebar is the real navigation, not Streamlit's list of the ``pages/`` files.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# A local image: a Material icon as page_icon makes every page load fetch the favicon from
# fonts.gstatic.com, and the dashboard must make no request outside itself.
st.set_page_config(page_title="prodemb", page_icon=str(Path(__file__).parent / "static" / "favicon.png"),
                   layout="wide")

HERE = Path(__file__).resolve().parent

# (file, title, icon); a page whose file does not exist (yet) is simply not offered.
PAGES = [
    ("pages/classify.py", "Classify", ":material/label:"),
    ("pages/neighbours.py", "Neighbours", ":material/hub:"),
    ("pages/per_class_f1.py", "Per-class F1", ":material/leaderboard:"),
    ("pages/embedding_map.py", "Embedding map", ":material/scatter_plot:"),
    ("pages/review.py", "Review", ":material/rule:"),
]


def _classify_alias() -> None:
    """``/classify?text=...``: the Classify page (served at ``/``) with the same parameters,
    instead of Streamlit's "Page not found" for a path no page has."""
    st.switch_page(pages[0], query_params=st.query_params.to_dict())


pages = [st.Page(str(HERE / f), title=t, icon=i,
                 # the home page is served at "/": its own path is free for the alias
                 **({"url_path": "home"} if f == PAGES[0][0] else {}))
         for f, t, i in PAGES if (HERE / f).is_file()]
alias = ([st.Page(_classify_alias, title="Classify", url_path="classify", visibility="hidden")]
         if pages and pages[0].title == PAGES[0][1] else [])
nav = st.navigation(pages + alias)

from prodemb import ui  # noqa: E402  (after the navigation: see the module docstring)

# The bundle selector and the model card are drawn in the sidebar by the page when it
# first needs its bundle (ui.current_bundle -> ui.draw_sidebar), so that Classify's form
# shows before the model is loaded.
with ui.page_frame():
    nav.run()
