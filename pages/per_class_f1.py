"""Per-class F1: headline scores, per-class table and chart, label imbalance, training
curves, confused classes with a subtree heatmap and "consider merging" hints.

Run by ``app.py`` through ``st.navigation``; all numbers come from the bundle's
``metrics.json`` via :mod:`prodemb.report`. Deep link: ``?subtree=A > B`` focuses a subtree.
"""

from __future__ import annotations

import streamlit as st

from prodemb import ui

# Into app.py's frame first (the real navigation), before anything heavy is imported:
# on a fresh server a deep link to this page starts it alone (see ui.ensure_frame).
ui.ensure_frame()

from prodemb import report  # noqa: E402
from prodemb.review import MIN_MERGE_RATE  # noqa: E402

MAX_HINTS = 6
SPLIT_LABELS = {"train": "Train", "validation": "Validation", "test": "Test"}

bundle = ui.current_bundle()
metrics, taxonomy = bundle.metrics, bundle.taxonomy
key = ui.fingerprint(bundle, "metrics.json")
splits = [s for s in report.SPLITS if s in metrics.get("splits", {})]

st.title("Per-class F1")
st.caption(f"How well the model `{bundle.name}` does on every category, and which "
           "categories it mixes up. Scores use the tuned per-node thresholds.")
if not splits:
    st.warning("This bundle has no evaluation (metrics.json lists no splits). "
               "Retrain it with `prodemb train` to get per-class scores.")
    st.stop()

wanted_subtree = st.query_params.get("subtree")
if wanted_subtree and wanted_subtree != ui.ALL_CATEGORIES \
        and wanted_subtree not in ui.subtree_choices(key, taxonomy):
    st.warning(f"No category with subcategories named “{ui.md_escape(wanted_subtree)}” in this "
               "bundle's tree (the link's `subtree`); showing all categories.",
               icon=":material/link_off:")

# ---------------------------------------------------------------------- headline
head = ui.headline_table(key, metrics)
split = st.segmented_control("Split", splits, default="test" if "test" in splits else splits[0],
                             format_func=lambda s: SPLIT_LABELS.get(s, s), key="f1_split",
                             required=True)
split = split or splits[0]
row = head.loc[split]
ui.headline_metrics(row, delta=ui.threshold_delta(row["macro-F1"], row["macro-F1 @0.5"]),
                    macro_help="Mean F1 over every category node with examples in this split; "
                               "the small line compares it with the same model with every "
                               "decision threshold at 0.5.")

head = head.drop(columns=["hierarchical F1"], errors="ignore")  # equals micro-F1 here
fmt = {c: st.column_config.NumberColumn(c, format="%.3f", width="small")
       for c in head.columns if c != "items"}
fmt["items"] = st.column_config.NumberColumn("items", format="%d")
fmt["macro-F1 @0.5"] = st.column_config.NumberColumn(
    "macro-F1 @0.5", format="%.3f", help="The same model with every threshold at 0.5.")
st.dataframe(head, column_config=fmt, width="stretch", key="headline_table")

# ---------------------------------------------------------------------- calibration
st.subheader("Calibration of the confidence")
calibration = ui.calibration_table(metrics)
if calibration.empty:
    st.info("This bundle was trained before calibration: its confidence is the raw path score "
            "(not a calibrated probability) and it has no reliability report. Retrain it with "
            "`prodemb train` to get a calibrated confidence and out-of-catalogue detection.",
            icon=":material/history:")
else:
    st.caption("Expected calibration error (ECE): the mean gap between the confidence shown and "
               "the share of products whose top path is right (0: the confidence can be taken "
               "at its word). The calibration is fitted on the validation split; the test split "
               "is the honest check. The last columns: the status each split's products get.")
    pct = st.column_config.NumberColumn
    st.dataframe(calibration, width="stretch", key="calibration_table", column_config={
        "products": pct("products", format="%d"),
        "accuracy": pct("top path right", format="percent"),
        "ECE (raw score)": pct("ECE (raw score)", format="%.3f",
                               help="ECE of the uncalibrated path score"),
        "ECE": pct("ECE", format="%.3f", help="ECE of the calibrated confidence"),
        **{s: pct(s, format="percent") for s in ui.STATUS_LABELS.values()}})
    rel = ui.reliability_rows(metrics, split)
    if rel.empty:
        st.info(f"No reliability report for the {SPLIT_LABELS.get(split, split).lower()} split.")
    else:
        cal_left, cal_right = st.columns([3, 2], gap="large", vertical_alignment="center")
        cal_left.plotly_chart(ui.reliability_figure(rel, SPLIT_LABELS.get(split, split)),
                              key="reliability_chart", config={"displayModeBar": False})
        cal_right.caption(f"Reliability diagram of the {SPLIT_LABELS.get(split, split).lower()} "
                          "split (choose the split above): products binned by their confidence. "
                          "On the dashed diagonal, products shown with 70 % are right 70 % of "
                          "the time; below it the model is overconfident. Larger points: more "
                          "products in the bin (hover for the counts).")

# ---------------------------------------------------------------------- per-class table
st.subheader("Classes")
choices = ui.subtree_choices(key, taxonomy)
f1, f2, f3, f4 = st.columns([3, 2, 1, 1])
subtree = f1.selectbox("Subtree", [ui.ALL_CATEGORIES] + choices, key="subtree", bind="query-params",
                       help="Only the chosen category and the classes under it.")
subtree = None if subtree in (None, ui.ALL_CATEGORIES) else subtree
all_levels = list(range(1, taxonomy.depth + 1))
levels = f2.multiselect("Levels", all_levels, default=all_levels, key="f1_levels",
                        format_func=lambda lv: f"level {lv}")
min_support = f3.number_input("Min support", min_value=0, value=1, step=1, key="f1_min_support",
                              help="Classes with no items in the split are not in macro-F1.")
leaves_only = f4.toggle("Leaves only", value=False, key="f1_leaves")

table = report.filter_classes(ui.per_class_table(key, metrics, split), subtree, levels or all_levels,
                              int(min_support), leaves_only)
if table.empty:
    st.info("No class matches these filters. Lower the minimum support or choose more levels.")
else:
    scored = table[table["support"] > 0]
    st.caption(f"{len(table)} classes · mean F1 {scored['f1'].mean():.3f} over the "
               f"{len(scored)} with support (click a column header to sort).")
    shown = table[["class", "level", "leaf", "top_level", "precision", "recall", "f1",
                   "support", "predicted"]]
    st.dataframe(
        shown, hide_index=True, width="stretch", height=min(38 + 35 * len(shown), 420),
        key="per_class_table",
        column_config={
            "class": st.column_config.TextColumn("class", width="large"),
            "top_level": st.column_config.TextColumn("top level"),
            "precision": st.column_config.NumberColumn("precision", format="%.3f"),
            "recall": st.column_config.NumberColumn("recall", format="%.3f"),
            "f1": st.column_config.ProgressColumn("F1", format="%.3f", min_value=0.0,
                                                  max_value=1.0),
            "support": st.column_config.NumberColumn("support", format="%d",
                                                     help="true items in the split"),
            "predicted": st.column_config.NumberColumn("predicted", format="%d",
                                                       help="items predicted as the class"),
        })
    with st.expander(f"F1 by class ({len(table)} classes)", expanded=len(table) <= 40):
        limit = 60
        chart_df = table
        if len(table) > limit:
            which = st.radio("Show", ["lowest F1", "highest F1", "all"], horizontal=True,
                             key="f1_chart_which")
            if which == "lowest F1":
                chart_df = table.nsmallest(limit, "f1")
            elif which == "highest F1":
                chart_df = table.nlargest(limit, "f1")
        st.plotly_chart(ui.f1_figure(chart_df, subtree), key="f1_chart",
                        config={"displayModeBar": False})

# ---------------------------------------------------------------------- confusions
st.subheader("Confused categories")
focus = subtree or ui.default_subtree(key, metrics, taxonomy, split)
split_metrics = metrics["splits"][split]
left, right = st.columns([3, 2], gap="large")
with left:
    if focus is None:
        st.info("No confusions recorded for this split.")
    else:
        counts = ui.confusion_matrix(key, metrics, taxonomy, split, focus)
        st.markdown(f"**Confusion heatmap: {ui.md_escape(focus)}**")
        st.caption("Rows are true classes, columns predictions; each row sums to 100 %. "
                   "*other* = predicted outside the subtree. Hover for counts."
                   + ("" if subtree else " Showing the subtree of the most confused pair; "
                      "choose a subtree above to focus on another one."))
        if counts.empty or counts.to_numpy().sum() == 0:
            st.info("No items of this subtree in the split.")
        else:
            st.plotly_chart(ui.confusion_figure(counts), key="confusion_heatmap",
                            config={"displayModeBar": False})
with right:
    threshold = st.slider("Merge-hint threshold", 0.0, 0.6, 0.15, 0.01, key="merge_threshold",
                          format="%.2f",
                          help="Suggest merging two classes when each is mistaken for the other "
                               "at least once and this share of their items, (a→b + b→a) / "
                               "(support a + support b), is confused with each other: the rule "
                               f"of the Review page's merge proposals (which uses {MIN_MERGE_RATE:.0%} "
                               "on the validation and test products together).")
    hints = report.merge_hints(taxonomy, split_metrics, threshold, subtree=focus)
    where = ui.md_escape(focus) if focus else "the tree"
    if hints.empty:
        st.success(f"No pair in {where} is confused both ways, in {threshold:.0%} or more of its "
                   "items: no merge suggested.", icon=":material/check_circle:")
    for h in hints.head(MAX_HINTS).itertuples():
        a, b = report.relative_name(h.a, focus), report.relative_name(h.b, focus)
        st.warning(f"**Consider merging {ui.md_escape(a)} and {ui.md_escape(b)}**: {h.rate:.0%} of their "
                   f"{h.support_a + h.support_b:,} items are confused with each other "
                   f"({h.a_as_b:,} {ui.md_escape(a)} → {ui.md_escape(b)}, {h.b_as_a:,} back).",
                   icon=":material/call_merge:")
    if len(hints) > MAX_HINTS:
        st.caption(f"… and {len(hints) - MAX_HINTS} more pairs in {where} above the threshold.")

all_pairs = ui.confused_pairs(key, metrics, taxonomy, split, None)
above = all_pairs[all_pairs["rate"] > threshold] if not all_pairs.empty else all_pairs
st.markdown("**Most confused pairs in the whole tree** (path ends, both directions; "
            f"{len(above):,} of {len(all_pairs):,} pairs above the threshold)")
if all_pairs.empty:
    st.info("No confusions recorded for this split.")
else:
    st.dataframe(
        all_pairs.head(100)[["a", "b", "a_as_b", "b_as_a", "total", "support_a", "support_b",
                             "rate", "nested"]].assign(rate=lambda d: 100 * d["rate"]),
        hide_index=True, width="stretch", height=min(38 + 35 * len(all_pairs), 390),
        key="confused_table",
        column_config={
            "a": st.column_config.TextColumn("class a", width="medium"),
            "b": st.column_config.TextColumn("class b", width="medium"),
            "a_as_b": st.column_config.NumberColumn("a → b", format="%d"),
            "b_as_a": st.column_config.NumberColumn("b → a", format="%d"),
            "total": st.column_config.NumberColumn("total", format="%d"),
            "support_a": st.column_config.NumberColumn("support a", format="%d"),
            "support_b": st.column_config.NumberColumn("support b", format="%d"),
            "rate": st.column_config.ProgressColumn(
                "mutual rate", format="%.1f%%", min_value=0.0, max_value=100.0,
                help="(a→b + b→a) / (support a + support b)"),
            "nested": st.column_config.CheckboxColumn("depth only", help=ui.NESTED_PAIR_HELP),
        })

# ---------------------------------------------------------------------- imbalance + training
st.subheader("Data and training")
d1, d2 = st.columns(2, gap="large")
with d1:
    dist = ui.label_distribution(key, metrics)
    st.markdown("**Label distribution** (labelled items per leaf, all splits; "
                "colour: top-level category)")
    if dist.empty:
        st.info("No labelled items.")
    else:
        nz = dist[dist["support"] > 0]
        st.plotly_chart(ui.label_distribution_figure(dist), key="distribution_chart",
                        config={"displayModeBar": False})
        if len(nz):
            st.caption(f"{len(dist)} leaves · most common: {ui.md_escape(nz['class'].iloc[0])} "
                       f"({nz['support'].iloc[0]:,}) · rarest: {ui.md_escape(nz['class'].iloc[-1])} "
                       f"({nz['support'].iloc[-1]:,}) · ratio "
                       f"{nz['support'].iloc[0] / nz['support'].iloc[-1]:,.0f}:1")
with d2:
    hist = report.history_frame(metrics)
    st.markdown("**Training curves**")
    if hist.empty:
        st.info("This bundle has no training history.")
    else:
        st.plotly_chart(ui.training_history_figure(hist), key="history_chart",
                        config={"displayModeBar": False})
        st.caption(ui.LOSS_NOTE)
        secs = metrics.get("stage_seconds", {})
        if secs:
            st.caption("Training time: " + " · ".join(f"{ui.md_escape(k)} {v:,.0f} s"
                                                     for k, v in secs.items()))

