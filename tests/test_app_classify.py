"""AppTest of the app shell (app.py: sidebar, model card, deep links) and the Classify page.

The bundle is ``PRODEMB_BUNDLE`` (a path or a name under ``artifacts/``) if set, else
``artifacts/demo``; the tests are skipped when neither exists. Expected outputs are
computed with the Bundle API directly, so the assertions hold for any bundle.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
SCARF_TEXT = ("Pletený šál z merino vlny, hrejivý, sivý. Knitted merino wool scarf, "
              "warm winter scarf 180 cm")


@pytest.fixture
def app_env(bundle_path, monkeypatch):
    """The app sees the test bundle (even when it is not under artifacts/)."""
    monkeypatch.setenv("PRODEMB_BUNDLE", bundle_path)
    return bundle_path


def run_app(page: str | None = None, query: dict | None = None, state: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert_clean(at)
    return at


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def classify_page(query: dict | None = None):
    return run_app("pages/classify.py", query)


def type_and_classify(at, text: str):
    at.text_area(key="classify_input").set_value(text)
    at.button(key="classify_button").click()
    at.run()
    assert_clean(at)
    return at


def plain(markdown: str) -> str:
    """Markdown with backslash escapes removed (what the reader sees)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def markdown_values(at) -> list[str]:
    return [m.value for m in at.markdown]


def expected_breadcrumb(bundle, text: str) -> str:
    from prodemb import ui

    c = bundle.classify([text])[0]
    return ui.breadcrumb_markdown(ui.path_levels(bundle, c.top_path, c.node_probs))


def dataframe_with(at, *columns: str):
    for df in at.dataframe:
        if set(columns) <= set(df.value.columns):
            return df.value
    raise AssertionError(f"no table with columns {columns}; tables: "
                         f"{[list(d.value.columns) for d in at.dataframe]}")


# ---------------------------------------------------------------------- shell
def test_app_renders_sidebar_model_card(app_env, bundle):
    from prodemb import ui
    from prodemb.ui import md_escape

    at = run_app()
    assert not at.error, [e.value for e in at.error]
    card = bundle.card()
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "Model card" in sidebar
    for fact in (f"{card['products']:,}** products", f"{card['labelled']:,}** labelled",
                 f"{card['unlabelled']:,}** unlabelled", f"{card['classes']:,}** classes",
                 f"{card['leaves']:,}** leaves", f"{card['levels']}** levels"):
        assert md_escape(fact.split("**")[0]) + "**" + fact.split("**")[1] in sidebar
    assert md_escape(f"{card['test_macro_f1']:.3f}") in sidebar
    assert md_escape(str(card["trained_at"])[:10]) in sidebar
    # issue 16: what the model is, the languages of its training text, its leaf macro-F1
    assert "Word2Vec" in sidebar and "BiLSTM" in sidebar
    languages = ui.bundle_languages(ui.fingerprint(bundle, "word_vectors.npy"))
    assert languages and f"Training text in {md_escape(', '.join(languages))}" in sidebar
    leaf_f1 = md_escape(f"{card['test_leaf_macro_f1']:.3f}")
    assert f"leaf macro-F1 **{leaf_f1}**" in sidebar
    select = at.sidebar.selectbox[0]
    assert os.path.abspath(select.value) == os.path.abspath(app_env)


def test_bundle_deep_link(app_env, bundle):
    from prodemb import ui

    at = run_app(query={"bundle": ui.bundle_name(app_env)})
    assert os.path.abspath(at.session_state[ui.SESSION_KEY]) == os.path.abspath(app_env)
    assert not at.sidebar.warning

    at = run_app(query={"bundle": "no-such-bundle"})
    assert any("no\\-such\\-bundle" in w.value for w in at.sidebar.warning)
    assert os.path.abspath(at.session_state[ui.SESSION_KEY]) == os.path.abspath(app_env)


def test_chosen_bundle_stays_in_the_url_on_another_page(bundle_path, tmp_path, monkeypatch):
    """Going to another page clears the browser's query; the URL names the bundle shown
    again, so a reload (or a bookmark) of that page does not fall back to the default."""
    from prodemb import ui

    (tmp_path / "main").symlink_to(bundle_path, target_is_directory=True)
    (tmp_path / "other").symlink_to(bundle_path, target_is_directory=True)
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("PRODEMB_BUNDLE", "main")
    at = run_app(query={"bundle": "other"})
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "other"
    for page in ("pages/neighbours.py", "pages/per_class_f1.py"):
        for k in list(at.query_params):
            del at.query_params[k]  # what the browser's page change does
        at.switch_page(page).run()
        assert_clean(at)
        assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "other"
        assert at.query_params["bundle"] in ("other", ["other"]), page

    at = run_app()  # the default bundle: its URLs stay as they were, without ?bundle=
    assert "bundle" not in at.query_params


def test_broken_bundle_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path))
    monkeypatch.setenv("PRODEMB_BUNDLE", "broken")
    for page in ("pages/classify.py", "pages/neighbours.py"):
        at = run_app(page)
        assert at.main.error and "cannot be used" in at.main.error[0].value
        assert "corrupt" in at.main.error[0].value
        assert at.sidebar.error, "the sidebar says so too"


def test_no_bundle_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = run_app("pages/classify.py")
    assert at.main.error and "No model bundle found" in at.main.error[0].value
    assert at.sidebar.info


# ---------------------------------------------------------------------- one product
def test_classify_shows_prediction_neighbours_and_updates_url(app_env, bundle):
    from prodemb import ui

    at = classify_page()
    assert at.info, "before classifying, the page asks for text"
    assert any("Model card" in m.value for m in at.sidebar.markdown), "app.py frames the page"
    type_and_classify(at, SCARF_TEXT)
    assert not at.error
    c = bundle.classify([SCARF_TEXT])[0]
    md = markdown_values(at)
    assert f"#### {expected_breadcrumb(bundle, SCARF_TEXT)}" in md
    for name in c.top_path.split(" > "):
        assert ui.md_escape(name) in md[[i for i, m in enumerate(md) if m.startswith("#### ")][0]]
    # every alternative path is listed too
    for path, _ in c.paths[1:]:
        levels = ui.path_levels(bundle, path, c.node_probs)
        assert any(m.startswith(ui.breadcrumb_markdown(levels)) for m in md)
    # nearest catalogue products, as the API returns them
    table = dataframe_with(at, "similarity", "text", "true_path", "pred_path")
    want = bundle.similar_products(SCARF_TEXT, 10, by="text")
    assert list(table["id"]) == list(want["id"])
    assert table["similarity"].is_monotonic_decreasing
    # the text is kept for the Embedding map page and in the URL for bookmarks
    assert at.session_state[ui.CLASSIFIED_TEXT_KEY] == SCARF_TEXT
    assert at.query_params["text"] == [SCARF_TEXT] or at.query_params["text"] == SCARF_TEXT
    assert SCARF_TEXT in [t.value for t in at.text]


def test_classify_deep_link_fills_and_classifies(app_env, bundle):
    at = classify_page(query={"text": SCARF_TEXT})
    assert at.text_area(key="classify_input").value == SCARF_TEXT
    assert f"#### {expected_breadcrumb(bundle, SCARF_TEXT)}" in markdown_values(at)


def test_example_buttons_classify_test_products(app_env, bundle):
    from prodemb import ui

    examples = ui.example_products(bundle)
    assert 1 <= len(examples) <= 5
    if (bundle.products["split"] == "test").any():
        splits = bundle.products.set_index("id").loc[list(examples["id"]), "split"]
        assert (splits == "test").all(), "examples come from the test split"
    assert examples.equals(ui.example_products(bundle)), "examples are deterministic"
    at = classify_page()
    labels = [b.label for b in at.button if b.key and b.key.startswith("example_")]
    assert labels == [ui.md_escape(label) for label in ui.example_labels(examples)]
    at.button(key="example_0").click().run()
    assert_clean(at)
    text = examples["text"].iloc[0]
    assert at.text_area(key="classify_input").value == text
    assert f"#### {expected_breadcrumb(bundle, text)}" in markdown_values(at)


def test_demo_scarf_example_lands_in_scarves(app_env, bundle):
    """On a catalogue with scarves (the demo), the first example is a scarf; when the
    model gets it right, the page shows a Scarves path."""
    from prodemb import ui

    if not any("scar" in "/".join(n).lower() for n in bundle.taxonomy.nodes):
        pytest.skip("this bundle's tree has no scarves")
    ex = ui.example_products(bundle).iloc[0]
    assert "scar" in ex["true_path"].lower()
    row = bundle.products.set_index("id").loc[ex["id"]]
    if not bool(row["correct"]):
        pytest.skip("the model gets no scarf of the test split right")
    at = classify_page()
    at.button(key="example_0").click().run()
    heading = [m for m in markdown_values(at) if m.startswith("#### ")][0]
    assert "Scarves" in heading or "Scarf" in heading


def test_empty_text_shows_info_not_error(app_env):
    at = classify_page()
    type_and_classify(at, "   \n  ")
    assert at.info and "Paste a product" in at.info[0].value
    assert not at.error
    assert not [m for m in markdown_values(at) if m.startswith("#### ")]


def test_unknown_words_are_out_of_the_catalogue(app_env, bundle):
    """A text without one known word: the page says the model does not know it and why,
    and shows its best guess only de-emphasised, in a closed expander (issue 12)."""
    from prodemb import ui

    text = "qxzvq wvkkzp"
    c = bundle.classify([text])[0]
    assert c.unknown_tokens == c.tokens
    assert c.status == "out_of_catalogue" and "no_known_words" in c.flags
    at = type_and_classify(classify_page(), text)
    assert any("does not know this text" in e.value and "None of its words is known" in e.value
               for e in at.error)
    assert not [m for m in markdown_values(at) if m.startswith("#### ")], "no bold category"
    guess = ui.breadcrumb_markdown(ui.path_levels(bundle, c.top_path, c.node_probs), bold=False)
    assert guess in markdown_values(at) and "**" not in guess
    assert [e for e in at.expander if "Best guess" in e.label]


def test_user_text_is_never_markup(app_env):
    text = "<img src=x onerror=alert(1)> **bold** [link](javascript:alert(1)) :red[x] $x$"
    at = type_and_classify(classify_page(), text)
    assert text in [t.value for t in at.text], "shown literally with st.text"
    for m in markdown_values(at) + [c.value for c in at.caption] + [e.value for e in at.error]:
        assert not re.search(r"(?<!\\)<img", m) and not re.search(r"(?<!\\)\]\(javascript", m)


# ---------------------------------------------------------------------- batch
def upload(at, name: str, data: bytes):
    at.file_uploader(key="batch_upload").set_value((name, data, "text/csv"))
    at.run()
    assert_clean(at)
    return at


def test_batch_csv_classifies_and_offers_download(app_env, bundle):
    from prodemb import ui

    rows = [("p1", "Pletený šál", "merino vlna, sivý"), ("p2", "Kožená kabelka", "čierna, zips"),
            ("p3", "Running shoes", "Nike, size 42")]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["id", "title", "description", "category"])
    writer.writerows([(a, b, c, "X") for a, b, c in rows])
    at = upload(classify_page(), "products.csv", buf.getvalue().encode("utf-8"))
    assert at.multiselect(key="batch_columns").value == ["title", "description"]
    at.button(key="batch_button").click().run()
    assert_clean(at)
    assert not at.error
    result = dataframe_with(at, "predicted_category", "predicted_score", "predicted_paths")
    texts = [f"{b} . {c}" for _, b, c in rows]
    want = bundle.classify_frame(texts)
    assert list(result["id"]) == ["p1", "p2", "p3"]
    assert list(result["category"]) == ["X"] * 3, "input columns are kept"
    assert list(result["predicted_category"]) == list(want["category"])
    assert at.download_button(key="batch_download")
    assert ui.batch_file_name("products.csv") == "products_predictions.csv"


def test_batch_review_queue_button_counts_its_rows_in_words(app_env, bundle):
    """One flagged row: "(1 flagged row)", not "(1 flagged rows)"."""
    upload_csv = "id,title\n1,Pletený šál z merino vlny\n2,\n"
    at = upload(classify_page(), "shop.csv", upload_csv.encode("utf-8"))
    at.button(key="batch_button").click().run()
    assert_clean(at)
    flagged = (bundle.classify_frame(["Pletený šál z merino vlny", ""])["status"] != "ok").sum()
    assert flagged == 1, "the empty row is flagged, the scarf is not"
    assert at.download_button(key="batch_review").label.endswith("(1 flagged row)")


def test_batch_download_is_written_as_the_upload_came(app_env, bundle):
    """A semicolon export (as a German or Slovak Excel saves it) comes back separated by
    semicolons, in UTF-8 with a byte order mark so that the same Excel shows "š" and "ü"
    (without the mark it reads UTF-8 as its Windows code page)."""
    import pandas as pd

    from prodemb import ui

    upload_csv = "sku;name;price\n1;Pletený šál;12,50\n2;Kožená kabelka für Damen;99,00\n"
    at = upload(classify_page(), "shop.csv", upload_csv.encode("utf-8"))
    at.button(key="batch_button").click().run()
    assert_clean(at)
    data = at.session_state["batch_result"][2]
    assert data.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(io.BytesIO(data), sep=";", dtype=str, encoding="utf-8-sig")
    assert list(back["sku"]) == ["1", "2"] and list(back["price"]) == ["12,50", "99,00"]
    assert list(back["name"]) == ["Pletený šál", "Kožená kabelka für Damen"]
    assert "predicted_category" in back.columns
    assert "semicolons" in at.download_button(key="batch_download").help
    comma = ui.batch_csv(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    assert comma.decode("utf-8-sig") == "a,b\nx,y\n"


def test_batch_column_choice(app_env, bundle):
    csv = "sku;name\n1;Pletený šál\n2;Kožená kabelka\n"
    at = upload(classify_page(), "x.csv", csv.encode("utf-8"))
    assert at.multiselect(key="batch_columns").value == ["name"]
    at.multiselect(key="batch_columns").set_value([]).run()
    assert at.info and "at least one text column" in at.info[-1].value
    assert not [b for b in at.button if b.key == "batch_button"]


@pytest.mark.parametrize("name,data,expect", [
    ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "binary"),
    ("sheet.xlsx", b"PK\x03\x04" + bytes(100), "Excel"),
    ("utf16.csv", "title\nšál\n".encode("utf-16"), "binary"),
    ("empty.csv", b"", "empty"),
    ("bad.csv", b'title,description\n"unclosed,quote\nx,y,z,w\n', "CSV"),
])
def test_bad_upload_is_an_error_message(app_env, name, data, expect):
    at = upload(classify_page(), name, data)
    assert at.error, "a clear error message"
    assert expect.lower() in plain(at.error[0].value).lower()
    assert not [b for b in at.button if b.key == "batch_button"]


def test_batch_row_limit(app_env, monkeypatch):
    from prodemb import ui

    monkeypatch.setattr(ui, "BATCH_MAX_ROWS", 5)
    buf = io.StringIO()
    buf.write("title\n" + "\n".join(f"product {i}" for i in range(8)) + "\n")
    at = upload(classify_page(), "many.csv", buf.getvalue().encode())
    assert any("first 5 rows" in w.value for w in at.warning)
    at.button(key="batch_button").click().run()
    assert_clean(at)
    assert len(dataframe_with(at, "predicted_category")) == 5


# ---------------------------------------------------------------------- issue 16
def test_text_box_is_in_a_form(app_env):
    """The text box and Classify are one form: typing sends nothing to the server until
    Classify or Ctrl+Enter (a rerun on leaving the box swallowed a sidebar click)."""
    at = classify_page()
    box = at.text_area(key="classify_input")
    assert box.proto.form_id and box.proto.form_id == at.button(key="classify_button").proto.form_id
    assert at.button(key="classify_button").proto.is_form_submitter
    box.set_value(SCARF_TEXT)
    at.run()
    assert not [m for m in markdown_values(at) if m.startswith("#### ")], "not classified yet"


def test_long_text_says_its_explanation_is_cut(app_env, bundle):
    from prodemb import ui

    text = " ".join(f"{w} merino scarf" for w in ["warm", "grey", "soft", "long", "wool"] * 5)
    c = bundle.classify([text])[0]
    shown = len(bundle.explain(text))
    assert len(c.tokens) > shown == 30
    at = type_and_classify(classify_page(), text)
    assert ui.explain_note(len(c.tokens), shown) in [x.value for x in at.caption]
    at = type_and_classify(at, SCARF_TEXT)
    assert not [x for x in at.caption if "Only the first" in x.value]


def test_unknown_words_are_listed_once_on_the_page(app_env, bundle):
    text = "merino scarf qxzvq qxzvq qxzvq wvkkzp"
    c = bundle.classify([text])[0]
    if c.status == "out_of_catalogue":
        pytest.skip("the bundle calls this text out of catalogue")
    at = type_and_classify(classify_page(), text)
    note = [x.value for x in at.caption if "Not in the vocabulary" in x.value]
    assert note and note[0].count("qxzvq") == 1


SLOVAK_EXPORT = ("sku;nazov_produktu;popis;cena_eur\r\n"
                 "1001;Pletený šál;merino vlna, sivý, 180 cm;24,90\r\n"
                 "1002;Kožená kabelka;čierna, zips;59,00\r\n"
                 "1003;Čiapka;zimná, pletená, čierna;12,50\r\n")


def test_batch_reads_a_slovak_excel_export(app_env, bundle):
    """What Excel on a Slovak machine writes: Windows-1250, semicolons, decimal commas. The
    encoding is detected (and said), both text columns are chosen, the predictions come
    first in the table."""
    at = upload(classify_page(), "export.csv", SLOVAK_EXPORT.encode("cp1250"))
    assert not at.error, [e.value for e in at.error]
    assert any("Windows-1250" in c.value for c in at.caption)
    assert at.multiselect(key="batch_columns").value == ["nazov_produktu", "popis"]
    at.button(key="batch_button").click().run()
    assert_clean(at)
    result = dataframe_with(at, "predicted_category", "sku")
    texts = [f"{t} . {d}" for t, d in (("Pletený šál", "merino vlna, sivý, 180 cm"),
                                       ("Kožená kabelka", "čierna, zips"),
                                       ("Čiapka", "zimná, pletená, čierna"))]
    assert list(result["predicted_category"]) == list(bundle.classify_frame(texts)["category"])
    assert list(result["nazov_produktu"]) == ["Pletený šál", "Kožená kabelka", "Čiapka"]
    table = [d for d in at.dataframe if "predicted_category" in d.value.columns][0]
    order = list(table.proto.column_order)
    assert order[:3] == ["predicted_category", "status", "confidence"], order
    assert order.index("predicted_category") < order.index("sku")


def test_batch_encoding_can_be_chosen(app_env):
    at = upload(classify_page(), "export.csv", SLOVAK_EXPORT.encode("cp1250"))
    at.selectbox(key="batch_encoding").set_value("utf-8").run()
    assert_clean(at)
    assert at.error and "not UTF-8 text" in plain(at.error[0].value)
    assert not [b for b in at.button if b.key == "batch_button"]
    at.selectbox(key="batch_encoding").set_value("cp1250").run()
    assert not at.error
    assert at.multiselect(key="batch_columns").value == ["nazov_produktu", "popis"]
    preview = at.dataframe[0].value
    assert preview["nazov_produktu"].iloc[0] == "Pletený šál"


def test_batch_tab_is_a_fragment():
    """The batch tab reruns on its own (st.fragment): an upload or a click there does not
    rebuild the one-product results (three figures, one of 5,000 points) each time, the
    bulk of a batch rerun's time besides the model itself. AppTest reruns whole scripts,
    so this checks the page's structure."""
    import ast

    tree = ast.parse((ROOT / "pages" / "classify.py").read_text(encoding="utf-8"))
    fragments = {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
                 and any(ast.unparse(d) == "st.fragment" for d in f.decorator_list)}
    assert "batch_section" in fragments
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.With)
             and ast.unparse(n.items[0].context_expr) == "batch"]
    assert calls and "batch_section()" in ast.unparse(calls[0])
    uploader = [n for n in ast.walk(next(f for f in tree.body if getattr(f, "name", "") == "batch_section"))
                if isinstance(n, ast.Call) and ast.unparse(n.func).endswith("file_uploader")]
    assert uploader, "the upload is inside the fragment"
