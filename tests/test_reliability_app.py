"""Bad input through the Streamlit app (``streamlit.testing.v1.AppTest``).

Every text of the corpus goes into the Classify text box, the Neighbours word and product
boxes, the Embedding map search box and the deep-link parameters; every broken file of
the corpus is uploaded to the batch classifier. Each gives a sane page or a clear
``st.error`` naming the problem, and never an exception (which a browser would show as a
traceback). A bundle with a damaged file gives an error naming the file on every page.

Uses the ``tiny_bundle`` fixture (or ``PRODEMB_BUNDLE`` if it names a bundle directory).
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from bad_inputs import BAD_TEXTS, XSS, upload_files

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
PAGES = ["pages/classify.py", "pages/neighbours.py", "pages/per_class_f1.py",
         "pages/embedding_map.py"]
EMPTYISH = {"empty", "whitespace", "only_newlines"}


@pytest.fixture(scope="module")
def bundle_path(tiny_bundle) -> str:
    env = os.environ.get("PRODEMB_BUNDLE")
    if env and os.path.isfile(os.path.join(env, "manifest.json")):
        return os.path.abspath(env)
    return str(tiny_bundle)


@pytest.fixture(scope="module")
def bundle(bundle_path):
    from prodemb import ui

    return ui.load_bundle(bundle_path)


@pytest.fixture
def app_env(bundle_path, monkeypatch):
    monkeypatch.setenv("PRODEMB_BUNDLE", bundle_path)
    return bundle_path


def open_page(page: str, query: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert_clean(at, page)
    return at


def assert_clean(at, what: str = "") -> None:
    assert not at.exception, (what, [e.value[:500] for e in at.exception])


def texts_of(elements) -> list[str]:
    return [str(e.value) for e in elements]


# ---------------------------------------------------------------------- classify
def test_classify_text_box_with_every_bad_text(app_env, bundle):
    from prodemb import ui

    at = open_page("pages/classify.py")
    problems = []
    for name, text in BAD_TEXTS.items():
        at.text_area(key="classify_input").set_value(text)
        at.button(key="classify_button").click()
        at.run()
        if at.exception:
            problems.append((name, at.exception[0].value[:300]))
            continue
        subheaders = texts_of(at.subheader)
        if name in EMPTYISH:
            if "Predicted category" in subheaders or not any("Paste a product" in i for i in texts_of(at.info)):
                problems.append((name, "empty text should ask for a text, not classify"))
            continue
        expected = bundle.classify([text])[0]
        leaf = expected.top_path.split(" > ")[-1]
        if ui.shorten(text, 600) not in texts_of(at.text):
            problems.append((name, "the classified text is not shown literally"))
        if expected.status == "out_of_catalogue":  # issue 12: said so, the guess greyed
            if "Not in this catalogue" not in subheaders or \
                    not any("does not know this text" in e for e in texts_of(at.error)):
                problems.append((name, f"out of catalogue not said: {subheaders}"))
            elif not any(m.startswith(":gray[") and ui.md_escape(leaf) in m for m in texts_of(at.markdown)):
                problems.append((name, f"best guess {expected.top_path!r} not shown"))
            continue
        if "Predicted category" not in subheaders:
            problems.append((name, f"no prediction: {subheaders}"))
            continue
        heading = next(m for m in texts_of(at.markdown) if m.startswith("#### "))
        if ui.md_escape(leaf) not in heading:
            problems.append((name, f"top path {expected.top_path!r} not shown: {heading[:200]}"))
        if at.error:
            problems.append((name, f"unexpected error {at.error[0].value[:200]}"))
    assert problems == []


@pytest.mark.parametrize("name", ["img_onerror", "script_tag", "markdown_injection", "nul_bytes",
                                  "rtl_marks", "one_megabyte", "emoji", "cjk", "whitespace"])
def test_classify_deep_link_with_bad_text(app_env, name):
    text = BAD_TEXTS[name][:3000]
    at = open_page("pages/classify.py", {"text": text})
    if name in EMPTYISH:
        assert "Predicted category" not in texts_of(at.subheader)
    else:  # a category, or (issue 12) the verdict that the model does not know the text
        assert {"Predicted category", "Not in this catalogue"} & set(texts_of(at.subheader))
        assert at.text_area(key="classify_input").value == text[:5000]


# ---------------------------------------------------------------------- batch upload
def upload(at, name: str, data: bytes):
    at.file_uploader(key="batch_upload").set_value((name, data, "text/csv"))
    at.run()
    return at


UPLOADS = {f.name: f for f in upload_files()}


@pytest.mark.parametrize("name", list(UPLOADS))
def test_batch_upload_of_bad_file(app_env, name):
    f = UPLOADS[name]
    at = upload(open_page("pages/classify.py"), f.filename, f.content)
    assert_clean(at, name)
    buttons = [b for b in at.button if b.key == "batch_button"]
    if f.upload is not None:
        errors = texts_of(at.error)
        assert errors, f"{name}: no error message shown"
        plain = errors[0].replace("\\", "")
        assert f.filename in plain and re.search(f.upload, plain, re.I), plain
        assert not buttons, "no classify button for a file that could not be read"
        return
    assert buttons and not at.error, texts_of(at.error)
    columns = at.multiselect(key="batch_columns").value
    assert columns, "a text column is preselected"
    buttons[0].click()
    at.run()
    assert_clean(at, name)
    metrics = {m.label: m.value for m in at.metric}
    from prodemb.catalogue import read_texts
    from prodemb.ui.data import decode_upload

    # read as the page reads it (a Windows-1250 file is decoded first)
    n_rows = len(read_texts(decode_upload(f.content)[0], name=f.filename))
    assert metrics.get("Products classified") == f"{n_rows:,}", metrics
    assert at.download_button(key="batch_download")


def test_batch_upload_of_every_bad_text(app_env, bundle):
    rows = [(name, text) for name, text in BAD_TEXTS.items() if "\x00" not in text]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", "title"])
    w.writerows(rows)
    at = upload(open_page("pages/classify.py"), "texts.csv", buf.getvalue().encode("utf-8"))
    assert at.multiselect(key="batch_columns").value == ["title"]
    at.button(key="batch_button").click()
    at.run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Products classified"] == f"{len(rows):,}"
    result = at.session_state["batch_result"][1]
    assert result["id"].tolist() == [r[0] for r in rows]
    assert all(tuple(p.split(" > ")) in bundle.taxonomy for p in result["predicted_category"])
    # a NUL byte makes the upload a binary file: refused with a message
    at = upload(open_page("pages/classify.py"), "nul.csv", b"id,title\n1,wool\x00scarf\n")
    assert at.error and "binary" in at.error[0].value


# ---------------------------------------------------------------------- neighbours
def test_neighbours_word_box_with_every_bad_text(app_env):
    at = open_page("pages/neighbours.py")
    problems = []
    for name, text in BAD_TEXTS.items():
        at.text_input(key="neighbours_word").set_value(text[:100]).run()
        if at.exception:
            problems.append((name, at.exception[0].value[:300]))
        elif at.error:
            problems.append((name, at.error[0].value[:200]))
        elif text[:100].strip():
            shown = any("not in the vocabulary" in w for w in texts_of(at.warning))
            if not (shown or len(at.dataframe)):
                problems.append((name, "neither neighbours nor an 'unknown word' message"))
    assert problems == []


def test_neighbours_product_boxes_with_every_bad_text(app_env):
    at = open_page("pages/neighbours.py")
    problems = []
    for by in ("text", "id"):
        at.radio(key="neighbours_by").set_value(by).run()
        for name, text in BAD_TEXTS.items():
            at.text_input(key="neighbours_query").set_value(text[:2000]).run()
            if at.exception:
                problems.append((by, name, at.exception[0].value[:300]))
            elif at.error:
                problems.append((by, name, at.error[0].value[:200]))
            elif by == "id" and text[:2000].strip() and not any(
                    "There is no product with id" in w for w in texts_of(at.warning)):
                problems.append((by, name, "an unknown id should say so"))
    assert problems == []


@pytest.mark.parametrize("name", ["img_onerror", "markdown_injection", "one_megabyte", "nul_bytes",
                                  "punctuation_only"])
def test_neighbours_deep_link_with_bad_word(app_env, name):
    open_page("pages/neighbours.py", {"word": BAD_TEXTS[name][:3000]})


# ---------------------------------------------------------------------- embedding map
def test_map_search_box_with_every_bad_text(app_env):
    at = open_page("pages/embedding_map.py")
    problems = []
    for name, text in BAD_TEXTS.items():
        at.text_input(key="q").set_value(text[:200]).run()
        if at.exception:
            problems.append((name, at.exception[0].value[:300]))
        elif at.error:
            problems.append((name, at.error[0].value[:200]))
    assert problems == []


@pytest.mark.parametrize("page", PAGES)
def test_hostile_query_parameters_on_every_page(app_env, page):
    params = {k: XSS for k in ("text", "word", "bundle", "subtree", "method", "q")}
    at = open_page(page, params)
    shown = " ".join(texts_of(at.warning))
    assert "No bundle named" in shown, "an unknown ?bundle= is reported"
    for md in texts_of(at.markdown) + texts_of(at.warning) + texts_of(at.caption):
        assert not re.search(r"(?<!\\)<img", md), f"unescaped markup reaches st.markdown: {md[:200]}"


# ---------------------------------------------------------------------- damaged bundle
@pytest.mark.parametrize("damage", ["truncate", "delete", "alter"])
def test_damaged_bundle_gives_an_error_naming_the_file(tiny_bundle, tmp_path, monkeypatch, damage):
    broken = Path(shutil.copytree(tiny_bundle, tmp_path / f"broken_{damage}"))
    target = broken / "classifier.safetensors"
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "delete":
        target.unlink()
    else:
        data = bytearray(target.read_bytes())
        data[-1] ^= 0xFF
        target.write_bytes(bytes(data))
    monkeypatch.setenv("PRODEMB_BUNDLE", str(broken))
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path / "no_artifacts_here"))
    for page in PAGES:
        at = open_page(page)
        errors = " ".join(texts_of(at.error)).replace("\\", "")
        assert "classifier.safetensors" in errors, (page, errors)
