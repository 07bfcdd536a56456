"""The dashboard's frame and the bundle-driven choices of prodemb.ui.

- Every page, started alone by Streamlit (the first deep link after a server start), is
  drawn inside app.py's frame: the navigation, the bundle selector and the model card;
  without Streamlit internals. A page that is itself the main script runs alone.
- Only ``prodemb/ui`` (with app.py and pages/) imports Streamlit, and none of it imports
  ``streamlit.runtime``.
- Demo-specific choices come from the bundle: its probe words, its confused subtree.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = {"classify.py": "Classify a product", "neighbours.py": "Neighbours",
         "per_class_f1.py": "Per-class F1", "embedding_map.py": "Embedding map"}


def _sources(*globs: str) -> list[Path]:
    return [p for g in globs for p in sorted(ROOT.glob(g))]


def test_no_private_streamlit_api():
    for path in _sources("prodemb/**/*.py", "pages/*.py", "app.py"):
        assert "streamlit.runtime" not in path.read_text(encoding="utf-8"), path


def test_only_the_ui_package_imports_streamlit():
    importing = re.compile(r"^\s*(import streamlit|from streamlit)", re.MULTILINE)
    for path in _sources("prodemb/**/*.py"):
        if importing.search(path.read_text(encoding="utf-8")):
            assert path.parent.name == "ui", f"{path} imports streamlit"


def test_pages_have_no_copies_of_helpers():
    for path in _sources("pages/*.py"):
        src = path.read_text(encoding="utf-8")
        assert "from prodemb import" in src and "ui" in src, path
        for name in ("esc", "fingerprint", "md", "main"):
            assert not re.search(rf"^def {name}\(", src, re.MULTILINE), f"{path} defines {name}()"
        assert "html.escape" not in src, path


@pytest.mark.parametrize("page", list(PAGES))
def test_page_opened_first_runs_inside_the_frame(page, bundle_path, monkeypatch):
    """A page opened before any session ran app.py (AppTest starts app.py like a fresh
    server, in Streamlit's legacy ``pages/`` mode) is shown once, inside app.py's frame."""
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PRODEMB_BUNDLE", bundle_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page(f"pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [PAGES[page]], "the page, once"
    selector = at.sidebar.selectbox(key="bundle_select")
    assert Path(selector.value).resolve() == Path(bundle_path).resolve(), "the frame's bundle selector"
    assert any("Model card" in m.value for m in at.sidebar.markdown), "the frame's model card"


def test_chosen_bundle_survives_a_page_switch(bundle_path, tmp_path, monkeypatch):
    """The selector is drawn by each page (after Classify's form), so its widget state is
    that page's; the choice itself is plain session state and stays when another page
    opens (it fell back to the first bundle of the list)."""
    from streamlit.testing.v1 import AppTest

    from prodemb import ui

    for name in ("a_first", "b_second"):
        (tmp_path / name).symlink_to(Path(bundle_path).resolve(), target_is_directory=True)
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("PRODEMB_BUNDLE", "a_first")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "a_first"
    at.sidebar.selectbox(key=ui.SELECT_KEY).set_value(str(tmp_path / "b_second")).run()
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "b_second"
    for page in ("neighbours.py", "per_class_f1.py", "classify.py"):
        at.switch_page(f"pages/{page}").run()
        assert not at.exception, [e.value for e in at.exception]
        assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "b_second", page
        assert ui.bundle_name(at.sidebar.selectbox(key=ui.SELECT_KEY).value) == "b_second", page


def test_default_bundle_survives_a_page_switch(bundle_path, tmp_path, monkeypatch):
    """A broken bundle sorts first, the usable one is chosen by default on Classify: the
    next page keeps it (it fell back to the selector's first entry, the broken one)."""
    from streamlit.testing.v1 import AppTest

    from prodemb import ui

    (tmp_path / "a_broken").mkdir()
    (tmp_path / "a_broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "b_good").symlink_to(Path(bundle_path).resolve(), target_is_directory=True)
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "b_good"
    for page in ("neighbours.py", "per_class_f1.py", "embedding_map.py", "classify.py"):
        at.switch_page(f"pages/{page}").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.main.error, (page, [e.value for e in at.main.error])
        assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "b_good", page


def test_page_that_is_the_main_script_runs_alone(bundle_path):
    """``streamlit run pages/x.py`` (or AppTest of a page file): no frame to run in."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "neighbours.py"), default_timeout=120)
    at.session_state["bundle_path"] = bundle_path
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Neighbours"]
    assert not at.sidebar.selectbox


# ---------------------------------------------------------------------- bundle-driven choices
def test_probe_words_come_from_the_bundle(bundle):
    from prodemb import ui

    probes = ui.probe_words(bundle)
    stored = list((bundle.metrics.get("word2vec") or {}).get("probe_words")
                  or bundle.metrics.get("word2vec_probes") or {})
    assert probes == [w for w in stored if w in bundle.word_vectors]
    assert ui.default_word(bundle) == (probes[0] if probes else ui.frequent_words(bundle, 1)[0])
    assert ui.search_placeholder(bundle).startswith("e.g. " + (probes[0] if probes else ""))


def test_first_example_is_named_by_a_probe_word(bundle):
    """The first example is of the category a probe word names (a scarf on the demo), else
    of the most confused subtree; single-path either way."""
    from prodemb import report, text, ui

    first = ui.example_products(bundle).iloc[0]
    assert report.PATH_JOIN not in first["true_path"]
    named = ui.probe_category_words(bundle)
    focus = ui.confused_subtree(bundle)
    if named:
        assert named[0] in text.tokenize(first["true_path"], None), (named, first["true_path"])
    elif focus:
        assert report.path_in_subtree(pd.Series([first["true_path"]]), focus)[0], (focus, first)
    else:
        pytest.skip("this bundle names no category by a probe word and has no confusions")


class _Reader:
    def __init__(self, columns):
        self.text_columns = columns


class _Bundle:
    def __init__(self, columns):
        self.reader_options = _Reader(columns)


def test_text_columns_of_an_upload_follow_the_bundle():
    from prodemb import ui

    frame = pd.DataFrame({"sku": ["1"], "Nazov": ["Pletený šál"], "Popis": ["merino"], "x": ["y"]})
    assert ui.default_text_columns(_Bundle(["Popis"]), frame) == ["Popis"]
    # the bundle's own column names, in another case: found as hints
    assert ui.default_text_columns(_Bundle(["nazov", "popis"]), frame) == ["Nazov", "Popis"]
    assert ui.default_text_columns(_Bundle(["title"]), frame[["sku", "x"]]) == ["sku"]
    assert ui.guess_text_columns(pd.DataFrame({"id": [1], "Title": ["a"], "name": ["b"]})) == ["Title", "name"]
