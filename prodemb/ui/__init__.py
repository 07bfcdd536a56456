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
"""

from __future__ import annotations

from ..utils import csv_safe, csv_safe_frame
from .bundles import (
    APP_ROOT,
    CLASSIFIED_TEXT_KEY,
    SESSION_KEY,
    artifacts_dir,
    available_bundles,
    bundle_label,
    bundle_name,
    bundle_problem,
    current_bundle,
    default_bundle,
    ensure_frame,
    find_bundle,
    fingerprint,
    load_bundle,
    page_frame,
    remember_failure,
    unusable_bundles,
)
from .data import (
    BATCH_MAX_ROWS,
    CLASSIFY_MAP_SAMPLE,
    MAP_TABLE_COLUMNS,
    analyse,
    batch_output,
    below_threshold_note,
    calibration_table,
    classify_map,
    colour_groups,
    confused_pairs,
    confused_subtree,
    confusion_matrix,
    default_product_id,
    default_subtree,
    default_text_columns,
    default_word,
    example_label,
    example_products,
    examples,
    frequent_words,
    guess_text_columns,
    headline_table,
    is_calibrated,
    join_text_columns,
    label_distribution,
    map_base,
    map_sample,
    map_table_columns,
    min_count,
    node_chart_table,
    node_names,
    path_levels,
    per_class_table,
    place_text,
    probe_category_words,
    probe_words,
    product_columns,
    product_summary,
    product_table,
    reliability_rows,
    review_queue,
    sample_ids,
    search_placeholder,
    search_rows,
    similar_words_table,
    subtree_choices,
    subtree_rows,
    verdict_counts,
)
from .figures import (
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    PRIMARY,
    catalogue_map_figure,
    category_colors,
    confusion_figure,
    explain_figure,
    f1_figure,
    label_distribution_figure,
    map_figure,
    reliability_figure,
    similar_words_figure,
    top_nodes_figure,
    training_history_figure,
)
from .text import (
    ALL_CATEGORIES,
    FLAG_LABELS,
    METHOD_LABELS,
    STATUS_LABELS,
    batch_file_name,
    breadcrumb_markdown,
    card_items,
    card_markdown,
    confidence_help,
    md_escape,
    method_label,
    out_of_catalogue_reasons,
    plot_escape,
    shorten,
    vocabulary_note,
)

__all__ = [
    "probe_category_words",
    "ALL_CATEGORIES", "METHOD_LABELS", "method_label",
    "csv_safe", "csv_safe_frame", "APP_ROOT", "CLASSIFIED_TEXT_KEY", "SESSION_KEY",
    "artifacts_dir", "available_bundles", "bundle_label", "bundle_name", "bundle_problem",
    "current_bundle", "default_bundle", "ensure_frame", "find_bundle", "fingerprint",
    "load_bundle", "page_frame", "remember_failure", "unusable_bundles", "BATCH_MAX_ROWS",
    "CLASSIFY_MAP_SAMPLE", "MAP_TABLE_COLUMNS", "analyse", "batch_output", "classify_map",
    "colour_groups", "confused_pairs", "confused_subtree", "confusion_matrix",
    "default_product_id", "default_subtree", "default_text_columns", "default_word",
    "example_label", "example_products", "examples", "frequent_words", "guess_text_columns",
    "headline_table", "join_text_columns", "label_distribution", "map_base", "map_sample",
    "map_table_columns", "min_count", "node_names", "path_levels", "per_class_table",
    "place_text", "probe_words", "product_columns", "product_summary", "product_table",
    "sample_ids", "search_placeholder", "search_rows", "similar_words_table", "subtree_choices",
    "subtree_rows", "NEGATIVE", "NEUTRAL", "POSITIVE", "PRIMARY",
    "catalogue_map_figure", "category_colors", "confusion_figure", "explain_figure", "f1_figure",
    "label_distribution_figure", "map_figure", "similar_words_figure", "top_nodes_figure",
    "training_history_figure", "batch_file_name", "breadcrumb_markdown", "card_items",
    "card_markdown", "md_escape", "plot_escape", "shorten", "vocabulary_note",
    # confidence (issue 12)
    "FLAG_LABELS", "STATUS_LABELS", "below_threshold_note", "calibration_table",
    "confidence_help", "is_calibrated", "node_chart_table", "out_of_catalogue_reasons",
    "reliability_figure", "reliability_rows", "review_queue", "verdict_counts",
]
