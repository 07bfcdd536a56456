"""Strict inputs and outputs that say what went wrong (issue 17, items 2 and 5).

Each failure an independent probe reported is reproduced and shown fixed:

1. A quote opened in one row and closed rows later merged rows silently
   (``P1,"Knit scarf,warm,...``: four products read as two, P1's text swallowing P2 and
   P3 and carrying P3's label; train, predict and evaluate exited 0). Now a CSV/TSV cell
   holding a line break is an error naming its row and line, and the line that reads like
   a swallowed row; ``allow_multiline`` / ``--allow-multiline`` reads multi-line cells.
2. ``prodemb predict`` dropped rows with a duplicate id: now every input row gets a
   prediction, in order.
3. The CLI's predictions CSV kept formula cells (``=HYPERLINK(...)``) that the
   dashboard's download neutralises: both now use one helper.
4. ``--encoding utf-16`` was refused as "binary" (NUL bytes): an explicit encoding or a
   UTF-16/32 byte order mark is respected; UTF-16 without a mark gets a hint.
5. A full disk gave "[Errno 28] ..." or "5200 requested and 1984 written" (a traceback
   for the classifier's safetensors file): now exit 2 with "no space left on device while
   writing X" and no partial file. The fault-injection tests fill a real 2 MB tmpfs (root
   only, skipped otherwise).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest
from reliability_helpers import TINY_CONFIG, assert_refused
from reliability_helpers import run_cli as run

from prodemb.catalogue import CatalogueError, read_catalogue

HEADER = "id,title,description,category\n"
#: The issue's example: P1's quote is opened and never closed in its row; the next quote
#: (P3's) closes it, so P1 swallows P2 and P3 and takes P3's category.
MERGED = (HEADER
          + 'P1,"Knit scarf,warm,Accessories > Scarves > Knit scarf\n'
          + "P2,Beanie,warm hat,Hats > Beanies > Beanie\n"
          + 'P3,"Tote",leather,Bags > Handbags > Tote\n'
          + "P4,Gloves,wool,Accessories > Gloves > Wool\n")
#: A legitimate multi-line description (what Excel writes for Alt+Enter in a cell).
MULTILINE = (HEADER
             + "P1,Knit scarf,warm,Accessories > Scarves > Knit scarf\n"
             + 'P2,Beanie,"Warm hat.\nMachine wash, 30 degrees.",Hats > Beanies > Beanie\n'
             + "P3,Tote,leather,Bags > Handbags > Tote\n")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


# ====================================================================== 1. strict CSV
def test_an_unclosed_quote_merging_rows_is_refused_with_row_and_line(tmp_path):
    """Was: four products read as two, exit 0."""
    with pytest.raises(CatalogueError) as e:
        read_catalogue(write(tmp_path / "shop.csv", MERGED))
    assert (e.value.row, e.value.column) == (1, "title")
    message = str(e.value)
    assert message.startswith("shop.csv, row 1, column 'title': a cell that starts on line 2 "
                              "runs on to line 3, 'P2,Beanie,warm hat,Hats > Beanies > Beanie', "
                              "which reads like a row of this file"), message
    assert "quote is probably opened and not closed" in message
    assert "--allow-multiline" in message


def test_row_and_line_numbers_count_from_the_file_start_across_chunks(tmp_path):
    """Rows are data rows (header not counted) over all chunks; lines are physical lines,
    blank ones included (the parser skips those)."""
    good = "".join(f"Q{i},wool scarf {i},,Accessories > Scarves\n" for i in range(5))
    text = HEADER + good + "\n\n" + MERGED.removeprefix(HEADER)
    with pytest.raises(CatalogueError, match=r"row 6, column 'title': a cell that starts on "
                                             r"line 9 runs on to line 10, 'P2,Beanie"):
        read_catalogue(write(tmp_path / "shop.csv", text), chunk_size=2)


def test_a_multiline_cell_is_refused_unless_allowed(tmp_path):
    path = write(tmp_path / "shop.csv", MULTILINE)
    with pytest.raises(CatalogueError) as e:
        read_catalogue(path)
    assert (e.value.row, e.value.column) == (2, "description")
    assert re.search(r"a cell that starts on line 3 holds a line break.*quote.*"
                     r"allow_multiline=True \(--allow-multiline\)", str(e.value)), str(e.value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a description over two lines is no merged row
        df = read_catalogue(path, allow_multiline=True)
    assert df["id"].tolist() == ["P1", "P2", "P3"]
    assert df["text"][1] == "Beanie . Warm hat.\nMachine wash, 30 degrees."
    assert df["paths"][1] == [("Hats", "Beanies", "Beanie")]


def test_allow_multiline_still_warns_about_a_line_that_reads_like_a_row(tmp_path):
    with pytest.warns(UserWarning, match=r"shop.csv, row 1, column 'title': a multi-line cell "
                                         r"holds a line, 'P2,Beanie.*reads like a row"):
        df = read_catalogue(write(tmp_path / "shop.csv", MERGED), allow_multiline=True)
    assert df["id"].tolist() == ["P1", "P4"]  # read as asked: the user said cells may span lines


@pytest.mark.parametrize("variant", ["tsv", "crlf", "cr_in_cell", "utf16"])
def test_line_breaks_are_found_in_every_csv_dialect(tmp_path, variant):
    text, name, kwargs = MERGED, "shop.csv", {}
    if variant == "tsv":
        text, name = MERGED.replace(",", "\t"), "shop.tsv"
    elif variant == "crlf":
        text = MERGED.replace("\n", "\r\n")
    elif variant == "cr_in_cell":
        text = MULTILINE.replace("Warm hat.\n", "Warm hat.\r")
    path = write(tmp_path / name, text, "utf-16" if variant == "utf16" else "utf-8")
    with pytest.raises(CatalogueError, match=r"row [12], column '(title|description)': a cell "
                                             r"that starts on line [23] "):
        read_catalogue(path, **kwargs)


def test_jsonl_and_parquet_cells_may_hold_line_breaks(tmp_path):
    """Their quoting cannot go wrong that way: a line break in a value is just text."""
    frame = pd.DataFrame({"id": ["P1", "P2"], "title": ["Beanie", "Tote"],
                          "description": ["Warm hat.\nMachine wash.", ""],
                          "category": ["Hats > Beanies", "Bags > Tote"]})
    frame.to_json(tmp_path / "shop.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "shop.parquet", index=False)
    for name in ("shop.jsonl", "shop.parquet"):
        assert read_catalogue(tmp_path / name)["text"][0] == "Beanie . Warm hat.\nMachine wash."


def test_the_demo_catalogue_reads_exactly_as_before(tmp_path):
    """The check only refuses: a catalogue without multi-line cells reads the same with
    and without it, one product per line."""
    from prodemb.demo import write_demo

    path = tmp_path / "demo.csv"
    write_demo(path, n_labelled=2000, n_unlabelled=1000, seed=4, progress=False)
    strict = read_catalogue(path, chunk_size=700)
    assert strict.equals(read_catalogue(path, allow_multiline=True, chunk_size=700))
    assert len(strict) == 3000 == path.read_bytes().count(b"\n") - 1


def test_the_real_catalogue_reads_exactly_as_before(fashion_csv):
    strict = read_catalogue(fashion_csv, "fashion")
    assert len(strict) == 44446
    assert strict.equals(read_catalogue(fashion_csv, "fashion", allow_multiline=True))


@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_every_command_refuses_merged_rows(capsys, tmp_path, tiny_bundle, command):
    """Was: train, predict and evaluate all exited 0 on the merged file."""
    data = write(tmp_path / "shop.csv", MERGED)
    out = tmp_path / "out"
    argv = {"train": ["train", "--data", str(data), "--out", str(out), "--config",
                      str(TINY_CONFIG), "-q"],
            "predict": ["predict", "--bundle", str(tiny_bundle), "--in", str(data), "--out",
                        str(out), "-q"],
            "evaluate": ["evaluate", "--bundle", str(tiny_bundle), "--data", str(data),
                         "--out", str(out)]}[command]
    code, _, err = run(capsys, argv)
    assert_refused(code, err, command, r"shop\.csv, row 1, column 'title': a cell that starts "
                   r"on line 2 runs on to line 3, .*--allow-multiline")
    assert sorted(os.listdir(tmp_path)) == ["shop.csv"], "nothing written"


def test_predict_reads_multiline_cells_with_the_flag(capsys, tmp_path, tiny_bundle):
    data = write(tmp_path / "shop.csv", MULTILINE)
    out = tmp_path / "pred.csv"
    argv = ["predict", "--bundle", str(tiny_bundle), "--in", str(data), "--out", str(out), "-q"]
    code, _, err = run(capsys, argv)
    assert_refused(code, err, "predict", r"row 2, column 'description'.*line break")
    code, _, err = run(capsys, argv + ["--allow-multiline"])
    assert code == 0, err
    pred = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert pred["id"].tolist() == ["P1", "P2", "P3"]
    assert pred["text"][1] == "Beanie . Warm hat.\nMachine wash, 30 degrees."


# ====================================================================== 2. predict: every row
def test_predict_keeps_every_row_of_a_repeated_id_in_order(capsys, tmp_path, tiny_bundle):
    """Was: the second P1 and P2 were dropped (with a warning) from the predictions."""
    rows = [("P1", "knitted wool scarf"), ("P2", "leather belt"), ("P1", "running shoes"),
            ("P3", "winter boots"), ("P2", "beanie hat")]
    data = write(tmp_path / "shop.csv",
                 HEADER + "".join(f"{i},{t},,\n" for i, t in rows))
    for fmt in ("csv", "parquet"):
        out = tmp_path / f"pred.{fmt}"
        code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                    "--out", str(out), "-q"])
        assert code == 0, err
        pred = (pd.read_csv(out, dtype=str, keep_default_na=False) if fmt == "csv"
                else pd.read_parquet(out))
        assert list(zip(pred["id"], pred["text"])) == rows
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(tmp_path / "strict.csv"), "-q",
                                "--duplicate-ids", "error"])
    assert_refused(code, err, "predict", r"duplicate product id 'P1'")



def test_embed_keeps_the_first_row_of_a_repeated_id_as_train_does(tmp_path, tiny_bundle):
    """Was: embed kept every row, so a product under a repeated id got a vector the index
    could never find by that id. Now the later rows are dropped with the reader's warning."""
    from prodemb.cli import main

    rows = [("P1", "knitted wool scarf"), ("P2", "leather belt"), ("P1", "running shoes"),
            ("P3", "winter boots"), ("P2", "beanie hat")]
    data = write(tmp_path / "shop.csv", HEADER + "".join(f"{i},{t},,\n" for i, t in rows))
    out = tmp_path / "emb.parquet"
    with pytest.warns(UserWarning, match=r"duplicate product id 'P1'.*keeping the first"):
        assert main(["embed", "--bundle", str(tiny_bundle), "--in", str(data), "--out",
                     str(out), "-q"]) == 0
    emb = pd.read_parquet(out)
    assert list(zip(emb["id"], emb["text"])) == [rows[0], rows[1], rows[3]]

# ====================================================================== 3. formula cells
def test_predict_csv_neutralises_formulas_like_the_dashboard(capsys, tmp_path, tiny_bundle):
    """Was: ``=HYPERLINK(...)`` went into the predictions CSV as it was; the dashboard's
    download already neutralised it. One helper does both (not a copy)."""
    from prodemb import ui, utils

    assert ui.csv_safe is utils.csv_safe
    hostile = ['=HYPERLINK("http://evil.example","scarf")', "+1+1 scarf", "-2+3 belt",
               "@SUM(A1) shoes", "=1-1 boots", "plain wool scarf"]
    frame = pd.DataFrame({"id": ["=1+1", "P2", "P3", "P4", "P5", "P6"], "title": hostile,
                          "description": "", "category": ""})
    data = tmp_path / "shop.parquet"
    frame.to_parquet(data, index=False)
    out = tmp_path / "pred.csv"
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(out), "-q"])
    assert code == 0, err
    pred = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert pred["id"].tolist() == ["'=1+1", "P2", "P3", "P4", "P5", "P6"]
    assert pred["text"].tolist() == ["'" + t for t in hostile[:5]] + [hostile[5]]
    assert all(not c.startswith(("=", "+", "-", "@", "\t", "\r")) for col in pred for c in pred[col])
    assert float(pred["score"][0]) >= 0  # numbers stay numbers
    # Parquet is data for programs, not a spreadsheet: kept exactly.
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(tmp_path / "pred.parquet"), "-q"])
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "pred.parquet")["text"].tolist() == hostile


# ====================================================================== 4. UTF-16
@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_a_utf16_file_with_a_byte_order_mark_reads_like_utf8(tmp_path, fmt):
    frame = pd.DataFrame({"id": ["P1", "P2"], "title": ["Pletený šál", "Kožená kabelka"],
                          "description": ["teplý", ""],
                          "category": ["Accessories > Scarves", "Bags > Handbags"]})
    text = (frame.to_json(orient="records", lines=True, force_ascii=False) if fmt == "jsonl"
            else frame.to_csv(index=False, sep="\t" if fmt == "tsv" else ","))
    utf8 = read_catalogue(write(tmp_path / f"utf8.{fmt}", text))
    for encoding in ("utf-16", "utf-32"):  # a byte order mark, either byte order
        assert read_catalogue(write(tmp_path / f"x.{fmt}", text, encoding)).equals(utf8)
    for encoding in ("utf-16", "utf-16-le", "utf-16-be"):  # an explicit encoding
        path = write(tmp_path / f"y.{fmt}", text, encoding)
        assert read_catalogue(path, encoding=encoding).equals(utf8)


def test_utf16_through_the_command_line(capsys, tmp_path, tiny_bundle):
    """Was: ``--encoding utf-16`` refused as "binary"."""
    text = HEADER + "P1,knitted wool scarf,,\nP2,kožená kabelka,,\n"
    out = tmp_path / "pred.csv"
    base = ["predict", "--bundle", str(tiny_bundle), "--out", str(out), "-q"]
    for encoding, flags in (("utf-16", ["--encoding", "utf-16"]), ("utf-16", []),
                            ("utf-16-le", ["--encoding", "utf-16-le"])):
        data = write(tmp_path / f"{encoding}.csv", text, encoding)
        code, _, err = run(capsys, base + ["--in", str(data), *flags])
        assert code == 0, err
        assert pd.read_csv(out, dtype=str)["text"].tolist() == ["knitted wool scarf", "kožená kabelka"]
    # Without a byte order mark UTF-16 cannot be told from binary data for sure: a hint.
    code, _, err = run(capsys, base + ["--in", str(tmp_path / "utf-16-le.csv")])
    assert_refused(code, err, "predict", r"utf-16-le\.csv: this looks like UTF-16-LE text "
                   r"without a byte order mark; pass encoding='utf-16-le' \(--encoding utf-16-le\)")
    code, _, err = run(capsys, base + ["--in", str(tmp_path / "utf-16.csv"), "--encoding", "klingon"])
    assert_refused(code, err, "predict", r"unknown text encoding 'klingon'")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "pred.csv", "utf-16-le.csv", "utf-16.csv"], "no partial output"


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
                                     b"\x1f\x8b\x08\x00" + bytes(range(1, 200)) * 4,
                                     HEADER.encode() + b"P1,wool\x00scarf,,\n"])
def test_binary_files_are_still_refused(tmp_path, content):
    with pytest.raises(CatalogueError, match="binary"):
        read_catalogue(write(tmp_path / "x.csv", content.decode("latin-1"), "latin-1"))
    with pytest.raises(CatalogueError, match="binary"):  # an explicit encoding changes nothing
        read_catalogue(tmp_path / "x.csv", encoding="latin-1")


# ====================================================================== 5. a full disk
class SafetensorError(Exception):
    """What safetensors raises (not an OSError) when the disk fills."""


@pytest.mark.parametrize("exc", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    OSError("5200 requested and 1984 written"),  # numpy's short write
    OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"),  # pyarrow
    SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"),
])
def test_disk_full_is_recognised_whatever_raised_it(exc):
    from prodemb.utils import is_disk_full

    assert is_disk_full(exc)
    try:
        try:
            raise exc
        except Exception as inner:
            raise RuntimeError("saving the bundle failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)


@pytest.mark.parametrize("exc", [PermissionError(errno.EACCES, "Permission denied"),
                                 OSError(errno.EIO, "Input/output error"), ValueError("bad"),
                                 OSError("28 items requested")])
def test_other_errors_are_not_called_disk_full(exc):
    from prodemb.utils import is_disk_full

    assert not is_disk_full(exc)


@pytest.mark.parametrize("exc", [OSError("5200 requested and 1984 written"),
                                 SafetensorError("I/O error: No space left on device (os error 28)")])
def test_a_full_disk_is_explained_whatever_raised_it(capsys, tmp_path, monkeypatch, exc):
    """Was: "5200 requested and 1984 written" (train), or a SafetensorError traceback."""
    import prodemb.demo

    def full(*args, **kwargs):
        raise exc

    monkeypatch.setattr(prodemb.demo, "write_demo", full)
    out = tmp_path / "demo.csv"
    code, _, err = run(capsys, ["demo-data", "--out", str(out), "-q"])
    assert_refused(code, err, "demo-data", rf"no space left on device while writing "
                   rf"'{re.escape(str(out))}'\. Nothing was written there")


def test_an_unexpected_error_is_not_dressed_up_as_a_full_disk(capsys, tmp_path, monkeypatch):
    import prodemb.demo

    def broken(*args, **kwargs):
        raise SafetensorError("something else")

    monkeypatch.setattr(prodemb.demo, "write_demo", broken)
    with pytest.raises(SafetensorError):
        run(capsys, ["demo-data", "--out", str(tmp_path / "demo.csv"), "-q"])


# ---------------------------------------------------------------------- fault injection
@pytest.fixture
def full_disk(tmp_path):
    """A 2 MB tmpfs mounted for the test (root only; skipped where mounting fails), and
    ``fill(free_kb)``: a filler file leaves only that much space. Unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")

    def fill(free_kb: int) -> None:
        st = os.statvfs(mount)
        size = st.f_bavail * st.f_frsize - free_kb * 1024
        fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)

    try:
        yield mount, fill
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def assert_disk_full(code: int, err: str, command: str, out: Path) -> None:
    assert_refused(code, err, command, rf"no space left on device while writing "
                   rf"'{re.escape(str(out))}'\. Nothing was written there and temporary files "
                   r"were removed")


def left_on(mount: Path) -> list[str]:
    return sorted(p.name for p in mount.iterdir())


@pytest.fixture(scope="module")
def small_catalogue(tmp_path_factory) -> Path:
    from prodemb.demo import write_demo

    path = tmp_path_factory.mktemp("small") / "demo.csv"
    write_demo(path, n_labelled=300, n_unlabelled=100, seed=5, progress=False)
    return path


def test_train_on_a_full_disk_leaves_nothing(capsys, full_disk, small_catalogue):
    """The disk is full from the start: the Word2Vec corpus (beside the bundle) cannot be
    written."""
    mount, fill = full_disk
    fill(4)
    out = mount / "bundle"
    code, _, err = run(capsys, ["train", "--data", str(small_catalogue), "--out", str(out),
                                "--config", str(TINY_CONFIG), "-q"])
    assert_disk_full(code, err, "train", out)
    assert left_on(mount) == ["filler"], "no bundle, corpus, temporary directory or lock file"


@pytest.mark.slow
def test_train_filling_the_disk_while_saving_the_bundle_leaves_nothing(capsys, full_disk,
                                                                        small_catalogue):
    """Room for the corpus but not for the bundle: training runs to the end, then the
    classifier's safetensors file (or another) cannot be written."""
    mount, fill = full_disk
    fill(400)
    out = mount / "bundle"
    code, _, err = run(capsys, ["train", "--data", str(small_catalogue), "--out", str(out),
                                "--config", str(TINY_CONFIG), "-q"])
    assert_disk_full(code, err, "train", out)
    assert left_on(mount) == ["filler"]


@pytest.mark.parametrize("name", ["pred.csv", "pred.parquet"])
def test_predict_on_a_full_disk_keeps_the_previous_file(capsys, full_disk, tiny_bundle, name):
    mount, fill = full_disk
    out = mount / name
    out.write_text("the previous predictions\n")
    fill(8)
    data = write(mount.parent / "shop.csv",  # on the ordinary disk
                 HEADER + "".join(f"P{i},knitted wool scarf {i},,\n" for i in range(3000)))
    code, _, err = run(capsys, ["predict", "--bundle", str(tiny_bundle), "--in", str(data),
                                "--out", str(out), "-q"])
    assert_disk_full(code, err, "predict", out)
    assert left_on(mount) == ["filler", name]
    assert out.read_text() == "the previous predictions\n"


def test_evaluate_on_a_full_disk_leaves_nothing(capsys, full_disk, tiny_bundle, small_catalogue):
    mount, fill = full_disk
    fill(4)
    out = mount / "result.json"
    code, stdout, err = run(capsys, ["evaluate", "--bundle", str(tiny_bundle), "--data",
                                     str(small_catalogue), "--out", str(out)])
    assert_disk_full(code, err, "evaluate", out)
    assert left_on(mount) == ["filler"]


@pytest.mark.parametrize("name", ["demo.csv", "demo.parquet"])
def test_demo_data_on_a_full_disk_leaves_nothing(capsys, full_disk, name):
    mount, fill = full_disk
    fill(16)
    out = mount / name
    code, _, err = run(capsys, ["demo-data", "--out", str(out), "--labelled", "20000",
                                "--unlabelled", "0", "-q"])
    assert_disk_full(code, err, "demo-data", out)
    assert left_on(mount) == ["filler"]
