"""prodemb dashboard: ``streamlit run app.py`` (or ``make run``).

The entry point only builds the frame shared by every page: navigation, the bundle
selector and the model card in the sidebar. Pages live in ``pages/`` and get the
chosen bundle from :func:`prodemb.ui.current_bundle`. The page runs inside
:func:`prodemb.ui.page_frame`, so that it knows the frame is drawn (a deep link opened
before any session ran ``st.navigation`` starts the page alone; it then runs this file).

Deep links: ``?bundle=NAME`` selects a bundle; pages read their own parameters
(``/?text=...``: Classify is the home page, so ``/classify`` is answered with Streamlit's
"Page not found" before showing it; ``/neighbours?word=...``).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from prodemb import ui

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
        st.markdown(ui.card_markdown(card))
        if card.get("catalogue"):
            st.caption(f"Catalogue file: {ui.md_escape(card['catalogue'])}")


pages = [st.Page(str(HERE / f), title=t, icon=i) for f, t, i in PAGES if (HERE / f).is_file()]
nav = st.navigation(pages)
bundle_selector()
model_card()
with ui.page_frame():
    nav.run()
