"""Bad input through the command line: ``prodemb train``, ``predict``, ``evaluate``,
``neighbours``.

Every broken file of the corpus (``tests/bad_inputs.py``) ends with exit code 2 and one
line ``prodemb CMD: error: ...`` naming the file and what is wrong (row and column where
known), never a traceback; files that are odd but valid work. Most runs call
:func:`prodemb.cli.main` in-process; a few run the real ``prodemb`` executable to check
the exit code and stderr end to end.
"""

from __future__ import annotations

import re
import subprocess
import warnings

import pandas as pd
import pytest
from bad_inputs import BAD_TEXTS, bad_files, json_lines
from reliability_helpers import PRODEMB, assert_refused, cli_env, fast_config
from reliability_helpers import run_cli as run

FILES = {f.name: f for f in bad_files()}


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """configs/tiny.json without maps: these runs check input handling, not map quality."""
    return fast_config(tmp_path_factory.mktemp("cfg") / "tiny_no_maps.json")


def assert_clear_error(code: int, err: str, command: str, pattern: str, filename: str) -> None:
    line = assert_refused(code, err, command, pattern)
    assert filename in line, f"the message names the file: {line}"


# ---------------------------------------------------------------------- train
@pytest.mark.parametrize("name", list(FILES))
def test_train_on_bad_file(capsys, tmp_path, fast, name):
    f = FILES[name]
    data = f.write(tmp_path)
    out = tmp_path / "artifacts" / "model"
    code, stdout, err = run(capsys, ["train", "--data", str(data), "--out", str(out),
                                     "--config", str(fast), "-q"])
    if f.train is None:
        assert code == 0, err
        from prodemb.bundle import Bundle

        bundle = Bundle.load(str(out))
        assert bundle.classify(["wool scarf"])[0].paths
    else:
        assert_clear_error(code, err, "train", f.train, f.filename)
        assert not out.exists(), "a failed run writes no bundle"
    hidden = [p.name for p in (tmp_path / "artifacts").glob(".*")] if out.parent.exists() else []
    assert hidden == [], "no temporary directory is left behind"


def test_train_one_class_says_it_needs_two(capsys, tmp_path, fast):
    from prodemb.config import TrainConfig
    from prodemb.pipeline import TrainingError, train_bundle

    data = FILES["one_class"].write(tmp_path)
    with pytest.raises(TrainingError, match=r"only one category \(Accessories > Scarves\).*at least two"):
        train_bundle(str(data), str(tmp_path / "b"), None, TrainConfig.from_json_file(str(fast)),
                     show_progress=False)


def test_train_inconsistent_paths_skipped_on_request(capsys, tmp_path, fast):
    """'A > B', 'A > B > C' and 'A >  > C' in one column: an error naming row and column by
    default; with --bad-paths skip the malformed one is unlabelled and the rest train."""
    data = FILES["inconsistent_paths"].write(tmp_path)
    out = tmp_path / "model"
    code, _, err = run(capsys, ["train", "--data", str(data), "--out", str(out), "--config",
                                str(fast), "-q", "--bad-paths", "skip"])
    assert code == 0, err
    from prodemb.bundle import Bundle

    tax = Bundle.load(str(out)).taxonomy
    assert ("A", "B") in tax and ("A", "B", "C") in tax and ("A", "", "C") not in tax


def test_train_real_executable_one_class_and_binary(tmp_path):
    """End to end: the installed ``prodemb`` prints one clear line and exits with 2."""
    for name, pattern in (("one_class", r"only one category.*at least two"),
                          ("xlsx_as_csv", r"Excel")):
        data = FILES[name].write(tmp_path)
        proc = subprocess.run([PRODEMB, "train", "--data", str(data), "--out", str(tmp_path / "m"),
                               "-q"], capture_output=True, text=True, env=cli_env(), timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert re.search(pattern, proc.stderr), proc.stderr
        assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------- predict / evaluate
@pytest.mark.parametrize("name", list(FILES))
def test_predict_on_bad_file(capsys, tmp_path, tiny_bundle, name):
    f = FILES[name]
    data = f.write(tmp_path)
    out = tmp_path / "pred.csv"
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(out), "-q"])
    if f.read is None or "labels" in f.tags:  # predict reads no labels
        assert code == 0, err
        pred = pd.read_csv(out, dtype=str, keep_default_na=False)
        from prodemb.catalogue import ReaderOptions, read_catalogue

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # predict keeps every row, a repeated id included
            expected = read_catalogue(data, ReaderOptions(label_column=None, duplicate_ids="keep"))
        assert pred["id"].tolist() == expected["id"].tolist()
        assert (pred["category"] != "").all()
    else:
        assert_clear_error(code, err, "predict", f.read, f.filename)
        assert not out.exists()
    assert not list(tmp_path.glob("pred.csv.tmp-*")), "no partial output is left behind"


@pytest.mark.parametrize("name", list(FILES))
def test_evaluate_on_bad_file(capsys, tmp_path, tiny_bundle, name):
    f = FILES[name]
    data = f.write(tmp_path)
    code, out, err = run(capsys, ["evaluate", "--bundle", str(tiny_bundle), "--data", str(data)])
    if f.read is not None:
        assert_clear_error(code, err, "evaluate", f.read, f.filename)
    elif name == "no_labels":
        assert code == 2 and "no labelled product" in err and "Traceback" not in err
    elif code == 2:
        # Valid files, but most of their categories (made up for the corpus) are not in the
        # tiny bundle's tree: scoring the few that are would not describe the file, so it
        # is refused with the counts (issue 11), never scored silently.
        assert_clear_error(code, err, "evaluate", r"[\d,]+ of [\d,]+ labelled rows of .* would not "
                           r"be scored \([\d,]+ with a category outside the bundle's tree", f.filename)
    else:
        assert code == 0, err
        import json

        result = json.loads(out)
        assert 0.0 <= result["macro_f1"] <= 1.0


@pytest.fixture(scope="module")
def bad_text_rows():
    return [{"id": f"T{i}", "title": text, "description": "", "category": ""}
            for i, text in enumerate(BAD_TEXTS.values())]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "csv"])
def test_predict_every_bad_text(capsys, tmp_path, tiny_bundle, bad_text_rows, fmt):
    """The text corpus as a catalogue: one valid prediction per product (JSONL and Parquet
    carry NUL characters; a CSV with a raw NUL byte is refused as binary, so there the NUL
    texts are left out; texts with line breaks make multi-line CSV cells, read with
    --allow-multiline)."""
    rows = bad_text_rows
    path = tmp_path / f"texts.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(json_lines(rows))
    elif fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        rows = [r for r in rows if "\x00" not in r["title"]]
        pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "pred.parquet"
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(path),
                                "--out", str(out), "-q", "--format", fmt,
                                *(["--allow-multiline"] if fmt == "csv" else [])])
    assert code == 0, err
    pred = pd.read_parquet(out)
    assert pred["id"].tolist() == [r["id"] for r in rows]
    from prodemb.bundle import Bundle

    tax = Bundle.load(str(tiny_bundle)).taxonomy
    assert all(tuple(p.split(" > ")) in tax for p in pred["category"])


def test_predict_unwritable_output_and_missing_bundle(capsys, tmp_path, tiny_bundle):
    data = FILES["crlf_bom"].write(tmp_path)
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(tmp_path / "no" / "such" / "dir" / "p.csv"), "-q"])
    assert code == 2 and "Traceback" not in err and "no/such/dir" in err, err
    code, _, err = run(capsys, ["predict", "--bundle", str(data), "--in", str(data),
                                "--out", str(tmp_path / "p.csv"), "-q"])
    assert code == 2 and "bundle" in err and "Traceback" not in err, err
    missing = tmp_path / "missing.csv"
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(missing),
                                "--out", str(tmp_path / "p.csv"), "-q"])
    assert_clear_error(code, err, "predict", "file not found", "missing.csv")


def test_evaluate_labels_outside_the_tree_are_counted(capsys, tmp_path, tiny_bundle):
    data = tmp_path / "foreign.csv"
    data.write_text("id,title,description,category\n1,wool scarf,,Garden > Spades\n"
                    "2,leather belt,,Garden > Hoses\n")
    code, _, err = run(capsys, ["evaluate", "--bundle", str(tiny_bundle), "--data", str(data)])
    assert code == 2, err
    assert_clear_error(code, err, "evaluate", r"2 of 2 labelled rows .* would not be scored "
                       r"\(2 with a category outside the bundle's tree, e\.g\. 'Garden > ",
                       "foreign.csv")


@pytest.mark.parametrize("name", list(BAD_TEXTS))
def test_neighbours_word(capsys, tiny_bundle, name):
    code, out, err = run(capsys, ["neighbours", "--bundle", str(tiny_bundle), "--word",
                                  BAD_TEXTS[name] or " ", "-k", "3"])
    assert "Traceback" not in err
    assert (code == 0 and out.strip()) or (code == 1 and "not in the vocabulary" in err), (code, err)
    assert len(err) < 1_000


def test_reader_warnings_are_plain_lines(tmp_path):
    """A reader warning (duplicate ids dropped) is one `prodemb check: warning:` line, not
    Python's `/path/prodemb/evaluation.py:207: UserWarning:` with the source line after it."""
    data = tmp_path / "dup.csv"
    data.write_text("id,title,description,category\nP1,scarf,,A > B\nP1,belt,,A > C\n")
    proc = subprocess.run([PRODEMB, "check", "-q", "--data", str(data)], capture_output=True,
                          text=True, env=cli_env(PYTHONWARNINGS="default"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "prodemb check: warning: dup.csv, column 'id': duplicate product id 'P1' (1 row(s) "
        "with an id read before); keeping the first of each"], proc.stderr


def test_output_piped_into_a_reader_that_stops_early(tmp_path):
    """``prodemb check ... | head``: when the reader closes the pipe the command stops
    quietly with 141 (128 + SIGPIPE), no ``error: [Errno 32] Broken pipe``, no traceback."""
    data = tmp_path / "shop.csv"
    data.write_text("id,title,description,category\n" + "".join(
        f"P{i},a product title number {i},a cup,Home > Kitchen > Cups\n" for i in range(3000)))
    proc = subprocess.Popen([PRODEMB, "check", "--data", str(data), "-n", "3000", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env())
    proc.stdout.close()  # more than a pipe's buffer is printed, so a write meets the closed end
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err
