"""prodemb dashboard: ``streamlit run app.py`` (or ``make run``).

The entry point only builds the frame shared by every page: navigation, the bundle
selector and the model card in the sidebar. Pages live in ``pages/`` and get the
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
]


def _classify_alias() -> None:
    """``/classify?text=...``: the Classify page (served at ``/``) with the same parameters,
    instead of Streamlit's "Page not found" for a path no page has."""
    st.switch_page(pages[0], query_params=st.query_params.to_dict())


def _on_bundle_change() -> None:
    path = st.session_state.get(ui.SESSION_KEY)
    if path:
        st.query_params["bundle"] = ui.bundle_name(path)


def bundle_selector() -> None:
    """Sidebar selector of the bundles under ``artifacts/``; honours ``?bundle=NAME``."""
    bundles = ui.available_bundles()
    if not bundles:
        st.sidebar.info(f"No model bundle found under `{ui.artifacts_dir()}`.")
        return
    wanted = st.query_params.get("bundle")
    chosen = ui.find_bundle(bundles, wanted)
    if wanted and chosen is None:
        st.sidebar.warning(f"No bundle named “{ui.md_escape(wanted)}”; showing the default one.")
    current = st.session_state.get(ui.SESSION_KEY)
    if chosen is not None and chosen != current:
        st.session_state[ui.SESSION_KEY] = chosen
    elif current not in bundles:
        st.session_state[ui.SESSION_KEY] = ui.default_bundle(bundles)
    st.sidebar.selectbox("Model bundle", bundles, key=ui.SESSION_KEY, format_func=ui.bundle_label,
                         on_change=_on_bundle_change,
                         help="Bundles found under the artifacts directory (each with a manifest).")
    for name, reason in ui.unusable_bundles(bundles):
        st.sidebar.warning(f"Bundle “{ui.md_escape(name)}” cannot be used: {ui.md_escape(reason)}",
                           icon=":material/warning:")
    if wanted and chosen is not None:
        st.query_params["bundle"] = ui.bundle_name(chosen)


def model_card() -> None:
    path = st.session_state.get(ui.SESSION_KEY)
    if not path:
        return
    try:
        bundle = ui.load_bundle(path)
    except Exception:  # the page shows the full message; keep the sidebar short
        st.sidebar.error("This bundle cannot be loaded (see the message on the page); "
                         "choose another one.")
        return
    card = bundle.card()
    with st.sidebar.container(border=True):
        st.markdown(f"**Model card** · {ui.md_escape(card.get('name') or '')}")
        st.markdown(ui.card_markdown(card, ui.model_summary(bundle.config),
                                     ui.bundle_languages(ui.fingerprint(bundle, "products.parquet"))))
        if card.get("catalogue"):
            st.caption(f"Catalogue file: {ui.md_escape(card['catalogue'])}")


pages = [st.Page(str(HERE / f), title=t, icon=i,
                 # the home page is served at "/": its own path is free for the alias
                 **({"url_path": "home"} if f == PAGES[0][0] else {}))
         for f, t, i in PAGES if (HERE / f).is_file()]
alias = ([st.Page(_classify_alias, title="Classify", url_path="classify", visibility="hidden")]
         if pages and pages[0].title == PAGES[0][1] else [])
nav = st.navigation(pages + alias)

from prodemb import ui  # noqa: E402  (after the navigation: see the module docstring)

bundle_selector()
model_card()
with ui.page_frame():
    nav.run()
