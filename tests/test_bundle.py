"""End to end: a tiny bundle is trained from a generated catalogue, loaded and used."""

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from prodemb import Bundle, BundleError, UnknownWordError
from prodemb.bundle import find_bundles, write_atomically
from prodemb.bundle_format import BUNDLE_FILES, TrainingFacts, read_bundle, write_bundle
from prodemb.cli import main as cli
from prodemb.decoding import TreeDecoder
from prodemb.taxonomy import parse_path, split_paths


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return Bundle.load(str(tiny_bundle))


def test_manifest_lists_every_file_with_hash(tiny_bundle):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert manifest["format"] == "prodemb.bundle/1"
    on_disk = {p.name for p in tiny_bundle.iterdir()} - {"manifest.json"}
    assert set(manifest["files"]) == on_disk
    assert all(len(e["sha256"]) == 64 for e in manifest["files"].values())
    assert manifest["data"]["n_labelled"] == 3000 and manifest["data"]["n_unlabelled"] == 3000
    assert {"torch", "gensim", "numpy"} <= set(manifest["libraries"])
    assert set(manifest["stage_seconds"]) >= {"word2vec", "classifier", "maps"}
    assert not any(name.endswith((".pkl", ".pickle", ".pt", ".bin")) for name in manifest["files"])


def test_metrics_are_above_chance(bundle):
    test = bundle.metrics["splits"]["test"]
    n_leaves = len(bundle.taxonomy.leaves)
    # A chance classifier's leaf macro-F1 is about 1/n_leaves; the tiny model must do far better.
    assert test["leaf_macro_f1"] > 5 / n_leaves
    assert test["macro_f1"] > 0.2
    assert test["level_macro_f1"]["1"] > test["leaf_macro_f1"] - 0.05
    assert "plain_0.5" in test and bundle.metrics["history"]


def test_classify_returns_valid_paths(bundle):
    texts = ["Pletený šál z vlny, čierna", "", "🧣🧣", "<script>alert(1)</script>"]
    out = bundle.classify(texts)
    assert len(out) == 4
    for c in out:
        assert c.paths, "at least one path is always returned"
        for path, score in c.paths:
            assert parse_path(path) in bundle.taxonomy
            assert 0.0 <= score <= 1.0
        assert c.node_probs.shape == (bundle.taxonomy.n_nodes,)


def test_embed_is_normalised(bundle):
    e = bundle.embed(["knit scarf", "leather handbag"])
    assert e.shape[0] == 2
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-4)


def test_similar_words_and_unknown_word(bundle):
    word = next(w for w in bundle.word_vectors.words if w.isalpha() and len(w) > 4)
    sims = bundle.similar_words(word, 5)
    assert len(sims) == 5 and word not in [w for w, _ in sims]
    assert sims[0][1] >= sims[-1][1]
    with pytest.raises(UnknownWordError) as e:
        bundle.similar_words(word[:-1] + "q")
    assert e.value.suggestions and all(s in bundle.word_vectors for s in e.value.suggestions)


def test_similar_products_by_id_and_text(bundle):
    pid = bundle.products["id"].iloc[0]
    by_id = bundle.similar_products(pid, 5)
    assert len(by_id) == 5 and pid not in by_id["id"].tolist()
    assert by_id["similarity"].is_monotonic_decreasing
    by_text = bundle.similar_products(bundle.products["text"].iloc[0], 3, by="text")
    assert by_text["similarity"].iloc[0] > 0.95  # the product itself is its own nearest


def test_nearest_rows_are_the_similar_products_by_id(bundle):
    rows, sims = bundle.nearest_rows(0, 5)
    by_id = bundle.similar_products(bundle.products["id"].iloc[0], 5, by="id")
    assert bundle.products["id"].iloc[rows].tolist() == by_id["id"].tolist()
    np.testing.assert_allclose(sims, by_id["similarity"], atol=1e-6)
    assert 0 not in rows.tolist()
    for bad in (-1, len(bundle.products), 1.5, "3"):
        with pytest.raises(IndexError, match="row"):
            bundle.nearest_rows(bad)


def test_reproject_maps_just_the_given_products(bundle):
    rows = np.arange(0, min(60, len(bundle.products)))
    coords = bundle.reproject(rows, "tsne")
    assert coords.shape == (len(rows), 2) and np.isfinite(coords).all()
    with pytest.raises(ValueError, match="method"):
        bundle.reproject(rows, "pca")
    with pytest.raises(IndexError):
        bundle.reproject(np.array([len(bundle.products)]))


def test_coverage_counts_what_the_bundle_holds(bundle):
    c = bundle.coverage()
    assert c["in_bundle"] == len(bundle.products)
    assert c["catalogue"] == bundle.manifest["data"]["n_products"] >= c["in_bundle"]
    assert c["labelled"] == bundle.manifest["data"]["n_labelled"]
    assert c["indexed"] is None  # no ANN index in this bundle


def test_place_on_map_lands_near_identical_product(bundle):
    for method in bundle.map_methods:
        x, y = bundle.map_columns(method)
        text = bundle.products["text"].iloc[3]
        xy = bundle.place_on_map([text], method)[0]
        spread = bundle.products[[x, y]].std().to_numpy()
        assert np.abs(xy - bundle.products[[x, y]].iloc[3].to_numpy()).max() < 0.5 * spread.max()


def test_products_table(bundle):
    p = bundle.products
    assert {"id", "text", "split", "true_path", "pred_path", "tsne_x", "umap_y"} <= set(p.columns)
    assert set(p["split"]) == {"train", "validation", "test", "unlabelled"}
    assert len(p) == len(bundle.product_index)


def test_explain(bundle):
    table = bundle.explain("pletený šál vlna")
    assert list(table["word"]) == ["pleteny", "sal", "vlna"]


def test_card(bundle):
    card = bundle.card()
    assert card["labelled"] == 3000 and card["classes"] == bundle.taxonomy.n_nodes


# ------------------------------------------------------------------ integrity
def copy_bundle(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_altered_file_is_named(tiny_bundle, tmp_path):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    data = bytearray((b / "thresholds.npy").read_bytes())
    data[-1] ^= 0xFF
    (b / "thresholds.npy").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="thresholds.npy was altered"):
        Bundle.load(str(b))


def test_truncated_and_missing_files_are_named(tiny_bundle, tmp_path):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    with open(b / "classifier.safetensors", "r+b") as f:
        f.truncate(100)
    with pytest.raises(BundleError, match="classifier.safetensors has 100 bytes"):
        Bundle.load(str(b))
    c = copy_bundle(tiny_bundle, tmp_path / "c")
    os.remove(c / "products.parquet")
    with pytest.raises(BundleError, match="products.parquet is missing"):
        Bundle.load(str(c))


def test_bad_manifest(tiny_bundle, tmp_path):
    b = copy_bundle(tiny_bundle, tmp_path / "b")
    (b / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="corrupt"):
        Bundle.load(str(b))
    (b / "manifest.json").write_text(json.dumps({"format": "prodemb.bundle/99", "files": {}}))
    with pytest.raises(BundleError, match="format"):
        Bundle.load(str(b))
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(str(tmp_path / "nothing"))


def test_atomic_write_keeps_previous_bundle_on_failure(tmp_path):
    target = tmp_path / "artifacts" / "m"
    write_atomically(str(target), lambda d: open(os.path.join(d, "manifest.json"), "w").write("{}"))
    assert (target / "manifest.json").exists()

    def crash(d):
        open(os.path.join(d, "manifest.json"), "w").write("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_atomically(str(target), crash)
    assert (target / "manifest.json").read_text() == "{}"
    assert [p.name for p in (tmp_path / "artifacts").iterdir()] == ["m"]
    assert find_bundles(str(tmp_path / "artifacts")) == [str(target)]


def test_sigmoid_weight_is_recorded_and_loaded(tiny_bundle):
    b = Bundle.load(str(tiny_bundle))
    w = b.manifest["decoding"]["sigmoid_weight"]
    assert w == b.config["train"]["classifier"]["sigmoid_weight"] == 0.25  # the default
    assert b.classifier.model.config.sigmoid_weight == w


def test_tune_sigmoid_weight_sets_a_grid_value(tiny_bundle):
    import numpy as np

    from prodemb.pipeline import SIGMOID_WEIGHTS, tune_sigmoid_weight

    b = Bundle.load(str(tiny_bundle))
    p = b.products[b.products["split"] == "validation"]
    y = b.taxonomy.binarize([[parse_path(x) for x in split_paths(s)] for s in p["true_path"]])
    w = tune_sigmoid_weight(b.classifier, b.tokenize(p["text"].tolist()), np.asarray(y),
                            b.taxonomy, b.complete_paths)
    assert w in SIGMOID_WEIGHTS and b.classifier.model.config.sigmoid_weight == w


# ------------------------------------------------------------------ the format
def test_decoder_is_saved_with_the_bundle(bundle):
    """The bundle decodes with the TreeDecoder fitted in training: thresholds.npy and the
    manifest's ``decoding``; its paths are the stored predictions."""
    d = bundle.decoder
    assert isinstance(d, TreeDecoder) and d.taxonomy is bundle.taxonomy
    assert d.thresholds.dtype == np.float32 and bundle.thresholds is d.thresholds
    assert d.extra_path_min == bundle.manifest["decoding"]["extra_path_min"]
    assert d.complete == bundle.manifest["decoding"]["complete"]
    rows = bundle.products.head(200)
    probs = bundle.predict_proba(rows["text"].tolist())
    stored = [split_paths(c) for c in rows["pred_path"]]
    decoded = [[p for p, _ in c.paths] for c in bundle.classify(rows["text"].tolist())]
    assert np.mean([a == b for a, b in zip(stored, decoded)]) > 0.98  # float16 weights
    assert bundle.decode(probs) == d.decode(probs)


def test_read_and_write_bundle_round_trip(tiny_bundle, tmp_path):
    """What read_bundle returns, written again by write_bundle, is the same bundle: every
    file byte for byte (products.parquet: the same table; pandas records the dtype of the
    columns training derives by str.split differently), the manifest the same but for the
    date and that file's hash."""
    contents = read_bundle(str(tiny_bundle))
    manifest = contents.manifest
    out = tmp_path / "again"
    written = write_bundle(str(out), contents, TrainingFacts.from_manifest(manifest))
    assert set(written["files"]) == set(manifest["files"]) >= set(BUNDLE_FILES)
    for name in set(manifest["files"]) - {"products.parquet"}:
        assert (out / name).read_bytes() == (tiny_bundle / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(out / "products.parquet"), contents.products)
    again = json.loads((out / "manifest.json").read_text())
    assert again == written
    assert list(again) == list(manifest)  # the same entries in the same order
    for m in (again, manifest):
        m.pop("created")
        m["files"].pop("products.parquet")
    assert again == manifest
    assert Bundle.load(str(out)).classify("pletený šál")[0].paths == \
        Bundle.load(str(tiny_bundle)).classify("pletený šál")[0].paths


# ------------------------------------------------------------------ CLI
def test_cli_predict_evaluate_neighbours(tiny_bundle, tmp_path, capsys):
    src = tmp_path / "in.csv"
    src.write_text("id,title,description\n1,Pletený šál,teplý\n2,,\n3,<b>kožená kabelka</b>,\n")
    out = tmp_path / "out.csv"
    assert cli(["predict", "--bundle", str(tiny_bundle), "--in", str(src), "--out", str(out),
                "-q", "--label-column", ""]) == 0

    pred = pd.read_csv(out)
    assert len(pred) == 3 and pred["category"].notna().all()
    # the thread count changes speed, not predictions
    out1 = tmp_path / "out1.csv"
    assert cli(["predict", "--bundle", str(tiny_bundle), "--in", str(src), "--out", str(out1),
                "-q", "--label-column", "", "--threads", "1"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out1), pred)
    with pytest.raises(SystemExit) as e:
        cli(["predict", "--bundle", str(tiny_bundle), "--in", str(src), "--out", str(out1),
             "--threads", "-1"])
    assert e.value.code == 2 and "must be 0 or more" in capsys.readouterr().err
    word = Bundle.load(str(tiny_bundle)).word_vectors.words[0]
    assert cli(["neighbours", "--bundle", str(tiny_bundle), "--word", word]) == 0
    assert cli(["neighbours", "--bundle", str(tiny_bundle), "--word", "zzzzqqq"]) == 1
    assert cli(["info", "--bundle", str(tiny_bundle)]) == 0
    assert cli(["info", "--bundle", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_classification_carries_the_embedding_that_places_it_on_the_map(bundle):
    text = "pletený vlnený šál s vreckami"
    c = bundle.classify([text])[0]
    assert c.embedding.shape == (bundle.embed([text]).shape[1],)
    np.testing.assert_allclose(c.embedding, bundle.embed([text])[0], atol=1e-5)
    for method in bundle.map_methods:
        np.testing.assert_allclose(bundle.place_on_map(None, method, embeddings=c.embedding),
                                   bundle.place_on_map([text], method), atol=1e-4)
    given = bundle.similar_products(text, 5, by="text", embedding=c.embedding)
    assert given["id"].tolist() == bundle.similar_products(text, 5, by="text")["id"].tolist()


def test_cli_neighbours_without_word_or_product_is_an_error(tmp_path, capsys):
    # `prodemb neighbours --bundle B` printed nothing and exited 0.
    assert cli(["neighbours", "--bundle", str(tmp_path / "no-bundle")]) == 2
    err = capsys.readouterr().err
    assert "--word" in err and "--product" in err and "no-bundle" not in err


def test_cli_neighbours_says_whether_product_was_an_id_or_a_text(monkeypatch, capsys):
    # A mistyped id (`--product 999999999`) answered with the neighbours of that text, as if
    # it were the product; the command now says which it searched.
    from types import SimpleNamespace

    table = pd.DataFrame({"similarity": [0.9], "id": ["P2"], "text": ["t"], "true_path": ["A"],
                          "pred_path": ["A"]})
    searched = []
    fake = SimpleNamespace(find_product=lambda pid: pid if pid == "P1" else None,
                           similar_products=lambda q, k, by: searched.append(by) or table)
    monkeypatch.setattr(Bundle, "load", staticmethod(lambda path: fake))
    assert cli(["neighbours", "--bundle", "B", "--product", "P1"]) == 0
    assert "nearest products to the product with id 'P1'" in capsys.readouterr().err
    assert cli(["neighbours", "--bundle", "B", "--product", "999999999"]) == 0
    assert "no product has the id '999999999': nearest products to it as a text" in capsys.readouterr().err
    assert searched == ["id", "text"]  # searched as what it said
