"""What the dashboard pages show, computed from a bundle: example products, probe words,
product tables, batch classification, and the per-bundle computations the pages cache
(``st.cache_data`` / ``st.cache_resource``, keyed by the bundle's path or fingerprint).

Demo-specific choices are read from the bundle: the words to look up first are its
Word2Vec probe words (``metrics.json``), the example products are its own test products,
led by a category one of those words names.
"""

from __future__ import annotations

import codecs
import copy
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from .. import report
from ..bundle import Bundle
from ..neighbours import suggestable
from ..report import PATH_JOIN
from ..serving import WORK
from ..taxonomy import DISPLAY_SEPARATOR
from ..text import tokenize
from ..utils import csv_safe_frame
from .bundles import load_bundle
from .figures import (
    ELSEWHERE,
    FIXED_COLOURS,
    HOVER_CHARS,
    map_figure,
    path_lines,
    scored,
    star_trace,
)
from .text import FLAG_LABELS, STATUS_LABELS, display_text, md_escape, shorten

#: Batch classification accepts at most this many rows per upload; more are cut off with a
#: warning (about a minute of CPU time on a laptop for the demo model).
BATCH_MAX_ROWS = 100_000
#: Products drawn on the small map of the Classify page.
CLASSIFY_MAP_SAMPLE = 5_000


# ---------------------------------------------------------------------- what the bundle suggests
def probe_words(bundle: Bundle) -> list[str]:
    """The words the bundle was checked with after training (its Word2Vec probe words, from
    ``metrics.json``, else its config), those in its vocabulary, in their order."""
    metrics = bundle.metrics or {}
    words = (metrics.get("word2vec") or {}).get("probe_words") or list(metrics.get("word2vec_probes") or {})
    if not words:
        words = bundle.config.get("train", {}).get("word2vec", {}).get("probe_words") or []
    return [w for w in dict.fromkeys(str(w) for w in words) if w in bundle.word_vectors]


def confused_subtree(bundle: Bundle) -> str | None:
    """The subtree the model confuses most on its test split (else validation split):
    :func:`prodemb.report.default_subtree`; None without evaluation."""
    splits = (bundle.metrics or {}).get("splits") or {}
    for split in ("test", "validation"):
        if split in splits:
            return report.default_subtree(bundle.taxonomy, splits[split])
    return None


def probe_category_words(bundle: Bundle) -> list[str]:
    """The probe words (:func:`probe_words`) that name a category of the tree (a word of
    a node name, cleaned like product text): ``scarf`` on the demo."""
    names = {w for node in bundle.taxonomy.nodes for name in node for w in tokenize(name, None)}
    return [w for w in probe_words(bundle) if w in names]


def example_products(bundle: Bundle, n: int = 5) -> pd.DataFrame:
    """``n`` test-split products to try on the Classify page, chosen deterministically.

    First a product of the category named by the bundle's first probe word that names
    one (:func:`probe_category_words`: a scarf on the demo, the classic confusable case),
    else of the subtree the model confuses most (:func:`confused_subtree`); then one
    product from each of the largest top-level categories of the test split; with fewer
    top-level categories than ``n``, products of categories not chosen yet. Within a
    category the prediction is preferably correct, the title of a readable length, the
    model sure of it; ties broken by id.
    """
    p = bundle.products
    pool = p[(p["split"] == "test") & (p["true_path"] != "")]
    if pool.empty:
        pool = p[p["true_path"] != ""]
    if pool.empty:
        pool = p
    if pool.empty:
        return pool.head(0)
    length = pool["text"].str.len()
    pool = pool.assign(
        _correct=pool["correct"].fillna(False).astype(bool),
        _readable=length.between(15, 140),
        _score=pool["pred_score"].astype(float),
        _id=pool["id"].astype(str),
    ).sort_values(["_correct", "_readable", "_score", "_id"], ascending=[False, False, False, True],
                  kind="mergesort")
    chosen: list[int] = []
    # a single-path product: a multi-path one would show another category first
    single = ~pool["true_path"].str.contains(PATH_JOIN, regex=False).to_numpy(bool)
    lead = pool.iloc[:0]
    words_of = {path: set(tokenize(path, None)) for path in pool["true_path"].unique()}
    for word in probe_category_words(bundle):
        named = pool["true_path"].map(lambda path, w=word: w in words_of[path]).to_numpy(bool)
        lead = pool[named & single]
        if len(lead):
            break
    focus = None if len(lead) else confused_subtree(bundle)
    if focus:
        lead = pool[report.path_in_subtree(pool["true_path"], focus) & single]
    if len(lead):
        chosen.append(lead.index[0])
    tops = pool["true_top"].value_counts()
    tops = tops.sort_index(kind="mergesort").sort_values(ascending=False, kind="mergesort")
    for top in tops.index:
        if len(chosen) >= n:
            break
        taken = set(p.loc[chosen, "true_top"]) if chosen else set()
        if top in taken:
            continue
        chosen.append(pool[pool["true_top"] == top].index[0])
    # fewer top-level categories than examples wanted: other categories first, then any
    shown = set(p.loc[chosen, "true_path"])
    for fresh in (True, False):
        for i in pool.index:
            if len(chosen) >= n:
                break
            if i not in chosen and not (fresh and pool.at[i, "true_path"] in shown):
                chosen.append(i)
                shown.add(pool.at[i, "true_path"])
    return p.loc[chosen[:n], ["id", "text", "true_path"]].reset_index(drop=True)


@st.cache_data(show_spinner=False, max_entries=16)
def examples(path: str, n: int = 5) -> pd.DataFrame:
    """:func:`example_products` of the bundle at ``path``, computed once."""
    return example_products(load_bundle(path), n)


def example_label(row) -> str:
    """Button label for an example product: the leaf of its category."""
    return str(row["true_path"]).split(PATH_JOIN)[0].split(DISPLAY_SEPARATOR)[-1] or shorten(row["text"], 24)


def example_labels(examples: pd.DataFrame) -> list[str]:
    """Button labels of :func:`example_products`: :func:`example_label`, with the top-level
    category in front of a label that two examples share (``Men › Tshirts``, ``Boys ›
    Tshirts``), so that no two buttons read alike."""
    labels = [example_label(row) for _, row in examples.iterrows()]
    tops = [str(p).split(PATH_JOIN)[0].split(DISPLAY_SEPARATOR)[0] for p in examples["true_path"]]
    return [f"{top} › {label}" if labels.count(label) > 1 and top and top != label else label
            for label, top in zip(labels, tops)]


def search_placeholder(bundle: Bundle) -> str:
    """Placeholder of the map's search box: a few of the bundle's probe words."""
    words = probe_words(bundle)[:3]
    return f"e.g. {', '.join(words)}" if words else "a word of the product texts"


# ---------------------------------------------------------------------- Classify
def path_levels(bundle: Bundle, display_path: str, node_probs: np.ndarray) -> list[tuple[str, float, bool]]:
    """``[(node name, shown probability, passed), ...]`` from the top level down to the
    path's end.

    The shown probability is the node's probability capped at its parent's shown one (the
    probability of the path down to that level; the path's score is the last one), so a
    level is never shown surer than the level above it. ``passed``: the node's probability
    reaches its decision threshold (a path goes on through a node that does not only where
    the decoder completes it to a leaf, or when no top-level category passes)."""
    parts = display_path.split(DISPLAY_SEPARATOR)
    out = []
    shown = 1.0
    for depth in range(1, len(parts) + 1):
        try:
            node = bundle.taxonomy.index(tuple(parts[:depth]))
        except KeyError:
            out.append((parts[depth - 1], float("nan"), True))
            continue
        prob = float(node_probs[node])
        shown = min(shown, prob)
        out.append((parts[depth - 1], shown, prob >= float(bundle.thresholds[node])))
    return out


def below_threshold_note(bundle: Bundle, levels: list[tuple[str, float, bool]]) -> str | None:
    """Why a path goes through a level below its decision threshold (Markdown), or None."""
    failed = [i for i, (_, _, passed) in enumerate(levels) if not passed]
    if not failed:
        return None
    first = failed[0]
    if first == 0:
        return ("No top-level category reached its decision threshold: the path shown is "
                "simply the most probable one.")
    parent = md_escape(levels[first - 1][0])
    return (f"No subcategory of **{parent}** reached its decision threshold; the path goes "
            "on to the most probable one because every product of this catalogue has a full "
            "path." if bundle.decoder.complete else
            f"No subcategory of **{parent}** reached its decision threshold.")


def node_chart_table(bundle: Bundle, node_probs: np.ndarray, top_path: str = "",
                     k: int = 12) -> pd.DataFrame:
    """The most probable nodes for the node chart: ``node, level, probability, threshold,
    path_probability, reachable, on_path``, the ``k`` highest ``path_probability`` first.

    ``path_probability``: the lowest probability from the top level down to the node (a
    node is never shown surer than its parent); ``reachable``: the node and every node
    above it reach their decision thresholds (what the decoder predicts); ``on_path``: the
    node is on ``top_path``."""
    tax = bundle.taxonomy
    probs = np.asarray(node_probs, dtype=np.float64)
    passed = probs >= bundle.thresholds
    capped = probs.copy()
    reach = passed.copy()
    for node in np.argsort(tax.levels, kind="stable"):  # parents before children
        parent = int(tax.parents[node])
        if parent >= 0:
            capped[node] = min(capped[node], capped[parent])
            reach[node] = reach[node] and reach[parent]
    on_path = set()
    if top_path:
        try:
            on_path = set(tax.ancestors(tax.index(tuple(top_path.split(DISPLAY_SEPARATOR)))))
        except KeyError:
            pass
    order = np.lexsort((-probs, -capped))[:k]
    return pd.DataFrame({"node": [tax.name(i) for i in order], "level": tax.levels[order],
                         "probability": probs[order], "threshold": bundle.thresholds[order].astype(float),
                         "path_probability": capped[order], "reachable": reach[order],
                         "on_path": [int(i) in on_path for i in order]})


def product_table(frame: pd.DataFrame, split: bool = False) -> pd.DataFrame:
    """The columns people compare: similarity, text, true path, predicted path, id (+ split).

    The predicted path is the product's most probable one; ``(unlabelled)`` marks a
    product without a true category."""
    cols = [c for c in ("similarity", "text", "true_path", "pred_path", "id") if c in frame]
    if split and "split" in frame:
        cols.append("split")
    out = frame[cols].copy()
    if "text" in out:
        out["text"] = out["text"].map(display_text)
    if "true_path" in out:
        out["true_path"] = out["true_path"].replace("", "(unlabelled)")
    if "pred_path" in out:
        out["pred_path"] = out["pred_path"].str.split(PATH_JOIN, regex=False).str[0]
    return out.reset_index(drop=True)


def product_columns() -> dict:
    """``st.dataframe`` column configuration for :func:`product_table` output."""
    cc = st.column_config
    return {
        "similarity": cc.ProgressColumn("Similarity", min_value=0.0, max_value=1.0, format="%.3f",
                                        width=90),
        "text": cc.TextColumn("Product", width=300),
        "true_path": cc.TextColumn("True path", width=230),
        "pred_path": cc.TextColumn("Predicted path", width=230,
                                   help="The model's most probable path for the product"),
        "id": cc.TextColumn("Id", width=95),
        "split": cc.TextColumn("Split", width=80),
    }


@st.cache_data(show_spinner=False, max_entries=256)
def analyse(path: str, text: str, k_products: int = 10) -> dict:
    """Everything the Classify page shows for one text (cached per bundle and text;
    computed in one of the server's :data:`~prodemb.serving.WORK` slots)."""
    bundle = load_bundle(path)
    with WORK:
        c = bundle.classify([text])[0]
        out = {
            "classification": c,
            "levels": [(p, s, path_levels(bundle, p, c.node_probs)) for p, s in c.paths],
            "top_nodes": node_chart_table(bundle, c.node_probs, c.top_path, 12),
            "explain": bundle.explain(text),
            "neighbours": product_table(bundle.similar_products(text, k_products, by="text",
                                                                embedding=c.embedding)),
            # the classification's embedding: the network runs once for both maps
            "map": {m: bundle.place_on_map(None, m, embeddings=c.embedding)[0]
                    for m in bundle.map_methods},
        }
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def map_sample(path: str, method: str, n: int = CLASSIFY_MAP_SAMPLE, seed: int = 0) -> pd.DataFrame:
    """A fixed random sample of ``n`` mapped products: ``x, y, text, true_path, group``."""
    bundle = load_bundle(path)
    xcol, ycol = bundle.map_columns(method)
    p = bundle.products
    p = p[p[xcol].notna() & p[ycol].notna()]
    if len(p) > n:
        p = p.sample(n, random_state=seed)
    group = p["true_top"].where(p["true_top"] != "", "(unlabelled)")
    return pd.DataFrame({"x": p[xcol].to_numpy(), "y": p[ycol].to_numpy(),
                         "text": readable_texts(p["text"]).to_numpy(),
                         "true_path": p["true_path"].to_numpy(), "group": group.to_numpy()})


@st.cache_resource(show_spinner=False, max_entries=16)
def _classify_map_base(path: str, method: str, height: int) -> tuple[dict, int]:
    """The Classify page's map without the star, as plotly JSON (built and validated once
    per bundle and method, then shared read-only by all sessions), and its product count."""
    sample = map_sample(path, method)
    universe = top_level_names(load_bundle(path))
    return map_figure(sample, None, height=height, universe=universe).to_plotly_json(), len(sample)


def classify_map(path: str, method: str, point: np.ndarray, label: str = "",
                 height: int = 420) -> tuple[object, int]:
    """``(figure, products shown)``: :func:`~prodemb.ui.figures.map_figure` of
    :func:`map_sample` with a star at ``point``. The 5,000 sampled products are the same
    for every session, so only the star is built per call (about 0.1 s of Python per
    session less, the same figure)."""
    base, shown = _classify_map_base(path, method, height)
    with WORK:
        star = star_trace(point, label).to_plotly_json()
        fig = go.Figure(data=[*base["data"], star], layout=copy.deepcopy(base["layout"]),
                        _validate=False)  # the base was validated when it was built
    return fig, shown


# ---------------------------------------------------------------------- batch classification
#: Words of column names that hold product text, in several languages (folded: lower case,
#: no diacritics): a column whose name has one of them as a word, or a word starting with
#: one (``nazov_produktu``, ``Popis``, ``productDisplayName``), is a text column.
TEXT_COLUMN_WORDS = (
    "title", "name", "text", "description", "desc", "product", "productdisplayname",
    "nazov", "nazev", "popis", "titul", "opis", "nazwa",        # sk, cs, pl
    "bezeichnung", "beschreibung", "titel", "produkt",          # de
    "nom", "libelle", "descripcion", "descrizione", "nome", "titolo", "megnevezes", "leiras")
#: Words of column names that never hold product text (ids, prices, codes, quantities).
NOT_TEXT_WORDS = (
    "id", "sku", "ean", "gtin", "isbn", "kod", "code", "cena", "price", "preis", "prix",
    "eur", "czk", "usd", "qty", "pocet", "ks", "stock", "sklad", "url", "link", "image",
    "img", "obrazok", "foto", "photo", "category", "kategoria", "kategorie", "categorie",
    "label", "date", "datum", "weight", "hmotnost", "vaha")


def column_words(name: object) -> list[str]:
    """The words of a column name, folded: ``"Názov produktu"`` and ``nazov_produktu`` ->
    ``["nazov", "produktu"]``; camel case is split (``productDisplayName`` -> ``["product",
    "display", "name"]``)."""
    from unidecode import unidecode

    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", str(name))
    return [w for w in re.split(r"[^a-z0-9]+", unidecode(spaced).lower()) if w]


def _has_word(words: list[str], vocabulary: tuple[str, ...]) -> bool:
    """Some word is in ``vocabulary``, or starts with a vocabulary word of 4+ letters
    (``produktu``, ``descriptions``), or the words run together are one (``productdisplayname``)."""
    whole = "".join(words)
    return whole in vocabulary or any(
        w == v or (len(v) >= 4 and w.startswith(v)) for w in words for v in vocabulary)


def guess_text_columns(frame: pd.DataFrame, hints: tuple[str, ...] = ()) -> list[str]:
    """Likely text columns of an upload, in file order: names that are one of ``hints``
    (the bundle's own text columns) or have a text word (:data:`TEXT_COLUMN_WORDS`), after
    folding case, spacing and diacritics and allowing partial words (``nazov_produktu``,
    ``popis``); names with an id, price or code word (:data:`NOT_TEXT_WORDS`) are left out.
    Without any, the column with the longest texts on average."""
    hinted = {"_".join(column_words(h)) for h in hints} - {""}
    hits = []
    for c in frame.columns:
        words = column_words(c)
        if not words:
            continue
        if "_".join(words) in hinted or (_has_word(words, TEXT_COLUMN_WORDS)
                                         and not _has_word(words, NOT_TEXT_WORDS)):
            hits.append(c)
    if hits:
        return hits
    if not len(frame.columns):
        return []
    head = frame.head(500)
    lengths = {c: head[c].astype(str).str.len().mean() for c in frame.columns}
    return [max(lengths, key=lambda c: lengths[c])]


#: Encodings a batch upload can be read in (label -> Python codec); "auto" detects it.
UPLOAD_ENCODINGS = {"auto": "Detect automatically", "utf-8": "UTF-8",
                    "utf-8-sig": "UTF-8 with BOM", "cp1250": "Windows-1250 (Central European)",
                    "cp1252": "Windows-1252 (Western European)", "latin-1": "Latin-1 (ISO-8859-1)"}


def _known_words(text: str, vocabulary) -> int:
    """How many of the (at most 5,000) words of ``text`` the model knows."""
    tokens = tokenize(text[:50_000], 5_000)
    return sum(1 for t in tokens if t in vocabulary) if vocabulary is not None else 0


def decode_upload(data: bytes, encoding: str = "auto", vocabulary=None,
                  fallback: str | None = None) -> tuple[str | bytes, str | None]:
    """``(text, encoding used)`` of an uploaded file.

    ``encoding``: a codec of :data:`UPLOAD_ENCODINGS`, or ``"auto"``: UTF-8 with a byte
    order mark, else UTF-8, else the single-byte encoding (Windows-1250, ``fallback``, e.g.
    the bundle's own, or Latin-1) under which more of the file's words are in
    ``vocabulary`` (the model's words: ``čierna`` read as Windows-1250 is the known word
    ``cierna``, read as Latin-1 it is ``eierna``); a tie goes to ``fallback``, else to
    Windows-1250, what Excel writes on a Central European Windows. Latin-1 decodes any
    bytes, so auto never fails.

    Bytes that are no text (an Excel workbook, a binary file) are returned as they are,
    with ``None``, for :func:`prodemb.catalogue.read_texts` to say what they are. Raises
    ``UnicodeDecodeError`` when a chosen ``encoding`` does not fit the bytes."""
    if data.startswith(b"PK\x03\x04") or b"\x00" in data[:8192]:
        return data, None
    if encoding != "auto":
        return data.decode(encoding), encoding
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    candidates = ["cp1250", "latin-1"]
    if fallback:
        try:
            name = codecs.lookup(fallback).name
        except LookupError:
            name = None
        if name and name not in ("utf-8", "utf-8-sig"):
            # first, so that a tie goes to the encoding the bundle's catalogue was read in
            candidates = [fallback] + [c for c in candidates if codecs.lookup(c).name != name]
    best, best_score = None, -1
    sample = data[:200_000]
    for enc in candidates:
        try:
            text = sample.decode(enc, errors="strict")
        except (UnicodeDecodeError, LookupError):
            continue
        score = _known_words(text, vocabulary)
        if score > best_score:
            best, best_score = enc, score
    return data.decode(best), best


def default_text_columns(bundle: Bundle, frame: pd.DataFrame) -> list[str]:
    """The text columns an upload is classified by unless the user picks others: the
    bundle's own (the reader options it was trained with, in their order) that the upload
    has, else :func:`guess_text_columns` (which also finds them in other case or spacing)."""
    own = list(bundle.reader_options.text_columns)
    return [c for c in own if c in frame.columns] or guess_text_columns(frame, tuple(own))


def join_text_columns(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The product text of each row: the chosen columns' non-empty values joined by ``" . "``
    (as the catalogue reader joins text fields)."""
    parts = frame[list(columns)].astype(str).to_numpy()
    return [" . ".join(v.strip() for v in row if v and v.strip()) for row in parts]


def batch_output(frame: pd.DataFrame, predictions: pd.DataFrame) -> pd.DataFrame:
    """The uploaded rows with ``predicted_category``, ``predicted_score``, ``predicted_paths``,
    ``status``, ``confidence`` and ``flags`` (see :class:`prodemb.bundle.Classification`)."""
    out = frame.reset_index(drop=True).copy()
    out["predicted_category"] = predictions["category"].to_numpy()
    out["predicted_score"] = predictions["score"].astype(float).to_numpy()
    out["predicted_paths"] = predictions["all_paths"].to_numpy()
    for column in ("status", "confidence", "flags"):
        out[column] = predictions[column].to_numpy()
    return csv_safe_frame(out)


def batch_csv(result: pd.DataFrame, delimiter: str = ",") -> bytes:
    """A batch result (:func:`batch_output`) or its review queue as CSV bytes for a
    spreadsheet: separated by ``delimiter`` (the upload's, so a semicolon export opens in
    the same Excel it came from), UTF-8 with a byte order mark (without one, Excel reads
    UTF-8 as the Windows code page: "für" shows as "fÃ¼r")."""
    return result.to_csv(index=False, sep=delimiter).encode("utf-8-sig")


def batch_csv_note(delimiter: str) -> str:
    """How :func:`batch_csv` writes the file, for the download button's help."""
    names = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "pipes (|)"}
    return (f"The uploaded columns and the predictions, separated by "
            f"{names.get(delimiter, repr(delimiter))} as the upload was; UTF-8 with a byte "
            "order mark, so Excel shows accented letters right.")


def verdict_counts(result: pd.DataFrame) -> pd.DataFrame:
    """How many rows of a batch result got each status and each flag: ``kind, name,
    rows, share`` (every status and flag, also those no row has)."""
    n = max(len(result), 1)
    flags = result["flags"].fillna("").astype(str).str.split(", ")
    rows = [("status", STATUS_LABELS[s], int((result["status"] == s).sum())) for s in STATUS_LABELS]
    rows += [("flag", FLAG_LABELS[f], int(flags.map(lambda fs, f=f: f in fs).sum())) for f in FLAG_LABELS]
    return pd.DataFrame([(k, name, c, c / n) for k, name, c in rows],
                        columns=["kind", "name", "rows", "share"])


def review_queue(result: pd.DataFrame) -> pd.DataFrame:
    """The rows of a batch result that carry any flag: the ones a person should check."""
    return result[result["flags"].fillna("").astype(str) != ""].reset_index(drop=True)


# ---------------------------------------------------------------------- Neighbours
def default_word(bundle: Bundle) -> str:
    """The first word to look up: the bundle's first probe word (:func:`probe_words`;
    ``nike`` on the demo), else its most frequent word."""
    probes = probe_words(bundle)
    if probes:
        return probes[0]
    frequent = frequent_words(bundle, 1)
    if frequent:
        return frequent[0]
    return bundle.word_vectors.words[0] if len(bundle.word_vectors) else ""


def frequent_words(bundle: Bundle, n: int = 8) -> list[str]:
    """The ``n`` most frequent words worth looking up: no function words or digit tokens
    (:func:`prodemb.neighbours.suggestable`)."""
    words = bundle.word_vectors.words
    return [w for w in words[: max(1000, 50 * n)] if suggestable(w)][:n]


def words_to_try(bundle: Bundle, n: int = 8) -> list[str]:
    """Words to offer when a typed word has no close spelling: the bundle's probe words,
    then the words of its category names that the model knows, most frequent first (product
    types and materials, not the catalogue's most frequent filler such as "kod" or "velkost");
    frequent words only when the tree names give too few."""
    wv = bundle.word_vectors
    named = {w for node in bundle.taxonomy.nodes for name in node for w in tokenize(name, None)}
    known = sorted((w for w in named if w in wv.index and suggestable(w)),
                   key=lambda w: (-int(wv.counts[wv.index[w]]), w))
    out = list(dict.fromkeys([*probe_words(bundle), *known]))
    if len(out) < n:
        out += [w for w in frequent_words(bundle, 2 * n) if w not in out]
    return [w for w in out if suggestable(w)][:n]


def edit_distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein distance (adjacent swaps count one) between ``a`` and ``b``, or
    ``limit + 1`` as soon as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def spelling_candidates(word: str, words, counts, n: int = 5, min_ratio: float = 1.0,
                        own_count: int = 0) -> list[tuple[str, int, int]]:
    """Known words one or two edits from ``word`` (one for words of up to 4 letters), at
    least ``min_ratio`` times as frequent as ``own_count``: ``(word, distance, count)``,
    nearest first, then most frequent. Function words and digit tokens are never offered.
    ``words``/``counts``: the vocabulary and its counts, in the same order."""
    if not word:
        return []
    limit = 1 if len(word) <= 4 else 2
    out = []
    for w, c in zip(words, counts):
        c = int(c)
        if w == word or c < min_ratio * max(own_count, 1) or abs(len(w) - len(word)) > limit:
            continue
        d = edit_distance(word, w, limit)
        if d <= limit and suggestable(w):
            out.append((w, d, c))
    out.sort(key=lambda t: (t[1], -t[2], t[0]))
    return out[:n]


@st.cache_data(show_spinner=False, max_entries=512)
def did_you_mean(path: str, word: str) -> str | None:
    """For a word the model knows but that looks like a misspelling of a much more frequent
    word (``nikke``, seen a few times, one edit from ``nike``, seen thousands of times): that
    word; else None. Frequency decides: the other word must be at least 20 times as common."""
    bundle = load_bundle(path)
    wv = bundle.word_vectors
    if word not in wv.index:
        return None
    own = int(wv.counts[wv.index[word]])
    found = spelling_candidates(word, wv.words, wv.counts, 1, min_ratio=20.0, own_count=own)
    return found[0][0] if found else None


@st.cache_data(show_spinner=False, max_entries=512)
def unknown_word_suggestions(path: str, word: str, fallback: tuple[str, ...] = (), n: int = 5) -> list[str]:
    """Known words to offer for an unknown ``word``: those one or two edits away, nearest
    and most frequent first, then ``fallback`` (the bundle's own suggestions), never a
    function word or a digit token."""
    wv = load_bundle(path).word_vectors
    near = [w for w, _, _ in spelling_candidates(word, wv.words, wv.counts, n)]
    return [w for w in dict.fromkeys([*near, *fallback]) if suggestable(w)][:n]


def similar_words(bundle: Bundle, word: str, k: int) -> list[tuple[str, float]]:
    """:meth:`Bundle.similar_words` without digit tokens (cleaning turns every digit into 0,
    so ``0f`` is a size such as "5F", not a word) unless the query has a digit itself; still
    ``k`` words when the vocabulary has them. Raises ``UnknownWordError`` like the bundle."""
    toks = tokenize(word, None)
    keep_digits = any(ch.isdigit() for t in toks for ch in t)
    asked = k
    while True:
        found = bundle.similar_words(word, asked)
        kept = [(w, s) for w, s in found if keep_digits or not any(ch.isdigit() for ch in w)]
        if len(kept) >= k or len(found) < asked:
            return kept[:k]
        asked *= 2


def min_count(bundle: Bundle) -> int:
    return int(bundle.config.get("train", {}).get("word2vec", {}).get("min_count", 1))


def similar_words_table(similar: list[tuple[str, float]], bundle: Bundle | None = None) -> pd.DataFrame:
    """``rank, word, cosine`` (+ ``count`` when the bundle is given)."""
    out = pd.DataFrame({"rank": range(1, len(similar) + 1), "word": [w for w, _ in similar],
                        "cosine": [float(s) for _, s in similar]})
    if bundle is not None:
        wv = bundle.word_vectors
        out["count"] = [int(wv.counts[wv.index[w]]) if w in wv.index else 0 for w in out["word"]]
    return out


def default_product_id(bundle: Bundle) -> str:
    """The first example product's id (a test product), for the product search box."""
    ex = examples(bundle.path)
    return str(ex["id"].iloc[0]) if len(ex) else ""


def sample_ids(bundle: Bundle, n: int = 3) -> list[str]:
    return [str(i) for i in bundle.products["id"].head(n)]


def find_product_id(bundle: Bundle, query: str) -> str | None:
    """The id of the catalogue product that ``query`` names (the bundle's products or its
    ANN index: :meth:`~prodemb.bundle.Bundle.find_product`): the exact id, else the same id
    in another case or with spaces around it (``p0000003`` finds ``P0000003``); None."""
    return bundle.find_product(query or "", ignore_case=True)


def product_summary(bundle: Bundle, product_id: str) -> pd.DataFrame:
    """One product as a :func:`product_table` row (with its split; a product only the ANN
    index holds has none, and its predicted path is computed from its text)."""
    return product_table(bundle.product_frame(product_id), split=True)


# ---------------------------------------------------------------------- model card
#: Words that mark a language in product text (cleaned: lower case, no diacritics), chosen
#: to be distinctive: words shared by related languages (Slovak and Czech "na", "je") are
#: left out.
LANGUAGE_WORDS = {
    "English": "the and for with this from your only wash made women men size colour color",
    "Slovak": "pre sa ako alebo aj velkost farba idealny pohodlny vhodny prat darcek zenu muza",
    "Czech": "pro jako nebo velikost barva idealni pohodlny vhodny prat darek zenu muze take",
    "German": "und der die das mit fur grosse farbe nicht waschen damen herren",
    "Polish": "dla jest rozmiar kolor oraz lub damski meski prac",
    "Hungarian": "es az egy meret szin noi ferfi",
    "French": "et le les pour avec taille couleur femme homme",
    "Spanish": "y el los para con talla mujer hombre",
    "Italian": "il per con taglia colore donna uomo",
}
_LANGUAGE_OF = {}
for _lang, _words in LANGUAGE_WORDS.items():
    for _w in _words.split():
        _LANGUAGE_OF.setdefault(_w, set()).add(_lang)


def word_count_languages(counts, min_share: float = 0.1) -> list[str]:
    """The languages of a text collection given as ``(word, count)`` pairs of its cleaned
    words, most used first: each language's distinctive words (:data:`LANGUAGE_WORDS`)
    are counted, and a language with at least ``min_share`` of all the counted words is
    listed. A word two languages share counts for neither."""
    totals: dict[str, int] = {}
    for word, n in counts:
        langs = _LANGUAGE_OF.get(word)
        if langs and len(langs) == 1:
            lang = next(iter(langs))
            totals[lang] = totals.get(lang, 0) + int(n)
    total = sum(totals.values())
    if not total:
        return []
    return [lang for lang, c in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
            if c / total >= min_share]


def text_languages(texts, min_share: float = 0.1) -> list[str]:
    """:func:`word_count_languages` of the words of ``texts``."""
    return word_count_languages(((t, 1) for text in texts for t in tokenize(text, None)),
                                min_share)


@st.cache_data(show_spinner=False, max_entries=16)
def bundle_languages(key) -> list[str]:
    """The languages of the bundle's product text (``key``:
    :func:`~prodemb.ui.bundles.fingerprint` of a file of the bundle at ``key[0]``), from
    its Word2Vec vocabulary: every word of the catalogue's product text seen often enough,
    with how often (:func:`word_count_languages`)."""
    wv = load_bundle(key[0]).word_vectors
    return word_count_languages(zip(wv.words, wv.counts.tolist()))


def model_summary(config: dict) -> str:
    """What the model is, from the bundle's training configuration: ``Word2Vec (100-d) +
    BiLSTM (2 × 128) + wide path`` (word vectors, a bidirectional LSTM, and the wide path of
    hashed words and character n-grams), with their sizes; an ensemble starts ``2 networks
    averaged, each``."""
    train = (config or {}).get("train", {})
    w2v, clf = train.get("word2vec", {}), train.get("classifier", {})
    parts = [f"Word2Vec ({w2v['vector_size']}-d)" if w2v.get("vector_size") else "Word2Vec",
             f"BiLSTM (2 × {clf['lstm_hidden']})" if clf.get("lstm_hidden") else "BiLSTM"]
    if clf.get("wide", False):
        parts.append("wide path")
    networks = clf.get("members", 1)
    # An ensemble: that many such networks, each with its own Word2Vec run, averaged.
    ensemble = f"{networks} networks averaged, each " if networks > 1 else ""
    return ensemble + " + ".join(parts) + ", over every node of the category tree"


# ---------------------------------------------------------------------- Per-class F1
def is_calibrated(bundle: Bundle) -> bool:
    """Whether the bundle's confidence is calibrated (False for bundles trained before
    calibration: their confidence is the raw path score)."""
    return bool(getattr(bundle, "calibrated", False))


def calibration_table(metrics: dict) -> pd.DataFrame:
    """Calibration per split from ``metrics["confidence"]``: ``split`` (index), ``products,
    accuracy, ECE (raw score), ECE, ok, uncertain, out of catalogue`` (shares of the
    statuses); empty for bundles trained before calibration."""
    rows = {}
    for split, r in ((metrics or {}).get("confidence") or {}).items():
        if not isinstance(r, dict):
            continue
        share = r.get("status_share") or {}
        rows[split] = {"products": r.get("n"), "accuracy": r.get("accuracy"),
                       "ECE (raw score)": r.get("ece_raw"), "ECE": r.get("ece"),
                       **{STATUS_LABELS[s]: share.get(s) for s in STATUS_LABELS}}
    order = [s for s in report.SPLITS if s in rows] + [s for s in rows if s not in report.SPLITS]
    return pd.DataFrame.from_dict({s: rows[s] for s in order}, orient="index")


def reliability_rows(metrics: dict, split: str) -> pd.DataFrame:
    """The reliability table of ``split`` (``bin_low, bin_high, count, mean_confidence,
    accuracy``), empty when the bundle has none."""
    rel = (((metrics or {}).get("confidence") or {}).get(split) or {}).get("reliability") or []
    return pd.DataFrame(rel, columns=["bin_low", "bin_high", "count", "mean_confidence", "accuracy"])


# Cached per bundle: ``key`` is :func:`~prodemb.ui.bundles.fingerprint` of its metrics.json.
@st.cache_data(show_spinner=False, max_entries=16)
def headline_table(key, _metrics) -> pd.DataFrame:
    return report.headline_table(_metrics)


def headline_metrics(row: pd.Series, items: str = "Items", delta: tuple | None = None,
                     macro_help: str = "Mean F1 over every category node with examples in "
                                       "this split.") -> None:
    """The five headline numbers of a :func:`headline_table` row as ``st.metric`` tiles:
    macro-F1 (with ``delta``, ``(text, colour)`` of :func:`~prodemb.ui.text.threshold_delta`,
    under it), leaf macro-F1, micro-F1, exact match and the count labelled ``items``."""
    c1, c2, c3, c4, c5 = st.columns(5)
    text, colour = delta or (None, "normal")
    c1.metric("Macro-F1 (all nodes)", f"{row['macro-F1']:.3f}", delta=text, delta_color=colour,
              delta_arrow="auto" if colour == "normal" else "off", help=macro_help)
    c2.metric("Leaf macro-F1", f"{row['leaf macro-F1']:.3f}")
    c3.metric("Micro-F1", f"{row['micro-F1']:.3f}",
              help="Pooled over all node decisions (equals hierarchical F1).")
    c4.metric("Exact match", f"{row['exact match']:.1%}",
              help="Products whose predicted path set equals the true one.")
    c5.metric(items, f"{int(row['items']):,}")


@st.cache_data(show_spinner=False, max_entries=16)
def per_class_table(key, _metrics, split: str) -> pd.DataFrame:
    return report.per_class_table(_metrics["splits"][split])


@st.cache_data(show_spinner=False, max_entries=16)
def label_distribution(key, _metrics) -> pd.DataFrame:
    return report.label_distribution(_metrics)


#: What the "depth only" column of the most-confused tables (:func:`confused_pairs`) means.
NESTED_PAIR_HELP = ("One category lies inside the other: the label stops above the leaves "
                    "(Men > Apparel) where the model went on to a leaf under it, or the "
                    "reverse. Leaf macro-F1 counts it as a wrong path end, but it is a "
                    "question of how deep to label, not two categories mistaken for each "
                    "other, so merge hints leave such pairs out.")


@st.cache_data(show_spinner=False, max_entries=16)
def confused_pairs(key, _metrics, _taxonomy, split: str, subtree: str | None) -> pd.DataFrame:
    return report.confused_pairs(_taxonomy, _metrics["splits"][split], subtree)


@st.cache_data(show_spinner=False, max_entries=32)
def confusion_matrix(key, _metrics, _taxonomy, split: str, subtree: str) -> pd.DataFrame:
    return report.confusion_matrix(_taxonomy, _metrics["splits"][split], subtree)


@st.cache_data(show_spinner=False, max_entries=16)
def default_subtree(key, _metrics, _taxonomy, split: str) -> str | None:
    return report.default_subtree(_taxonomy, _metrics["splits"][split])


@st.cache_data(show_spinner=False, max_entries=16)
def subtree_choices(key, _taxonomy) -> list[str]:
    return report.subtree_options(_taxonomy)


# ---------------------------------------------------------------------- Embedding map
# Cached per bundle: ``key`` is :func:`~prodemb.ui.bundles.fingerprint` of its products file.
#: Columns of the map's product lists (selection, search matches).
MAP_TABLE_COLUMNS = ["id", "text", "split", "true_path", "pred_path", "pred_score", "correct"]


def map_table_columns() -> dict:
    """``st.dataframe`` column configuration of the map's product lists."""
    return {"text": st.column_config.TextColumn("text", width="large"),
            "true_path": st.column_config.TextColumn("true category"),
            "pred_path": st.column_config.TextColumn("predicted category"),
            "pred_score": st.column_config.NumberColumn("score", format="%.2f"),
            "correct": st.column_config.CheckboxColumn("correct")}


#: White space other than " " as Python's ``\\s`` knows it (RE2's ``\\s`` is ASCII only).
_OTHER_SPACE = (r"\t\n\x0b\f\r\x1c-\x1f\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
                r"\x{202f}\x{205f}\x{3000}")
_ANY_SPACE = f"[ {_OTHER_SPACE}]"
#: Texts :func:`~prodemb.ui.text.display_text` may change, in RE2 syntax: an entity or a
#: tag, white space other than one " " between words (Python: ``[&<]|\\s\\s|[^ \\S]|^\\s|\\s$``).
NEEDS_DISPLAY_RE2 = (f"[&<]|{_ANY_SPACE}{_ANY_SPACE}|[{_OTHER_SPACE}]|^{_ANY_SPACE}|"
                     f"{_ANY_SPACE}$")


def readable_texts(texts: pd.Series) -> pd.Series:
    """:func:`~prodemb.ui.text.display_text` of every text, computed only for the texts
    that need it (an entity, a tag or a run of white space): most do not."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = texts.astype(object).where(texts.notna(), "").astype(str).to_numpy(dtype=object)
    # One vectorised test (Arrow's RE2) instead of a Python regex call per text.
    needs = pc.match_substring_regex(pa.array(out, pa.string()), NEEDS_DISPLAY_RE2
                                     ).to_numpy(zero_copy_only=False)
    out[needs] = [display_text(t) for t in out[needs]]
    return pd.Series(out, index=texts.index, dtype=object)


@st.cache_resource(show_spinner="Preparing the map…", max_entries=4)
def map_base(key, _products: pd.DataFrame) -> dict:
    """Read-only arrays derived once per bundle: the hover texts (readable:
    :func:`readable_texts`). The cleaned texts for search are :func:`search_texts`, made on
    the first search, so the first visit does not wait for them."""
    p = _products
    n = len(p)
    score = p["pred_score"].to_numpy(float) if "pred_score" in p else np.full(n, np.nan)
    hover = np.empty((n, 3), dtype=object)
    hover[:, 0] = hover_heads(readable_texts(p["text"]))
    # The path lines repeat (a few thousand distinct paths among 60,000 products on the
    # demo): each distinct one escaped once and kept as one string object (8 MB of the
    # server's memory, and most of the first visit's time).
    lines: dict = {}  # (true, predicted) -> their lines, the predicted one without its score
    shared: dict = {}  # one string object per distinct line (scores repeat too: "same (0.97)")
    for i, (true, pred, sc) in enumerate(zip(p["true_path"].tolist(), p["pred_path"].tolist(),
                                             score.tolist())):
        if (true, pred) not in lines:
            true_line, pred_line = path_lines(true, pred)
            lines[(true, pred)] = (shared.setdefault(true_line, true_line), pred_line)
        hover[i, 1], pred_line = lines[(true, pred)]
        shown = scored(pred_line, sc)
        hover[i, 2] = shared.setdefault(shown, shown)
    return {"hover": hover}


def hover_heads(texts: pd.Series) -> np.ndarray:
    """The first hover line of every text, as :func:`~prodemb.ui.figures.hover_lines`
    makes it (cut to :data:`HOVER_CHARS` characters with an ellipsis, then escaped for
    plotly), in Arrow's vectorised string functions: 0.2 s of Python calls at 60,000
    products."""
    import pyarrow as pa
    import pyarrow.compute as pc

    a = pa.array(texts.to_numpy(dtype=object), pa.string())
    long = pc.greater(pc.utf8_length(a), HOVER_CHARS)
    cut = pc.binary_join_element_wise(
        pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(a, 0, HOVER_CHARS - 1)), "…", "")
    a = pc.if_else(long, cut, a)
    for raw, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        a = pc.replace_substring(a, raw, escaped)
    return a.to_numpy(zero_copy_only=False).astype(object)


@st.cache_resource(show_spinner="Preparing the search…", max_entries=4)
def search_texts(key, _products: pd.DataFrame) -> pd.Series:
    """The cleaned text of every product (what the map's search matches besides the raw
    text), once per bundle."""
    return report.cleaned_texts(_products["text"])


@st.cache_resource(show_spinner=False, max_entries=16)
def colour_groups(key, _products: pd.DataFrame, by: str, level: int) -> pd.Series:
    return report.colour_labels(_products, by, level)


def map_table(products: pd.DataFrame, rows) -> pd.DataFrame:
    """The map's product list of ``rows`` (:data:`MAP_TABLE_COLUMNS`), texts readable
    (:func:`~prodemb.ui.text.display_text`: no ``&yacute;`` or ``<br>``)."""
    out = products.iloc[rows][[c for c in MAP_TABLE_COLUMNS if c in products.columns]].copy()
    if "text" in out:
        out["text"] = out["text"].map(display_text)
    return out


def map_selection_csv(products: pd.DataFrame, rows) -> bytes:
    """The map's product list of ``rows`` (:func:`map_table`) as UTF-8 CSV for a
    spreadsheet: a catalogue text or id that starts like a formula (``=``, ``+``, ``@``...)
    is neutralised (:func:`~prodemb.utils.csv_safe_frame`), as in every other download."""
    return csv_safe_frame(map_table(products, rows)).to_csv(index=False).encode("utf-8")


def map_colouring(by: str, level: int, subtree: str | None, depth: int) -> tuple[str, int, str | None]:
    """``(colour option, level, note)`` the map is drawn with. Filtered to a subtree, the
    categories above or at the subtree's level are one colour: the map is then coloured by
    the level just below the subtree (the scarf trio in three colours), with a note saying
    so; a subtree that is a leaf, or a level below the subtree chosen by hand, is kept."""
    if not subtree or by not in ("top", "level"):
        return by, level, None
    sub_depth = len(subtree.split(DISPLAY_SEPARATOR))
    chosen = 1 if by == "top" else int(level)
    if chosen > sub_depth or sub_depth >= depth:
        return by, chosen, None
    return "level", sub_depth + 1, (f"Coloured by level {sub_depth + 1}, the categories right "
                                    f"below {md_escape(subtree)}.")


@st.cache_data(show_spinner=False, max_entries=64)
def colour_universe(key, _taxonomy, by: str, level: int, subtree: str | None) -> list[str] | None:
    """Every category the map's colour groups can be (:func:`prodemb.ui.figures.category_colours`):
    the tree's nodes at ``level`` (in ``subtree`` if given) when colouring by category; None
    otherwise."""
    if by not in ("top", "level"):
        return None
    lv = 1 if by == "top" else int(level)
    names = [_taxonomy.name(i) for i in range(_taxonomy.n_nodes) if int(_taxonomy.levels[i]) == lv]
    if subtree:
        names = [n for n in names if report.in_subtree(n, subtree)]
    return sorted(names)


def fold_outside(labels: pd.Series, universe: list[str] | None) -> pd.Series:
    """``labels`` with every category group that is not in ``universe`` (the categories of
    a subtree filter) as one group, :data:`~prodemb.ui.figures.ELSEWHERE`: the products
    shown because they are predicted in the subtree, whose true category is elsewhere."""
    if not universe:
        return labels
    keep = labels.isin(set(universe) | set(FIXED_COLOURS))
    return labels.where(keep, ELSEWHERE)


def top_level_names(bundle: Bundle) -> list[str]:
    """The tree's top-level categories, sorted: the colour universe of Classify's map."""
    return sorted(bundle.taxonomy.name(i) for i in bundle.taxonomy.roots)


@st.cache_resource(show_spinner=False, max_entries=32)
def subtree_rows(key, _products: pd.DataFrame, subtree: str) -> np.ndarray:
    return report.subtree_mask(_products, subtree)


#: At most this many products of a subtree are re-projected on their own (t-SNE or UMAP
#: of 3,000 embeddings: 10-35 s on this 2-core machine, then cached for every session).
REPROJECT_MAX = 3_000


@st.cache_resource(show_spinner=False, max_entries=8)
def reprojected_map(key, _bundle, subtree: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """A map of the subtree's products alone (:meth:`prodemb.bundle.Bundle.reproject`):
    ``(rows, coords (len(rows), 2))``, at most :data:`REPROJECT_MAX` rows (a fixed random
    sample of the products whose true or predicted category is in the subtree)."""
    in_sub = report.subtree_mask(_bundle.products, subtree)
    rows = report.sample_points(in_sub, REPROJECT_MAX)
    return rows, _bundle.reproject(rows, method)


def clicked_product(state) -> int | None:
    """The product row of a map selection that is one clicked point (the chart's widget
    state: ``{"selection": {"points": [...]}}``), or None (nothing, a box or lasso of
    several, your own product)."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return None
    rows = report.selected_rows(points or [])
    return rows[0] if len(rows) == 1 and len(points) == 1 and rows[0] >= 0 else None


@st.cache_resource(show_spinner=False, max_entries=32)
def search_rows(key, _products: pd.DataFrame, _cleaned: pd.Series, query: str) -> np.ndarray:
    return report.search_mask(_products["text"], query, _cleaned)


@st.cache_data(show_spinner=False, max_entries=16)
def node_names(key, _taxonomy) -> list[str]:
    return [_taxonomy.name(i) for i in range(_taxonomy.n_nodes)]


@st.cache_data(show_spinner="Placing your product on the map…", max_entries=64)
def place_text(key, _bundle, text: str, method: str) -> dict:
    c = _bundle.classify([text])[0]
    xy = _bundle.place_on_map(None, method, embeddings=c.embedding)[0]
    return {"x": float(xy[0]), "y": float(xy[1]), "path": c.top_path,
            "score": float(c.paths[0][1]) if c.paths else float("nan")}

