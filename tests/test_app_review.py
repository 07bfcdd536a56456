"""The Review page (pages/review.py, issue 14) and its helpers (prodemb/ui/review.py).

Unit tests of the helpers (plain calls, a few on the demo bundle), then AppTest runs of the
page on the demo bundle (``PRODEMB_BUNDLE`` or ``artifacts/demo``): it opens on the worst
merge proposal (the scarf trio on the demo) with the what-if numbers of
``Bundle.what_if_merge``; relabelling, accepting a prediction and accepting a merge each
write one row into the corrections database named by ``PRODEMB_REVIEWS_DB`` (a temporary
file here). The queues are shown on the session's tiny bundle, trained by the current code.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import page_helpers
import pandas as pd
import pytest

from prodemb.corrections import CorrectionsError, CorrectionStore
from prodemb.ui import review as rv
from prodemb.ui.text import md_escape

ROOT = Path(__file__).resolve().parent.parent
SCARVES = "Accessories > Scarves"
TRIO = [f"{SCARVES} > Knit scarf", f"{SCARVES} > Scarf / Shawl", f"{SCARVES} > Snood / Loop scarf"]
HOSTILE = "<img src=x onerror=alert(1)> **bold** [link](http://x) :red[x] $x$"


@pytest.fixture
def db(tmp_path, monkeypatch) -> Path:
    """A fresh corrections database for the page, through ``PRODEMB_REVIEWS_DB``."""
    path = tmp_path / "reviews.sqlite"
    monkeypatch.setenv("PRODEMB_REVIEWS_DB", str(path))
    return path


def is_demo(bundle) -> bool:
    names = {bundle.taxonomy.name(i) for i in bundle.taxonomy.leaves}
    return set(TRIO) <= names


@pytest.fixture(scope="module")
def worst(bundle):
    proposals = bundle.merge_proposals()
    if not proposals:
        pytest.skip("the bundle has no merge proposal")
    return proposals[0]


# ====================================================================== helpers
def test_names_of_a_group():
    assert rv.common_prefix(TRIO) == SCARVES
    assert rv.common_prefix(["A > B", "C > D"]) == ""
    assert rv.common_prefix(["A > B > C"]) == "A > B"      # a single path: its parent
    assert rv.short_name(TRIO[0], SCARVES) == "Knit scarf"
    assert rv.short_name("Other > X", SCARVES) == "Other > X"
    assert rv.pair_label(TRIO[0], TRIO[1], 78) == f"{SCARVES}: Knit scarf → Scarf / Shawl (78 products)"
    assert rv.pair_label("A > B", "C > D", 1) == "A > B → C > D (1 product)"
    assert rv.first_path("A > B | C > D") == "A > B" and rv.first_path(None) == ""


def test_proposal_label_and_links(worst, bundle):
    label = rv.proposal_label(worst)
    assert f"{worst.rate:.0%} confused" in label and f"{worst.products:,} products" in label
    links = rv.links_table(worst)
    assert list(links.columns) == ["category a", "category b", "a → b", "b → a", "confused"]
    assert links["a → b"].tolist() == [d["a_as_b"] for d in worst.links]
    assert links["b → a"].tolist() == [d["b_as_a"] for d in worst.links]
    if is_demo(bundle):
        assert label.startswith(f"{SCARVES}: Knit scarf, Scarf / Shawl, Snood / Loop scarf")
        assert set(links["category a"]) | set(links["category b"]) == {
            "Knit scarf", "Scarf / Shawl", "Snood / Loop scarf"}


def test_what_if_tables_are_the_api_numbers(worst, bundle):
    result = bundle.what_if_merge(worst.leaves)
    table = rv.what_if_table(result)
    for split in ("validation", "test"):
        s = result["splits"][split]
        for label, key in rv.WHAT_IF_METRICS:
            assert table.loc[label, f"{split} now"] == s["before"][key]
            assert table.loc[label, f"{split} merged"] == s["after"][key]
            assert table.loc[label, f"{split} change"] == pytest.approx(s["after"][key] - s["before"][key])
        n = rv.what_if_numbers(result, split)
        assert n["leaf_macro_f1"] == s["after"]["leaf_macro_f1"]
        assert n["class_f1"] == s["after"]["class"]["f1"]
        assert n["leaf_f1s"] == {c["name"]: c["f1"] for c in s["before"]["classes"]}
        assert min(n["leaf_f1s"].values()) <= n["leaves_f1"] <= max(n["leaf_f1s"].values())
        assert n["moved"] == s["moved_products"]
    classes = rv.class_table(result)
    assert classes["category"].tolist() == [*worst.leaves, worst.into]
    assert classes["state"].tolist() == ["now"] * len(worst.leaves) + ["merged"]
    assert classes["test F1"].iloc[-1] == result["splits"]["test"]["after"]["class"]["f1"]
    if is_demo(bundle):  # the acceptance: merging the trio raises leaf macro-F1
        assert rv.what_if_numbers(result, "test")["leaf_macro_f1_change"] > 0


def test_confusion_cells_count_as_the_proposals_do(worst, bundle):
    cells = rv.confusion_cells(bundle.products, bundle.taxonomy)
    assert list(cells.columns) == ["true", "predicted", "products"]
    assert (cells["true"] != cells["predicted"]).all()
    assert cells["products"].is_monotonic_decreasing
    count = {(t, p): n for t, p, n in cells.itertuples(index=False)}
    for link in worst.links:
        assert count[(link["a"], link["b"])] == link["a_as_b"]
        assert count[(link["b"], link["a"])] == link["b_as_a"]
        assert len(bundle.confused_products(link["a"], link["b"])) == link["a_as_b"]
    row = rv.default_cell(cells, worst.leaves)
    assert cells["true"].iloc[row] in worst.leaves and cells["predicted"].iloc[row] in worst.leaves
    assert rv.default_cell(cells, ["not a leaf"]) == 0


def test_example_confusions_are_mistakes_inside_the_group(worst, bundle):
    ex = rv.example_confusions(bundle.products, bundle.taxonomy, worst.leaves)
    assert 0 < len(ex) <= 8
    assert list(ex.columns) == rv.PRODUCT_COLUMNS
    for true, pred in zip(ex["true_path"], ex["pred_path"]):
        assert true in worst.leaves and pred in worst.leaves and true != pred
    assert ex["pred_score"].is_monotonic_decreasing


def frame(**extra) -> pd.DataFrame:
    """Six products, as a bundle's products.parquet holds them."""
    base = pd.DataFrame({
        "id": ["P1", "P2", "P3", "P4", "P5", "P6"],
        "text": ["Knit scarf &amp; hat", "=HYPERLINK(\"http://x\")", "Loop scarf (grey)",
                 "Beanie", "unlabelled one", "unlabelled two"],
        "split": ["train", "validation", "test", "train", "unlabelled", "unlabelled"],
        "true_path": [TRIO[0], TRIO[1], TRIO[2], "Hats > Beanies", "", ""],
        "pred_path": [TRIO[1], TRIO[1], f"{TRIO[0]} | Hats > Beanies", "Hats > Beanies", TRIO[2],
                      "Hats > Beanies"],
        "pred_score": [0.9, 0.8, 0.7, 0.95, 0.4, 0.3],
    })
    return base.assign(**extra)


def test_products_table_is_readable_plain_text():
    t = rv.products_table(frame())
    assert list(t.columns) == rv.PRODUCT_COLUMNS
    assert t["text"].iloc[0] == "Knit scarf & hat"                 # entities unescaped
    assert t["pred_path"].iloc[2] == TRIO[0]                         # the first predicted path
    assert t["true_path"].iloc[4] == ""


def test_filter_products_by_words_and_split():
    t = rv.products_table(frame())
    assert rv.filter_products(t, "")["id"].tolist() == t["id"].tolist()
    assert rv.filter_products(t, "SCARF")["id"].tolist() == ["P1", "P3"]
    assert rv.filter_products(t, "scarf grey")["id"].tolist() == ["P3"]
    assert rv.filter_products(t, "(grey)")["id"].tolist() == ["P3"]   # literal, not a regex
    assert rv.filter_products(t, "p4")["id"].tolist() == ["P4"]       # ids too
    assert rv.filter_products(t, "", ["test"])["id"].tolist() == ["P3"]
    assert rv.filter_products(t, "", [])["id"].tolist() == []
    assert rv.filter_products(t.iloc[:0], "scarf").empty


def test_download_csv_neutralises_formulas():
    t = rv.products_table(frame())
    back = pd.read_csv(__import__("io").BytesIO(rv.download_csv(t)), dtype=str, keep_default_na=False)
    assert back["text"].iloc[1] == "'=HYPERLINK(\"http://x\")"
    assert back["id"].tolist() == t["id"].tolist()
    assert rv.file_slug(TRIO[0], TRIO[1]) == "knit-scarf_scarf-shawl"
    assert rv.file_slug("<>", "") == "products"


def test_merge_edits():
    assert rv.check_merge(TRIO, "A > B") is None
    assert "at least two" in rv.check_merge(TRIO[:1], "A > B")
    assert "at least two" in rv.check_merge([TRIO[0], TRIO[0]], "A > B")
    for bad in ("", "  ", "A >  > B", "A >"):
        assert "path" in rv.check_merge(TRIO, bad)
    assert rv.merge_target(TRIO[:2], "X") == f"{SCARVES} > Knit scarf + Scarf / Shawl"
    assert rv.merge_target(TRIO[:1], "X") == "X"
    assert rv.group_key(TRIO) == rv.group_key(list(reversed(TRIO))) != rv.group_key(TRIO[:2])


def test_queues_from_stored_columns():
    f = frame(label_doubt=[0.2, 0.9, 0.5, np.nan, np.nan, np.nan],
              doubt_suggests=[TRIO[1], TRIO[0], TRIO[0], "", "", ""],
              pred_margin=[0.5, 0.1, 0.3, 0.9, 0.05, 0.2])
    q = rv.review_table(f, None, 50)
    assert q["id"].tolist() == ["P2", "P3", "P1"]                     # most doubted first
    assert {"label_doubt", "doubt_odds", "doubt_suggests"} <= set(q.columns)
    assert rv.review_table(f, SCARVES, 1)["id"].tolist() == ["P2"]
    assert rv.review_table(f, "Hats", 50).empty
    lab = rv.labelling_table(f, None, 50)
    assert lab["id"].tolist() == ["P5", "P6"] and "pred_margin" in lab  # smallest margin first
    assert rv.labelling_table(f, "Hats", 50)["id"].tolist() == ["P6"]
    old = frame()                                                      # a bundle trained before
    assert not rv.has_column(old, "label_doubt") and not rv.has_column(old, "pred_margin")
    assert rv.review_table(old, None, 50).empty and rv.labelling_table(old, None, 50).empty
    assert "retrain to get the review queue" in rv.RETRAIN_NOTE.format(what="x", queue="review queue")


def test_relabel_default_prefers_the_suggestion():
    leaves = sorted(TRIO + ["Hats > Beanies"])
    row = pd.Series({"true_path": TRIO[0], "pred_path": TRIO[1], "doubt_suggests": TRIO[2]})
    assert leaves[rv.relabel_default(row, leaves)] == TRIO[2]
    assert leaves[rv.relabel_default(row.drop("doubt_suggests"), leaves)] == TRIO[1]
    assert leaves[rv.relabel_default(pd.Series({"true_path": "", "pred_path": "gone"}), leaves)] == leaves[0]


def test_save_and_read_corrections(tmp_path):
    path = str(tmp_path / "r.sqlite")
    assert rv.read_corrections(path).empty                            # no database yet: nothing
    store = CorrectionStore(path)
    r1, what = rv.save_correction(store, "relabel", bundle="demo", reviewer=" Ana ",
                                  product_id="P1", path=TRIO[2])
    assert what == f"Relabelled P1 as {TRIO[2]} (by Ana)"
    r2, what = rv.save_correction(store, "accept", bundle="demo", product_id="P2", path=TRIO[1])
    assert what == f"Accepted the prediction {TRIO[1]} for P2"
    r3, what = rv.save_correction(store, "merge", bundle="demo", reviewer="", paths=TRIO,
                                  into=f"{SCARVES} > Scarves")
    assert "3 categories" in what and r1 < r2 < r3
    rows = rv.read_corrections(path)
    assert rows["kind"].tolist() == ["relabel", "accept", "merge"]
    assert rows["reviewer"].tolist()[:1] == ["Ana"] and rows["reviewer"].isna().tolist()[1:] == [True, True]
    assert json.loads(rows["merge_paths"].iloc[2]) == TRIO
    shown = rv.corrections_table(rows)
    assert shown["action"].tolist() == ["merge", "accept", "relabel"]  # newest first
    assert shown["category"].tolist() == [f"{SCARVES} > Scarves", TRIO[1], TRIO[2]]
    assert shown["merged"].tolist() == [" | ".join(TRIO), "", ""]
    nan = rows.assign(merge_paths=[np.nan, np.nan, rows["merge_paths"].iloc[2]])
    assert rv.corrections_table(nan)["merged"].tolist() == [" | ".join(TRIO), "", ""]
    assert shown["created"].iloc[0].endswith(" UTC")
    assert len(rv.corrections_table(rows, 2)) == 2
    assert rv.corrections_table(rows.iloc[:0]).empty
    done = rv.reviewed(rows)
    assert done == {"P1": f"relabel → {TRIO[2]}", "P2": "accept"}
    t = rv.with_reviewed(rv.products_table(frame()), done)
    assert t["reviewed"].tolist()[:3] == [f"relabel → {TRIO[2]}", "accept", ""]
    assert rv.with_reviewed(rv.products_table(frame()).iloc[:0], done).columns[-1] == "reviewed"


def test_bad_corrections_are_errors_not_rows(tmp_path):
    store = CorrectionStore(str(tmp_path / "r.sqlite"))
    with pytest.raises(CorrectionsError):
        rv.save_correction(store, "relabel", bundle="demo", product_id="P1", path="A >  > B")
    with pytest.raises(CorrectionsError):
        rv.save_correction(store, "merge", bundle="demo", paths=TRIO[:1], into="A > B")
    with pytest.raises(CorrectionsError, match="unknown action"):
        rv.save_correction(store, "delete", bundle="demo", product_id="P1")
    assert rv.read_corrections(store.path).empty
    blocker = tmp_path / "a-file"                                      # a file where a folder must be
    blocker.write_text("x")
    with pytest.raises(CorrectionsError, match="nothing was saved"):
        rv.save_correction(CorrectionStore(str(blocker / "r.sqlite")), "relabel", bundle="demo",
                           product_id="P1", path=TRIO[0])
    with pytest.raises(CorrectionsError):
        rv.read_corrections(str(tmp_path))                             # a folder, not a database
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all, just bytes" * 100)
    with pytest.raises(CorrectionsError):
        rv.read_corrections(str(bad))


def test_selected_row_to_product_id():
    t = rv.products_table(frame())
    assert rv.selected_id(t, [2]) == "P3"
    assert rv.selected_id(t, []) is None and rv.selected_id(t, None) is None
    assert rv.selected_id(t, [0, 1]) is None                           # several: none chosen
    assert rv.selected_id(t, [6]) is None                              # a row no longer there


def test_product_option_is_one_plain_line():
    t = rv.products_table(frame(text=["a\nb " * 40] + ["x"] * 5))
    label = rv.product_option(t, "P1", 30)
    assert label.startswith("P1 · a b") and "\n" not in label and len(label) <= len("P1 · ") + 30
    assert rv.product_option(t, "nope") == "nope"


# ====================================================================== the page (AppTest)
def run_page(bundle_path: str, state: dict | None = None):
    return page_helpers.run_page("review", bundle_path, None, state)


def table(at, name: str) -> pd.DataFrame:
    """The page's dataframe ``name`` (its key in pages/review.py), recognised by its
    columns (AppTest does not expose a dataframe's key)."""
    def kind(cols: set) -> str | None:
        if "test merged" in cols:
            return "review_what_if"
        if "state" in cols:
            return "review_classes"
        if "a → b" in cols:
            return "review_links"
        if "action" in cols:
            return "review_corrections_table"
        if "label_doubt" in cols:
            return "review_queue_table"
        if "pred_margin" in cols:
            return "labelling_queue_table"
        if "reviewed" in cols:
            return "review_drill_table"
        if set(rv.PRODUCT_COLUMNS) <= cols:
            return "review_examples"
        return None

    found = [d.value for d in at.dataframe if kind(set(d.value.columns)) == name]
    assert len(found) == 1, (name, [list(d.value.columns) for d in at.dataframe])
    return found[0]


def db_rows(path: Path) -> pd.DataFrame:
    return CorrectionStore(str(path)).frame()


def test_opens_on_the_worst_proposal_with_the_api_what_if(bundle_path, bundle, worst, db):
    at = run_page(bundle_path)
    pick = at.selectbox(key="review_proposal")
    assert pick.value == 0
    assert pick.options[0] == rv.proposal_label(worst)
    heading = next(m.value for m in at.markdown if m.value.startswith("#### Merge"))
    for leaf in worst.leaves:
        assert f"**{rv.short_name(leaf, rv.common_prefix(worst.leaves))}**".replace("/", "/") in \
            heading.replace("\\", "")
    if is_demo(bundle):
        assert "Knit scarf" in pick.options[0] and "Snood / Loop scarf" in pick.options[0]
        assert pick.options[0].startswith(SCARVES)
    result = bundle.what_if_merge(worst.leaves)
    test = result["splits"]["test"]
    metrics = {m.label: m for m in at.metric}
    assert metrics["Leaf macro-F1 after merge"].value == f"{test['after']['leaf_macro_f1']:.3f}"
    assert metrics["Leaf macro-F1 after merge"].delta == (
        f"{test['after']['leaf_macro_f1'] - test['before']['leaf_macro_f1']:+.3f} vs now")
    assert metrics["Macro-F1 after merge"].value == f"{test['after']['macro_f1']:.3f}"
    assert metrics["Merged category F1"].value == f"{test['after']['class']['f1']:.3f}"
    assert metrics["Products moved"].value == f"{test['moved_products']:,}"
    what_if = table(at, "review_what_if")
    pd.testing.assert_frame_equal(what_if, rv.what_if_table(result))
    classes = table(at, "review_classes")
    assert classes["test F1"].tolist() == [c["f1"] for c in test["before"]["classes"]] + [
        test["after"]["class"]["f1"]]
    assert classes["validation F1"].iloc[-1] == result["splits"]["validation"]["after"]["class"]["f1"]
    links = table(at, "review_links")
    assert links["a → b"].tolist() == [d["a_as_b"] for d in worst.links]
    assert len(table(at, "review_examples")) > 0
    # the drill-down opens on the proposal's largest confusion
    cell = at.selectbox(key="review_cell")
    first = max(worst.links, key=lambda d: max(d["a_as_b"], d["b_as_a"]))
    assert str(max(first["a_as_b"], first["b_as_a"])) in cell.options[cell.value]
    drill = table(at, "review_drill_table")
    assert len(drill) == max(first["a_as_b"], first["b_as_a"])
    # the validation split of the what-if
    at.button_group(key="review_split").set_value("validation").run()
    val = result["splits"]["validation"]
    assert {m.label: m.value for m in at.metric}["Leaf macro-F1 after merge"] == \
        f"{val['after']['leaf_macro_f1']:.3f}"
    assert not at.exception and not at.error


def test_another_proposal_and_an_edited_group(bundle_path, bundle, db):
    proposals = bundle.merge_proposals()
    at = run_page(bundle_path)
    if len(proposals) > 1:
        at.selectbox(key="review_proposal").set_value(1).run()
        want = bundle.what_if_merge(proposals[1].leaves)["splits"]["test"]["after"]
        assert {m.label: m.value for m in at.metric}["Leaf macro-F1 after merge"] == \
            f"{want['leaf_macro_f1']:.3f}"
        at.selectbox(key="review_proposal").set_value(0).run()
    group = proposals[0].leaves[:2]
    at.multiselect(key="review_group_0").set_value(group).run()
    assert not at.exception and not at.error
    want = bundle.what_if_merge(group)
    assert {m.label: m.value for m in at.metric}["Merged category F1"] == \
        f"{want['splits']['test']['after']['class']['f1']:.3f}"
    pd.testing.assert_frame_equal(table(at, "review_what_if"), rv.what_if_table(want))
    # a new name for the merged category
    into_key = next(t.key for t in at.text_input if t.key and t.key.startswith("review_into_0_"))
    at.text_input(key=into_key).input(f"{rv.common_prefix(group)} > Merged").run()
    assert table(at, "review_classes")["category"].iloc[-1] == "Merged"
    # one category only: said, and nothing can be accepted
    at.multiselect(key="review_group_0").set_value(group[:1]).run()
    assert any("at least two" in w.value for w in at.warning)
    assert at.button(key="review_accept_merge").disabled
    assert not at.exception and not at.error


def test_relabel_accept_and_merge_write_rows(bundle_path, bundle, worst, db):
    at = run_page(bundle_path)
    at.text_input(key="reviewer_input").input(HOSTILE).run()
    drill = table(at, "review_drill_table")
    pid = drill["id"].iloc[1]
    at.selectbox(key="drill_product").set_value(pid).run()
    target = worst.leaves[-1]
    at.selectbox(key=f"drill_target_{pid}").set_value(target).run()
    at.button(key="drill_relabel").click().run()
    assert not at.exception and not at.error
    rows = db_rows(db)
    assert rows[["kind", "product_id", "path", "bundle", "reviewer"]].values.tolist() == [
        ["relabel", pid, target, bundle.name, HOSTILE]]
    saved = [s.value for s in at.success]
    assert len(saved) == 1 and f"correction #{rows['id'].iloc[0]}" in saved[0]
    assert md_escape(HOSTILE) in saved[0]                              # the name shown literally
    assert "<img" not in saved[0].replace("\\<img", "")
    # the drill-down marks the product as reviewed
    drill = table(at, "review_drill_table")
    assert drill.set_index("id").loc[pid, "reviewed"] == f"relabel → {target}"

    other = drill["id"].iloc[0]
    at.selectbox(key="drill_product").set_value(other).run()
    at.button(key="drill_accept").click().run()
    predicted = rv.first_path(bundle.products.set_index("id").loc[other, "pred_path"])
    at.button(key="review_accept_merge").click().run()
    assert not at.exception and not at.error
    rows = db_rows(db)
    assert rows["kind"].tolist() == ["relabel", "accept", "merge"]
    assert rows["path"].iloc[1] == predicted and rows["product_id"].iloc[1] == other
    assert json.loads(rows["merge_paths"].iloc[2]) == worst.leaves
    assert rows["into_path"].iloc[2] == worst.into
    assert set(rows["bundle"]) == {bundle.name}
    assert any("Accepted the merge of" in s.value for s in at.success)
    # the Corrections tab: the latest first, and an export of everything
    log = table(at, "review_corrections_table")
    assert log["action"].tolist() == ["merge", "accept", "relabel"]
    assert at.get("download_button")
    # the reviewer name is kept for the next visit of the page
    assert at.session_state["reviewer_name"] == HOSTILE


def test_unreadable_database_is_an_error_not_a_traceback(bundle_path, db):
    db.write_bytes(b"this is not SQLite" * 200)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "pages" / "review.py"), default_timeout=60)
    at.session_state["bundle_path"] = bundle_path
    at.run()
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)
    at.button(key="review_accept_merge").click().run()
    assert not at.exception
    assert any(e.value.startswith("Not saved:") for e in at.error)
    assert db.read_bytes().startswith(b"this is not SQLite")           # left as it was


@pytest.fixture(scope="module")
def old_bundle(bundle_path, tmp_path_factory) -> str:
    """A copy of the bundle as trained before label review: its products without the
    ``label_doubt``, ``doubt_suggests`` and ``pred_margin`` columns (manifest updated)."""
    import shutil

    from prodemb.utils import sha256_file

    out = tmp_path_factory.mktemp("old") / "old-bundle"
    shutil.copytree(bundle_path, out)
    products = pd.read_parquet(out / "products.parquet")
    products.drop(columns=["label_doubt", "doubt_suggests", "pred_margin"], errors="ignore").to_parquet(
        out / "products.parquet", index=False)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["products.parquet"] = {"bytes": (out / "products.parquet").stat().st_size,
                                             "sha256": sha256_file(str(out / "products.parquet"))}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return str(out)


def test_old_bundle_says_retrain_for_the_queues(old_bundle, db):
    at = run_page(old_bundle)
    notes = [i.value for i in at.info]
    assert any("retrain to get the review queue" in n for n in notes)
    assert any("retrain to get the labelling queue" in n for n in notes)
    assert at.metric                                                   # the rest of the page works


@pytest.fixture(scope="module")
def review_off_bundle(bundle_path, tmp_path_factory) -> str:
    """A copy of the bundle trained with label review turned off (``review.folds: 0``):
    no ``label_doubt`` / ``doubt_suggests`` columns, ``pred_margin`` kept."""
    import shutil

    from prodemb.utils import sha256_file

    out = tmp_path_factory.mktemp("off") / "off-bundle"
    shutil.copytree(bundle_path, out)
    products = pd.read_parquet(out / "products.parquet")
    if "pred_margin" not in products.columns:
        products["pred_margin"] = 0.5
    products.drop(columns=["label_doubt", "doubt_suggests"], errors="ignore").to_parquet(
        out / "products.parquet", index=False)
    config = json.loads((out / "config.json").read_text())
    config.setdefault("train", {})["review"] = {"folds": 0}
    (out / "config.json").write_text(json.dumps(config))
    manifest = json.loads((out / "manifest.json").read_text())
    if isinstance(manifest.get("config"), dict):
        manifest["config"].setdefault("train", {})["review"] = {"folds": 0}
    for name in ("products.parquet", "config.json"):
        manifest["files"][name] = {"bytes": (out / name).stat().st_size,
                                   "sha256": sha256_file(str(out / name))}
    (out / "manifest.json").write_text(json.dumps(manifest))
    return str(out)


def test_review_turned_off_is_said_so_not_retrain_an_old_bundle(review_off_bundle, db):
    """A bundle trained today with ``review.folds: 0`` was told it "was trained before label
    review"; it is told that label review was turned off and how to turn it on."""
    at = run_page(review_off_bundle)
    notes = [i.value for i in at.info]
    assert any("label review turned off" in n and "review.folds" in n for n in notes), notes
    assert not any("trained before label review" in n for n in notes), notes
    assert rv.missing_queue_note({}, "label_doubt", "x", "q") == rv.RETRAIN_NOTE.format(what="x",
                                                                                        queue="q")
    off = {"train": {"review": {"folds": 0}}}
    assert "trained before" in rv.missing_queue_note(off, "pred_margin", "x", "q")


def test_queues_when_the_bundle_has_them(bundle_path, bundle, db):
    if "label_doubt" not in bundle.products.columns:
        pytest.skip("this bundle was trained before label review (see the tiny bundle's test)")
    at = run_page(bundle_path)
    queue = table(at, "review_queue_table")
    assert queue["id"].tolist() == rv.review_table(bundle.products, None, 50)["id"].tolist()
    assert queue["doubt_odds"].is_monotonic_decreasing  # tells apart doubts shown as 1.000
    labelling = table(at, "labelling_queue_table")
    assert labelling["id"].tolist() == rv.labelling_table(bundle.products, None, 50)["id"].tolist()
    at.selectbox(key="review_subtree").set_value(SCARVES if is_demo(bundle) else
                                                 at.selectbox(key="review_subtree").options[1]).run()
    sub = at.selectbox(key="review_subtree").value
    queue = table(at, "review_queue_table") if any(
        "label_doubt" in d.value.columns for d in at.dataframe) else pd.DataFrame({"true_path": []})
    assert all(p == sub or p.startswith(sub + " > ") for p in queue["true_path"])


def test_no_proposal_is_said(bundle_path, db, monkeypatch):
    """A bundle whose categories are not confused with each other: said, and the rest of
    the page (drill-down, queues, corrections) still works."""
    monkeypatch.setattr(rv, "cached_proposals", lambda *a, **k: [])
    at = run_page(bundle_path)
    assert any("nothing to merge" in i.value for i in at.info)
    assert not at.metric and not any(b.key == "review_accept_merge" for b in at.button)
    assert len(table(at, "review_drill_table"))


def test_no_markup_rendered_as_html():
    """The page never lets Streamlit render HTML (catalogue and reviewer text are shown
    in tables or escaped Markdown)."""
    for f in (ROOT / "pages" / "review.py", ROOT / "prodemb" / "ui" / "review.py"):
        src = f.read_text()
        assert "unsafe_allow_html" not in src and "st.html" not in src


@pytest.mark.slow
def test_queues_on_a_bundle_with_label_review(tiny_bundle, bundle_path, db):
    """The tiny bundle is trained by the current code: both queues show, per subtree, and a
    product of the review queue can be relabelled to the suggested category. Choosing it
    after another bundle starts the page afresh (choices of the other bundle dropped)."""
    from prodemb import ui

    bundle = ui.load_bundle(str(tiny_bundle))
    assert {"label_doubt", "doubt_suggests", "pred_margin"} <= set(bundle.products.columns)
    at = run_page(bundle_path)                         # the demo first, a later proposal chosen
    last = len(at.selectbox(key="review_proposal").options) - 1
    at.selectbox(key="review_proposal").set_value(last).run()
    at.session_state["bundle_path"] = str(tiny_bundle)  # then the tiny bundle
    at.run()
    assert not at.exception and not at.error
    proposals = bundle.merge_proposals()
    if proposals:
        assert at.selectbox(key="review_proposal").value == 0
        assert at.selectbox(key="review_proposal").options[0] == rv.proposal_label(proposals[0])
    queue = table(at, "review_queue_table")
    want = rv.review_table(bundle.products, None, 50)
    assert queue["id"].tolist() == want["id"].tolist()
    assert queue["label_doubt"].is_monotonic_decreasing
    labelling = table(at, "labelling_queue_table")
    assert labelling["id"].tolist() == rv.labelling_table(bundle.products, None, 50)["id"].tolist()
    assert labelling["pred_margin"].is_monotonic_increasing
    # one subtree
    top = bundle.products.loc[bundle.products["id"] == queue["id"].iloc[0], "true_top"].iloc[0]
    at.selectbox(key="review_subtree").set_value(top).run()
    queue = table(at, "review_queue_table")
    assert len(queue) and all(p == top or p.startswith(top + " > ") for p in queue["true_path"])
    # relabel the most doubted product as suggested (the preselected category)
    pid = queue["id"].iloc[0]
    suggested = queue["doubt_suggests"].iloc[0]
    assert at.selectbox(key=f"doubt_target_{pid}").value == suggested
    at.button(key="doubt_relabel").click().run()
    assert not at.exception and not at.error
    rows = db_rows(db)
    assert rows[["kind", "product_id", "path"]].values.tolist() == [["relabel", pid, suggested]]
    assert table(at, "review_queue_table").set_index("id").loc[pid, "reviewed"] == \
        f"relabel → {suggested}"


def test_database_rows_are_not_lost_between_two_stores(tmp_path):
    """Two sessions' stores on one file: each action is its own transaction (WAL)."""
    path = str(tmp_path / "r.sqlite")
    a, b = CorrectionStore(path), CorrectionStore(path)
    rv.save_correction(a, "relabel", bundle="demo", product_id="P1", path=TRIO[0])
    rv.save_correction(b, "relabel", bundle="demo", product_id="P2", path=TRIO[1])
    rv.save_correction(a, "merge", bundle="demo", paths=TRIO, into=f"{SCARVES} > Scarves")
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert rv.read_corrections(path)["product_id"].fillna("").tolist() == ["P1", "P2", ""]


# ====================================================================== compare bundles (item 5)
#: Categories of the demo whose test F1 the perturbed copy changes (better, worse), the
#: category it drops and the one it adds; test products whose prediction it changes.
CHANGES = 7


def _rewrite(out: Path, name: str) -> None:
    """Record ``name``'s new size and sha256 in the bundle's manifest."""
    from prodemb.utils import sha256_file

    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"][name] = {"bytes": (out / name).stat().st_size,
                               "sha256": sha256_file(str(out / name))}
    (out / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def other_bundle(bundle_path, tmp_path_factory) -> dict:
    """A second bundle, alone in an artifacts folder: a copy of the bundle with its test
    metrics perturbed (headline scores up, one leaf better, one worse, one category gone,
    one new) and the prediction of :data:`CHANGES` test products changed."""
    import shutil

    arts = tmp_path_factory.mktemp("artifacts")
    out = arts / "other"
    shutil.copytree(bundle_path, out)
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["splits"]["test"]
    for k in ("macro_f1", "leaf_macro_f1", "micro_f1", "exact_match"):
        test[k] = round(test[k] + 0.02, 6)
    leaves = [c for c in test["per_class"] if c["leaf"] and c["support"] > 0 and 0.3 < c["f1"] < 0.7]
    up, down, gone = leaves[0], leaves[1], leaves[2]
    up["f1"], down["f1"] = round(up["f1"] + 0.25, 4), round(down["f1"] - 0.2, 4)
    test["per_class"] = [c for c in test["per_class"] if c["name"] != gone["name"]]
    test["per_class"].append({**up, "node": 10_000, "name": "Zzz > Brand new leaf", "f1": 0.5})
    (out / "metrics.json").write_text(json.dumps(metrics))
    _rewrite(out, "metrics.json")
    products = pd.read_parquet(out / "products.parquet")
    moved_to = down["name"]                                   # a leaf of the tree
    rows = products.index[(products["split"] == "test") & (products["pred_path"] != moved_to)][:CHANGES]
    products.loc[rows, "pred_path"] = moved_to
    products.to_parquet(out / "products.parquet", index=False)
    _rewrite(out, "products.parquet")
    return {"artifacts": str(arts), "path": str(out), "up": up["name"], "down": down["name"],
            "gone": gone["name"], "new": "Zzz > Brand new leaf"}


def test_compare_helpers():
    classes = pd.DataFrame({
        "name": ["A", "A > x", "A > y", "B > z", "C", "D > w"],
        "leaf": [False, True, True, True, True, True],
        "support_a": [10, 5, 5, 3, np.nan, 4], "f1_a": [0.5, 0.5, 0.9, 0.4, np.nan, 0.7],
        "support_b": [10, 5, 0, 3, 2, np.nan], "f1_b": [0.7, 0.6, 0.0, 0.2, 0.8, np.nan],
        "delta": [0.2, 0.1, -0.9, -0.2, np.nan, np.nan]})
    better = rv.class_changes(classes, "better")
    assert better["name"].tolist() == ["A > x", "A"]            # leaves first
    assert rv.class_changes(classes, "worse")["name"].tolist() == ["B > z"]  # y: no test products in b
    assert rv.class_changes(classes, "better", "a x")["name"].tolist() == ["A > x"]
    assert rv.class_changes(classes, "better", leaves_only=True)["name"].tolist() == ["A > x"]
    assert list(better.columns) == rv.CHANGE_COLUMNS
    only_b = rv.only_in(classes, "b")
    assert only_b.to_dict("records") == [{"name": "C", "leaf": True, "support": 2, "f1": 0.8}]
    assert rv.only_in(classes, "a")["name"].tolist() == ["D > w"]
    assert rv.only_in(classes, "a", "zzz").empty
    assert rv.other_bundles("x/a", ["x/a", "x/b", "./x/a"]) == ["x/b"]
    assert rv.categories(1) == "1 category" and rv.categories(1200) == "1,200 categories"
    assert rv.groups(1) == "1 group" and rv.groups(2) == "2 groups"  # "1 groups of categories"
    assert "No test product" in rv.changed_sentence({"common": 0, "changed": 0, "share": None})
    assert rv.changed_sentence({"common": 200, "changed": 5}) == \
        "5 of the 200 test products in both bundles (matched by id) changed prediction: 2.5%."
    assert rv.changed_sentence({"common": 200, "changed": 5, "levels": 2}) == \
        ("5 of the 200 test products in both bundles (matched by id) changed prediction at their "
         "first 2 levels (the trees differ in depth): 2.5%.")
    heads = rv.headline_rows({"headline": [{"metric": "macro_f1", "a": 0.5, "b": 0.75, "delta": 0.25},
                                           {"metric": "micro_f1", "a": None, "b": 0.1, "delta": None}]})
    assert heads == [{"label": "Macro-F1 (all nodes)", "a": 0.5, "b": 0.75, "delta": 0.25}]
    assert list(rv.headline_frame({"headline": []}, "m", "m").columns) == ["metric", "m (a)", "m (b)", "change"]


def test_compare_needs_a_second_bundle(bundle_path, db, tmp_path, monkeypatch):
    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(tmp_path / "empty"))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = run_page(bundle_path)
    note = next(i.value for i in at.info if "train another one" in i.value)
    assert "--out artifacts/NAME" in note and "prodemb train" in note


def test_compare_two_bundles_shows_the_deltas(bundle_path, bundle, other_bundle, db, monkeypatch):
    from prodemb import ui
    from prodemb.review import compare_bundles

    monkeypatch.setenv("PRODEMB_ARTIFACTS", other_bundle["artifacts"])
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = run_page(bundle_path)
    pick = at.selectbox(key="compare_other")
    assert pick.value is None and pick.options == [ui.bundle_label(other_bundle["path"])]
    pick.set_value(other_bundle["path"]).run()
    assert not at.exception and not at.error
    other = ui.load_bundle(other_bundle["path"])
    want = compare_bundles(bundle.metrics, bundle.products, other.metrics, other.products, split="test")
    shown = {m.label: m for m in at.metric}
    for label, key in rv.COMPARE_METRICS:
        row = next(r for r in want["headline"] if r["metric"] == key)
        assert shown[label].value == f"{row['b']:.3f}"
        assert shown[label].delta == f"{row['delta']:+.3f}" == "+0.020"
    assert want["changed"]["changed"] == CHANGES
    assert shown["Predictions changed"].value == f"{CHANGES:,}"
    assert shown["Predictions changed"].delta == \
        f"{want['changed']['share']:.1%} of {want['changed']['common']:,}"

    def frame_with(col: str, value: str) -> pd.DataFrame:
        """The one table with the column ``col`` that lists the category ``value``."""
        found = [d.value for d in at.dataframe if {col, "name"} <= set(d.value.columns)
                 and value in d.value["name"].astype(str).tolist()]
        assert len(found) == 1, value
        return found[0]

    better = frame_with("delta", other_bundle["up"])
    pd.testing.assert_frame_equal(better, rv.class_changes(want["classes"], "better"))
    assert better.set_index("name").loc[other_bundle["up"], "delta"] == pytest.approx(0.25)
    worse = frame_with("delta", other_bundle["down"])
    pd.testing.assert_frame_equal(worse, rv.class_changes(want["classes"], "worse"))
    assert worse.set_index("name").loc[other_bundle["down"], "delta"] == pytest.approx(-0.2)
    assert (better["delta"] > 0).all() and (worse["delta"] < 0).all()
    assert frame_with("support", other_bundle["gone"])["name"].tolist() == [other_bundle["gone"]]
    assert frame_with("support", other_bundle["new"])["name"].tolist() == [other_bundle["new"]]
    # the filter, then the other way round
    at.text_input(key="compare_query").input(other_bundle["up"].split(" > ")[-1]).run()
    assert other_bundle["up"] in frame_with("delta", other_bundle["up"])["name"].tolist()
    assert not any(other_bundle["down"] in d.value.get("name", pd.Series(dtype=str)).tolist()
                   for d in at.dataframe)
    at.text_input(key="compare_query").input("").run()
    at.toggle(key="compare_swap").set_value(True).run()
    assert {m.label: m.delta for m in at.metric}["Leaf macro-F1"] == "-0.020"
    assert other_bundle["up"] in frame_with("delta", other_bundle["up"])["name"].tolist()
    assert (frame_with("delta", other_bundle["up"])["delta"] < 0).all()    # now worse
    assert not at.exception and not at.error


# ====================================================================== evaluate an upload (item 6)
def labelled_rows(n: int = 120) -> pd.DataFrame:
    """``n`` labelled rows of the demo catalogue's columns, generated as `prodemb demo-data`
    writes them."""
    import tempfile

    from prodemb.demo import write_demo

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo.csv"
        write_demo(path, n_labelled=n, n_unlabelled=0, seed=7, progress=False)
        return pd.read_csv(path, dtype=str, keep_default_na=False)


def upload(at, name: str, data: bytes):
    at.file_uploader(key="eval_upload").set_value((name, data, "application/octet-stream")).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_evaluate_an_upload_shows_evaluate_file(fmt, bundle_path, bundle, db, tmp_path):
    import io

    from prodemb import report
    from prodemb.evaluation import evaluate_file

    rows = labelled_rows()
    rows.loc[0, "category"] = "Nowhere > Not a category"          # dropped, and said why
    rows.loc[1, "category"] = ""
    path = tmp_path / f"labelled.{fmt}"
    rows.to_csv(path, index=False) if fmt == "csv" else rows.to_parquet(path, index=False)
    want = evaluate_file(bundle, str(path))
    buf = io.BytesIO()
    rows.to_csv(buf, index=False) if fmt == "csv" else rows.to_parquet(buf, index=False)
    at = upload(run_page(bundle_path), f"labelled.{fmt}", buf.getvalue())
    assert not at.error, [e.value for e in at.error]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Macro-F1 (all nodes)"] == f"{want['macro_f1']:.3f}"
    assert shown["Leaf macro-F1"] == f"{want['leaf_macro_f1']:.3f}"
    assert shown["Micro-F1"] == f"{want['micro_f1']:.3f}"
    assert shown["Exact match"] == f"{want['exact_match']:.1%}"
    assert shown["Products scored"] == f"{want['rows']['scored']:,}" == f"{len(rows) - 2:,}"
    scored = next(d.value for d in at.dataframe if "products" in d.value.columns
                  and "rows" in d.value.columns)
    counts = dict(zip(scored["rows"], scored["products"]))
    # In its column (3/5 of the page) a 'large' labels column pushes the counts out of view.
    shown_cols = next(json.loads(d.proto.columns) for d in at.dataframe if "products" in d.value.columns
                      and "rows" in d.value.columns)
    assert shown_cols["rows"].get("width") != "large"
    assert counts["a category outside the bundle's tree"] == 1
    assert counts["no category (not scored)"] == 1
    warnings = " ".join(w.value for w in at.warning)
    assert "not in the bundle" in warnings and "Nowhere" in warnings and str(tmp_path) not in warnings
    head = next(d.value for d in at.dataframe if "leaf macro-F1" in d.value.columns)
    for lv, v in want["level_macro_f1"].items():
        assert head[f"L{lv} macro-F1"].iloc[0] == v                 # per-level macro-F1
    per_class = next(d.value for d in at.dataframe if "predicted" in d.value.columns)
    expected = report.filter_classes(report.per_class_table(want), None, None, 1, False)
    assert per_class["class"].tolist() == expected["class"].tolist()
    assert per_class["f1"].tolist() == expected["f1"].tolist()
    pairs = report.confused_pairs(bundle.taxonomy, want)
    if len(pairs):
        confused = next(d.value for d in at.dataframe if "a_as_b" in d.value.columns)
        assert confused["a_as_b"].tolist() == pairs.head(100)["a_as_b"].tolist()


@pytest.mark.parametrize("name, data, says", [
    ("labelled.csv", b"foo,bar\n1,2\n", "missing column"),
    ("labelled.parquet", b"not a parquet file" * 20, "Parquet"),
    ("labelled.csv", b"PK\x03\x04" + b"x" * 100, "binary file"),
    ("labelled.csv", b"id,title,description,category\n1,a,b,A > <b>x</b>\n", "malformed category path"),
    ("labelled.csv", b"id,title,description,category\n1,a,b,Nowhere > X\n2,c,d,Nor > Here\n",
     "would not be scored"),
])
def test_a_bad_upload_is_an_error_not_a_traceback(name, data, says, bundle_path, db):
    at = upload(run_page(bundle_path), name, data)
    errors = " ".join(e.value for e in at.error)
    assert errors.startswith("Cannot evaluate this file:") and says in errors, errors
    assert "/tmp" not in errors and "prodemb-eval-" not in errors
    assert not at.metric or all(m.label != "Products scored" for m in at.metric)


def test_evaluate_upload_helper_names_the_upload(bundle):
    from prodemb.evaluation import EvaluationError

    with pytest.raises(EvaluationError, match="cannot tell the format"):
        rv.evaluate_upload(bundle, "x.txt", b"a,b\n1,2\n")
    with pytest.raises(EvaluationError, match="is empty"):
        rv.evaluate_upload(bundle, "x.csv", b"  \n")
    with pytest.raises(EvaluationError, match=r"^mine\.jsonl"):
        rv.evaluate_upload(bundle, "mine.jsonl", b"{bad json\n")
    big = rv.EVAL_MAX_BYTES + 1
    with pytest.raises(EvaluationError, match="prodemb evaluate"):
        rv.evaluate_upload(bundle, "x.csv", b"a" * big)
    assert "text columns title, description" in rv.reader_summary(bundle.reader_options)


# ====================================================================== keep the label (item 3)
def test_keep_the_label_writes_an_accept_of_the_true_path(bundle_path, bundle, db):
    if "label_doubt" not in bundle.products.columns:
        pytest.skip("this bundle was trained before label review")
    at = run_page(bundle_path)
    at.text_input(key="reviewer_input").input("Kim").run()
    queue = table(at, "review_queue_table")
    pid, true = queue["id"].iloc[0], queue["true_path"].iloc[0]
    assert at.selectbox(key="doubt_product").value == pid
    keep = at.button(key="doubt_keep")
    assert "accept" in keep.help and "right" in keep.help
    keep.click().run()
    assert not at.exception and not at.error
    rows = db_rows(db)
    assert rows[["kind", "product_id", "path", "reviewer", "bundle"]].values.tolist() == [
        ["accept", pid, rv.first_path(true), "Kim", bundle.name]]
    assert any(f"Kept the label {md_escape(rv.first_path(true))}" in s.value.replace("\\", "")
               or "Kept the label" in s.value for s in at.success)
    assert table(at, "review_queue_table").set_index("id").loc[pid, "reviewed"] == "accept"
    # the save helper: "keep" is an accept with its own sentence
    row, what = rv.save_correction(CorrectionStore(str(db)), rv.KEEP_LABEL, bundle="demo",
                                   product_id="P9", path=TRIO[0])
    assert what == f"Kept the label {TRIO[0]} of P9"
    assert db_rows(db)["kind"].tolist() == ["accept", "accept"]


def test_an_upload_is_scored_again_by_another_bundle(bundle_path, other_bundle, db):
    """Choosing another bundle keeps the uploaded file and scores it with that bundle (the
    page's other choices are dropped)."""
    import io

    from prodemb import ui
    from prodemb.evaluation import evaluate_file

    buf = io.BytesIO()
    labelled_rows(60).to_csv(buf, index=False)
    at = upload(run_page(bundle_path), "few.csv", buf.getvalue())
    assert {m.label for m in at.metric} >= {"Products scored"}
    at.toggle(key="review_eval_leaves").set_value(True).run()
    at.session_state["bundle_path"] = other_bundle["path"]
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.toggle(key="review_eval_leaves").value                # choices dropped
    other = ui.load_bundle(other_bundle["path"])
    path = Path(other_bundle["artifacts"]) / "few.csv"
    path.write_bytes(buf.getvalue())
    want = evaluate_file(other, str(path))
    assert {m.label: m.value for m in at.metric}["Leaf macro-F1"] == f"{want['leaf_macro_f1']:.3f}"
    assert at.session_state["eval_result"][0][1] == other_bundle["path"]


def test_compare_says_when_the_trees_differ():
    """Compare bundles of one catalogue trained with --max-depth 2 and without: their leaf
    macro-F1 averages over different leaves, which the headline alone did not say."""
    from prodemb.taxonomy import Taxonomy

    deep = Taxonomy.from_paths([("Men", "Apparel", "Tshirts"), ("Men", "Apparel", "Shirts"),
                                ("Women", "Shoes", "Heels")])
    cut = Taxonomy.from_paths([("Men", "Apparel"), ("Women", "Shoes")])
    assert rv.tree_difference_note(deep, deep, "full", "again") is None
    note = rv.tree_difference_note(deep, cut, "full", "d2")
    assert note.startswith("The category trees differ: full has 3 leaves (depth 3), d2 2 "
                           "(depth 2), 0 in both;")
