"""A user's own catalogue, end to end (issue 11): the bundle remembers how to read it.

The catalogue (``tests/own_catalogue.py``) has its own column names, JSON lists of paths
with ``>>`` between levels, paths one level too deep and one-level ``Sale`` paths, read
with ``--max-depth 3 --min-depth 2``. Trained once with ``configs/tiny.json``; then
``predict`` and ``evaluate`` without any reader flag must give what they give with the
flags, ``evaluate --split test`` must give the bundle's stored test metrics, and no row
may be left out without a message saying how many and why.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest
from own_catalogue import SHOP_FLAGS, SHOP_OPTIONS, write_shop_catalogue
from reliability_helpers import run_cli as run

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "configs" / "tiny.json"


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The catalogue and a bundle trained on it by ``prodemb train`` with its reader flags."""
    from prodemb.cli import main

    tmp = tmp_path_factory.mktemp("shop")
    data = write_shop_catalogue(tmp / "shop.csv", n_labelled=1200, n_unlabelled=300)
    bundle = tmp / "bundle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["train", "--data", str(data), "--out", str(bundle), "--config", str(TINY),
                     *SHOP_FLAGS, "-q"])
    assert code == 0
    return {"data": data, "bundle": bundle, "tmp": tmp}


@pytest.fixture(scope="module")
def shop_bundle(shop):
    from prodemb.bundle import Bundle

    return Bundle.load(str(shop["bundle"]))


# ---------------------------------------------------------------------- the bundle's reader
@pytest.mark.slow
def test_bundle_stores_its_reader_options(shop, shop_bundle, capsys):
    from prodemb.catalogue import ReaderOptions, read_catalogue

    assert shop_bundle.reader_options == ReaderOptions(**SHOP_OPTIONS)
    # The README's read check: the same options from Python read the file as training did.
    df = read_catalogue(shop["data"], ReaderOptions(**SHOP_OPTIONS))
    assert len(df) == 1500 and max(len(p) for ps in df["paths"] for p in ps) == 3
    assert min(len(p) for ps in df["paths"] for p in ps) == 2, "'Sale' dropped by min_depth"
    code, out, _ = run(capsys, ["info", "--bundle", str(shop["bundle"])])
    assert code == 0
    assert "--max-depth 3 --min-depth 2" in json.loads(out)["reader_options"]


@pytest.mark.slow
def test_predict_without_reader_flags_equals_with_them(shop, capsys):
    """Was: "missing column(s) 'title', 'description', 'id'" without the flags."""
    tmp = shop["tmp"]
    base = ["predict", "--bundle", str(shop["bundle"]), "--in", str(shop["data"]), "-q"]
    code, _, err = run(capsys, base + ["--out", str(tmp / "bare.csv")])
    assert code == 0, err
    assert "the bundle's reader options --text-columns name,details --id-column sku" in err
    code, _, err = run(capsys, base + ["--out", str(tmp / "flags.csv"), *SHOP_FLAGS])
    assert code == 0, err
    bare, flags = pd.read_csv(tmp / "bare.csv"), pd.read_csv(tmp / "flags.csv")
    assert len(bare) == 1500 and bare["id"].str.startswith("SKU-").all()
    pd.testing.assert_frame_equal(bare, flags)


@pytest.mark.slow
def test_evaluate_without_reader_flags_equals_with_them(shop, capsys):
    """Was: without --max-depth 3 --min-depth 2, evaluate exited 0 after quietly skipping
    most rows (skipped_unknown_categories) and reported a lower leaf macro-F1."""
    tmp = shop["tmp"]
    base = ["evaluate", "--bundle", str(shop["bundle"]), "--data", str(shop["data"])]
    code, out, err = run(capsys, base + ["--out", str(tmp / "bare.json")])
    assert code == 0, err
    bare_out = json.loads(out)
    code, out, err_flags = run(capsys, base + ["--out", str(tmp / "flags.json"), *SHOP_FLAGS])
    assert code == 0, err_flags
    assert json.loads(out) == bare_out
    bare = json.loads((tmp / "bare.json").read_text())
    flags = json.loads((tmp / "flags.json").read_text())
    assert bare == flags
    assert bare["skipped_unknown_categories"] == 0
    assert bare["rows"] == {"read": 1500, "unlabelled": 300, "emptied_by_reader_options": 0,
                            "unknown_categories": 0, "scored": 1200, "rolled_up": 0}
    assert bare["n_items"] == 1200
    # Nothing is left out silently: the unlabelled rows and the overlap with training are
    # warning lines with their counts.
    assert "prodemb evaluate: warning: 300 of 1,500 rows have no category" in err
    n_train = (pd.read_parquet(shop["bundle"] / "products.parquet")["split"] == "train").sum()
    assert bare["overlap_with_training"] >= n_train
    assert re.search(rf"warning: {bare['overlap_with_training']:,} of 1,200 scored products "
                     r"were training products of this bundle", err)
    assert "--split test" in err


@pytest.mark.slow
@pytest.mark.parametrize("split", ["test", "validation", "train"])
def test_evaluate_split_equals_the_stored_metrics(shop, shop_bundle, capsys, split):
    from prodemb.metrics import summary

    out_file = shop["tmp"] / f"{split}.json"
    code, out, err = run(capsys, ["evaluate", "--bundle", str(shop["bundle"]), "--split", split,
                                  "--out", str(out_file)])
    assert code == 0, err
    assert "differ" not in err, err
    stored = shop_bundle.metrics["splits"][split]
    result = json.loads(out_file.read_text())
    assert summary(result) == summary(stored)
    assert json.loads(out) == summary(stored) | {"split": split,
                                                 "most_confused": stored["most_confused"][:10]}
    assert result["per_class"] == stored["per_class"]
    assert result["plain_0.5"] == stored["plain_0.5"]
    assert result["independent_0.5"] == stored["independent_0.5"]
    n = (shop_bundle.products["split"] == split).sum()
    assert result["n_items"] == n == shop_bundle.manifest["data"]["split_counts"][split]


@pytest.mark.slow
def test_evaluate_split_takes_no_reader_flags(shop, capsys):
    code, _, err = run(capsys, ["evaluate", "--bundle", str(shop["bundle"]), "--split", "test",
                                "--max-depth", "2"])
    assert code == 2 and "reader options do not apply" in err
    with pytest.raises(SystemExit) as exit_:  # a usage error, from argparse
        run(capsys, ["evaluate", "--bundle", str(shop["bundle"]), "--split", "test",
                     "--data", str(shop["data"])])
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


# ---------------------------------------------------------------------- rows left out
@pytest.mark.slow
def test_evaluate_warns_with_count_and_reason_for_unknown_categories(shop, capsys):
    """--min-depth 1 keeps the one-level 'Sale' paths, which are not in the tree: those rows
    are skipped, with a warning line giving the count and the reason."""
    code, out, err = run(capsys, ["evaluate", "--bundle", str(shop["bundle"]), "--data",
                                  str(shop["data"]), "--min-depth", "1"])
    assert code == 0, err
    n = json.loads(out)["skipped_unknown_categories"]
    assert 0 < n <= 600
    line = next(x for x in err.splitlines() if "skipped_unknown_categories" in x)
    assert line.startswith(f"prodemb evaluate: warning: {n:,} of 1,200 labelled rows are not scored")
    assert "'Sale'" in line and "--min-depth 2" in line


@pytest.mark.slow
def test_evaluate_refuses_when_most_rows_would_be_left_out(shop, capsys):
    """--max-depth 4 keeps the variant level the tree does not have: most rows would be
    skipped, so the evaluation fails (exit 2) and names --max-depth 3."""
    code, out, err = run(capsys, ["evaluate", "--bundle", str(shop["bundle"]), "--data",
                                  str(shop["data"]), "--max-depth", "4"])
    assert code == 2 and out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("prodemb evaluate: error: ")
    assert re.search(r"[\d,]+ of 1,200 labelled rows of .*shop\.csv would not be scored", last)
    assert "--max-depth 3" in last and "deeper than the bundle's tree (depth 3)" in last


@pytest.mark.slow
def test_evaluate_python_api_uses_the_bundle_reader(shop, shop_bundle):
    from prodemb.evaluation import EvaluationError, evaluate_file
    from prodemb.pipeline import evaluate_bundle

    result = evaluate_bundle(shop_bundle, str(shop["data"]))
    assert result["rows"]["scored"] == 1200 and result["skipped_unknown_categories"] == 0
    with pytest.raises(EvaluationError, match="--max-depth 3"):
        evaluate_file(shop_bundle, str(shop["data"]), shop_bundle.reader_options.replace(max_depth=4))


# ---------------------------------------------------------------------- neighbours, dashboard
@pytest.mark.slow
def test_neighbours_unknown_word_gets_close_known_words(shop, shop_bundle, capsys):
    from prodemb.neighbours import suggestable

    word = next(w for w in shop_bundle.word_vectors.words if suggestable(w) and len(w) >= 6)
    code, out, err = run(capsys, ["neighbours", "--bundle", str(shop["bundle"]), "--word",
                                  word + "x"])
    assert code == 1 and out == ""
    assert err.startswith(f"prodemb neighbours: '{word}x' is not in the vocabulary. Did you mean: ")
    offered = err.split("Did you mean: ")[1].rstrip("?\n").split(", ")
    assert word in offered and all(suggestable(w) for w in offered)


@pytest.mark.slow
def test_dashboard_batch_upload_uses_the_bundle_text_columns(shop, shop_bundle, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from prodemb import ui

    frame = pd.DataFrame({"sku": ["A1"], "title": ["x"], "name": ["wool scarf"],
                          "details": ["warm"]})
    assert ui.guess_text_columns(frame) == ["title", "name"]
    assert ui.default_text_columns(shop_bundle, frame) == ["name", "details"]
    assert ui.default_text_columns(shop_bundle, frame[["title"]]) == ["title"]

    monkeypatch.setenv("PRODEMB_BUNDLE", str(shop["bundle"]))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/classify.py").run()
    assert not at.exception
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    at.file_uploader(key="batch_upload").set_value(("mine.csv", buf.getvalue().encode(), "text/csv"))
    at.run()
    assert not at.exception
    assert at.multiselect(key="batch_columns").value == ["name", "details"]


# ---------------------------------------------------------------------- fast checks
def test_suggestions_are_never_stop_words_or_digit_tokens():
    from prodemb.neighbours import suggest_words

    vocabulary = ["000", "the", "a", "na", "pre", "j0", "scarf", "scarves", "there", "x00",
                  "kabelka", "kabelky"]
    assert suggest_words("scarff", vocabulary)[0] == "scarf"
    assert sorted(suggest_words("kabelk", vocabulary)) == ["kabelka", "kabelky"]
    for query in ("0000", "thee", "j00", "prea", "x000", "nna", "theree"):
        offered = suggest_words(query, vocabulary)
        assert not set(offered) & {"000", "the", "a", "na", "pre", "j0", "x00"}, (query, offered)
    assert suggest_words("scarvess", vocabulary)[0] == "scarves"
    assert suggest_words("scarfz", ["scarf0", "sc", "000"]) == []


@pytest.mark.parametrize("argv", [["-v", "info", "--bundle", "B"], ["info", "--bundle", "B", "-v"],
                                  ["info", "-v", "--bundle", "B"]])
def test_global_flags_before_or_after_the_command(argv):
    """Was: `prodemb train ... -v` was rejected ("unrecognized arguments: -v")."""
    from prodemb.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.verbose is True and args.quiet is False
    assert build_parser().parse_args(["info", "--bundle", "B"]).verbose is False
    for argv in (["-q", "train", "--data", "d", "--out", "o"],
                 ["train", "--data", "d", "--out", "o", "-q"]):
        args = build_parser().parse_args(argv)
        assert args.quiet is True and args.verbose is False


def test_seed_and_split_seed(capsys, monkeypatch):
    """--seed has help text saying it also moves the split; --split-seed fixes the split."""
    import prodemb.pipeline
    from prodemb.cli import build_parser, main

    text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    text = " ".join(text.split())
    assert "--seed SEED random seed of Word2Vec, the classifier and the maps" in text
    assert "also of the train/validation/test split unless --split-seed is given" in text
    assert "--split-seed SPLIT_SEED random seed of the train/validation/test split (default: --seed" in text

    seen = []

    def fake_train(data, out, options, config, **kw):
        seen.append((config.seed, config.split.split_seed(config.seed)))
        return {"stage_seconds": {}, "metrics": {}, "labels": {}}

    monkeypatch.setattr(prodemb.pipeline, "train_bundle", fake_train)
    for argv, want in ((["--seed", "7"], (7, 7)), (["--seed", "7", "--split-seed", "1"], (7, 1)),
                       ([], (0, 0))):
        assert main(["train", "--data", "d.csv", "--out", "o", *argv]) == 0
        assert seen[-1] == want
    capsys.readouterr()


def test_line_guard_ends_a_progress_line_before_a_message():
    from prodemb.cli import LineGuard

    buf = io.StringIO()
    g = LineGuard(buf)
    g.write("\rread + clean: 0 products")
    g.write("prodemb train: error: bad")
    g.write("\n")
    g.write("\rbar 1")
    g.write("\rbar 2")
    g.write("\n")
    g.write("plain ")
    g.write("text")
    g.write("\n")
    g.write("\rbar 3")
    g.end_line()
    assert buf.getvalue() == ("\rread + clean: 0 products\nprodemb train: error: bad\n"
                              "\rbar 1\rbar 2\nplain text\n\rbar 3\n")


def test_progress_never_shares_a_line_with_an_error(capsys, tmp_path, tiny_bundle, monkeypatch):
    """Was: "read + clean: 0 products" and the error message on one line."""
    monkeypatch.setenv("PRODEMB_PROGRESS", "1")
    data = tmp_path / "p.csv"
    data.write_text("id,title,description\nA1,wool scarf,warm\nA2,belt,\n,no id,x\n")
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(tmp_path / "out.csv"), "--chunk-size", "1"])
    assert code == 2
    lines = re.split(r"[\r\n]", err)
    errors = [x for x in lines if "error:" in x]
    assert errors and all(x.startswith("prodemb predict: error: ") for x in errors), err
    assert "predict:" in err.split("prodemb predict: error:")[0], "the bar was drawn first"
    assert err.split("prodemb predict: error:")[0].endswith("\n")
    code, _, err = run(capsys, ["train", "--data", str(tmp_path / "missing.csv"), "--out",
                                str(tmp_path / "b")])
    assert code == 2 and err.splitlines()[-1].startswith("prodemb train: error: ")


def test_check_reads_a_catalogue_as_train_would(capsys, tmp_path):
    """The command-line read check of the README: what the reader options make of a file."""
    from prodemb.catalogue import ReaderOptions, read_catalogue

    data = write_shop_catalogue(tmp_path / "shop.csv", n_labelled=200, n_unlabelled=50)
    code, out, err = run(capsys, ["check", "--data", str(data), *SHOP_FLAGS, "-q"])
    assert code == 0, err
    df = read_catalogue(data, ReaderOptions(**SHOP_OPTIONS))
    lines = out.splitlines()
    assert lines[0] == "shop.csv: 250 products, 200 labelled, 50 unlabelled"
    assert lines[1] == "rows dropped as a repeated id: 0; products with empty text: 0"
    assert re.match(r"category tree: \d+ nodes, \d+ leaves, depth 3 \(paths with 2 levels: \d+, "
                    r"3 levels: \d+\)", lines[2])
    multi = int((df["paths"].map(len) > 1).sum())
    assert lines[3] == f"products in two or more categories: {multi:,} of 200 labelled"
    assert re.match(r"--max-depth 3: cut the paths of \d+ products", lines[4])
    assert re.match(r"--min-depth 2 / --ignore-paths: dropped paths of \d+ products \(0 of them "
                    r"left without a path, so unlabelled\)", lines[5])
    assert lines[6] == "first 3 labelled products:"
    first = df[df["paths"].map(len) > 0].iloc[0]
    assert lines[7].startswith(f"  {first['id']}  ") and " > ".join(first["paths"][0]) in lines[7]
    code, out, err = run(capsys, ["check", "--data", str(data), *SHOP_FLAGS, "-q", "-n", "1"])
    assert code == 0 and "first 1 labelled product:" in out.splitlines(), out
    # Without the flags the default columns are missing: a clear error naming the file's.
    code, _, err = run(capsys, ["check", "--data", str(data), "-q"])
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "prodemb check: error: shop.csv: missing column(s) 'title', 'description', 'id', "
        "'category'; the file has 'sku', 'name', 'details', 'categories'")


def test_check_counts_repeated_ids_and_empty_texts(capsys, tmp_path):
    """check's summary says how many rows were dropped as a repeated id (the first row of
    each id is kept, as train does) and how many products have no text."""
    data = tmp_path / "dup.csv"
    data.write_text("id,title,description,category\n"
                    "P1,wool scarf,,A > B\nP2,,,A > C\nP1,belt,,A > C\nP3, , ,\nP1,cap,,A > B\n")
    code, out, err = run(capsys, ["check", "--data", str(data), "-q"])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "dup.csv: 3 products, 2 labelled, 1 unlabelled"
    assert lines[1] == "rows dropped as a repeated id: 2; products with empty text: 2"


def test_check_warns_when_a_json_list_of_levels_reads_as_flat_paths(capsys, tmp_path):
    """A JSON list of LEVELS with --path-separator json is several one-level paths: check
    says so and how to write levels; the depth line says '1 level', not '1 levels'."""
    from prodemb.catalogue import ReaderOptions, flat_paths_warning

    data = tmp_path / "levels.jsonl"
    rows = [{"id": f"P{i}", "title": f"item {i}", "description": "",
             "category": ["Apparel", "Topwear", ["Tshirts", "Shirts"][i % 2]]} for i in range(6)]
    rows.append({"id": "P9", "title": "belt", "description": "", "category": ["Accessories"]})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err = run(capsys, ["check", "--data", str(data), "--path-separator", "json", "-q"])
    assert code == 0, err
    assert "depth 1 (paths with 1 level: 19)" in out
    warning = [line for line in err.splitlines() if "warning:" in line]
    assert len(warning) == 1 and warning[0].startswith(
        "prodemb check: warning: 6 of 7 labelled products have two or more category paths, "
        "all one level deep (e.g. 'Apparel', 'Topwear', 'Tshirts')"), err
    assert "--level-separator" in warning[0] and "--level-columns" in warning[0]
    # Real paths, one per product or several with levels, give no warning.
    opts = ReaderOptions(path_separator="json")
    assert flat_paths_warning([[("A", "B")], [("A", "C"), ("D",)], []], opts) is None
    assert flat_paths_warning([[("A",), ("B",)], [("C",)]], opts) is None  # not most
