"""Text and markup for the dashboard: every catalogue or user text shown by a page
passes through here, so that it is displayed literally (never as Markdown or HTML).

No Streamlit here: these are plain functions, tested without a server.
"""

from __future__ import annotations

import html
import os
import re

#: Display names of the map methods.
METHOD_LABELS = {"tsne": "t-SNE", "umap": "UMAP"}
#: The subtree choice that means "no subtree" (Per-class F1, Embedding map).
ALL_CATEGORIES = "All categories"

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$&=\"'])")


def md_escape(text: object) -> str:
    """``text`` made inert for ``st.markdown``: every Markdown/Streamlit special character
    (emphasis, links, HTML, ``:icons:``, ``$latex$``, lists, headings) is backslash-escaped
    and line breaks become spaces, so catalogue or user text is always shown literally."""
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return _MD_SPECIAL.sub(r"\\\1", s)


def plot_escape(text: object, limit: int | None = None) -> str:
    """``text`` made literal for plotly labels and hover text (plotly interprets a few HTML
    tags such as ``<b>``/``<a>`` and decodes entities; escaping shows the text as typed)."""
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def shorten(text: object, limit: int = 40) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with an ellipsis."""
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def method_label(method: str) -> str:
    """``t-SNE`` for ``tsne``, ``UMAP`` for ``umap``; other methods as they are named."""
    return METHOD_LABELS.get(method, method)


def breadcrumb_markdown(levels: list[tuple[str, float]]) -> str:
    """``**Accessories** 93% › **Scarves** 81% › …`` with every name escaped."""
    return "  ›  ".join(f"**{md_escape(name)}** :gray[{prob:.0%}]" if prob == prob
                        else f"**{md_escape(name)}**" for name, prob in levels)


def vocabulary_note(tokens: list[str], unknown: list[str]) -> tuple[str, str] | None:
    """``(level, message)`` about out-of-vocabulary words, or None when all are known."""
    if tokens and len(unknown) == len(tokens):
        return ("warning", "None of these words are in the vocabulary: the category below is "
                "a guess from word pieces only. Try the product title as it appears in the "
                "catalogue, or add a few descriptive words.")
    if not tokens:
        return ("warning", "The text has no words the model can read once markup, numbers and "
                "punctuation are removed; the category below is a guess.")
    if unknown:
        return ("caption", "Not in the vocabulary (read from word pieces only): "
                + ", ".join(md_escape(u) for u in unknown[:15]) + ("…" if len(unknown) > 15 else ""))
    return None


def card_items(card: dict) -> list[tuple[str, str, str]]:
    """Model card facts as ``(label, value, help)`` for display."""

    def count(v):
        return "–" if v is None else f"{int(v):,}"

    def score(v):
        return "–" if v is None else f"{float(v):.3f}"

    date = str(card.get("trained_at") or "")[:10] or "–"
    return [
        ("Products", count(card.get("products")), f"Catalogue file: {card.get('catalogue') or 'unknown'}"),
        ("Labelled", count(card.get("labelled")), "Products with at least one category path"),
        ("Unlabelled", count(card.get("unlabelled")), "Products without a category (used for word vectors and maps)"),
        ("Classes", count(card.get("classes")), "Nodes of the category tree (every level is predicted)"),
        ("Leaves", count(card.get("leaves")), "Categories without children"),
        ("Levels", count(card.get("levels")), "Depth of the category tree"),
        ("Test macro-F1", score(card.get("test_macro_f1")), "Macro-F1 over all nodes on the held-out test split"),
        ("Trained", date, f"Vocabulary: {count(card.get('vocabulary'))} words"),
    ]


def card_markdown(card: dict) -> str:
    """The model card as a short Markdown list (values escaped)."""
    v = {label: md_escape(value) for label, value, _ in card_items(card)}
    return "\n".join([
        f"- **{v['Products']}** products: **{v['Labelled']}** labelled, **{v['Unlabelled']}** unlabelled",
        f"- **{v['Classes']}** classes, **{v['Leaves']}** leaves, **{v['Levels']}** levels",
        f"- Test macro-F1 **{v['Test macro-F1']}**",
        f"- Trained **{v['Trained']}**",
    ])


def batch_file_name(upload_name: str) -> str:
    """``NAME_predictions.csv`` for an uploaded ``NAME.csv``, with only safe characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(upload_name or "upload"))[0])
    return f"{stem or 'upload'}_predictions.csv"
