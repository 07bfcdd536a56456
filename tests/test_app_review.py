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
    assert {"label_doubt", "doubt_suggests"} <= set(q.columns)
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


def test_queues_when_the_bundle_has_them(bundle_path, bundle, db):
    if "label_doubt" not in bundle.products.columns:
        pytest.skip("this bundle was trained before label review (see the tiny bundle's test)")
    at = run_page(bundle_path)
    queue = table(at, "review_queue_table")
    assert queue["id"].tolist() == rv.review_table(bundle.products, None, 50)["id"].tolist()
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
