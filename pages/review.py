"""Review: act on what the model confuses (issue 14).

Merge proposals (groups of leaves the model mixes up) with their evidence and a what-if
of the metrics with the group merged; the products behind a confusion; the label-review
and labelling queues; reviewers' corrections (accept a prediction, relabel a product,
accept a merge) kept in SQLite (:mod:`prodemb.corrections`, ``$PRODEMB_REVIEWS_DB`` or
``data/reviews.sqlite``).

Run by ``app.py`` through ``st.navigation``. Everything shown is computed by
:mod:`prodemb.ui.review` from the bundle's stored validation/test predictions; nothing is
retrained or classified again.
"""

from __future__ import annotations

import streamlit as st

from prodemb import ui

# Into app.py's frame first (the real navigation), before anything heavy is imported:
# on a fresh server a deep link to this page starts it alone (see ui.ensure_frame).
ui.ensure_frame()

from prodemb import report  # noqa: E402
from prodemb.corrections import CorrectionsError, CorrectionStore, default_db  # noqa: E402
from prodemb.review import MIN_MERGE_RATE as MIN_RATE  # noqa: E402
from prodemb.review import ReviewError  # noqa: E402
from prodemb.ui import review as rv  # noqa: E402

SPLIT_LABELS = {"validation": "Validation", "test": "Test"}
REVIEWER_KEY = "reviewer_name"     # kept across pages (not a widget key)
QUEUE_SIZES = (25, 50, 100, 200)
SAVED_KEY = "review_saved"  # the latest correction this session saved, and where

#: Session keys of this page's widgets, cleared when another bundle is chosen (its tree,
#: proposals and products differ); the reviewer's name and the uploaded file to evaluate
#: (``eval_*``: it is scored again by the new bundle) are kept.
PAGE_KEYS = ("review_", "drill_", "doubt_", "label_", "compare_")

bundle = ui.current_bundle()
if st.session_state.get("review_bundle_path") != bundle.path:
    for k in [k for k in st.session_state if str(k).startswith(PAGE_KEYS)]:
        del st.session_state[k]
    st.session_state["review_bundle_path"] = bundle.path
products, taxonomy = bundle.products, bundle.taxonomy
key = ui.fingerprint(bundle, rv.PRODUCTS_FILE)
leaves = rv.cached_leaves(key, taxonomy)

st.title("Review")
st.caption(f"Act on what the model {ui.md_escape(bundle.name)} confuses: merge categories it cannot tell "
           "apart, look at the products behind a confusion, check doubtful labels, and record "
           "corrections for the next training (`prodemb train --corrections`).")

# ---------------------------------------------------------------------- reviewer
if "reviewer_input" not in st.session_state:
    st.session_state["reviewer_input"] = st.session_state.get(REVIEWER_KEY, "")
top_left, top_right = st.columns([2, 3], vertical_alignment="bottom")
reviewer = top_left.text_input("Your name", key="reviewer_input", max_chars=80,
                               placeholder="saved with each correction (optional)")
st.session_state[REVIEWER_KEY] = reviewer
top_right.caption(f"Corrections are saved to {ui.md_escape(default_db())}, one row per action.")


def store() -> CorrectionStore:
    return CorrectionStore(default_db())


def save(where: str, kind: str, **fields) -> None:
    """Write one correction, then run the page again so that every table shows it, with
    the confirmation at ``where``; a correction that cannot be saved is said, never a
    traceback."""
    try:
        row, what = rv.save_correction(store(), kind, bundle=bundle.name, reviewer=reviewer, **fields)
    except CorrectionsError as e:
        st.error(f"Not saved: {ui.md_escape(e)}", icon=":material/error:")
        return
    st.session_state[SAVED_KEY] = {"where": where, "row": row, "what": what}
    st.rerun()


def confirmation(where: str) -> None:
    """The confirmation of the latest correction saved at ``where``: it stays until the
    session saves another one (a rerun for any other reason does not hide it)."""
    saved = st.session_state.get(SAVED_KEY)
    if saved and saved["where"] == where:
        st.success(f"Saved as correction #{saved['row']}: {ui.md_escape(saved['what'])}.",
                   icon=":material/check_circle:")


def product_actions(table, where: str, picked: str | None = None,
                    accept_label: str = "Accept prediction", keep_label: bool = False) -> None:
    """Accept the prediction of, or relabel, one product of ``table`` (a products table):
    the one chosen in the list, or ``picked`` (the row just selected in the table above).
    With ``keep_label`` (the label-review queue), also "Keep the label": the doubted label
    is right, saved as an ``accept`` of the product's true path."""
    if table.empty:
        return
    ids = table["id"].astype(str).tolist()
    chosen_key = f"{where}_product"
    if st.session_state.get(chosen_key) not in (None, *ids):
        del st.session_state[chosen_key]          # a product no longer listed (filters changed)
    if picked in ids and st.session_state.get(f"{where}_picked") != picked:
        st.session_state[chosen_key] = picked     # a row clicked in the table
    st.session_state[f"{where}_picked"] = picked
    c_pick, c_to = st.columns([3, 3])
    pid = c_pick.selectbox("Product", ids, key=chosen_key,
                           format_func=lambda i: rv.product_option(table, i),
                           help="One of the products listed above (or click its row).")
    row = table[table["id"].astype(str) == pid].iloc[0]
    target = c_to.selectbox("Right category", leaves, index=rv.relabel_default(row, leaves),
                            key=f"{where}_target_{pid}",
                            help="Any leaf of the bundle's tree (type to search).")
    shown_true = row.get("true_path") or "(unlabelled)"
    st.caption(f"True: {ui.md_escape(shown_true)} · predicted: {ui.md_escape(row.get('pred_path', ''))}")
    b1, b2, b3, _ = st.columns([1, 1, 1, 1]) if keep_label else (*st.columns([1, 1, 2]), None)
    if b1.button("Relabel", key=f"{where}_relabel", icon=":material/edit:", type="primary",
                 help="Record that this product belongs in the category chosen above."):
        save(where, "relabel", product_id=pid, path=target)
    predicted = rv.first_path(row.get("pred_path"))
    if b2.button(accept_label, key=f"{where}_accept", icon=":material/done:",
                 disabled=not predicted,
                 help="Record that the model's predicted category is right for this product."):
        save(where, "accept", product_id=pid, path=predicted)
    labelled = rv.first_path(row.get("true_path"))
    if keep_label and b3.button(
            "Keep the label", key=f"{where}_keep", icon=":material/verified:",
            disabled=not labelled,
            help="Record that the product's current label (its true category) is right although "
                 "the model doubts it. Saved as an *accept* of that category: an accept always "
                 "means “this category is right for this product”, so the next training keeps "
                 "the label as it is."):
        save(where, rv.KEEP_LABEL, product_id=pid, path=labelled)
    confirmation(where)


PRODUCT_COLUMNS = {
    "id": st.column_config.TextColumn("Id", width=85),
    "text": st.column_config.TextColumn("Product", width=300),
    "true_path": st.column_config.TextColumn("True category", width=220),
    "pred_path": st.column_config.TextColumn("Predicted category", width=220),
    "pred_score": st.column_config.ProgressColumn("Score", min_value=0.0, max_value=1.0,
                                                  format="%.2f", width=80,
                                                  help="The predicted path's score"),
    "split": st.column_config.TextColumn("Split", width=80),
    "label_doubt": st.column_config.ProgressColumn(
        "Doubt", min_value=0.0, max_value=1.0, format="%.3f", width=80,
        help="How much a model that never saw this product doubts its label (1: sure it is wrong)"),
    "doubt_odds": st.column_config.NumberColumn(
        "Odds against", format="compact", width=90,
        help="How many times likelier that model finds another category than the label "
             "(1.2M: 1.2 million to one). It tells apart doubts that all show as 1.000; the "
             "queue's order is the same. 16.8M means at least that"),
    "doubt_suggests": st.column_config.TextColumn("Suggested category", width=220),
    "pred_margin": st.column_config.NumberColumn(
        "Margin", format="%.3f", width=80,
        help="Probability of the most probable leaf minus the second: small = the model hesitates"),
    "reviewed": st.column_config.TextColumn("Reviewed", width=140,
                                            help="The latest correction of this product"),
}

try:
    done = rv.reviewed(rv.read_corrections())
except CorrectionsError:  # said in the Corrections tab
    done = {}

tab_merge, tab_drill, tab_labels, tab_log, tab_compare, tab_eval = st.tabs(
    ["Merge proposals", "Confused products", "Label review", "Corrections", "Compare bundles",
     "Evaluate a file"])

# ---------------------------------------------------------------------- merge proposals
group: list[str] = []
with tab_merge:
    try:
        proposals = rv.cached_proposals(key, products, taxonomy)
    except ReviewError as e:
        proposals = []
        st.error(f"Cannot compute merge proposals: {ui.md_escape(e)}")
    if not proposals:
        st.info("No group of categories is confused with each other above "
                f"{MIN_RATE:.0%} of their "
                "validation and test products: nothing to merge.", icon=":material/check_circle:")
    else:
        st.caption(f"{rv.groups(len(proposals))} of categories the model mixes up with each other "
                   "(each confused for another at least once, the confusions "
                   f"{MIN_RATE:.0%} or more of "
                   "their validation and test products), the most confused first.")
        pick = st.selectbox("Merge proposal", range(len(proposals)), key="review_proposal",
                            format_func=lambda i: rv.proposal_label(proposals[i]))
        proposal = proposals[pick]
        prefix = rv.common_prefix(proposal.leaves)
        names = ", ".join(f"**{ui.md_escape(rv.short_name(p, prefix))}**" for p in proposal.leaves)
        where = f" in {ui.md_escape(prefix)}" if prefix else ""
        st.markdown(f"#### Merge {names}{where}?")
        st.markdown(f"{proposal.confusions:,} of their {proposal.products:,} validation and test "
                    f"products ({proposal.rate:.0%}) were predicted as another category of the group.")
        what_if_box, evidence_box = st.container(), st.container()

        with st.expander("Edit the group or the merged category"):
            group = st.multiselect("Categories to merge", leaves, default=proposal.leaves,
                                   key=f"review_group_{pick}",
                                   help="Leaves of the tree; add or remove any.")
            into = st.text_input("Merged category (path)", value=rv.merge_target(group, proposal.into),
                                 key=f"review_into_{pick}_{rv.group_key(group)}",
                                 help="Levels joined by “ > ”: a new leaf, or an existing "
                                      "category such as the group's parent.").strip()
        problem = rv.check_merge(group, into)
        result = None
        if not problem:
            try:
                result = rv.cached_what_if(key, products, taxonomy, tuple(group), into)
            except ReviewError as e:
                problem = f"Cannot score this merge: {ui.md_escape(e)}"
        edited = sorted(group) != sorted(proposal.leaves) or into != proposal.into
        group_prefix = rv.common_prefix(group) if len(group) >= 2 else prefix

        with what_if_box:
            st.markdown("##### What if they were merged?"
                        + (" :orange[(the group or its name edited below)]" if edited else ""))
            if problem:
                st.warning(problem, icon=":material/edit:")
            else:
                splits = [s for s in rv.WHAT_IF_SPLITS if s in result["splits"]]
                split = st.segmented_control("Split", splits, default=splits[-1], required=True,
                                             format_func=lambda s: SPLIT_LABELS.get(s, s),
                                             key="review_split") or splits[-1]
                n = rv.what_if_numbers(result, split)
                m1, m2, m3, m4 = st.columns(4)
                m1.metric("Leaf macro-F1 after merge", f"{n['leaf_macro_f1']:.3f}",
                          delta=f"{n['leaf_macro_f1_change']:+.3f} vs now",
                          help="Mean F1 over the leaf categories, with the group as one leaf.")
                m2.metric("Macro-F1 after merge", f"{n['macro_f1']:.3f}",
                          delta=f"{n['macro_f1_change']:+.3f} vs now",
                          help="Mean F1 over every category node, with the group as one leaf.")
                m3.metric("Merged category F1", f"{n['class_f1']:.3f}",
                          delta=f"{n['class_f1'] - n['leaves_f1']:+.3f} vs its leaves now",
                          help="Its leaves' F1 now: " + "; ".join(
                              f"{ui.md_escape(rv.short_name(k, group_prefix))} {v:.3f}"
                              for k, v in n["leaf_f1s"].items())
                          + f" (mean weighted by their products: {n['leaves_f1']:.3f}).")
                m4.metric("Products moved", f"{n['moved']:,}",
                          help="Products of this split whose category would become the merged one.")
                st.caption(f"{SPLIT_LABELS.get(split, split)} split. Recomputed from the stored "
                           "predictions, nothing retrained: a product predicted in any category of "
                           "the group counts as predicted in the merged one. Leaves: "
                           f"{result['splits'][split]['before']['n_leaves']:,} now, "
                           f"{result['splits'][split]['after']['n_leaves']:,} after.")
                num = st.column_config.NumberColumn
                table = rv.what_if_table(result)
                st.dataframe(table, width="stretch", key="review_what_if", column_config={
                    "metric": st.column_config.TextColumn("metric", width="medium"),
                    **{c: num(c, format="%+.3f" if c.endswith("change") else "%.3f")
                       for c in table.columns}})
                classes = rv.class_table(result)
                classes["category"] = [rv.short_name(c, group_prefix) for c in classes["category"]]
                st.dataframe(classes, hide_index=True, width="stretch", key="review_classes",
                             column_config={
                                 "category": st.column_config.TextColumn("category", width="large"),
                                 "state": st.column_config.TextColumn(
                                     "", width="small", help="now: the leaf as it is; merged: the "
                                                              "merged category"),
                                 **{c: num(c, format="%.3f") for c in classes.columns if c.endswith("F1")},
                                 **{c: num(c.replace("support", "products"), format="%d")
                                    for c in classes.columns if c.endswith("support")}})

        with evidence_box:
            st.markdown("##### Evidence")
            st.markdown("**Confusions both ways** (validation and test products)")
            st.dataframe(rv.links_table(proposal).assign(confused=lambda d: 100 * d["confused"]),
                         hide_index=True, key="review_links", column_config={
                             "category a": st.column_config.TextColumn("category a", width="medium"),
                             "category b": st.column_config.TextColumn("category b", width="medium"),
                             "a → b": st.column_config.NumberColumn(
                                 "a → b", format="%d", width="small", help="products of a predicted as b"),
                             "b → a": st.column_config.NumberColumn(
                                 "b → a", format="%d", width="small", help="products of b predicted as a"),
                             "confused": st.column_config.ProgressColumn(
                                 "confused", min_value=0.0, max_value=100.0, format="%.0f%%",
                                 help="(a→b + b→a) / products of a and b")})
            st.markdown("**Examples of confused products** (the model's surest mistakes)")
            st.dataframe(rv.cached_examples(key, products, taxonomy, tuple(proposal.leaves)),
                         hide_index=True, width="stretch", key="review_examples",
                         column_config=PRODUCT_COLUMNS)

        a_left, a_right = st.columns([3, 1], vertical_alignment="center")
        a_left.markdown(f"Merge **{len(group)}** categories into **{ui.md_escape(into)}**"
                        if not problem else "Fix the group above to accept a merge.")
        if a_right.button("Accept this merge", key="review_accept_merge", type="primary",
                          icon=":material/call_merge:", disabled=bool(problem), width="stretch",
                          help="Record that these categories are to be one; the next "
                               "`prodemb train --corrections` applies it."):
            save("merge", "merge", paths=group, into=into)
        confirmation("merge")

# ---------------------------------------------------------------------- drill-down
with tab_drill:
    st.caption("The validation and test products behind a confusion: their true category and "
               "what the model predicted.")
    try:
        cells = rv.cached_cells(key, products, taxonomy)
    except ReviewError as e:
        cells = None
        st.error(f"Cannot read the stored predictions: {ui.md_escape(e)}")
    if cells is not None:
        mode = st.segmented_control("Choose", ["Most confused pairs", "Any two categories"],
                                    default="Most confused pairs", required=True,
                                    key="review_drill_mode") or "Most confused pairs"
        true = pred = None
        if mode == "Most confused pairs":
            if cells.empty:
                st.info("The model confused no two categories on validation and test.")
            else:
                top = cells.head(300)
                start = rv.default_cell(top, proposal.leaves if proposals else [])
                cell = st.selectbox("Confused pair (true → predicted)", range(len(top)), index=start,
                                    key="review_cell",
                                    format_func=lambda i: rv.pair_label(top["true"].iloc[i],
                                                                        top["predicted"].iloc[i],
                                                                        int(top["products"].iloc[i])))
                true, pred = top["true"].iloc[cell], top["predicted"].iloc[cell]
        else:
            p1, p2 = st.columns(2)
            true = p1.selectbox("True category", leaves, key="review_true")
            pred = p2.selectbox("Predicted category", leaves, key="review_pred",
                                index=min(1, len(leaves) - 1))
        if true and pred:
            found = rv.cached_confused(key, products, taxonomy, true, pred)
            f1, f2 = st.columns([3, 2])
            query = f1.text_input("Filter", key="review_drill_query",
                                  placeholder="words of the text or an id")
            split_choice = f2.segmented_control("Split", ["validation", "test"],
                                                selection_mode="multi",
                                                default=["validation", "test"],
                                                format_func=lambda s: SPLIT_LABELS[s],
                                                key="review_drill_splits")
            shown = rv.filter_products(found, query, split_choice or [])
            shown = rv.with_reviewed(shown, done)
            st.caption(f"{len(shown):,} of {len(found):,} products of "
                       f"{ui.md_escape(true)} predicted as {ui.md_escape(pred)}.")
            if shown.empty:
                st.info("No product matches." if len(found) else
                        "No validation or test product of the first category was predicted as "
                        "the second.")
            else:
                event = st.dataframe(shown, hide_index=True, width="stretch", key="review_drill_table",
                                     on_select="rerun", selection_mode="single-row",
                                     column_order=["id", "text", "true_path", "pred_path",
                                                   "pred_score", "reviewed", "split"],
                                     height=min(38 + 35 * len(shown), 420),
                                     column_config=PRODUCT_COLUMNS)
                st.download_button("Download these products (CSV)", rv.download_csv(shown),
                                   file_name=f"confused_{rv.file_slug(true, pred)}.csv",
                                   mime="text/csv", key="review_drill_download",
                                   icon=":material/download:")
                st.markdown("**Correct a product**")
                product_actions(shown, "drill", rv.selected_id(shown, event.selection.rows))

# ---------------------------------------------------------------------- label review
with tab_labels:
    choices = ui.subtree_choices(ui.fingerprint(bundle, "metrics.json"), taxonomy)
    l1, l2 = st.columns([3, 1])
    subtree = l1.selectbox("Subtree", [ui.ALL_CATEGORIES] + choices, key="review_subtree",
                           help="Only products in the chosen category (their label for the "
                                "review queue, their prediction for the labelling queue).")
    subtree = None if subtree in (None, ui.ALL_CATEGORIES) else subtree
    size = l2.selectbox("Products per queue", QUEUE_SIZES, index=1, key="review_queue_size")

    def queue_section(column: str, what: str, name: str, table, empty: str, table_key: str,
                      columns: list[str], kind: str, **actions) -> None:
        """One queue: the products of ``table`` (a cached queue of prodemb.ui.review) not
        yet reviewed first, one selectable at a time, with its actions below."""
        if not rv.has_column(products, column):
            st.info(rv.missing_queue_note(bundle.config, column, what, name), icon=":material/history:")
            return
        queue = rv.with_reviewed(table(key, products, subtree, int(size)), done)
        if queue.empty:
            st.info(empty)
            return
        event = st.dataframe(queue[[c for c in queue.columns if c in columns or c == "id"]],
                             hide_index=True, width="stretch", key=table_key,
                             on_select="rerun", selection_mode="single-row",
                             column_order=columns, height=min(38 + 35 * len(queue), 420),
                             column_config=PRODUCT_COLUMNS)
        product_actions(queue, kind, rv.selected_id(queue, event.selection.rows), **actions)

    st.subheader("Labels the model doubts")
    st.caption("Labelled products whose label a model that never saw them (trained on the other "
               "folds of the catalogue) finds unlikely, most doubtful first, with the category it "
               "suggests instead. Relabel them, accept the prediction if the model is right, or keep "
               "the label if it is right after all (saved as an accept of the label: an accept "
               "always records “this category is right for this product”).")
    queue_section("label_doubt", "label doubts", "review queue", rv.cached_review_table,
                  "No labelled product to review here.", "review_queue_table",
                  ["id", "text", "true_path", "label_doubt", "doubt_odds", "doubt_suggests", "reviewed",
                   "pred_path", "pred_score", "split"], "doubt", keep_label=True)

    st.subheader("Products to label next")
    st.caption("Unlabelled products the model hesitates most about (the smallest margin between "
               "its two most probable categories): labelling these teaches it most.")
    queue_section("pred_margin", "prediction margins", "labelling queue", rv.cached_labelling_table,
                  "No unlabelled product here.", "labelling_queue_table",
                  ["id", "text", "pred_path", "pred_margin", "pred_score", "reviewed"], "label",
                  accept_label="Accept prediction as label")

# ---------------------------------------------------------------------- corrections
with tab_log:
    try:
        frame = rv.read_corrections()
    except CorrectionsError as e:
        frame = None
        st.error(f"The corrections database cannot be read: {ui.md_escape(e)}")
    if frame is not None:
        if frame.empty:
            st.info("No corrections yet. Accept a merge, relabel a product or accept a "
                    "prediction in the other tabs.")
        else:
            mine = frame["bundle"].fillna("") == bundle.name
            st.caption(f"{len(frame):,} corrections in {ui.md_escape(default_db())} "
                       f"({int(mine.sum()):,} made on the bundle {ui.md_escape(bundle.name)}), newest first; "
                       "`prodemb train --corrections` applies them.")
            st.dataframe(rv.corrections_table(frame, 50), hide_index=True, width="stretch",
                         key="review_corrections_table", column_config={
                             "created": st.column_config.TextColumn("When (UTC)", width=175),
                             "category": st.column_config.TextColumn("Category", width=260),
                             "merged": st.column_config.TextColumn("Merged categories", width=300)})
            st.download_button("Export all corrections (CSV)", rv.download_csv(frame),
                               file_name="corrections.csv", mime="text/csv",
                               key="review_export", icon=":material/download:")

# ---------------------------------------------------------------------- compare bundles
NUM = st.column_config.NumberColumn


def change_columns(name_a: str, name_b: str) -> dict:
    """Column configuration of the better/worse tables: the bundles' names (plain text) in
    the headers."""
    return {"name": st.column_config.TextColumn("category", width="large"),
            "leaf": st.column_config.CheckboxColumn("leaf", width="small"),
            "support_a": NUM(f"products · {name_a}", format="%d"),
            "f1_a": NUM(f"F1 · {name_a}", format="%.3f"),
            "support_b": NUM(f"products · {name_b}", format="%d"),
            "f1_b": NUM(f"F1 · {name_b}", format="%.3f"),
            "delta": NUM("change", format="%+.3f",
                         help=f"F1 in {ui.md_escape(name_b)} minus F1 in {ui.md_escape(name_a)}")}


with tab_compare:
    others = rv.other_bundles(bundle.path, ui.available_bundles())
    if not others:
        st.info(f"Only one bundle ({ui.md_escape(bundle.name)}) is under "
                f"{ui.md_escape(ui.artifacts_dir())}: train another one to compare with, e.g. "
                "`prodemb train --data data/demo.parquet --preset demo --out artifacts/NAME "
                "--config configs/tiny.json` (any catalogue and configuration; "
                "`--corrections data/reviews.sqlite` to apply this page's corrections), "
                "then choose it here.", icon=":material/compare_arrows:")
    else:
        st.caption(f"The bundle {ui.md_escape(bundle.name)} (chosen in the sidebar) side by side "
                   "with another one, from the metrics and predictions each stored at training: "
                   "headline scores, the categories that got better or worse, and the products "
                   "whose prediction changed.")
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        other = c1.selectbox("Compare with", others, index=None, key="compare_other",
                             format_func=ui.bundle_label, placeholder="Choose a bundle",
                             help="Bundles found under the artifacts directory.")
        swap = c2.toggle("Swap sides", key="compare_swap",
                         help=f"Off: changes from {ui.md_escape(bundle.name)} to the chosen "
                              "bundle. On: from the chosen bundle to this one.")
        problem = ui.bundle_problem(other) if other else None
        second = None
        if other is None:
            st.info("Choose a bundle to compare with.", icon=":material/compare_arrows:")
        elif problem:
            st.error(f"The bundle {ui.md_escape(ui.bundle_name(other))} cannot be used: "
                     f"{ui.md_escape(problem)}", icon=":material/error:")
        else:
            try:
                second = ui.load_bundle(other)
            except Exception as e:  # a broken bundle: said, never a traceback
                ui.remember_failure(other, e)
                st.error(f"The bundle {ui.md_escape(ui.bundle_name(other))} cannot be loaded: "
                         f"{ui.md_escape(e)}", icon=":material/error:")
        if second is not None:
            a, b = (second, bundle) if swap else (bundle, second)
            name_a, name_b = ui.md_escape(a.name), ui.md_escape(b.name)
            splits = rv.compare_splits(a.metrics, b.metrics)
            if not splits:
                st.warning("The two bundles have no split with metrics in common (validation "
                           "or test): retrain the older one.", icon=":material/history:")
            else:
                split = st.segmented_control("Split", splits, default=splits[0], required=True,
                                             format_func=lambda s: SPLIT_LABELS.get(s, s),
                                             key="compare_split") or splits[0]
                try:
                    result = rv.cached_compare(
                        (ui.fingerprint(a, "metrics.json"), ui.fingerprint(a, rv.PRODUCTS_FILE)),
                        (ui.fingerprint(b, "metrics.json"), ui.fingerprint(b, rv.PRODUCTS_FILE)),
                        a.metrics, a.products, b.metrics, b.products, split)
                except ReviewError as e:
                    result = None
                    st.error(f"Cannot compare the bundles: {ui.md_escape(e)}", icon=":material/error:")
                if result is not None:
                    st.markdown(f"##### From **{name_a}** to **{name_b}**")
                    heads = rv.headline_rows(result)
                    cols = st.columns(len(heads) + 1)
                    for col, h in zip(cols, heads):
                        moved = round(h["delta"], 3) != 0
                        col.metric(h["label"], f"{h['b']:.3f}",
                                   delta=f"{h['delta']:+.3f}" if moved else "±0.000",
                                   delta_color="normal" if moved else "off",
                                   delta_arrow="auto" if moved else "off",
                                   help=f"{h['label']}: {h['a']:.3f} in {name_a}, {h['b']:.3f} in "
                                        f"{name_b} ({SPLIT_LABELS.get(split, split).lower()} split "
                                        "of each).")
                    changed = result["changed"]
                    cols[-1].metric("Predictions changed",
                                    f"{changed['changed']:,}" if changed["common"] else "n/a",
                                    delta=(f"{changed['share']:.1%} of {changed['common']:,}"
                                           if changed["common"] else None),
                                    delta_color="off", delta_arrow="off",
                                    help=rv.changed_sentence(changed, split.lower()))
                    st.caption(f"Each bundle scored on its own {SPLIT_LABELS.get(split, split).lower()} "
                               f"split. {ui.md_escape(rv.changed_sentence(changed, split))}")
                    trees = rv.tree_difference_note(a.taxonomy, b.taxonomy, a.name, b.name)
                    if trees:
                        st.info(ui.md_escape(trees), icon=":material/account_tree:")
                    with st.expander("Headline scores"):
                        head = rv.headline_frame(result, a.name, b.name)
                        st.dataframe(head, hide_index=True, key="compare_headline", column_config={
                            c: NUM(c, format="%+.3f" if c == "change" else "%.3f")
                            for c in head.columns if c != "metric"})

                    classes = result["classes"]
                    f1, f2 = st.columns([3, 1], vertical_alignment="bottom")
                    query = f1.text_input("Filter categories", key="compare_query",
                                          placeholder="words of a category's path")
                    leaves_only = f2.toggle("Leaves only", key="compare_leaves")
                    cfg = change_columns(a.name, b.name)
                    better = rv.class_changes(classes, "better", query, leaves_only)
                    worse = rv.class_changes(classes, "worse", query, leaves_only)
                    for title, rows, k in ((f"Better in {name_b}", better, "compare_better"),
                                           (f"Worse in {name_b}", worse, "compare_worse")):
                        st.markdown(f"**{title}** ({rv.categories(len(rows))})")
                        if rows.empty:
                            st.caption("None" + (" matches the filter." if query or leaves_only
                                                 else "."))
                        else:
                            st.dataframe(rows, hide_index=True, width="stretch", key=k,
                                         height=min(38 + 35 * len(rows), 350), column_config=cfg)
                    st.caption("Categories matched by their path; only those with products in "
                               "the split in both bundles (leaves first, the largest change "
                               "first). A renamed or merged category shows below as in one "
                               "bundle only.")
                    only_a = rv.only_in(classes, "a", query, leaves_only)
                    only_b = rv.only_in(classes, "b", query, leaves_only)
                    one_cfg = {"name": st.column_config.TextColumn("category", width="large"),
                               "leaf": st.column_config.CheckboxColumn("leaf", width="small"),
                               "support": NUM("products", format="%d"), "f1": NUM("F1", format="%.3f")}
                    o1, o2 = st.columns(2, gap="medium")
                    for col, only, name, k in ((o1, only_a, name_a, "compare_only_a"),
                                               (o2, only_b, name_b, "compare_only_b")):
                        with col:
                            st.markdown(f"**Only in {name}** ({rv.categories(len(only))})")
                            if only.empty:
                                st.caption("None matches the filter." if query or leaves_only else
                                           "None: every category of it is in the other bundle too.")
                            else:
                                st.dataframe(only, hide_index=True, width="stretch", key=k,
                                             height=min(38 + 35 * len(only), 300),
                                             column_config=one_cfg)

# ---------------------------------------------------------------------- evaluate a file
EVAL_KEY = "eval_result"   # (upload id, bundle path, encoding) -> result or error message


def evaluated(upload, encoding: str):
    """The evaluation of ``upload`` by this bundle, computed once per file, bundle and
    encoding (reruns reuse it): ``(result, error message)``."""
    from prodemb.evaluation import EvaluationError

    job = (upload.file_id, bundle.path, encoding)
    cached = st.session_state.get(EVAL_KEY)
    if cached and cached[0] == job:
        return cached[1:]
    result = error = None
    with st.spinner(f"Scoring {bundle.name} on {upload.name}…"):
        try:
            result = rv.evaluate_upload(bundle, upload.name, upload.getvalue(), encoding)
        except EvaluationError as e:
            error = str(e)
        except Exception as e:  # anything unforeseen: said, never a traceback
            error = f"{upload.name} cannot be evaluated ({type(e).__name__}: {e})"
    st.session_state[EVAL_KEY] = (job, result, error)
    return result, error


with tab_eval:
    st.caption(f"Score {ui.md_escape(bundle.name)} on a labelled file of your own, with the same "
               "tables as the Per-class F1 page. The file is read as the bundle's catalogue was: "
               f"{ui.md_escape(rv.reader_summary(bundle.reader_options))}. Rows without a "
               "category, or with one outside the bundle's tree, are not scored (said below). "
               "For large files: `prodemb evaluate --bundle BUNDLE --data FILE`.")
    u1, u2 = st.columns([3, 1])
    upload = u1.file_uploader("Labelled file", type=list(rv.EVAL_TYPES), key="eval_upload",
                              help="CSV or TSV (header row; delimiter as the bundle's catalogue), "
                                   "JSONL (one JSON object per line) or Parquet, up to "
                                   f"{rv.EVAL_MAX_BYTES // 2**20} MB.")
    encoding = u2.selectbox("Encoding", list(ui.UPLOAD_ENCODINGS), key="eval_encoding",
                            format_func=ui.UPLOAD_ENCODINGS.get,
                            help="How a CSV/TSV/JSONL file's characters are stored (as on the "
                                 "Classify page's batch upload). Detected by default.")
    if upload is None:
        st.info("Upload a labelled file to score the model on it.", icon=":material/upload_file:")
    else:
        res, error = evaluated(upload, encoding)
        if error:
            st.error(f"Cannot evaluate this file: {ui.md_message(error)}", icon=":material/error:")
        else:
            m = rv.as_metrics(res)
            ekey = ("upload", upload.file_id, ui.fingerprint(bundle, "metrics.json"), encoding)
            split = rv.UPLOAD_SPLIT
            head = ui.headline_table(ekey, m)
            row = head.loc[split]
            ui.headline_metrics(row, items="Products scored",
                                macro_help="Mean F1 over every category node with products "
                                           "in the file.")
            for note in res.get("warnings", []):
                st.warning(ui.md_message(note), icon=":material/warning:")
            if res.get("encoding") and encoding == "auto":
                st.caption(f"Read as {ui.md_escape(ui.UPLOAD_ENCODINGS.get(res['encoding'], res['encoding']))}; "
                           "wrong letters? Choose the encoding above.")
            shown_head = head.drop(columns=["hierarchical F1", "macro-F1 @0.5"], errors="ignore")
            # The scores take the whole width, with a column per tree level (beside the rows
            # table, L3 and L4 of a 4-level tree needed a horizontal scroll).
            t1, t2 = st.container(), st.columns([3, 2])[0]
            with t1:
                st.markdown("**Scores** (per-level macro-F1 in the `L` columns)")
                fmt = {c: NUM(c, format="%.3f") for c in shown_head.columns if c != "items"}
                fmt["items"] = NUM("items", format="%d")
                st.dataframe(shown_head, column_config=fmt, width="stretch", key="eval_headline")
            with t2:
                st.markdown("**What was scored**")
                st.dataframe(rv.dropped_table(res), hide_index=True, width="stretch",
                             key="eval_rows", column_config={
                                 "rows": st.column_config.TextColumn("rows", width="medium"),
                                 "products": NUM("products", format="%d")})

            st.markdown("**Classes**")
            choices = ui.subtree_choices(ui.fingerprint(bundle, "metrics.json"), taxonomy)
            g1, g2, g3 = st.columns([3, 1, 1], vertical_alignment="bottom")
            sub = g1.selectbox("Subtree", [ui.ALL_CATEGORIES] + choices, key="review_eval_subtree",
                               help="Only the chosen category and the classes under it.")
            sub = None if sub in (None, ui.ALL_CATEGORIES) else sub
            min_support = g2.number_input("Min support", min_value=0, value=1, step=1,
                                          key="review_eval_min_support",
                                          help="Classes with no products in the file are not in "
                                               "macro-F1.")
            leaves_only = g3.toggle("Leaves only", key="review_eval_leaves")
            classes = report.filter_classes(ui.per_class_table(ekey, m, split), sub, None,
                                            int(min_support), leaves_only)
            if classes.empty:
                st.info("No class matches these filters.")
            else:
                st.dataframe(
                    classes[["class", "level", "leaf", "top_level", "precision", "recall", "f1",
                             "support", "predicted"]],
                    hide_index=True, width="stretch", height=min(38 + 35 * len(classes), 420),
                    key="eval_per_class", column_config={
                        "class": st.column_config.TextColumn("class", width="large"),
                        "top_level": st.column_config.TextColumn("top level"),
                        "precision": NUM("precision", format="%.3f"),
                        "recall": NUM("recall", format="%.3f"),
                        "f1": st.column_config.ProgressColumn("F1", format="%.3f", min_value=0.0,
                                                              max_value=1.0),
                        "support": NUM("support", format="%d", help="true products in the file"),
                        "predicted": NUM("predicted", format="%d",
                                         help="products predicted as the class")})
            pairs = ui.confused_pairs(ekey, m, taxonomy, split, None)
            st.markdown(f"**Most confused pairs** (path ends, both directions; {len(pairs):,} pairs)")
            if pairs.empty:
                st.info("The model confused no two categories on this file.")
            else:
                st.dataframe(
                    pairs.head(100)[["a", "b", "a_as_b", "b_as_a", "total", "support_a",
                                     "support_b", "rate", "nested"]].assign(
                                         rate=lambda d: 100 * d["rate"]),
                    hide_index=True, width="stretch", height=min(38 + 35 * len(pairs), 390),
                    key="eval_confused", column_config={
                        "a": st.column_config.TextColumn("class a", width="medium"),
                        "b": st.column_config.TextColumn("class b", width="medium"),
                        "a_as_b": NUM("a → b", format="%d"), "b_as_a": NUM("b → a", format="%d"),
                        "total": NUM("total", format="%d"),
                        "support_a": NUM("support a", format="%d"),
                        "support_b": NUM("support b", format="%d"),
                        "rate": st.column_config.ProgressColumn(
                            "mutual rate", format="%.1f%%", min_value=0.0, max_value=100.0,
                            help="(a→b + b→a) / (support a + support b)"),
                        "nested": st.column_config.CheckboxColumn("depth only",
                                                                  help=ui.NESTED_PAIR_HELP)})
