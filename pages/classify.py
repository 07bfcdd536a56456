"""Classify: one pasted product (category path, evidence, neighbours, map) or a CSV batch.

Deep link: ``?text=...`` (or ``/classify?text=...``) fills the text box and classifies it;
classifying updates the URL, so a classification can be bookmarked and shared.

The text box is in a form: typing sends nothing to the server until **Classify** (or
Ctrl+Enter), so a click elsewhere (the sidebar) is never swallowed by a rerun that leaving
the box would otherwise start.

The heading and the form are drawn before the bundle is loaded (``ui.current_bundle``
comes after them): on a fresh server a visitor can start typing while the model loads.
"""

from __future__ import annotations

import streamlit as st

from prodemb import ui

ui.ensure_frame()

TEXT_KEY = "classify_input"
EMPTY_KEY = "classify_empty"
MAX_CHARS = 5_000
URL_MAX_CHARS = 1_500  # longer texts are not put into the URL


def _classify(text: str | None = None) -> None:
    """Button callback: classify ``text`` (or the text box) and record it in the URL."""
    if text is not None:
        st.session_state[TEXT_KEY] = text
    text = st.session_state.get(TEXT_KEY) or ""
    if not text.strip():
        st.session_state[EMPTY_KEY] = True
        st.session_state.pop(ui.CLASSIFIED_TEXT_KEY, None)
        if "text" in st.query_params:
            del st.query_params["text"]
        return
    st.session_state[EMPTY_KEY] = False
    st.session_state[ui.CLASSIFIED_TEXT_KEY] = text
    _sync_url(text)


def _sync_url(text: str) -> None:
    if len(text) <= URL_MAX_CHARS:
        if st.query_params.get("text") != text:
            st.query_params["text"] = text
    elif "text" in st.query_params:
        del st.query_params["text"]


# ---------------------------------------------------------------------- deep link / state
linked = st.query_params.get("text")
if linked and linked.strip() and linked != st.session_state.get(ui.CLASSIFIED_TEXT_KEY):
    st.session_state[TEXT_KEY] = linked[:MAX_CHARS]
    st.session_state[ui.CLASSIFIED_TEXT_KEY] = linked[:MAX_CHARS]
    st.session_state[EMPTY_KEY] = False
if TEXT_KEY not in st.session_state:  # e.g. back from another page
    st.session_state[TEXT_KEY] = st.session_state.get(ui.CLASSIFIED_TEXT_KEY, "")
classified = st.session_state.get(ui.CLASSIFIED_TEXT_KEY)
if classified:
    _sync_url(classified)

st.title("Classify a product")
st.caption("Paste a product title and description: the model predicts its category path and "
           "shows why, which catalogue products are closest and where it lands on the map.")

single, batch = st.tabs([":material/label: One product", ":material/table_view: Batch (CSV)"])

# ---------------------------------------------------------------------- one product
with single:
    with st.form("classify_form", border=False):
        st.text_area("Title and description", key=TEXT_KEY, height=100, max_chars=MAX_CHARS,
                     placeholder="The product's title and description, as in the catalogue")
        st.form_submit_button("Classify", type="primary", icon=":material/play_arrow:",
                              on_click=_classify, key="classify_button",
                              help="Or press Ctrl+Enter in the text box")
    bundle = ui.current_bundle()
    path = st.session_state[ui.SESSION_KEY]
    examples = ui.examples(path)
    if len(examples):
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption("Or try an example:", width="content")
        for (i, ex), label in zip(examples.iterrows(), ui.example_labels(examples)):
            row.button(ui.md_escape(label), key=f"example_{i}", on_click=_classify,
                       args=(ex["text"],), icon=":material/lightbulb:",
                       help=ui.md_escape(f"{ui.shorten(ui.display_text(ex['text']), 200)} (test "
                                         f"product {ex['id']}, true category: {ex['true_path']})"))

    if st.session_state.get(EMPTY_KEY) or not classified:
        st.info("Paste a product title and description above (or pick an example), then press "
                "**Classify**.", icon=":material/edit_note:")
    else:
        res = ui.analyse(path, classified)
        c = res["classification"]
        calibrated = ui.is_calibrated(bundle)
        left, right = st.columns([1, 1.05], gap="large")
        if c.status == "out_of_catalogue":
            with left:
                st.subheader("Not in this catalogue")
                reasons = ui.out_of_catalogue_reasons(
                    c.flags, c.confidence, c.similarity, bundle.confidence_model.verdicts,
                    c.unknown_tokens)
                st.error("**The model does not know this text**: it has no category of this "
                         "catalogue it can vouch for.\n\n"
                         + "\n".join(f"- {r}" for r in reasons
                                     or ["It is unlike the products it was trained on."]),
                         icon=":material/help:")
                st.caption("Check that it is a product of this catalogue, written as its "
                           "products are (title and description), or add it to the catalogue "
                           "and retrain.")
                st.caption("Classified text")
                st.text(ui.shorten(classified, 600))
            with right, st.expander("Best guess anyway (not reliable)", expanded=False):
                for _path, _score, levels in res["levels"][:1]:
                    st.markdown(ui.breadcrumb_markdown(levels, bold=False))
                st.caption("What the model would answer if it had to; the percentages are its "
                           "scores for a text it does not know, not a chance of being right.")
                st.plotly_chart(ui.top_nodes_figure(res["top_nodes"]), key="top_nodes_chart",
                                config={"displayModeBar": False})
        else:
            with left:
                st.subheader("Predicted category")
                for rank, (_path, score, levels) in enumerate(res["levels"]):
                    line = ui.breadcrumb_markdown(levels)
                    if rank == 0:
                        st.markdown(f"#### {line}")
                        st.metric("Confidence", f"{c.confidence:.0%}",
                                  help=ui.confidence_help(calibrated))
                        if c.status == "uncertain":
                            st.warning(f"**Uncertain**: the model is only {c.confidence:.0%} "
                                       "confident that this category is right. Check it before "
                                       "using it.", icon=":material/warning:")
                        elif not calibrated:
                            st.caption(ui.confidence_help(False))
                        note = ui.below_threshold_note(bundle, levels)
                        if note:
                            st.caption(note)
                        st.caption("Each level shows the probability of the path down to it (a "
                                   "level is never surer than the one above it)."
                                   + (" The catalogue files some products under two categories; "
                                      "another path above its decision thresholds:"
                                      if len(res["levels"]) > 1 else ""))
                    else:
                        st.markdown(f"{line}  ·  path score {score:.0%}")
                note = ui.vocabulary_note(c.tokens, c.unknown_tokens)
                if note and note[0] == "warning":
                    st.warning(note[1], icon=":material/translate:")
                elif note:
                    st.caption(note[1])
                st.caption("Classified text")
                st.text(ui.shorten(classified, 600))
            with right:
                st.plotly_chart(ui.top_nodes_figure(res["top_nodes"]), key="top_nodes_chart",
                                config={"displayModeBar": False})
                st.caption("A bar is the probability of the path down to the category; blue: it "
                           "and every level above it pass their decision thresholds (│), so the "
                           "model could predict it; ● on the path shown.")

        left, right = st.columns([1, 1.05], gap="large")
        with left:
            st.subheader("Which words pushed the decision")
            if len(res["explain"]):
                cut = ui.explain_note(len(c.tokens), len(res["explain"]))
                if cut:
                    st.caption(cut)
                st.plotly_chart(ui.explain_figure(res["explain"]), key="explain_chart",
                                config={"displayModeBar": False})
                st.caption("How much the predicted path's score drops when the word is removed: "
                           "green words support the prediction, red ones argue against it."
                           + (" Here the prediction is only the best guess for a text the model "
                              "does not know." if c.status == "out_of_catalogue" else ""))
            else:
                st.info("No words to explain.")
        with right:
            st.subheader("Where it lands on the map")
            methods = bundle.map_methods
            if not methods:
                st.info("This bundle has no embedding map.")
            else:
                method = st.radio("Map", methods, format_func=ui.method_label,
                                  horizontal=True, key="classify_map_method",
                                  index=methods.index("umap") if "umap" in methods else 0,
                                  label_visibility="collapsed")
                figure, shown = ui.classify_map(path, method, res["map"][method], classified)
                st.plotly_chart(figure, key="classify_map", config={"displayModeBar": False})
                st.caption(f"★ this product, placed among its nearest catalogue products; "
                           f"{shown:,} sampled products coloured by top-level category. "
                           "**Embedding map** shows the whole catalogue.")

        st.subheader("Nearest catalogue products")
        st.dataframe(res["neighbours"], hide_index=True, key="neighbours_table",
                     column_config=ui.product_columns())


# ---------------------------------------------------------------------- batch
ENCODING_KEY = "batch_encoding"


def _parsed_upload(upload, encoding: str):
    """The upload read once per file and encoding (reruns reuse it): ``(frame, error
    message, encoding used)``."""
    from prodemb.catalogue import CatalogueError, read_texts

    job = (upload.file_id, path, encoding)
    cached = st.session_state.get("batch_parsed")
    if cached and cached[0] == job:
        return cached[1:]
    used = None
    try:
        data, used = ui.decode_upload(upload.getvalue(), encoding, bundle.word_vectors.index,
                                      bundle.reader_options.encoding)
        frame, error = read_texts(data, name=upload.name, max_rows=ui.BATCH_MAX_ROWS + 1,
                                  encoding=bundle.reader_options.encoding), None
    except UnicodeDecodeError as e:
        frame, error = None, (f"{upload.name}: the file is not {ui.UPLOAD_ENCODINGS[encoding]} "
                              f"text (byte {e.start + 1:,} does not fit); choose another encoding "
                              "or let it be detected")
    except CatalogueError as e:
        frame, error = None, str(e)
    st.session_state["batch_parsed"] = (job, frame, error, used)
    return frame, error, used


@st.fragment
def batch_section() -> None:
    """The batch tab, a fragment: uploading, choosing columns and classifying rerun only
    this part, not the one-product results above it (three figures, one with 5,000 points,
    rebuilt and sent to the browser on every rerun of the whole page)."""
    st.markdown(f"Upload a CSV file with a header row, up to {ui.BATCH_MAX_ROWS:,} products, "
                "choose the column(s) that hold the text, and download the predictions.")
    up_col, enc_col = st.columns([3, 1])
    upload = up_col.file_uploader("CSV file", key="batch_upload",
                                  help="Comma, semicolon, tab or pipe separated (detected); UTF-8, "
                                       "Windows-1250 or Latin-1, as Excel saves it. Excel "
                                       "workbooks must be saved as CSV first.")
    encoding = enc_col.selectbox("Encoding", list(ui.UPLOAD_ENCODINGS), key=ENCODING_KEY,
                                 format_func=ui.UPLOAD_ENCODINGS.get,
                                 help="How the file's characters are stored. Detected: UTF-8 "
                                      "(with or without BOM), else Windows-1250 or Latin-1, "
                                      "whichever gives more words the model knows.")
    frame, error, used = (_parsed_upload(upload, encoding) if upload is not None
                          else (None, None, None))
    if error:
        st.error(ui.md_message(error), icon=":material/error:")
    if frame is not None:
        if used and encoding == "auto":
            enc_col.caption(f"Read as {ui.UPLOAD_ENCODINGS.get(used, used)}; wrong letters? "
                            "Choose the encoding above.")
        if len(frame) > ui.BATCH_MAX_ROWS:
            st.warning(f"Only the first {ui.BATCH_MAX_ROWS:,} rows are classified; split larger "
                       "files or use `prodemb predict` on the command line.")
            frame = frame.head(ui.BATCH_MAX_ROWS)
        columns = st.multiselect("Text column(s), joined in this order", list(frame.columns),
                                 default=ui.default_text_columns(bundle, frame), key="batch_columns")
        with st.expander(f"Preview ({len(frame):,} rows)"):
            st.dataframe(frame.head(20), hide_index=True)
        if not columns:
            st.info("Choose at least one text column.")
        else:
            job = (upload.file_id, tuple(columns), path, encoding)
            if st.button(f"Classify {len(frame):,} products", type="primary",
                         icon=":material/play_arrow:", key="batch_button"):
                bar = st.progress(0.0, text="Classifying…")
                out = bundle.classify_frame(
                    ui.join_text_columns(frame, columns), batch_size=1024,
                    progress=lambda done, total: bar.progress(
                        done / max(total, 1), text=f"Classified {done:,} of {total:,}"))
                bar.empty()
                result = ui.batch_output(frame, out)
                delimiter = frame.attrs.get("delimiter", ",")
                st.session_state["batch_result"] = (job, result, ui.batch_csv(result, delimiter),
                                                    delimiter)
            stored = st.session_state.get("batch_result")
            if stored and stored[0] == job:
                _, result, csv_bytes, delimiter = stored
                counts = ui.verdict_counts(result)
                status = counts[counts["kind"] == "status"].set_index("name")["rows"]
                m1, m2, m3, m4, m5 = st.columns(5)
                m1.metric("Products classified", f"{len(result):,}")
                m2.metric("OK", f"{status['ok']:,}", help="Confident and in the catalogue")
                m3.metric("Uncertain", f"{status['uncertain']:,}",
                          help="Low confidence: check the category")
                m4.metric("Out of catalogue", f"{status['out of catalogue']:,}",
                          help="Empty, no known words, or far from every training product")
                m5.metric("Median confidence", f"{result['confidence'].median():.0%}",
                          help=ui.confidence_help(ui.is_calibrated(bundle)))
                flags = counts[counts["kind"] == "flag"]
                st.caption("Flags: " + " · ".join(f"{name} **{n:,}**" for name, n
                                                  in zip(flags["name"], flags["rows"])))
                # the answers first, where they are seen without scrolling; then the upload
                first = ["predicted_category", "status", "confidence", "flags", "predicted_score"]
                order = list(dict.fromkeys([*first, *frame.columns, *result.columns]))
                cc = st.column_config
                st.dataframe(result, hide_index=True, key="batch_table", column_order=order,
                             column_config={
                                 "status": cc.TextColumn("status", help=", ".join(ui.STATUS_LABELS)),
                                 "confidence": cc.ProgressColumn(
                                     "confidence", min_value=0.0, max_value=1.0, format="%.2f",
                                     help=ui.confidence_help(ui.is_calibrated(bundle))),
                                 "predicted_category": cc.TextColumn("predicted_category",
                                                                     width="large"),
                                 "predicted_score": cc.ProgressColumn(
                                     "predicted_score", min_value=0.0, max_value=1.0,
                                     format="%.2f")})
                queue = ui.review_queue(result)
                d1, d2 = st.columns(2)
                d1.download_button("Download predictions (CSV)", csv_bytes,
                                   file_name=ui.batch_file_name(upload.name), mime="text/csv",
                                   icon=":material/download:", key="batch_download",
                                   on_click="ignore", type="primary",
                                   help=ui.batch_csv_note(delimiter))
                d2.download_button(f"Download the review queue ({len(queue):,} flagged row{'' if len(queue) == 1 else 's'})",
                                   ui.batch_csv(queue, delimiter),
                                   file_name=ui.batch_file_name(upload.name, "review"),
                                   mime="text/csv", icon=":material/flag:", key="batch_review",
                                   on_click="ignore", disabled=queue.empty,
                                   help="Only the rows with a flag (uncertain, out of catalogue, "
                                        "two paths): the ones to check by hand")


with batch:
    batch_section()
