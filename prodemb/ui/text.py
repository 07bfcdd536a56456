"""Text and markup for the dashboard: every catalogue or user text shown by a page
passes through here, so that it is displayed literally (never as Markdown or HTML).

No Streamlit here: these are plain functions, tested without a server.
"""

from __future__ import annotations

import html
import os
import re

from ..text import strip_markup

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


def md_message(text: object) -> str:
    """One of prodemb's own messages (a warning or an error of the core, written for the
    command line too) for ``st.markdown``: :func:`md_escape`, but a span between backticks,
    such as `prodemb evaluate --split test`, is shown as code instead of with its backticks.
    A code span is literal Markdown, so the text stays inert."""
    return re.sub(r"\\`([^`]*?)\\`", lambda m: "`" + re.sub(r"\\(.)", r"\1", m.group(1)) + "`",
                  md_escape(text))


def plot_escape(text: object, limit: int | None = None) -> str:
    """``text`` made literal for plotly labels and hover text (plotly interprets a few HTML
    tags such as ``<b>``/``<a>`` and decodes entities; escaping shows the text as typed)."""
    s = "" if text is None else str(text)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return html.escape(s, quote=False)


def display_text(text: object) -> str:
    """Catalogue text as a person reads it: HTML entities unescaped (``nov&yacute;`` ->
    ``nový``, ``&nbsp;`` -> a space; twice-escaped ones such as ``&amp;yacute;`` too, as
    :func:`prodemb.text.tokenize` does), markup tags such as ``<p>`` or ``<br>`` dropped and
    white space folded. Plain text: it is shown in table cells, or passed through
    :func:`plot_escape` / :func:`md_escape`, never rendered as HTML."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    return re.sub(r"\s+", " ", strip_markup(str(text))).strip()


def shorten(text: object, limit: int = 40) -> str:
    """``text`` on one line (white space folded), cut to ``limit`` characters with an ellipsis."""
    s = re.sub(r"\s+", " ", "" if text is None else str(text)).strip()
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


def method_label(method: str) -> str:
    """``t-SNE`` for ``tsne``, ``UMAP`` for ``umap``; other methods as they are named."""
    return METHOD_LABELS.get(method, method)


def breadcrumb_markdown(levels: list[tuple], bold: bool = True) -> str:
    """``**Accessories** 93% › **Scarves** 81% › …`` with every name escaped.

    ``levels``: ``(name, probability)`` or ``(name, probability, passed)`` per level
    (:func:`prodemb.ui.data.path_levels`); a level that did not pass its decision
    threshold (``passed`` false) is marked "below threshold". ``bold=False``: the
    de-emphasised form of a guess (names in grey, not bold)."""
    parts = []
    for name, prob, *rest in levels:
        shown = f"**{md_escape(name)}**" if bold else f":gray[{md_escape(name)}]"
        if prob == prob:
            shown += f" :gray[{prob:.0%}]"
        if rest and not rest[0]:
            shown += " :orange[(below threshold)]"
        parts.append(shown)
    return "  ›  ".join(parts)


#: Plain words for the flags of a classification (prodemb.confidence.FLAGS).
FLAG_LABELS = {"empty_text": "empty text", "no_known_words": "no known words",
               "low_confidence": "low confidence", "out_of_catalogue": "out of catalogue",
               "two_paths": "two paths"}
#: Plain words for the statuses (prodemb.confidence.STATUSES).
STATUS_LABELS = {"ok": "ok", "uncertain": "uncertain", "out_of_catalogue": "out of catalogue"}


def similarity_pair(similarity: float, threshold: float) -> tuple[str, str]:
    """``similarity`` and the ``threshold`` it is below, with 2 decimals, or more when 2 would
    show them equal or the threshold as 1.00 (0.8496 below 0.8517: "0.850" and "0.852",
    not "0.85" twice; 0.9966: "0.997", not "1.00")."""
    for decimals in (2, 3, 4):
        a, b = f"{similarity:.{decimals}f}", f"{threshold:.{decimals}f}"
        if a != b and (threshold >= 1 or float(b) < 1):
            break
    return a, b


def out_of_catalogue_reasons(flags: list[str], confidence: float, similarity: float | None,
                             verdicts, unknown: list[str] | None = None) -> list[str]:
    """Why a classification is out of the catalogue, one Markdown sentence per reason
    (words of the text escaped). ``verdicts``: the bundle's
    :class:`prodemb.confidence.Verdicts` (its nearness thresholds)."""
    reasons = []
    if "empty_text" in flags:
        reasons.append("The text has no words the model can read once markup, numbers and "
                       "punctuation are removed.")
    elif "no_known_words" in flags:
        words = ", ".join(md_escape(u) for u in unique_words(unknown)[:10])
        reasons.append("None of its words is known to the model" + (f" ({words})" if words else "")
                       + ": nothing in the text points to a category of this catalogue.")
    elif similarity is not None and similarity < verdicts.min_similarity:
        near, bound = similarity_pair(similarity, verdicts.min_similarity)
        reasons.append(f"It is far from every product the model was trained on: similarity "
                       f"{near} to the nearest, while almost all of the catalogue's own "
                       f"products are above {bound}.")
    elif similarity is not None and similarity < verdicts.ooc_similarity:
        near, bound = similarity_pair(similarity, verdicts.ooc_similarity)
        reasons.append(f"It is farther from the training products than most catalogue products "
                       f"(similarity {near} to the nearest, below {bound}) and the model is "
                       "unsure of it.")
    if "low_confidence" in flags:
        reasons.append(f"The model's confidence in its best guess is only {confidence:.0%}.")
    return reasons


def confidence_help(calibrated: bool) -> str:
    """What the confidence percentage means (calibrated or the raw score of an older bundle)."""
    if calibrated:
        return ("The probability that this category path is right, calibrated on the "
                "validation products: of products shown with 80 %, about 80 % are right.")
    return ("This bundle was trained before calibration: the confidence is the raw path score "
            "(the lowest node probability along the path), not a calibrated probability, and "
            "texts far from the catalogue are not detected. Retrain it to get both.")


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
        once = unique_words(unknown)
        return ("caption", "Not in the vocabulary (read from word pieces only): "
                + ", ".join(md_escape(u) for u in once[:15]) + ("…" if len(once) > 15 else ""))
    return None


def unique_words(words) -> list[str]:
    """``words`` with repeats left out, in their first order."""
    return list(dict.fromkeys(words or []))


def explain_note(n_tokens: int, n_shown: int) -> str | None:
    """Says that the word attributions stop after the first ``n_shown`` of ``n_tokens``
    words (the explanation removes one word at a time, so it is capped); None when every
    word is shown."""
    if n_tokens <= n_shown:
        return None
    return (f"Only the first {n_shown} of the {n_tokens} words the model read are shown here "
            "(each word is removed in turn, so long texts are cut).")


def threshold_delta(tuned: float, plain: float) -> tuple[str | None, str]:
    """``(delta text, delta colour)`` for ``st.metric``: the macro-F1 with the tuned
    thresholds against the same model with every threshold at 0.5. A difference that
    rounds to 0.000 is no improvement: no arrow, grey (``"off"``)."""
    if plain is None or plain != plain or tuned is None or tuned != tuned:
        return None, "off"
    diff = float(tuned) - float(plain)
    if abs(diff) < 0.0005:
        return "same as with 0.5 thresholds", "off"
    return f"{diff:+.3f} vs 0.5 thresholds", "normal"


#: Why the training curve's two losses differ in scale (prodemb.classifier: the training
#: loss is TrainingLoss, the validation loss bce_of_probs).
LOSS_NOTE = ("The two losses are not the same quantity, so compare each with itself, not "
             "with the other. The training loss is what the optimiser minimises: the weighted "
             "binary cross-entropy over every category node plus a cross-entropy over the "
             "leaves for the BiLSTM's leaf head and the wide path's (averaged over the epoch, "
             "with dropout on). The validation loss is only the weighted binary cross-entropy "
             "of the node probabilities, averaged over all nodes, most of which a product "
             "plainly is not in, hence much smaller.")


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
        ("Test leaf macro-F1", score(card.get("test_leaf_macro_f1")),
         "Macro-F1 over the leaf categories (the full paths) on the held-out test split"),
        ("Trained", date, f"Vocabulary: {count(card.get('vocabulary'))} words"),
    ]


def card_markdown(card: dict, model: str | None = None, languages: list[str] | None = None) -> str:
    """The model card as a short Markdown list (values escaped). ``model``: what the model
    is (:func:`prodemb.ui.data.model_summary`); ``languages``: the languages of its
    training text (:func:`prodemb.ui.data.bundle_languages`)."""
    v = {label: md_escape(value) for label, value, _ in card_items(card)}
    lines = []
    if model:
        lines.append(f"- Model: {md_escape(model)}")
    lines += [
        f"- **{v['Products']}** products: **{v['Labelled']}** labelled, **{v['Unlabelled']}** unlabelled",
        f"- **{v['Classes']}** classes, **{v['Leaves']}** leaves, **{v['Levels']}** levels",
    ]
    if languages:
        lines.append(f"- Training text in {md_escape(', '.join(languages))}")
    lines += [
        f"- Test macro-F1 **{v['Test macro-F1']}** (all nodes), leaf macro-F1 "
        f"**{v['Test leaf macro-F1']}**",
        f"- Trained **{v['Trained']}**",
    ]
    return "\n".join(lines)


def batch_file_name(upload_name: str, what: str = "predictions") -> str:
    """``NAME_predictions.csv`` (``what``) for an uploaded ``NAME.csv``, with only safe characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(os.path.basename(upload_name or "upload"))[0])
    return f"{stem or 'upload'}_{what}.csv"
