"""Bounded inputs and bad bundles (issue 17, items 3 and 4).

- Deeply nested JSON (a bundle's manifest or metrics, a JSONL catalogue line, a JSON path
  cell) never raises ``RecursionError``: a bundle gives :class:`BundleError`, a catalogue
  :class:`CatalogueError` (exit 2 on the command line).
- Every failure ``Bundle.load`` can meet on a bad bundle is a :class:`BundleError`: a
  manifest entry of the wrong type, a directory where a file should be, a products table
  without ids, ...
- Paths deeper than the default cap, oversized category cells and trees with too many
  classes are refused at once with a message saying what to do (``--max-depth``), not
  trained on for minutes.
- The Python API validates its counts (``k``, ``max_paths``, ...), ``by=`` and its texts.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodemb.bundle import Bundle, BundleError, check_bundle_output, is_bundle_dir, read_manifest
from prodemb.catalogue import CatalogueError, read_catalogue
from prodemb.utils import sha256_file

DEEP = 100_000  # the nesting of the probe


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def run_cli(capsys, argv: list[str]) -> tuple[int, str]:
    from prodemb.cli import main

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(argv)
    return code, capsys.readouterr().err


def assert_exit_2(code: int, err: str, pattern: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "RecursionError" not in err, err
    assert pattern.lower() in err.lower(), err


# ====================================================================== bad bundles
@pytest.fixture
def copy(tiny_bundle, tmp_path):
    """A fresh copy of the tiny bundle, to damage."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def edit_manifest(bundle: Path, change) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def rehash(bundle: Path, name: str) -> None:
    """Make the manifest agree with a replaced file, as a careful tamperer would."""
    def change(m):
        m["files"][name] = {"bytes": (bundle / name).stat().st_size, "sha256": sha256_file(str(bundle / name))}
    edit_manifest(bundle, change)


def assert_bundle_error(bundle: Path, pattern: str, verify: bool = True) -> None:
    with pytest.raises(BundleError, match=pattern):
        Bundle.load(str(bundle), verify=verify)


def test_manifest_nested_100000_deep(copy, capsys):
    (copy / "manifest.json").write_text(deep_json())
    assert_bundle_error(copy, "nested too deeply")
    with pytest.raises(BundleError, match="nested too deeply"):
        read_manifest(str(copy))
    # train --out checks whether the directory is a bundle: no RecursionError there either
    assert is_bundle_dir(str(copy))  # every entry is a bundle file name
    check_bundle_output(str(copy), overwrite=True)
    code, err = run_cli(capsys, ["info", "--bundle", str(copy)])
    assert_exit_2(code, err, "nested too deeply")


def test_manifest_with_a_deep_value(copy):
    edit_manifest(copy, lambda m: m.update(extra=None))
    text = (copy / "manifest.json").read_text().replace('"extra": null', '"extra": ' + deep_json(5000))
    (copy / "manifest.json").write_text(text)
    assert_bundle_error(copy, "nested too deeply")


@pytest.mark.parametrize("name", ["metrics.json", "config.json", "taxonomy.json",
                                  "classifier.json", "word_vectors.json"])
def test_deep_json_file_with_matching_hash(copy, name):
    (copy / name).write_text(deep_json())
    rehash(copy, name)
    assert_bundle_error(copy, name)


@pytest.mark.parametrize("key", ["data", "metrics", "decoding", "taxonomy", "config", "labels"])
def test_manifest_section_that_is_a_string(copy, key):
    edit_manifest(copy, lambda m: m.update({key: "a string"}))
    assert_bundle_error(copy, key)


def test_manifest_metrics_split_that_is_a_string(copy):
    edit_manifest(copy, lambda m: m["metrics"].update(test="a string"))
    assert_bundle_error(copy, "metrics")


@pytest.mark.parametrize("entry", ["a string", 3, None, ["bytes", "sha256"]])
def test_manifest_file_entry_of_the_wrong_type(copy, entry):
    edit_manifest(copy, lambda m: m["files"].update({"metrics.json": entry}))
    assert_bundle_error(copy, "metrics.json")


@pytest.mark.parametrize("name", [".", "..", "", "../x", "sub/x"])
def test_manifest_file_name_outside_the_bundle(copy, name):
    edit_manifest(copy, lambda m: m["files"].update({name: {"bytes": 1, "sha256": "0" * 64}}))
    assert_bundle_error(copy, "outside the bundle")


def test_manifest_is_a_directory(copy):
    (copy / "manifest.json").unlink()
    (copy / "manifest.json").mkdir()
    assert_bundle_error(copy, "manifest.json")


@pytest.mark.parametrize("verify", [True, False])
def test_bundle_file_is_a_directory(copy, verify):
    (copy / "taxonomy.json").unlink()
    (copy / "taxonomy.json").mkdir()
    assert_bundle_error(copy, "taxonomy.json", verify)


@pytest.mark.parametrize("verify", [True, False])
def test_products_without_id_column(copy, verify):
    products = pd.read_parquet(copy / "products.parquet").drop(columns=["id"])
    products.to_parquet(copy / "products.parquet", index=False)
    rehash(copy, "products.parquet")
    assert_bundle_error(copy, "products.parquet.*id", verify)


@pytest.mark.parametrize("name, value", [("config.json", []), ("config.json", {"train": "x"}),
                                         ("metrics.json", "x"), ("metrics.json", {"splits": []})])
def test_json_file_of_the_wrong_shape(copy, name, value):
    (copy / name).write_text(json.dumps(value))
    rehash(copy, name)
    assert_bundle_error(copy, name)


def test_intact_bundle_still_loads(copy):
    b = Bundle.load(str(copy))
    assert b.card()["classes"] == b.taxonomy.n_nodes


# ====================================================================== catalogue
def test_jsonl_line_nested_100000_deep(tmp_path, capsys):
    data = tmp_path / "deep.jsonl"
    rows = [json.dumps({"id": "P1", "title": "scarf", "description": "", "category": "A > B"}),
            '{"id": "P2", "title": ' + deep_json() + ', "category": "A > C"}']
    data.write_text("\n".join(rows) + "\n")
    with pytest.raises(CatalogueError, match=r"row 2.*nested too deeply"):
        read_catalogue(data)
    code, err = run_cli(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert_exit_2(code, err, "nested too deeply")
    assert not (tmp_path / "m").exists()


def test_json_path_cell_nested_100000_deep(tmp_path):
    data = tmp_path / "deep.csv"
    pd.DataFrame({"id": ["P1", "P2"], "title": ["scarf", "hat"], "description": ["", ""],
                  "category": ['["A > B"]', deep_json(4000)]}).to_csv(data, index=False)
    with pytest.raises(CatalogueError, match=r"row 2.*nested too deeply"):
        read_catalogue(data, path_separator="json")
    with pytest.warns(UserWarning, match="nested too deeply"):
        df = read_catalogue(data, path_separator="json", bad_paths="skip")
    assert list(df["paths"]) == [[("A", "B")], []]


def write_levels_catalogue(path: Path, levels: int) -> Path:
    deep = " > ".join(f"L{i}" for i in range(levels))
    pd.DataFrame({"id": ["P1", "P2", "P3"], "title": ["knit scarf", "wool hat", "deep thing"],
                  "description": ["", "", ""],
                  "category": ["Accessories > Scarves", "Hats > Beanies", deep]}).to_csv(path, index=False)
    return path


def test_path_of_10000_levels_fails_fast_naming_max_depth(tmp_path, capsys):
    data = write_levels_catalogue(tmp_path / "deep.csv", 10_000)
    with pytest.raises(CatalogueError, match=r"row 3.*10,000 levels.*max.depth") as info:
        read_catalogue(data)
    assert "12" in str(info.value), "the default cap is named"
    code, err = run_cli(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert_exit_2(code, err, "--max-depth")
    assert not (tmp_path / "m").exists()


def test_path_depth_cap_and_max_depth(tmp_path):
    from prodemb.catalogue import DEFAULT_MAX_DEPTH, MAX_DEPTH_LIMIT

    at_cap = read_catalogue(write_levels_catalogue(tmp_path / "a.csv", DEFAULT_MAX_DEPTH))
    assert len(at_cap["paths"][2][0]) == DEFAULT_MAX_DEPTH
    data = write_levels_catalogue(tmp_path / "b.csv", 10_000)
    cut = read_catalogue(data, max_depth=12)
    assert cut["paths"][2] == [tuple(f"L{i}" for i in range(12))]
    deeper = read_catalogue(write_levels_catalogue(tmp_path / "c.csv", 30), max_depth=40)
    assert len(deeper["paths"][2][0]) == 30, "--max-depth also raises the cap"
    with pytest.warns(UserWarning, match="max.depth"):
        skipped = read_catalogue(data, bad_paths="skip")
    assert skipped["paths"][2] == []
    for bad in (0, -1, MAX_DEPTH_LIMIT + 1):
        with pytest.raises(ValueError, match="max_depth"):
            read_catalogue(data, max_depth=bad)


def test_level_columns_deeper_than_the_cap(tmp_path):
    from prodemb.catalogue import DEFAULT_MAX_DEPTH

    n = DEFAULT_MAX_DEPTH + 3
    cols = [f"level{i}" for i in range(n)]
    frame = pd.DataFrame({"id": ["P1"], "title": ["x"], **{c: [c.upper()] for c in cols}})
    frame.to_csv(tmp_path / "levels.csv", index=False)
    with pytest.raises(CatalogueError, match="max.depth"):
        read_catalogue(tmp_path / "levels.csv", text_columns=["title"], label_column=None,
                       level_columns=cols)
    ok = read_catalogue(tmp_path / "levels.csv", text_columns=["title"], label_column=None,
                        level_columns=cols, max_depth=3)
    assert ok["paths"][0] == [("LEVEL0", "LEVEL1", "LEVEL2")]


def test_oversized_category_cell(tmp_path):
    from prodemb.catalogue import MAX_LABEL_CHARS

    huge = " | ".join(f"Cat{i} > Sub{i}" for i in range(MAX_LABEL_CHARS // 8))
    assert len(huge) > MAX_LABEL_CHARS
    data = tmp_path / "huge.csv"
    pd.DataFrame({"id": ["P1", "P2"], "title": ["a", "b"], "description": ["", ""],
                  "category": ["A > B", huge]}).to_csv(data, index=False)
    with pytest.raises(CatalogueError, match=rf"row 2.*{MAX_LABEL_CHARS:,} characters"):
        read_catalogue(data)


def test_too_many_classes_is_refused_before_training(tmp_path, monkeypatch, capsys):
    import prodemb.pipeline as pipeline

    data = tmp_path / "many.csv"
    pd.DataFrame({"id": [f"P{i}" for i in range(40)], "title": [f"thing {i}" for i in range(40)],
                  "description": "", "category": [f"Top{i % 4} > Leaf{i}" for i in range(40)]}
                 ).to_csv(data, index=False)
    monkeypatch.setattr(pipeline, "MAX_CLASSES", 20)
    def no_training(*a, **k):
        raise AssertionError("training started")
    monkeypatch.setattr(pipeline, "word2vec_on_tokens", no_training)
    with pytest.raises(pipeline.TrainingError, match=r"44 classes.*at most 20.*max-depth"):
        pipeline.train_bundle(str(data), str(tmp_path / "m"), show_progress=False)
    code, err = run_cli(capsys, ["train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert_exit_2(code, err, "classes")


# ====================================================================== the Python API
@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return Bundle.load(str(tiny_bundle))


BAD_COUNTS = [0, -1, 1.5, "3", True, None, math.nan]


@pytest.mark.parametrize("k", BAD_COUNTS)
def test_k_must_be_a_positive_int(bundle, k):
    word = bundle.word_vectors.words[0]
    text = "wool scarf"
    calls = {
        "similar_words": lambda: bundle.similar_words(word, k),
        "similar_products": lambda: bundle.similar_products(text, k),
        "top_nodes": lambda: bundle.top_nodes(bundle.classify([text])[0].node_probs, k),
        "classify max_paths": lambda: bundle.classify([text], max_paths=k),
        "explain max_words": lambda: bundle.explain(text, max_words=k),
        "classify_frame batch_size": lambda: bundle.classify_frame([text], batch_size=k),
    }
    if k is not None:  # None means "the bundle's setting" for place_on_map
        calls["place_on_map"] = lambda: bundle.place_on_map([text], bundle.map_methods[0], k)
    for name, call in calls.items():
        with pytest.raises(ValueError, match="positive integer"):
            call()
            pytest.fail(f"{name} accepted {k!r}")


def test_valid_counts_still_work(bundle, tiny_bundle):
    word = bundle.word_vectors.words[0]
    assert len(bundle.similar_words(word, np.int64(3))) == 3
    assert len(bundle.similar_words(word, 10**6)) == len(bundle.word_vectors) - 1, "k is capped"
    # k above the products: all of them (the exact scan of a bundle without an ANN index;
    # an approximate index returns what the lists it searches hold, tests/test_index.py).
    exact = Bundle.load(str(tiny_bundle))
    assert exact.ann_index is None
    assert len(exact.similar_products("wool scarf", 10**7)) == len(exact.products)
    assert len(bundle.top_nodes(bundle.classify(["x"])[0].node_probs, 1)) == 1
    assert bundle.place_on_map(["wool scarf"], bundle.map_methods[0], 3).shape == (1, 2)


def test_similar_products_by_is_validated(bundle):
    with pytest.raises(ValueError, match="'auto', 'id' or 'text'"):
        bundle.similar_products("wool scarf", 5, by="bogus")
    pid = str(bundle.products["id"].iloc[0])
    for by in ("auto", "id", "text"):
        assert len(bundle.similar_products(pid, 3, by=by)) == 3


@pytest.mark.parametrize("bad", [b"wool scarf", 3, 1.5, True, ["a", "list"], {"a": 1}])
def test_non_str_text_is_a_type_error_naming_the_item(bundle, bad):
    texts = ["wool scarf", bad]
    calls = {
        "classify": lambda: bundle.classify(texts),
        "embed": lambda: bundle.embed(texts),
        "predict_proba": lambda: bundle.predict_proba(texts),
        "classify_frame": lambda: bundle.classify_frame(texts),
        "place_on_map": lambda: bundle.place_on_map(texts, bundle.map_methods[0]),
        "tokenize": lambda: bundle.tokenize(texts),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match=rf"texts\[1\] is {type(bad).__name__}") as info:
            call()
            pytest.fail(f"{name} accepted {bad!r}")
        assert repr(bad)[:20] in str(info.value), "the message shows the item"


@pytest.mark.parametrize("bad", [b"wool scarf", 3, None])
def test_non_str_word_query_or_text(bundle, bad):
    with pytest.raises(TypeError, match="str"):
        bundle.similar_words(bad)
    with pytest.raises(TypeError, match="str"):
        bundle.similar_products(bad)
    with pytest.raises(TypeError, match="str"):
        bundle.explain(bad)


def test_bare_texts_argument(bundle):
    e = bundle.embed("a string")
    assert e.shape == (1, bundle.embed(["x"]).shape[1]), "a bare string is one text"
    np.testing.assert_allclose(e, bundle.embed(["a string"]))
    assert len(bundle.classify("one string")) == 1
    assert len(bundle.classify_frame("one string")) == 1
    assert bundle.place_on_map("one string", bundle.map_methods[0]).shape == (1, 2)
    for bad in (b"bytes", 5, None):
        with pytest.raises(TypeError, match="texts"):
            bundle.embed(bad)
    assert "one text" in Bundle.embed.__doc__ and "one text" in Bundle.classify.__doc__


def test_missing_values_are_empty_texts(bundle):
    out = bundle.classify([None, float("nan"), pd.NA, np.nan])
    assert all(c.tokens == [] and c.paths for c in out)
    assert bundle.embed(pd.Series(["wool scarf", None])).shape[0] == 2
    assert bundle.embed(np.array(["wool scarf", "hat"])).shape[0] == 2


# ====================================================================== the dashboard
PAGES = ["pages/classify.py", "pages/neighbours.py", "pages/per_class_f1.py",
         "pages/embedding_map.py"]


@pytest.fixture(scope="module")
def artifacts(tiny_bundle, tmp_path_factory) -> Path:
    """An artifacts folder with one good bundle and bundles broken in every way of the issue."""
    root = tmp_path_factory.mktemp("artifacts")

    def broken(name: str) -> Path:
        return Path(shutil.copytree(tiny_bundle, root / name))

    shutil.copytree(tiny_bundle, root / "good")
    (broken("bad_deep") / "manifest.json").write_text(deep_json())
    edit_manifest(broken("bad_string"), lambda m: m.update(decoding="a string"))
    edit_manifest(broken("bad_entry"), lambda m: m["files"].update({"metrics.json": "a string"}))
    b = broken("bad_noid")
    pd.read_parquet(b / "products.parquet").drop(columns=["id"]).to_parquet(b / "products.parquet")
    rehash(b, "products.parquet")
    b = broken("bad_dir")
    (b / "taxonomy.json").unlink()
    (b / "taxonomy.json").mkdir()
    return root


def open_app(page: str | None = None, state: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, [e.value[:500] for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_bad_bundles_are_listed_as_unusable_and_the_good_one_works(artifacts, monkeypatch, page):
    from prodemb import ui

    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(artifacts))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = open_app(page)
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "good", \
        "the default is a usable bundle, though broken ones sort first"
    assert not at.main.error, [e.value for e in at.main.error]
    labels = dict(zip((ui.bundle_name(o) for o in ui.available_bundles()),
                      at.sidebar.selectbox[0].options))
    for name in ("bad_deep", "bad_string", "bad_entry"):
        assert "unusable" in labels[name], labels
    assert "nested too deeply" in labels["bad_deep"] and "decoding" in labels["bad_string"]
    assert "unusable" not in labels["good"]
    warned = " ".join(w.value for w in at.sidebar.warning).replace("\\", "")
    assert all(name in warned for name in ("bad_deep", "bad_string", "bad_entry")), warned


@pytest.mark.parametrize("name, reason", [("bad_deep", "nested too deeply"),
                                          ("bad_string", "decoding"),
                                          ("bad_entry", "metrics.json"),
                                          ("bad_noid", "products.parquet"),
                                          ("bad_dir", "taxonomy.json")])
def test_choosing_a_bad_bundle_shows_why_and_others_keep_working(artifacts, monkeypatch, name, reason):
    from prodemb import ui

    monkeypatch.setenv("PRODEMB_ARTIFACTS", str(artifacts))
    monkeypatch.delenv("PRODEMB_BUNDLE", raising=False)
    at = open_app("pages/classify.py")
    at.sidebar.selectbox[0].set_value(str(artifacts / name)).run()
    assert not at.exception, [e.value[:500] for e in at.exception]
    errors = " ".join(e.value for e in at.main.error).replace("\\", "")
    assert "cannot be used" in errors and reason in errors, errors
    at.sidebar.selectbox[0].set_value(str(artifacts / "good")).run()
    assert not at.exception and not at.main.error
    assert ui.bundle_name(at.session_state[ui.SESSION_KEY]) == "good"
