"""End to end: ``streamlit run app.py`` on a free port, driven in headless Chromium.

Uses Debian's Chromium (``/usr/bin/chromium``, ``make browser``) through Playwright's
sync API; no browser is downloaded. The server is started by the helpers of
``bench/screenshots.py`` and always stopped in the fixture's teardown. Screenshots go
to pytest's temporary directory (printed with ``-s``).

The bundle is ``PRODEMB_BUNDLE`` if set, else ``artifacts/demo``; skipped when neither
exists or Chromium is missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from browser_helpers import app_server, launched_browser, screenshot_helpers

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCARF_TEXT = "Pletený šál z merino vlny, sivý. Knitted merino wool scarf, warm, 180 cm"
PAYLOAD = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def helpers():
    return screenshot_helpers()


@pytest.fixture(scope="module")
def server(helpers, bundle_path, tmp_path_factory):
    with app_server(helpers, bundle_path, tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="module")
def browser(helpers):
    with launched_browser(helpers) as b:
        yield b


@pytest.fixture
def page(browser, server, helpers):
    """A fresh tab on the app's first page, with every JS dialog recorded."""
    context = browser.new_context(viewport=helpers.VIEWPORT)
    tab = context.new_page()
    tab.dialogs = []

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    # Every request to another origin than the app's (the dashboard must work offline).
    own = urlsplit(server).netloc
    tab.outside = []
    tab.on("request", lambda r: tab.outside.append(r.url)
           if urlsplit(r.url).scheme in ("http", "https", "ws", "wss") and urlsplit(r.url).netloc != own
           else None)
    tab.goto(server + "/")
    tab.get_by_role("heading", name="Classify a product").wait_for(timeout=60_000)
    helpers.wait_rendered(tab)
    yield tab
    context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots in {d}")
    return d


#: Records every text the page ever showed (a MutationObserver from the first paint), so a
#: test can ask whether something flashed by, e.g. Streamlit's "Page not found" dialog.
SEEN_TEXT_JS = """
window.__prodembTexts = new Set();
new MutationObserver(() => {
    if (document.body) { window.__prodembTexts.add(document.body.innerText.slice(0, 20000)); }
}).observe(document, {subtree: true, childList: true, characterData: true});
window.__prodembSeen = (needle) => [...window.__prodembTexts].some(t => t.includes(needle));
"""


def no_exceptions(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, tab.inner_text("body")[:3000]


def classify(tab, helpers, text: str) -> None:
    box = tab.get_by_label("Title and description")
    box.fill(text)
    tab.get_by_role("button", name="Classify", exact=True).click()  # submits the form
    # a category, or (issue 12) the verdict for a text the model does not know
    tab.get_by_role("heading", name="Predicted category").or_(
        tab.get_by_role("heading", name="Not in this catalogue")).wait_for(timeout=60_000)
    helpers.wait_rendered(tab)
    no_exceptions(tab)


def scarf_text(bundle) -> tuple[str, bool]:
    """A scarf product from the bundle's test split if it has scarves (the demo), else a
    typed one; and whether the model is known to get it right."""
    from prodemb import ui

    ex = ui.example_products(bundle)
    if len(ex) and "scar" in ex["true_path"].iloc[0].lower():
        row = bundle.products.set_index("id").loc[ex["id"].iloc[0]]
        return ex["text"].iloc[0], bool(row["correct"])
    return SCARF_TEXT, False


def test_classify_a_scarf_and_open_the_map(page, helpers, bundle, shots):
    text, known_correct = scarf_text(bundle)
    expected = bundle.classify([text])[0].top_path
    classify(page, helpers, text)
    heading = page.locator("h4").first.inner_text()
    crumbs = [part.strip().rsplit(" ", 1)[0] for part in heading.split("›")]
    assert crumbs == expected.split(" > "), (heading, expected)
    if known_correct:
        assert "Scarves" in expected or "Scarf" in expected
    assert "text=" in page.url, "the classification is bookmarkable"
    assert page.get_by_role("heading", name="Nearest catalogue products").is_visible()
    assert page.locator("[data-testid='stPlotlyChart']").count() >= 3
    page.screenshot(path=str(shots / "classify.png"))

    nav = page.locator("[data-testid='stSidebarNav']")
    if nav.get_by_text("Embedding map").count():
        t0 = time.perf_counter()
        nav.get_by_text("Embedding map").click()
        page.get_by_role("heading", name="Embedding map").wait_for(timeout=60_000)
        helpers.wait_rendered(page)
        no_exceptions(page)
        assert page.locator("[data-testid='stPlotlyChart']").count() >= 1
        page.screenshot(path=str(shots / "embedding_map.png"))
        print(f"embedding map rendered in {time.perf_counter() - t0:.1f} s (incl. settle)")
    assert page.dialogs == []


def test_every_page_renders_warm(page, helpers, shots):
    """Switching pages in the sidebar, the first and the second time round (warm caches),
    with a classified product (so Classify shows all its results). The warm times are
    printed (``-s``), not asserted: speed is measured by ``make bench`` (bench/bench_app.py,
    target <= 2 s per page), where a loaded test machine cannot fail a correct page."""
    classify(page, helpers, SCARF_TEXT)
    nav = page.locator("[data-testid='stSidebarNav']")
    titles = {"Classify": "Classify a product", "Neighbours": "Neighbours",
              "Per-class F1": "Per-class F1", "Embedding map": "Embedding map"}
    titles = {k: v for k, v in titles.items() if nav.get_by_text(k, exact=True).count()}
    assert {"Classify", "Neighbours"} <= set(titles)
    for warm in (False, True):
        for link, heading in titles.items():
            seconds = helpers.timed(page, nav.get_by_text(link, exact=True).click)
            assert page.get_by_role("heading", name=heading, exact=True).is_visible()
            no_exceptions(page)
            if warm:
                print(f"{link}: {seconds:.2f} s")
                page.screenshot(path=str(shots / f"warm_{link.replace(' ', '_').lower()}.png"))
    assert page.dialogs == []
    assert page.outside == [], f"requests outside the app: {page.outside[:5]}"


# The point of the map nearest the middle of its axes, in page pixels, and its product row.
CENTRE_POINT_JS = """() => {
  // The point nearest the plot's centre that no other point lies within ~10 px of, so a
  // click there can only hit it (a point drawn later at the same pixels would win).
  const gd = document.querySelector('.js-plotly-plot');
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const cx = xa.l2p((xa.range[0] + xa.range[1]) / 2), cy = ya.l2p((ya.range[0] + ya.range[1]) / 2);
  const cell = 10, counts = new Map(), points = [];
  gd._fullData.forEach(tr => { if (!tr.x) return;
    for (let i = 0; i < tr.x.length; i++) {
      const px = xa.l2p(tr.x[i]), py = ya.l2p(tr.y[i]);
      const key = Math.floor(px / cell) + ',' + Math.floor(py / cell);
      counts.set(key, (counts.get(key) || 0) + 1);
      if (tr.customdata) points.push({px, py, row: tr.customdata[i][0]});
    } });
  const alone = p => { const gx = Math.floor(p.px / cell), gy = Math.floor(p.py / cell);
    let n = 0;
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++)
      n += counts.get((gx + dx) + ',' + (gy + dy)) || 0;
    return n === 1; };
  let best = null;
  for (const p of points) {
    const d = Math.hypot(p.px - cx, p.py - cy);
    if ((!best || d < best.d) && alone(p)) best = {d, ...p};
  }
  return {x: box.left + xa._offset + best.px, y: box.top + ya._offset + best.py, row: best.row};
}"""


def test_click_a_map_point_rings_and_lists_its_nearest_products(page, helpers, bundle, shots):
    nav = page.locator("[data-testid='stSidebarNav']")
    if not nav.get_by_text("Embedding map").count() or not bundle.map_methods:
        pytest.skip("no map in this bundle")
    nav.get_by_text("Embedding map").click()
    page.get_by_role("heading", name="Embedding map").wait_for(timeout=60_000)
    page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    helpers.wait_rendered(page)
    point = page.evaluate(CENTRE_POINT_JS)
    page.mouse.click(point["x"], point["y"])
    page.get_by_text("Nearest products to the clicked one").wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    names = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData.map(t => t.name)")
    assert "clicked product" in names and any(n.startswith("nearest to the clicked") for n in names)
    clicked = page.evaluate("() => document.querySelector('.js-plotly-plot')._fullData"
                            ".find(t => t.name === 'clicked product').customdata[0][0]")
    assert clicked == point["row"]
    # the clicked product's row and its nearest products' table
    assert page.locator("[data-testid='stDataFrame']").count() >= 2
    no_exceptions(page)
    page.screenshot(path=str(shots / "map_click_nearest.png"), full_page=True)


def test_markup_in_text_is_shown_literally(page, helpers, shots):
    classify(page, helpers, PAYLOAD)
    page.wait_for_timeout(500)
    assert page.dialogs == [], "no script ran"
    assert page.locator("img[src='x']").count() == 0, "no image element was created"
    shown = page.locator("[data-testid='stText']").filter(has_text=PAYLOAD)
    assert shown.count() >= 1 and shown.first.inner_text().strip() == PAYLOAD
    page.screenshot(path=str(shots / "markup.png"))


def test_neighbours_unknown_word_suggestions(page, helpers, bundle):
    from prodemb import ui

    word = ui.default_word(bundle)
    typo = word + "x" if word + "x" not in bundle.word_vectors else "x" + word
    page.locator("[data-testid='stSidebarNav']").get_by_text("Neighbours", exact=True).click()
    page.get_by_role("heading", name="Neighbours", exact=True).wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    box = page.get_by_label("Word", exact=True)
    box.fill(typo)
    box.press("Enter")
    page.get_by_text("is not in the vocabulary").wait_for(timeout=30_000)
    helpers.wait_rendered(page)
    no_exceptions(page)
    assert page.get_by_text(typo).count() >= 1


def test_deep_links_open_inside_the_navigation(helpers, browser, bundle_path, bundle, tmp_path):
    """On a fresh server, the first visit is a deep link into a page (Streamlit then starts
    in its legacy ``pages/`` mode; the page runs app.py itself), then a deep link to every
    other page: each opens that page with its parameters, inside app.py's navigation, with
    the bundle selector and the model card. (Classify is the home page, ``/?text=``.)"""
    from prodemb import ui

    word = ui.default_word(bundle)
    subtree = ui.confused_subtree(bundle) or bundle.taxonomy.name(0)
    methods = bundle.map_methods
    links = [(f"/neighbours?{urlencode({'word': word})}", "Neighbours"),
             (f"/per_class_f1?{urlencode({'subtree': subtree})}", "Per-class F1"),
             (f"/?{urlencode({'text': SCARF_TEXT})}", "Classify a product"),
             # issue 16: /classify is an alias of the home page, not "Page not found"
             (f"/classify?{urlencode({'text': SCARF_TEXT})}", "Classify a product")]
    if methods:
        links.insert(2, (f"/embedding_map?{urlencode({'method': methods[-1], 'q': word})}",
                         "Embedding map"))
    log = tmp_path / "server.log"
    port = helpers.free_port()
    proc = helpers.start_app(bundle_path, port, log)
    try:
        for link, heading in links:
            context = browser.new_context(viewport=helpers.VIEWPORT)
            context.add_init_script(SEEN_TEXT_JS)
            tab = context.new_page()
            tab.goto(f"http://127.0.0.1:{port}{link}")
            tab.get_by_role("heading", name=heading, exact=True).wait_for(timeout=90_000)
            helpers.wait_rendered(tab)
            no_exceptions(tab)
            nav = tab.locator("[data-testid='stSidebarNav']")
            for title in ("Classify", "Neighbours", "Per-class F1", "Embedding map"):
                assert nav.get_by_text(title, exact=True).count() == 1, (link, title)
            assert nav.get_by_text("app", exact=True).count() == 0, "not the legacy pages/ menu"
            sidebar = tab.locator("[data-testid='stSidebar']")
            assert sidebar.get_by_text("Model bundle").count() >= 1, link
            assert sidebar.get_by_text("Model card").count() >= 1, link
            if heading == "Neighbours":
                assert tab.get_by_label("Word", exact=True).input_value() == word
            elif heading == "Embedding map":
                assert tab.get_by_role("textbox", name="Search products").input_value() == word
            elif heading == "Per-class F1":
                assert tab.get_by_text(f"Confusion heatmap: {subtree}").count() >= 1
            else:
                assert tab.get_by_label("Title and description").input_value() == SCARF_TEXT
                assert tab.get_by_role("heading", name="Predicted category").count() == 1
            assert tab.get_by_role("heading", name=heading, exact=True).count() == 1, "shown once"
            assert not tab.evaluate("() => window.__prodembSeen('Page not found')"), link
            context.close()
    finally:
        helpers.stop_app(proc)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-3000:]


def test_noise_is_out_of_the_catalogue(page, helpers, shots):
    """Issue 12: "asdf qwer" (no known word) gets no bold category with a percentage: the
    page says the model does not know the text and why; the guess stays in a closed expander."""
    box = page.get_by_label("Title and description")
    box.fill("asdf qwer")
    box.press("Control+Enter")
    page.get_by_role("button", name="Classify", exact=True).click()
    page.get_by_role("heading", name="Not in this catalogue").wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    no_exceptions(page)
    assert page.get_by_text("The model does not know this text").count() == 1
    assert page.get_by_text("None of its words is known to the model").count() == 1
    assert page.get_by_role("heading", name="Predicted category").count() == 0
    assert page.locator("h4").count() == 0, "no category heading"
    guess = page.locator("[data-testid='stExpander']").filter(has_text="Best guess anyway")
    assert guess.count() == 1
    assert not guess.locator("[data-testid='stPlotlyChart']").first.is_visible(), "closed"
    page.screenshot(path=str(shots / "out_of_catalogue.png"))
    assert page.dialogs == []


# ---------------------------------------------------------------------- issue 16
def test_ctrl_enter_classifies(page, helpers):
    box = page.get_by_label("Title and description")
    box.fill(SCARF_TEXT)
    box.press("Control+Enter")  # no click on Classify
    page.get_by_role("heading", name="Predicted category").or_(
        page.get_by_role("heading", name="Not in this catalogue")).wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    no_exceptions(page)
    assert "text=" in page.url


def test_sidebar_click_is_not_lost_with_unsubmitted_text(page, helpers):
    """Text typed but not classified, then one click on another page in the sidebar: that
    page opens (the click used to be swallowed by the rerun leaving the box started)."""
    page.get_by_label("Title and description").fill("typed but not classified")
    page.locator("[data-testid='stSidebarNav']").get_by_text("Neighbours", exact=True).click()
    page.get_by_role("heading", name="Neighbours", exact=True).wait_for(timeout=30_000)
    helpers.wait_rendered(page)
    no_exceptions(page)


def test_batch_of_a_slovak_excel_export(page, helpers, shots, tmp_path):
    """Windows-1250, semicolons: read, both text columns chosen, predictions first."""
    rows = ["sku;nazov_produktu;popis;cena_eur"] + [
        f"{1000 + i};Pletený šál {i};merino vlna, sivý, 180 cm;24,90" for i in range(40)]
    f = tmp_path / "export.csv"
    f.write_bytes("\r\n".join(rows).encode("cp1250"))
    page.get_by_role("tab").filter(has_text="Batch (CSV)").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(f))
    page.get_by_text("Read as Windows-1250").wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    chosen = page.locator("[data-testid='stMultiSelect']").inner_text()
    assert "nazov_produktu" in chosen and "popis" in chosen
    page.get_by_role("button", name="Classify 40 products").click()
    page.get_by_text("Products classified").wait_for(timeout=60_000)
    helpers.wait_rendered(page)
    no_exceptions(page)
    page.screenshot(path=str(shots / "batch.png"), full_page=True)
