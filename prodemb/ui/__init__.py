"""Streamlit glue shared by ``app.py`` and ``pages/``: the pages only render, and take
everything they show from here (``from prodemb import ui``; ``ui.NAME``).

By concern:

- :mod:`prodemb.ui.bundles`: finding bundles, loading each once per server process, the
  bundle a session has chosen (session state), the frame every page runs in;
- :mod:`prodemb.ui.data`: what the pages show, computed from a bundle (example products,
  probe words, product tables, batch classification) and the per-bundle caches;
- :mod:`prodemb.ui.figures`: the plotly figures;
- :mod:`prodemb.ui.text`: escaping and markup, so that catalogue and user text is always
  shown literally (never as Markdown or HTML).

Only this package (with ``app.py`` and ``pages/``) imports Streamlit.

Names are imported on first use (PEP 562): ``from prodemb import ui`` is cheap, and
``ui.ensure_frame`` or ``ui.SESSION_KEY`` do not pull in torch, pandas and plotly; so
a page can draw its heading and form before the first model is loaded.
"""

from __future__ import annotations

import importlib

#: Public name -> the module (relative to this package) that defines it.
_WHERE = {
    "csv_safe": "..utils",
    "csv_safe_frame": "..utils",
    "APP_ROOT": ".bundles",
    "CLASSIFIED_TEXT_KEY": ".bundles",
    "SESSION_KEY": ".bundles",
    "SELECT_KEY": ".bundles",
    "artifacts_dir": ".bundles",
    "available_bundles": ".bundles",
    "bundle_label": ".bundles",
    "bundle_name": ".bundles",
    "bundle_problem": ".bundles",
    "current_bundle": ".bundles",
    "default_bundle": ".bundles",
    "draw_sidebar": ".bundles",
    "bundle_selector": ".bundles",
    "model_card": ".bundles",
    "ensure_frame": ".bundles",
    "find_bundle": ".bundles",
    "fingerprint": ".bundles",
    "load_bundle": ".bundles",
    "page_frame": ".bundles",
    "remember_failure": ".bundles",
    "unusable_bundles": ".bundles",
    "BATCH_MAX_ROWS": ".data",
    "CLASSIFY_MAP_SAMPLE": ".data",
    "MAP_TABLE_COLUMNS": ".data",
    "NESTED_PAIR_HELP": ".data",
    "map_selection_csv": ".data",
    "UPLOAD_ENCODINGS": ".data",
    "analyse": ".data",
    "batch_output": ".data",
    "batch_csv": ".data",
    "batch_csv_note": ".data",
    "below_threshold_note": ".data",
    "bundle_languages": ".data",
    "calibration_table": ".data",
    "classify_map": ".data",
    "colour_groups": ".data",
    "colour_universe": ".data",
    "column_words": ".data",
    "confused_pairs": ".data",
    "confused_subtree": ".data",
    "confusion_matrix": ".data",
    "decode_upload": ".data",
    "default_product_id": ".data",
    "default_subtree": ".data",
    "default_text_columns": ".data",
    "default_word": ".data",
    "did_you_mean": ".data",
    "edit_distance": ".data",
    "example_label": ".data",
    "example_labels": ".data",
    "example_products": ".data",
    "examples": ".data",
    "find_product_id": ".data",
    "frequent_words": ".data",
    "guess_text_columns": ".data",
    "headline_table": ".data",
    "is_calibrated": ".data",
    "join_text_columns": ".data",
    "label_distribution": ".data",
    "map_base": ".data",
    "map_colouring": ".data",
    "fold_outside": ".data",
    "ELSEWHERE": ".figures",
    "map_sample": ".data",
    "map_table": ".data",
    "map_table_columns": ".data",
    "min_count": ".data",
    "model_summary": ".data",
    "node_chart_table": ".data",
    "node_names": ".data",
    "path_levels": ".data",
    "per_class_table": ".data",
    "place_text": ".data",
    "probe_category_words": ".data",
    "probe_words": ".data",
    "product_columns": ".data",
    "product_summary": ".data",
    "product_table": ".data",
    "reliability_rows": ".data",
    "review_queue": ".data",
    "sample_ids": ".data",
    "search_placeholder": ".data",
    "search_rows": ".data",
    "search_texts": ".data",
    "readable_texts": ".data",
    "similar_words": ".data",
    "similar_words_table": ".data",
    "spelling_candidates": ".data",
    "subtree_choices": ".data",
    "subtree_rows": ".data",
    "reprojected_map": ".data",
    "headline_metrics": ".data",
    "clicked_product": ".data",
    "REPROJECT_MAX": ".data",
    "text_languages": ".data",
    "word_count_languages": ".data",
    "top_level_names": ".data",
    "unknown_word_suggestions": ".data",
    "verdict_counts": ".data",
    "words_to_try": ".data",
    "NEGATIVE": ".figures",
    "NEUTRAL": ".figures",
    "POSITIVE": ".figures",
    "PRIMARY": ".figures",
    "catalogue_map_figure": ".figures",
    "category_colors": ".figures",
    "category_colours": ".figures",
    "confusion_figure": ".figures",
    "explain_figure": ".figures",
    "f1_figure": ".figures",
    "label_distribution_figure": ".figures",
    "map_figure": ".figures",
    "reliability_figure": ".figures",
    "robust_range": ".figures",
    "similar_words_figure": ".figures",
    "top_nodes_figure": ".figures",
    "training_history_figure": ".figures",
    "ALL_CATEGORIES": ".text",
    "FLAG_LABELS": ".text",
    "LOSS_NOTE": ".text",
    "METHOD_LABELS": ".text",
    "STATUS_LABELS": ".text",
    "batch_file_name": ".text",
    "breadcrumb_markdown": ".text",
    "card_items": ".text",
    "card_markdown": ".text",
    "confidence_help": ".text",
    "display_text": ".text",
    "explain_note": ".text",
    "md_escape": ".text",
    "md_message": ".text",
    "method_label": ".text",
    "out_of_catalogue_reasons": ".text",
    "plot_escape": ".text",
    "shorten": ".text",
    "threshold_delta": ".text",
    "unique_words": ".text",
    "vocabulary_note": ".text",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = [
    "probe_category_words",
    "ALL_CATEGORIES", "METHOD_LABELS", "method_label",
    "csv_safe", "csv_safe_frame", "APP_ROOT", "CLASSIFIED_TEXT_KEY", "SESSION_KEY",
    "artifacts_dir", "available_bundles", "bundle_label", "bundle_name", "bundle_problem",
    "current_bundle", "default_bundle", "ensure_frame", "find_bundle", "fingerprint",
    "load_bundle", "page_frame", "remember_failure", "unusable_bundles", "BATCH_MAX_ROWS",
    "CLASSIFY_MAP_SAMPLE", "MAP_TABLE_COLUMNS", "NESTED_PAIR_HELP", "analyse", "batch_csv", "batch_csv_note", "batch_output", "classify_map",
    "colour_groups", "confused_pairs", "confused_subtree", "confusion_matrix",
    "default_product_id", "default_subtree", "default_text_columns", "default_word",
    "example_label", "example_labels", "example_products", "examples", "frequent_words", "guess_text_columns",
    "headline_table", "join_text_columns", "label_distribution", "map_base", "map_sample",
    "map_table_columns", "min_count", "node_names", "path_levels", "per_class_table",
    "place_text", "probe_words", "product_columns", "product_summary", "product_table",
    "sample_ids", "search_placeholder", "search_rows", "similar_words_table", "subtree_choices",
    "subtree_rows", "NEGATIVE", "NEUTRAL", "POSITIVE", "PRIMARY",
    "catalogue_map_figure", "category_colors", "confusion_figure", "explain_figure", "f1_figure",
    "label_distribution_figure", "map_figure", "similar_words_figure", "top_nodes_figure",
    "training_history_figure", "batch_file_name", "breadcrumb_markdown", "card_items",
    "card_markdown", "md_escape", "md_message", "plot_escape", "shorten", "vocabulary_note",
    # confidence (issue 12)
    "FLAG_LABELS", "STATUS_LABELS", "below_threshold_note", "calibration_table",
    "confidence_help", "is_calibrated", "node_chart_table", "out_of_catalogue_reasons",
    "reliability_figure", "reliability_rows", "review_queue", "verdict_counts",
    # issue 16
    "draw_sidebar", "bundle_selector", "model_card", "word_count_languages", "search_texts",
    "SELECT_KEY",
    "readable_texts", "fold_outside", "ELSEWHERE",
    "UPLOAD_ENCODINGS", "LOSS_NOTE", "bundle_languages", "category_colours", "colour_universe",
    "column_words", "decode_upload", "did_you_mean", "display_text", "edit_distance",
    "explain_note", "find_product_id", "map_colouring", "map_selection_csv", "map_table", "model_summary",
    "robust_range", "similar_words", "spelling_candidates", "text_languages",
    "threshold_delta", "top_level_names", "unique_words", "unknown_word_suggestions",
    "words_to_try", "reprojected_map", "clicked_product", "REPROJECT_MAX",
    "headline_metrics",
]
