"""End to end in headless Chromium: hostile text is shown as text, never run.

Starts ``streamlit run app.py`` (``PRODEMB_BUNDLE`` = a bundle trained by ``prodemb train``
on a catalogue whose product texts, ids and one category contain
``<img src=x onerror=alert(1)>``, ``<script>`` and Markdown; see
:func:`bad_inputs.write_hostile_catalogue`) and drives it with Playwright:

- the payload typed into every text input: the Classify text box, the Neighbours word
  box and product box (by text and by id), the Embedding map search box; and a CSV of
  hostile rows uploaded to the batch classifier;
- every page showing the hostile catalogue (including the hostile category, by deep link);
- after each step: no JavaScript dialog opened, no element with an inline event handler,
  a ``javascript:`` URL or ``<img src=x>`` exists, no exception is shown, and the payload
  is visible as literal text;
- the live server refuses an upload without its XSRF token (403) and the browser refuses
  a file over the upload limit; the server log has no traceback.

Skipped when ``/usr/bin/chromium`` is missing. The server is always stopped in teardown.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from bad_inputs import BAD_TEXTS, HOSTILE_TEXTS, XSS
from reliability_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCRIPTABLE_JS,
    hostile_bundle,
    require_chromium,
    start_app,
    stop_app,
    wait_rendered,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Every hostile string of the corpus in one paste (the text box takes 5,000 characters).
COMBINED = " ".join(HOSTILE_TEXTS.values())
#: Records calls of alert/confirm/prompt/print even if a dialog event were missed.
TRAP_JS = """(() => {
    window.__dialogs = [];
    for (const name of ['alert', 'confirm', 'prompt', 'print']) {
        const original = window[name];
        window[name] = function (...args) { window.__dialogs.push(name + ':' + args.join(' '));
                                            return original ? original.apply(this, args) : undefined; };
    }
})();"""


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory) -> Path:
    require_chromium()
    return hostile_bundle(tmp_path_factory)


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    proc, url = start_app(bundle_dir, log)
    try:
        yield url
    finally:
        stop_app(proc)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(TRAP_JS)
    tab = context.new_page()
    tab.dialogs = []

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    tab.goto(server + "/")
    tab.get_by_role("heading", name="Classify a product").wait_for(timeout=90_000)
    wait_rendered(tab)
    try:
        yield tab
    finally:
        context.close()


def assert_inert(tab, where: str) -> None:
    """Nothing ran and nothing scriptable was created."""
    tab.wait_for_timeout(300)  # an onerror handler fires right after the image fails
    assert tab.dialogs == [], f"{where}: a dialog opened: {tab.dialogs}"
    assert tab.evaluate("() => window.__dialogs") == [], where
    assert tab.evaluate(SCRIPTABLE_JS) == [], f"{where}: scriptable markup in the page"
    assert tab.locator("[data-testid='stException']").count() == 0, \
        f"{where}: " + tab.inner_text("body")[:2000]


def shows_literally(tab, text: str) -> bool:
    """``text`` is in the page as text: in the DOM text, an input's value or an SVG label."""
    return tab.evaluate("""(t) => document.body.innerText.includes(t)
        || [...document.querySelectorAll('input, textarea')].some(e => (e.value || '').includes(t))
        || [...document.querySelectorAll('svg text')].some(e => (e.textContent || '').includes(t))""",
                        text)


def go(tab, link: str, heading: str) -> None:
    tab.locator("[data-testid='stSidebarNav']").get_by_text(link, exact=True).click()
    tab.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
    wait_rendered(tab)


def commit(box, text: str, key: str = "Enter") -> None:
    box.fill(text)
    box.press(key)


# ---------------------------------------------------------------------- the detector
def test_the_checks_see_a_planted_payload(browser):
    """Guard against a vacuous pass: the same checks fail when the payload does run."""
    context = browser.new_context()
    context.add_init_script(TRAP_JS)
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    try:
        tab.set_content("<main><p>catalogue</p></main>")
        tab.evaluate("(html) => document.querySelector('main').insertAdjacentHTML('beforeend', html)",
                     XSS)
        tab.wait_for_timeout(500)
        assert tab.dialogs == ["1"]
        assert tab.evaluate(SCRIPTABLE_JS)
        with pytest.raises(AssertionError):
            assert_inert(tab, "planted")
    finally:
        context.close()


# ---------------------------------------------------------------------- text inputs
def test_payload_in_the_classify_box(page):
    assert_inert(page, "first page")
    wait_rendered(page)  # the linked text's own classification first
    box = page.get_by_role("textbox", name="Title and description")
    # Filled, then submitted once: the form sends nothing until Classify is clicked.
    box.fill(COMBINED)
    page.get_by_role("button", name="Classify", exact=True).click()
    page.get_by_role("heading", name="Predicted category").wait_for(timeout=120_000)
    wait_rendered(page)
    assert_inert(page, "classify")
    from prodemb import ui

    shown = page.locator("[data-testid='stText']").first.inner_text().strip()
    assert shown == ui.shorten(COMBINED, 600), "the classified text is shown as typed"
    # the single payload as well (its own result: no readable words)
    box.fill(XSS)
    page.get_by_role("button", name="Classify", exact=True).click()
    page.locator("[data-testid='stText']").filter(has_text=XSS).first.wait_for(timeout=120_000)
    wait_rendered(page)
    assert_inert(page, "classify payload")
    assert page.locator("[data-testid='stText']").first.inner_text().strip() == XSS


def test_payload_in_the_neighbours_boxes(page):
    go(page, "Neighbours", "Neighbours")
    commit(page.get_by_role("textbox", name="Word", exact=True), XSS)
    # An unknown word, or several words ("is 5 words (as the model reads it)"): quoted either way.
    page.get_by_text(re.compile(r"is not in the vocabulary|words \(as the model reads it\)")
                     ).first.wait_for(timeout=60_000)
    wait_rendered(page)
    assert_inert(page, "word box")
    assert shows_literally(page, XSS), "the unknown word is quoted as typed"

    page.get_by_role("tab", name="Similar products").click()
    page.locator("[data-testid='stRadio']").get_by_text("Text", exact=True).click()
    wait_rendered(page)
    commit(page.get_by_role("textbox", name="Product text"), COMBINED[:2000])
    wait_rendered(page)
    assert_inert(page, "product text box")
    assert page.locator("[data-testid='stDataFrame']").count() >= 1

    page.locator("[data-testid='stRadio']").get_by_text("Product id", exact=True).click()
    wait_rendered(page)
    commit(page.get_by_role("textbox", name="Product id"), f"id-{XSS}")  # a real id of the hostile catalogue
    page.get_by_text("Query product").wait_for(timeout=60_000)
    wait_rendered(page)
    assert_inert(page, "product id box")
    commit(page.get_by_role("textbox", name="Product id"), XSS)  # not an id
    page.get_by_text("There is no product with id").wait_for(timeout=60_000)
    wait_rendered(page)
    assert_inert(page, "unknown id")
    assert shows_literally(page, XSS)


def test_payload_in_the_map_search_box(page):
    go(page, "Embedding map", "Embedding map")
    query = f"{XSS} {BAD_TEXTS['script_tag']}"[:200]
    commit(page.get_by_role("textbox", name="Search products"), XSS)
    page.get_by_text("match the search").first.wait_for(timeout=60_000)
    wait_rendered(page)
    assert_inert(page, "map search (matches the hostile products)")
    commit(page.get_by_role("textbox", name="Search products"), query)
    wait_rendered(page)
    assert_inert(page, "map search")
    assert shows_literally(page, query)


def test_hostile_csv_upload(page):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["id", f"title{XSS}", "description"])
    for i, text in enumerate(list(HOSTILE_TEXTS.values()) * 3):
        w.writerow([f"{XSS}{i}", text, BAD_TEXTS["markdown_injection"]])
    page.get_by_role("tab", name="Batch (CSV)").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(
        files=[{"name": f"{XSS}.csv", "mimeType": "text/csv", "buffer": buf.getvalue().encode()}])
    wait_rendered(page)
    page.locator("[data-testid='stMultiSelect']").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Classify 12 products").wait_for(timeout=60_000)
    assert_inert(page, "after upload")
    page.get_by_role("button", name="Classify 12 products").click()
    page.get_by_text("Products classified").wait_for(timeout=60_000)
    wait_rendered(page)
    assert_inert(page, "batch result")


# ---------------------------------------------------------------------- hostile catalogue
#: The Classify page (with its example products) is where every test starts.
CATALOGUE_PAGES = [
    ("/neighbours", "Neighbours"),
    ("/per_class_f1?subtree=Accessories > " + XSS, "Per-class F1"),
    ("/embedding_map?subtree=Accessories > " + XSS + "&q=onerror", "Embedding map"),
]


def test_hostile_catalogue_is_shown_as_text(page, server):
    """Product texts, ids and a category name with markup, on every page (and the hostile
    category selected by deep link on the F1 and map pages)."""
    for path, heading in CATALOGUE_PAGES:
        page.goto(server + path)
        page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=60_000)
        wait_rendered(page)
        assert_inert(page, path)
        if "subtree=" in path:
            assert shows_literally(page, XSS), f"{path}: the hostile category is shown as text"


# ---------------------------------------------------------------------- server protections
def test_upload_needs_the_xsrf_token(server):
    req = urllib.request.Request(f"{server}/_stcore/upload_file/some-session/some-file",
                                 data=b"id,title\n1,x\n", method="PUT",
                                 headers={"Content-Type": "text/csv"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 403


def test_upload_over_the_limit_is_refused(page, server, tmp_path):
    import tomllib

    from reliability_helpers import ROOT

    limit_mb = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]["maxUploadSize"]
    page.get_by_role("tab", name="Batch (CSV)").click()
    big = b"id,title\n" + b"1,wool scarf\n" * ((limit_mb * 1024 * 1024) // 13 + 1000)
    assert len(big) > limit_mb * 1024 * 1024
    path = tmp_path / "big.csv"
    path.write_bytes(big)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    page.get_by_text(f"{limit_mb:.1f}MB", exact=False).first.wait_for(timeout=60_000)
    assert page.get_by_role("button", name="Classify", exact=False).filter(
        has_text="products").count() == 0, "the oversized file was not accepted"
    assert_inert(page, "oversized upload")
    with urllib.request.urlopen(server + "/_stcore/health", timeout=10) as r:
        assert r.status == 200
