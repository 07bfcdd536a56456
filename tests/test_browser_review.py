"""The Review page end to end (issue 14): ``streamlit run app.py`` on a free port, two
browser sessions in headless Chromium writing corrections at the same time.

One session relabels a product and accepts the worst merge proposal (the scarf trio on the
demo) while a second session relabels another product; all three rows end up in the
corrections database (``PRODEMB_REVIEWS_DB``, a temporary file given to the server).
Debian's Chromium (``/usr/bin/chromium``) through Playwright, started with the helpers of
``bench/screenshots.py`` as in tests/test_browser.py; the server is always stopped.
Screenshots go to pytest's temporary directory (printed with ``-s``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from browser_helpers import app_server, launched_browser, screenshot_helpers

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture(scope="module")
def helpers():
    return screenshot_helpers()


@pytest.fixture(scope="module")
def reviews_db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reviews") / "reviews.sqlite"


@pytest.fixture(scope="module")
def artifacts(bundle_path, tmp_path_factory) -> Path:
    """An artifacts folder with a second bundle to compare with: a copy of the bundle
    whose test metrics say one leaf got better and another worse."""
    import shutil

    from prodemb.utils import sha256_file

    arts = tmp_path_factory.mktemp("artifacts")
    out = arts / "retrained"
    shutil.copytree(bundle_path, out)
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    leaves = [c for c in test["per_class"] if c["leaf"] and c["support"] > 0 and 0.3 < c["f1"] < 0.7]
    leaves[0]["f1"], leaves[1]["f1"] = round(leaves[0]["f1"] + 0.2, 4), round(leaves[1]["f1"] - 0.1, 4)
    test["leaf_macro_f1"] += 0.004
    (out / "metrics.json").write_text(json.dumps(metrics))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["metrics.json"] = {"bytes": (out / "metrics.json").stat().st_size,
                                         "sha256": sha256_file(str(out / "metrics.json"))}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return arts


@pytest.fixture(scope="module")
def server(helpers, bundle_path, reviews_db, artifacts, tmp_path_factory):
    # the bundle is PRODEMB_BUNDLE; the artifacts folder holds the one to compare with
    with app_server(helpers, bundle_path, tmp_path_factory,
                    {"PRODEMB_REVIEWS_DB": reviews_db, "PRODEMB_ARTIFACTS": artifacts}) as url:
        yield url


@pytest.fixture(scope="module")
def browser(helpers):
    with launched_browser(helpers) as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots in {d}")
    return d


def open_review(browser, server, helpers):
    """A new browser session (its own context) on the Review page, with every JS dialog
    recorded."""
    context = browser.new_context(viewport=helpers.VIEWPORT)
    tab = context.new_page()
    tab.dialogs = []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.goto(server + "/review")
    tab.get_by_role("heading", name="Review", exact=True).wait_for(timeout=120_000)
    tab.get_by_role("heading", name="What if they were merged?").wait_for(timeout=120_000)
    helpers.wait_rendered(tab)
    return context, tab


def no_exceptions(tab) -> None:
    assert tab.locator("[data-testid='stException']").count() == 0, tab.inner_text("body")[:3000]


def set_reviewer(tab, helpers, name: str) -> None:
    box = tab.get_by_label("Your name")
    box.fill(name)
    box.press("Enter")
    helpers.wait_rendered(tab, settle=1.0)


def open_tab(tab, helpers, name: str) -> None:
    tab.get_by_role("tab", name=name).click()
    helpers.wait_rendered(tab, settle=1.0)


def pick_product(tab, helpers, pid: str) -> None:
    """Choose the product ``pid`` in the drill-down's product list (typed, then picked)."""
    box = tab.get_by_role("combobox", name="Product")
    box.click()
    box.fill(pid)
    tab.get_by_role("option").filter(has_text=pid).first.click()
    helpers.wait_rendered(tab, settle=1.0)
    assert box.input_value().startswith(pid + " · ")


def click_row(tab, helpers, n: int) -> None:
    """Select the ``n``-th row of the visible products table by its row marker (the grid
    is a canvas: header and rows 35 px high)."""
    grid = tab.locator("[data-testid='stDataFrame']").filter(visible=True).last
    box = grid.bounding_box()
    tab.mouse.click(box["x"] + 15, box["y"] + 35 * (n + 1) + 17)
    helpers.wait_rendered(tab, settle=1.0)


def drill_down_ids(bundle, worst) -> list[str]:
    """The products the drill-down opens on: those of the proposal's largest confusion."""
    from prodemb.ui import review as rv

    cells = rv.confusion_cells(bundle.products, bundle.taxonomy)
    row = rv.default_cell(cells, worst.leaves)
    found = bundle.confused_products(cells["true"].iloc[row], cells["predicted"].iloc[row])
    return found["id"].astype(str).tolist()


def saved(tab, what: str, timeout: float = 60_000) -> str:
    """The confirmation of a saved correction that says ``what`` (waited for)."""
    box = tab.locator("[data-testid='stAlertContentSuccess']").filter(
        has_text="Saved as correction").filter(has_text=what)
    try:
        box.first.wait_for(timeout=timeout)
    except Exception:
        tab.screenshot(path=str(Path(os.environ.get("TMPDIR", "/tmp")) / "review_not_saved.png"))
        raise AssertionError("no confirmation; the page shows: " + tab.inner_text("body")[-2000:]) from None
    return box.first.inner_text()


def test_two_sessions_write_corrections_at_once(browser, server, helpers, bundle, reviews_db, shots):
    worst = bundle.merge_proposals()[0]
    a_ctx, a = open_review(browser, server, helpers)
    b_ctx, b = open_review(browser, server, helpers)
    try:
        # both open on the worst proposal (the scarf trio on the demo)
        for tab in (a, b):
            assert tab.get_by_role("heading", name="Merge ").first.inner_text().startswith("Merge ")
            heading = tab.get_by_role("heading", name="Merge ").first.inner_text()
            for leaf in worst.leaves:
                assert leaf.split(" > ")[-1] in heading
        set_reviewer(a, helpers, "Ana")
        set_reviewer(b, helpers, "Boris")
        for tab in (a, b):
            open_tab(tab, helpers, "Confused products")
        ids = drill_down_ids(bundle, worst)
        assert len(ids) >= 2
        first, second = ids[0], ids[1]
        pick_product(a, helpers, first)
        click_row(b, helpers, 1)                 # a row clicked in the table chooses it
        assert b.get_by_role("combobox", name="Product").input_value().startswith(second + " · ")

        # both relabel at once: click in one session, then the other, then wait for both
        a.get_by_role("button", name="Relabel").click()
        b.get_by_role("button", name="Relabel").click()
        assert "Relabelled" in saved(a, first) and "(by Ana)" in saved(a, first)
        assert "Relabelled" in saved(b, second) and "(by Boris)" in saved(b, second)
        # session A then accepts the merge
        open_tab(a, helpers, "Merge proposals")
        a.get_by_role("button", name="Accept this merge").click()
        assert worst.into in saved(a, "Accepted the merge")
        helpers.wait_rendered(a)
        a.screenshot(path=str(shots / "review_merge_accepted.png"))
        open_tab(a, helpers, "Corrections")
        a.screenshot(path=str(shots / "review_corrections.png"))
        # the reviewer's name is kept when the session visits another page and comes back
        nav = b.locator("[data-testid='stSidebarNav']")
        nav.get_by_text("Classify", exact=True).click()
        b.get_by_role("heading", name="Classify a product").wait_for(timeout=60_000)
        nav.get_by_text("Review", exact=True).click()
        b.get_by_role("heading", name="What if they were merged?").wait_for(timeout=60_000)
        helpers.wait_rendered(b)
        assert b.get_by_label("Your name").input_value() == "Boris"
        for tab in (a, b):
            no_exceptions(tab)
            assert tab.dialogs == []
    finally:
        a_ctx.close()
        b_ctx.close()

    from prodemb.corrections import CorrectionStore

    rows = CorrectionStore(str(reviews_db)).frame()
    relabels = rows[rows["kind"] == "relabel"]
    assert sorted(relabels["product_id"]) == sorted([first, second])
    assert dict(zip(relabels["product_id"], relabels["reviewer"])) == {first: "Ana", second: "Boris"}
    merges = rows[rows["kind"] == "merge"]
    assert len(merges) == 1 and merges["reviewer"].iloc[0] == "Ana"
    assert json.loads(merges["merge_paths"].iloc[0]) == worst.leaves
    assert merges["into_path"].iloc[0] == worst.into
    assert set(rows["bundle"]) == {bundle.name}
    assert len(rows) == 3


def test_compare_evaluate_and_keep_the_label(browser, server, helpers, bundle, reviews_db, shots,
                                             tmp_path):
    """The new tabs in a browser: Compare bundles with the second bundle of the artifacts
    folder, Evaluate a file with an uploaded labelled CSV, and Keep the label in the label
    review queue (screenshots of each)."""
    import pandas as pd

    from prodemb.demo import write_demo

    context, tab = open_review(browser, server, helpers)
    try:
        open_tab(tab, helpers, "Compare bundles")
        box = tab.get_by_role("combobox", name="Compare with")
        box.click()
        tab.get_by_role("option").filter(has_text="retrained").first.click()
        tab.get_by_text("Better in retrained").wait_for(timeout=60_000)
        helpers.wait_rendered(tab, settle=1.0)
        assert tab.get_by_text("Predictions changed").count()
        tab.screenshot(path=str(shots / "review_compare.png"))
        tab.get_by_text("Better in retrained").scroll_into_view_if_needed()
        helpers.wait_rendered(tab, settle=1.0)
        tab.screenshot(path=str(shots / "review_compare_tables.png"))

        open_tab(tab, helpers, "Evaluate a file")
        data = tmp_path / "labelled.csv"
        write_demo(data, n_labelled=200, n_unlabelled=0, seed=11, progress=False)
        rows = pd.read_csv(data, dtype=str, keep_default_na=False)
        rows.loc[0, "category"] = "Nowhere **Not a category**"         # dropped, said literally
        rows.to_csv(data, index=False)
        tab.locator("input[type='file']").first.set_input_files(str(data))
        tab.get_by_text("What was scored").wait_for(timeout=120_000)
        helpers.wait_rendered(tab, settle=1.0)
        assert tab.get_by_text("Products scored").count()
        assert tab.get_by_text("**Not a category**").count()               # shown as text
        assert tab.locator("strong", has_text="Not a category").count() == 0
        tab.screenshot(path=str(shots / "review_evaluate.png"))
        tab.get_by_role("tabpanel", name="Evaluate a file").get_by_text(
            "Most confused pairs").scroll_into_view_if_needed()
        helpers.wait_rendered(tab, settle=1.0)
        tab.screenshot(path=str(shots / "review_evaluate_tables.png"))

        open_tab(tab, helpers, "Label review")
        if "label_doubt" in bundle.products.columns:
            tab.get_by_role("button", name="Keep the label").first.click()
            assert "Kept the label" in saved(tab, "Kept the label")
            tab.screenshot(path=str(shots / "review_keep_label.png"))
        no_exceptions(tab)
        assert tab.dialogs == []
    finally:
        context.close()
    if "label_doubt" in bundle.products.columns:
        from prodemb.corrections import CorrectionStore

        rows = CorrectionStore(str(reviews_db)).frame()
        kept = rows[rows["product_id"].notna() & (rows["kind"] == "accept")]
        assert len(kept) >= 1
