"""Demo catalogue generator: tree shape, output contract, determinism, imbalance,
streaming writers and (slow) the difficulty target of a TF-IDF + LR classifier."""

from __future__ import annotations

import re
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from prodemb import demo
from prodemb.demo import DEMO_TREE, generate_demo, iter_demo_chunks, leaf_paths, write_demo

TRIO = [
    "Accessories > Scarves > Knit scarf",
    "Accessories > Scarves > Scarf / Shawl",
    "Accessories > Scarves > Snood / Loop scarf",
]
SLOVAK = re.compile(r"[áäčďéíľĺňóôŕšťúýžÁČĎÉÍĽŇÓŠŤÚÝŽ]")
ENTITY = re.compile(r"&(?:amp|nbsp|quot|[a-z]+caron|[a-z]acute|ocirc|auml);")


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return generate_demo(n_labelled=4000, n_unlabelled=12000, seed=3)


def _leaf_counts(categories) -> Counter:
    counts: Counter = Counter()
    for cell in categories:
        if cell:
            for path in cell.split(" | "):
                counts[path] += 1
    return counts


def _tree_leaves(tree: dict, prefix=()) -> list[tuple[str, ...]]:
    out = []
    for name, children in tree.items():
        path = prefix + (name,)
        out.extend(_tree_leaves(children, path) if children else [path])
    return out


# --- tree -------------------------------------------------------------------------


def test_tree_shape():
    paths = leaf_paths()
    assert 20 <= len(DEMO_TREE) <= 30
    assert len(paths) >= 100
    assert len(set(paths)) == len(paths)
    assert sorted(_tree_leaves(DEMO_TREE)) == sorted(paths)
    depths = Counter(len(p) for p in paths)
    assert set(depths) == {2, 3, 4}
    assert depths[3] > depths[4] and depths[2] > 0
    assert {p[0] for p in paths} == set(DEMO_TREE)


def test_scarf_trio_and_repeated_names():
    paths = {" > ".join(p) for p in leaf_paths()}
    assert set(TRIO) <= paths
    parents_by_name: dict[str, set] = {}
    for p in leaf_paths():
        parents_by_name.setdefault(p[-1], set()).add(p[:-1])
    repeated = {n for n, parents in parents_by_name.items() if len(parents) > 1}
    assert {"Leather", "Other"} <= repeated


# --- output contract ----------------------------------------------------------------


def test_columns_and_dtypes(small):
    assert list(small.columns) == ["id", "title", "description", "category"]
    for col in small.columns:
        assert pd.api.types.is_string_dtype(small[col]), col
        assert not small[col].isna().any(), col
    assert isinstance(small.index, pd.RangeIndex) and small.index[0] == 0


def test_ids_unique_and_formatted(small):
    assert small["id"].is_unique
    assert small["id"].str.fullmatch(r"P\d{7}").all()
    assert small["id"].iloc[0] == "P0000001"


def test_counts_exact_and_shuffled(small):
    labelled = small["category"] != ""
    assert labelled.sum() == 4000
    assert (~labelled).sum() == 12000
    # Labelled rows are spread over the whole table, not a block at the start.
    first_half = labelled.iloc[: len(small) // 2].sum()
    assert 1700 < first_half < 2300


def test_categories_are_leaf_paths(small):
    leaves = {" > ".join(p) for p in leaf_paths()}
    for cell in small.loc[small["category"] != "", "category"]:
        parts = cell.split(" | ")
        assert 1 <= len(parts) <= 2
        assert len(set(parts)) == len(parts)
        assert all(p in leaves for p in parts), cell


def test_multi_path_products(small):
    labelled = small[small["category"] != ""]
    multi = labelled[labelled["category"].str.contains(" | ", regex=False)]
    assert 0.015 < len(multi) / len(labelled) < 0.04
    # The text says it is a set of two things.
    text = (multi["title"] + " " + multi["description"]).str.lower()
    assert text.str.contains("set|sada|súprava|komplet|s&uacute;prava").mean() > 0.6


def test_text_mixes_slovak_html_and_noise(small):
    text = small["title"] + " " + small["description"]
    assert text.str.contains(SLOVAK).mean() > 0.5
    assert text.str.contains(ENTITY).sum() > 100
    assert small["description"].str.contains("<p>|<br>").any()
    assert text.str.contains(r"SKU [A-Z]{2}-\d{5}|8594\d{9}").mean() > 0.05
    # Brands of one group are used interchangeably.
    lower = small["title"].str.lower()
    for brand in ["nike", "adidas", "puma", "calvin klein", "tommy hilfiger"]:
        assert lower.str.contains(brand, regex=False).sum() > 10, brand


def test_lengths(small):
    title_words = small["title"].str.split().str.len()
    desc_words = small["description"].str.split().str.len()
    assert title_words.max() <= 15
    assert (title_words >= 3).mean() > 0.97
    assert desc_words.max() <= 40
    empty = (small["description"] == "").mean()
    assert 0.1 < empty < 0.35
    assert desc_words.quantile(0.9) >= 25


def test_unlabelled_share_the_distribution(small):
    labelled = small["category"] != ""
    lower = small["title"].str.lower()
    for word in ["čiapka", "kabelka", "peňaženka", "ponožky"]:
        a = lower[labelled].str.contains(word, regex=False).mean()
        b = lower[~labelled].str.contains(word, regex=False).mean()
        assert a > 0.005 and 0.6 < a / b < 1.6, word


# --- determinism --------------------------------------------------------------------


def test_deterministic_and_chunk_size_independent(small):
    again = generate_demo(n_labelled=4000, n_unlabelled=12000, seed=3)
    pd.testing.assert_frame_equal(small, again)
    chunks = list(iter_demo_chunks(4000, 12000, seed=3, chunk_size=5000))
    assert [len(c) for c in chunks] == [5000, 5000, 5000, 1000]
    assert chunks[1].index[0] == 5000
    pd.testing.assert_frame_equal(pd.concat(chunks), small)
    other = generate_demo(n_labelled=4000, n_unlabelled=12000, seed=4)
    assert (other["title"] != small["title"]).mean() > 0.9


def test_edge_sizes():
    only_lab = generate_demo(n_labelled=50, n_unlabelled=0, seed=0)
    assert len(only_lab) == 50 and (only_lab["category"] != "").all()
    only_unl = generate_demo(n_labelled=0, n_unlabelled=50, seed=0)
    assert len(only_unl) == 50 and (only_unl["category"] == "").all()
    empty = generate_demo(n_labelled=0, n_unlabelled=0)
    assert len(empty) == 0 and list(empty.columns) == list(demo.COLUMNS)
    with pytest.raises(ValueError):
        list(iter_demo_chunks(-1, 0))
    with pytest.raises(ValueError):
        list(iter_demo_chunks(10, 0, chunk_size=0))


# --- imbalance ----------------------------------------------------------------------


def test_zipf_imbalance_at_default_size():
    df = generate_demo(n_labelled=50_000, n_unlabelled=0, seed=0)
    counts = _leaf_counts(df["category"])
    assert len(counts) == len(leaf_paths())  # every leaf has products
    lo, hi = min(counts.values()), max(counts.values())
    assert 10 <= lo <= 30
    assert hi >= 1000 and hi >= 20 * lo
    # The scarf trio is common: its difficulty comes from wording, not scarcity.
    assert all(counts[t] > 500 for t in TRIO)


# --- writers ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_demo_roundtrip(tmp_path, suffix):
    path = tmp_path / f"demo{suffix}"
    rows = write_demo(path, n_labelled=1500, n_unlabelled=9000, seed=2, progress=False)
    assert rows == 10_500
    if suffix == ".csv":
        back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    else:
        back = pd.read_parquet(path)
    expected = generate_demo(n_labelled=1500, n_unlabelled=9000, seed=2)
    assert list(back.columns) == list(expected.columns)
    for col in expected.columns:
        assert back[col].tolist() == expected[col].tolist(), col
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_write_demo_progress_bar(tmp_path, capsys):
    write_demo(tmp_path / "d.parquet", n_labelled=200, n_unlabelled=200, progress=True)
    assert "400" in capsys.readouterr().err


def test_write_demo_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match="unknown output format"):
        write_demo(tmp_path / "demo.xlsx", n_labelled=10, n_unlabelled=10, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_demo_is_atomic(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"demo{suffix}"
    path.write_text("old content")
    real = demo._iter_tables

    def killed_after_first_chunk(*args, **kwargs):
        yield next(real(*args, **kwargs))
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_WRITE_CHUNK", 1000)
    monkeypatch.setattr(demo, "_iter_tables", killed_after_first_chunk)
    with pytest.raises(KeyboardInterrupt):
        write_demo(path, n_labelled=1000, n_unlabelled=4000, progress=False)
    assert path.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# --- difficulty ---------------------------------------------------------------------


@pytest.mark.slow
def test_tfidf_logreg_difficulty():
    """A TF-IDF (word + char n-grams) + logistic-regression leaf classifier is clearly
    below perfect, and the scarf trio is among the hardest leaves."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import FeatureUnion

    from prodemb.text import clean

    df = generate_demo(n_labelled=20_000, n_unlabelled=0, seed=0)
    df = df[~df["category"].str.contains(" | ", regex=False)]
    texts = [clean(t + " " + d) for t, d in zip(df["title"], df["description"])]
    y = df["category"].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        texts, y, test_size=0.2, random_state=0, stratify=y)
    vectoriser = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                 min_df=2)),
    ])
    a_train = vectoriser.fit_transform(x_train)
    a_test = vectoriser.transform(x_test)
    # Multinomial LR, C=10; "sag" with a few epochs gives the same F1 as a fully
    # converged lbfgs (within ~0.01) in a fraction of the time.
    clf = LogisticRegression(C=10, solver="sag", max_iter=15, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(a_train, y_train)
    pred = clf.predict(a_test)
    labels = np.unique(y)
    f1 = dict(zip(labels, f1_score(y_test, pred, labels=labels, average=None, zero_division=0)))
    macro = float(np.mean(list(f1.values())))
    median = float(np.median(list(f1.values())))
    trio = [f1[t] for t in TRIO]
    print(f"\nleaf macro-F1 {macro:.3f}, median leaf F1 {median:.3f}, "
          f"scarf trio F1 {', '.join(f'{v:.3f}' for v in trio)}")
    assert 0.55 <= macro <= 0.9
    assert np.mean(trio) < median
