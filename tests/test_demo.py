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

    df = generate_demo(n_labelled=15_000, n_unlabelled=0, seed=0)
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


# --- long-tail setting (tail_leaves, shallow_share) ----------------------------------

#: The "demo-longtail" setting of README.md and bench/common.py (LONGTAIL).
LT_TAIL, LT_SHALLOW = 840, 0.2


def test_defaults_unchanged_byte_for_byte():
    """The default catalogue is what it was before the long-tail options existed
    (digest of the CSV text, computed with that code)."""
    import hashlib

    df = generate_demo(n_labelled=600, n_unlabelled=600, seed=5)
    digest = hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()
    assert digest == "72289c21a4d96aa2e964cbba0f85c1a6a28239c501fdea7f9d64fb939b76513a"
    explicit = generate_demo(n_labelled=600, n_unlabelled=600, seed=5, tail_leaves=0,
                             shallow_share=0.0)
    pd.testing.assert_frame_equal(df, explicit)


def test_tail_tree():
    hand = leaf_paths()
    paths = leaf_paths(LT_TAIL)
    assert paths[: len(hand)] == hand and len(paths) == len(hand) + LT_TAIL
    assert len(set(paths)) == len(paths)
    assert demo.demo_tree(0) == DEMO_TREE
    tree = demo.demo_tree(LT_TAIL)
    assert sorted(_tree_leaves(tree)) == sorted(paths)  # hand-written leaves stay leaves
    # The first k tail leaves are the same for every larger tail_leaves.
    assert leaf_paths(100) == paths[: len(hand) + 100]
    tail = paths[len(hand):]
    hand_parents = {p[:-1] for p in hand}
    assert {p[:-1] for p in tail} <= hand_parents
    assert {p[0] for p in tail} == set(DEMO_TREE)  # all 25 top-level categories
    # Names: "<Line> <head noun>", the line name unique over the whole tree, also
    # without diacritics, and never a hand-written name under the same parent.
    from unidecode import unidecode

    lines = [unidecode(p[-1].split()[0]).lower() for p in tail]
    assert len(set(lines)) == len(lines)
    hand_names = {(p[:-1], p[-1].lower()) for p in hand}
    assert not any((p[:-1], p[-1].lower()) in hand_names for p in tail)
    assert sum(bool(SLOVAK.search(p[-1])) for p in tail) > 0.2 * len(tail)
    with pytest.raises(ValueError, match="tail_leaves"):
        leaf_paths(demo.MAX_TAIL_LEAVES + 1)


def test_tail_quotas_exact_at_reference_size():
    """At 30,000 labelled products every tail leaf gets exactly its documented count:
    most 1-5, a few up to 48."""
    df = generate_demo(n_labelled=30_000, n_unlabelled=0, seed=1, tail_leaves=LT_TAIL)
    counts = _leaf_counts(df["category"])
    tail = [" > ".join(p) for p in leaf_paths(LT_TAIL)[len(leaf_paths()):]]
    got = np.array([counts[t] for t in tail])
    assert (got == demo._tail_counts(LT_TAIL)).all()
    assert 1 == got.min() and got.max() <= 48
    assert 0.6 < (got <= 5).mean() < 0.9 and 0.3 < (got == 1).mean() < 0.5
    hand = [counts[" > ".join(p)] for p in leaf_paths()]
    assert min(hand) >= 10  # the hand-written leaves keep their Zipf shape
    assert max(hand) >= 100 * 48 / 10


@pytest.fixture(scope="module")
def longtail(tmp_path_factory):
    """The demo-longtail catalogue at its full size, written as the CLI writes it."""
    import time

    path = tmp_path_factory.mktemp("longtail") / "demo-longtail.parquet"
    start = time.perf_counter()
    write_demo(path, n_labelled=30_000, n_unlabelled=120_000, seed=0, progress=False,
               tail_leaves=LT_TAIL, shallow_share=LT_SHALLOW)
    print(f"\ndemo-longtail (150,000 products) written in {time.perf_counter() - start:.1f} s")
    return path


def test_longtail_requirements(longtail):
    """The documented long-tail statistics, measured at 30,000 / 120,000 (the whole
    test takes about 5 s)."""
    df = pd.read_parquet(longtail)
    assert len(df) == 150_000
    labelled = df[df["category"] != ""]
    assert len(labelled) == 30_000
    tree_leaves = {" > ".join(p) for p in leaf_paths(LT_TAIL)}
    counts = _leaf_counts(labelled["category"])
    leaf_counts = {k: v for k, v in counts.items() if k in tree_leaves}
    one_level = labelled["category"].map(
        lambda c: all(" > " not in p for p in c.split(" | ")))
    assert set(counts) - set(leaf_counts) <= set(DEMO_TREE)  # the rest are one-level paths
    assert len(leaf_counts) >= 800
    assert set(leaf_counts) == tree_leaves  # every leaf of the tree has a labelled product
    small = np.mean([v <= 5 for v in leaf_counts.values()])
    assert small >= 0.40
    assert one_level.mean() >= 0.15
    assert one_level.sum() == round(LT_SHALLOW * 30_000)
    print(f"leaves {len(leaf_counts)}, <= 5 labelled: {small:.1%}, "
          f"one-level paths: {one_level.mean():.1%}")


def test_longtail_text(longtail):
    """Tail products are confusable: their own words are in only part of the titles,
    and the unlabelled pool has tail products in the same share."""
    from unidecode import unidecode

    df = pd.read_parquet(longtail)
    # Own signal words of every tail leaf: the line name and the generated words.
    own_words = {" > ".join(t.path): {unidecode(w.rpartition("=")[0].split()[-1]).lower()
                                      for w in t.words.split(", ")}
                 for t in demo._tail_spec(LT_TAIL)}
    rows = df[df["category"].isin(own_words)]
    titles = rows["title"].map(lambda t: unidecode(t).lower())
    own = [any(w in t for w in own_words[c]) for c, t in zip(rows["category"], titles)]
    assert 0.6 < np.mean(own) < 0.85
    # Unlabelled products of tail leaves: their line names show up about as often.
    names = "|".join(unidecode(t.path[-1].split()[0]).lower() for t in demo._tail_spec(LT_TAIL))
    norm = df["title"].map(lambda t: unidecode(t).lower())
    lab = df["category"] != ""
    a = norm[lab].str.contains(names).mean()
    b = norm[~lab].str.contains(names).mean()
    assert a > 0.05 and 0.75 < a / b < 1.33


def test_longtail_shallow_read_back(longtail):
    """One-level categories read back through the catalogue reader as one-level paths."""
    from prodemb.catalogue import read_catalogue

    raw = pd.read_parquet(longtail, columns=["id", "category"])
    cat = read_catalogue(longtail, "demo")
    assert cat["id"].tolist() == raw["id"].tolist()
    shallow = raw["category"].ne("") & ~raw["category"].str.contains(" > ", regex=False)
    paths = cat.loc[shallow.to_numpy(), "paths"]
    assert len(paths) == 6000
    assert all(ps and all(len(p) == 1 and p[0] in DEMO_TREE for p in ps) for ps in paths)
    sets = raw.loc[shallow, "category"].str.contains(" | ", regex=False)
    assert sets.any()  # a set cut to two different first levels keeps both
    full = cat.loc[(raw["category"].ne("") & ~shallow).to_numpy(), "paths"]
    assert all(len(p) >= 2 for ps in full for p in ps)


def test_longtail_deterministic_and_chunk_size_independent():
    kw = dict(tail_leaves=LT_TAIL, shallow_share=LT_SHALLOW)
    a = generate_demo(n_labelled=4000, n_unlabelled=12000, seed=3, **kw)
    b = generate_demo(n_labelled=4000, n_unlabelled=12000, seed=3, **kw)
    pd.testing.assert_frame_equal(a, b)
    chunks = list(iter_demo_chunks(4000, 12000, seed=3, chunk_size=5000, **kw))
    assert [len(c) for c in chunks] == [5000, 5000, 5000, 1000]
    pd.testing.assert_frame_equal(pd.concat(chunks), a)
    labelled = a["category"] != ""
    assert labelled.sum() == 4000
    assert (~a["category"][labelled].str.contains(" > ", regex=False)).sum() == 800
    # Another seed: other products, the same tree.
    other = generate_demo(n_labelled=4000, n_unlabelled=12000, seed=4, **kw)
    assert (other["title"] != a["title"]).mean() > 0.9
    leaves = {" > ".join(p) for p in leaf_paths(LT_TAIL)} | set(DEMO_TREE)
    for df in (a, other):
        cells = df.loc[df["category"] != "", "category"]
        assert {p for c in cells for p in c.split(" | ")} <= leaves
    # Tail leaves and the shallow cut change nothing else about the output contract.
    assert list(a.columns) == list(demo.COLUMNS) and a["id"].is_unique


def test_longtail_options_validated(tmp_path):
    for kw in ({"tail_leaves": -1}, {"tail_leaves": demo.MAX_TAIL_LEAVES + 1},
               {"tail_leaves": 1.5}, {"shallow_share": 1.0}, {"shallow_share": -0.1},
               {"shallow_share": float("nan")}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            list(iter_demo_chunks(10, 10, **kw))
        with pytest.raises(ValueError, match=next(iter(kw))):
            write_demo(tmp_path / "d.parquet", n_labelled=10, n_unlabelled=10, progress=False, **kw)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--tail-leaves", "-1"], "argument --tail-leaves: must be 0 or more, got -1"),
    (["--tail-leaves", "x"], "argument --tail-leaves: 'x' is not a whole number"),
    (["--shallow-share", "1"], "argument --shallow-share: must be at least 0 and below 1"),
    (["--shallow-share", "-0.5"], "argument --shallow-share: must be at least 0 and below 1"),
    (["--shallow-share", "nan"], "argument --shallow-share: must be at least 0 and below 1"),
    (["--tail-leaves", "2001"], "tail_leaves must be between 0 and 2000, got 2001"),
])
def test_cli_demo_data_bad_options(tmp_path, capsys, args, message):
    from prodemb.cli import main

    out = tmp_path / "d.parquet"
    try:
        code = main(["demo-data", "--out", str(out), "-q", "--labelled", "10",
                     "--unlabelled", "10", *args])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"prodemb demo-data: error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_cli_demo_data_longtail(tmp_path, capsys):
    from prodemb.cli import main

    out = tmp_path / "lt.csv"
    assert main(["demo-data", "--out", str(out), "-q", "--labelled", "2000", "--unlabelled",
                 "500", "--seed", "2", "--tail-leaves", "50", "--shallow-share", "0.25"]) == 0
    assert "wrote 2,500 products" in capsys.readouterr().out
    back = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8")
    expected = generate_demo(2000, 500, seed=2, tail_leaves=50, shallow_share=0.25)
    for col in expected.columns:
        assert back[col].tolist() == expected[col].tolist(), col


def test_mislabel_share_plants_listed_errors_and_changes_nothing_else(tmp_path):
    import pandas as pd

    from prodemb.demo import write_demo

    clean, noisy = tmp_path / "clean.csv", tmp_path / "noisy.parquet"
    write_demo(clean, n_labelled=1500, n_unlabelled=100, seed=4, progress=False)
    write_demo(noisy, n_labelled=1500, n_unlabelled=100, seed=4, progress=False, mislabel_share=0.1)
    a = pd.read_csv(clean, dtype=str, keep_default_na=False)
    b = pd.read_parquet(noisy).fillna("")
    planted = pd.read_csv(f"{noisy}.mislabelled.csv", dtype=str)
    changed = a["category"] != b["category"]
    assert 100 < changed.sum() < 200 and set(a.loc[changed, "id"]) == set(planted["id"])
    assert (a["title"] == b["title"]).all() and (b.loc[a["category"] == "", "category"] == "").all()
    true = dict(zip(a["id"], a["category"]))
    assert all(true[i] == c for i, c in zip(planted["id"], planted["category_true"]))
    assert (planted["category_written"] != planted["category_true"]).all()
    with pytest.raises(ValueError, match="mislabel_share"):
        write_demo(tmp_path / "x.csv", n_labelled=10, n_unlabelled=0, mislabel_share=1.0)
