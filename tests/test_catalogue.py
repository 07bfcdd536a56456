import io
import json
import logging
import warnings

import pandas as pd
import pytest

from prodemb.catalogue import (
    CatalogueError,
    ReaderOptions,
    iter_catalogue,
    read_catalogue,
    read_texts,
)


def write(path, text, mode="w"):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


CSV = "id,title,description,category\n1,Knit scarf,warm,Accessories > Scarves > Knit scarf\n" \
      "2,Tote,,Bags > Tote | Accessories > Scarves > Knit scarf\n3,Mystery item,,\n"


def test_csv_basic(tmp_path):
    df = read_catalogue(write(tmp_path / "c.csv", CSV))
    assert list(df.columns) == ["id", "text", "paths"]
    assert df["id"].tolist() == ["1", "2", "3"]
    assert df["text"].tolist() == ["Knit scarf . warm", "Tote", "Mystery item"]
    assert df["paths"][0] == [("Accessories", "Scarves", "Knit scarf")]
    assert df["paths"][1] == [("Accessories", "Scarves", "Knit scarf"), ("Bags", "Tote")]
    assert df["paths"][2] == []


def test_keyword_overrides_apply_none_too(tmp_path):
    path = write(tmp_path / "c.csv", CSV)
    df = read_catalogue(path, label_column=None)  # texts only: labels are not read
    assert df["paths"].map(len).sum() == 0 and len(df) == 3


def test_tsv_jsonl_parquet_agree(tmp_path):
    ref = read_catalogue(write(tmp_path / "c.csv", CSV))
    tsv = write(tmp_path / "c.tsv", CSV.replace(",", "\t"))
    assert read_catalogue(tsv).equals(ref)
    rows = [{"id": "1", "title": "Knit scarf", "description": "warm",
             "category": ["Accessories > Scarves > Knit scarf"]},
            {"id": 2, "title": "Tote", "description": None,
             "category": ["Bags > Tote", "Accessories > Scarves > Knit scarf"]},
            {"id": "3", "title": "Mystery item", "category": None}]
    jl = write(tmp_path / "c.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    pd.testing.assert_frame_equal(read_catalogue(jl), ref)
    pq = tmp_path / "c.parquet"
    pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False).to_parquet(pq)
    pd.testing.assert_frame_equal(read_catalogue(pq), ref)


def test_separators_json_lists_and_depth(tmp_path):
    f = write(tmp_path / "c.csv", 'id,title,cat\n1,a,"[""A/B/C/D"", ""A/E""]"\n2,b,Sale\n')
    opts = ReaderOptions(text_columns=["title"], label_column="cat", level_separator="/",
                         path_separator="json", max_depth=3, min_depth=2)
    df = read_catalogue(f, opts)
    assert df["paths"][0] == [("A", "B", "C"), ("A", "E")]
    assert df["paths"][1] == []  # a depth-1 "path" is not a category


def test_double_angle_separator_and_ignore_paths(tmp_path):
    f = write(tmp_path / "c.csv", "id,title,category\n1,a,A>>B\n2,b,Sale>>Outlet\n")
    df = read_catalogue(f, text_columns=["title"], level_separator=">>", ignore_paths=["Sale > Outlet"])
    assert df["paths"].tolist() == [[("A", "B")], []]


def test_chunked_reading(tmp_path):
    lines = ["id,title,description,category"] + [f"{i},t{i},,A > B{i % 3}" for i in range(1000)]
    f = write(tmp_path / "c.csv", "\n".join(lines))
    chunks = list(iter_catalogue(f, chunk_size=128))
    assert len(chunks) == 8 and sum(map(len, chunks)) == 1000


def test_fashion_preset(fashion_csv):
    df = read_catalogue(fashion_csv, "fashion")
    assert len(df) == 44446
    paths = {p for ps in df["paths"] for p in ps}
    assert len(paths) == 170
    assert ("Accessories", "Scarves", "Scarves") in paths
    assert ("Free Items", "Free Gifts", "Scarves") in paths


# ------------------------------------------------------------------ bad input
def test_missing_file(tmp_path):
    with pytest.raises(CatalogueError, match="file not found"):
        read_catalogue(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    with pytest.raises(CatalogueError, match="empty"):
        read_catalogue(write(tmp_path / "e.csv", ""))


def test_header_only(tmp_path):
    with pytest.raises(CatalogueError, match="no products"):
        read_catalogue(write(tmp_path / "h.csv", "id,title,description,category\n"))


def test_missing_column_named(tmp_path):
    with pytest.raises(CatalogueError, match="missing column.*'category'") as e:
        read_catalogue(write(tmp_path / "m.csv", "id,title,description\n1,a,b\n"))
    assert e.value.file.endswith("m.csv")


def test_wrong_delimiter_hint(tmp_path):
    with pytest.raises(CatalogueError, match="delimiter"):
        read_catalogue(write(tmp_path / "d.csv", "id;title;description;category\n1;a;b;A > B\n"))


def test_wrong_delimiter_hint_when_cells_hold_commas(tmp_path):
    """A semicolon export with decimal commas fails in the CSV parser (a row with more
    commas than the first), before the missing-column check: the error still names the
    delimiter to pass."""
    data = ("Artikelnummer;Bezeichnung;Kategoriepfad;Preis\r\n"
            "A-1;Knit scarf;Accessories > Scarves;19,99\r\n"
            "A-2;Belt, leather, brown;Accessories > Belts;1.299,00\r\n")
    with pytest.raises(CatalogueError, match=r"header row has no ',' but 3 ';'.*--delimiter ';'"):
        read_catalogue(write(tmp_path / "shop.csv", data))
    tabs = "id\ttitle\tcategory\n1\ta,b\tA > B\n2\ta,b,c\tA > B\n"
    with pytest.raises(CatalogueError, match=r"--format tsv"):
        read_catalogue(write(tmp_path / "tabs.csv", tabs))


def test_undecodable_bytes_name_row(tmp_path):
    data = (b"id,title,description,category\n1,ok,,A > B\n2,ok,,A > B\n") + \
        b"3,bad \xff\xfe byte,,A > B\n"
    with pytest.raises(CatalogueError, match=r"row 3.*not valid utf-8.*--encoding.*cp1252"):
        read_catalogue(write(tmp_path / "u.csv", data))


def test_malformed_path_names_row_and_column(tmp_path):
    f = write(tmp_path / "p.csv", "id,title,description,category\n1,a,,A > B\n2,b,,A >  > C\n")
    with pytest.raises(CatalogueError, match=r"row 2, column 'category'.*empty level"):
        read_catalogue(f)
    with pytest.warns(UserWarning, match="row 2"):
        df = read_catalogue(f, bad_paths="skip")
    assert df["paths"][1] == []


def test_malformed_json_list(tmp_path):
    f = write(tmp_path / "j.csv", 'id,title,description,category\n1,a,,"[""A > B"", 3"\n')
    with pytest.raises(CatalogueError, match="row 1"):
        read_catalogue(f, path_separator="json")


def test_duplicate_ids_warn_or_fail(tmp_path):
    f = write(tmp_path / "dup.csv", "id,title,description,category\n1,a,,A > B\n1,b,,A > C\n2,c,,A > B\n")
    with pytest.warns(UserWarning, match="duplicate product id '1'"):
        df = read_catalogue(f)
    assert df["text"].tolist() == ["a", "c"]
    with pytest.raises(CatalogueError, match="duplicate product id"):
        read_catalogue(f, duplicate_ids="error")
    assert len(read_catalogue(f, duplicate_ids="keep")) == 3


def test_duplicate_ids_across_chunks(tmp_path):
    f = write(tmp_path / "dup.csv", "id,title,description,category\n1,a,,A\n2,b,,A\n1,c,,A\n")
    with pytest.raises(CatalogueError, match="duplicate"):
        read_catalogue(f, duplicate_ids="error", chunk_size=2)


def test_broken_quotes(tmp_path):
    f = write(tmp_path / "q.csv", 'id,title,description,category\n1,"unterminated,,A\n2,b,,A\n')
    with pytest.raises(CatalogueError):
        read_catalogue(f)


def test_xlsx_and_binary_rejected(tmp_path):
    with pytest.raises(CatalogueError, match="Excel"):
        read_catalogue(write(tmp_path / "x.csv", b"PK\x03\x04" + b"\x00" * 100))
    with pytest.raises(CatalogueError, match="binary"):
        read_catalogue(write(tmp_path / "b.csv", b"\x89PNG\r\n\x1a\n\x00\x00"))


def test_invalid_jsonl_line(tmp_path):
    f = write(tmp_path / "c.jsonl", '{"id": "1", "title": "a", "description": "", "category": ""}\n{oops\n')
    with pytest.raises(CatalogueError, match="row 2.*invalid JSON"):
        read_catalogue(f)


def test_not_parquet(tmp_path):
    with pytest.raises(CatalogueError, match="Parquet"):
        read_catalogue(write(tmp_path / "c.parquet", "id,title\n1,a\n"))


def test_unknown_extension(tmp_path):
    with pytest.raises(CatalogueError, match="format"):
        read_catalogue(write(tmp_path / "c.txt", CSV))
    assert len(read_catalogue(tmp_path / "c.txt", format="csv")) == 3


def test_empty_id(tmp_path):
    with pytest.raises(CatalogueError, match="row 2, column 'id'"):
        read_catalogue(write(tmp_path / "c.csv", "id,title,description,category\n1,a,,\n,b,,\n"))


def test_level_columns_gap(tmp_path):
    f = write(tmp_path / "l.csv", "id,t,l1,l2,l3\n1,a,A,,C\n2,b,A,B,\n")
    opts = ReaderOptions(text_columns=["t"], label_column=None, level_columns=["l1", "l2", "l3"])
    with pytest.raises(CatalogueError, match="row 1.*column 'l2'"):
        read_catalogue(f, opts)


def test_level_columns_empty_cell_ends_path_whatever_ignore_labels(tmp_path):
    # `--ignore-labels ""` (to keep 'NA' as a category) gives ignore_labels=[]: an empty
    # level cell then became a level named '' and check/train stopped with
    # "invalid node path ('',)", naming no row.
    f = write(tmp_path / "l.csv", "id,t,l1,l2\n1,a,A,B\n2,b,A,\n3,c,,\n4,d,NA,X\n")
    for ignore in ([], [""]):
        opts = ReaderOptions(text_columns=["t"], label_column=None, level_columns=["l1", "l2"],
                             ignore_labels=ignore)
        df = read_catalogue(f, opts)
        assert df["paths"].tolist() == [[("A", "B")], [("A",)], [], [("NA", "X")]]


def test_level_columns_warn_of_a_cell_holding_the_path_separator(tmp_path):
    # 'Men|Women' in a level column (meant as two paths) silently became one top-level
    # category named 'Men|Women'; it still does (level columns are one path per row), said.
    f = write(tmp_path / "l.csv", "id,t,l1,l2\n1,a,Men,Bags\n2,b,Men|Women,Bags\n")
    opts = ReaderOptions(text_columns=["t"], label_column=None, level_columns=["l1", "l2"])
    with pytest.warns(UserWarning, match=r"row 2, column 'l1'.*1 cell\(s\).*'Men\|Women'.*--label-column"):
        df = read_catalogue(f, opts)
    assert df["paths"].tolist() == [[("Men", "Bags")], [("Men|Women", "Bags")]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_catalogue(f, opts.replace(path_separator=None))


def test_read_texts_upload():
    df = read_texts("title;brand\nšál;x\nčiapka;y\n".encode(), ["title"])
    assert df["title"].tolist() == ["šál", "čiapka"]
    with pytest.raises(CatalogueError, match="Excel"):
        read_texts(b"PK\x03\x04rest")
    with pytest.raises(CatalogueError, match="UTF-8"):
        read_texts(b"title\n\xff\xfe\n")
    with pytest.raises(CatalogueError, match="empty"):
        read_texts(b"  ")
    with pytest.raises(CatalogueError, match="missing column"):
        read_texts(b"a,b\n1,2\n", ["title"])


# ---------------------------------------------------------------------- split_column
SPLIT_CSV = ("id,title,category,split\n"
             "1,Knit scarf,Accessories > Scarves,Train\n"
             "2,Loop scarf,Accessories > Scarves, validation \n"
             "3,Tote bag,Bags > Tote,TEST\n"
             "4,Mystery item,,whatever\n"  # unlabelled: its split value is ignored
             "5,Canvas tote,Bags > Tote,train\n"
             "6,Wool scarf,Accessories > Scarves,  Test\n"
             "7,Leather tote,Bags > Tote,VALIDATION\n"
             "8,Another mystery,,\n")


def split_options(**changes):
    return ReaderOptions(text_columns=["title"], split_column="split", **changes)


def to_jsonl(csv_text: str) -> str:
    df = pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False)
    return "".join(json.dumps(r) + "\n" for r in df.to_dict("records"))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_split_column_read_case_and_space_insensitive(tmp_path, fmt):
    text = SPLIT_CSV if fmt == "csv" else to_jsonl(SPLIT_CSV)
    df = read_catalogue(write(tmp_path / f"s.{fmt}", text), split_options())
    assert list(df.columns) == ["id", "text", "paths", "split"]
    assert df["split"].tolist() == ["train", "validation", "test", "", "train", "test",
                                    "validation", ""]
    assert df["paths"][3] == [] and df["paths"][7] == []


def test_split_column_over_several_chunks(tmp_path):
    f = write(tmp_path / "s.csv", SPLIT_CSV)
    whole = read_catalogue(f, split_options())
    chunks = list(iter_catalogue(f, split_options(chunk_size=3)))
    assert len(chunks) == 3 and all("split" in c for c in chunks)
    assert pd.concat(chunks, ignore_index=True)["split"].tolist() == whole["split"].tolist()


def test_no_split_column_without_the_option(tmp_path):
    df = read_catalogue(write(tmp_path / "s.csv", SPLIT_CSV), text_columns=["title"])
    assert list(df.columns) == ["id", "text", "paths"]


def test_split_column_missing_from_the_file(tmp_path):
    with pytest.raises(CatalogueError, match="missing column.*'fold'"):
        read_catalogue(write(tmp_path / "c.csv", SPLIT_CSV),
                       ReaderOptions(text_columns=["title"], split_column="fold"))


@pytest.mark.parametrize("value", ["", "   ", "dev", "training", "val"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_bad_split_of_a_labelled_product_names_row_and_column(tmp_path, value, fmt):
    bad = SPLIT_CSV.replace("5,Canvas tote,Bags > Tote,train", f"5,Canvas tote,Bags > Tote,{value}")
    assert bad != SPLIT_CSV
    text = bad if fmt == "csv" else to_jsonl(bad)
    for chunk_size in (100, 2):  # row numbers count across chunks
        with pytest.raises(CatalogueError, match=r"row 5, column 'split'") as e:
            read_catalogue(write(tmp_path / f"s.{fmt}", text), split_options(chunk_size=chunk_size))
        assert e.value.row == 5 and e.value.column == "split"
        assert "train" in str(e.value) and "validation" in str(e.value)


def test_split_column_with_level_columns(tmp_path):
    f = write(tmp_path / "l.csv", "id,t,l1,l2,s\n1,a,A,B,train\n2,b,A,,Validation\n3,c,,,\n")
    df = read_catalogue(f, ReaderOptions(text_columns=["t"], label_column=None,
                                         level_columns=["l1", "l2"], split_column="s"))
    assert df["split"].tolist() == ["train", "validation", ""]


# ---------------------------------------------------------------------- split_labelled
def labelled_inputs(tmp_path, csv_text, split_column="split"):
    from prodemb.config import TrainConfig
    from prodemb.pipeline import labelled_paths
    from prodemb.taxonomy import Taxonomy
    from prodemb.text import tokenize

    opts = ReaderOptions(text_columns=["title"], split_column=split_column)
    catalogue = read_catalogue(write(tmp_path / "s.csv", csv_text), opts)
    config = TrainConfig()
    labelled, paths, _ = labelled_paths(catalogue, config)
    taxonomy = Taxonomy.from_paths(p for ps in paths for p in ps)
    tokens = [tokenize(catalogue["text"].iat[i]) for i in labelled]
    return catalogue, labelled, taxonomy.binarize(paths), tokens, config


def test_split_labelled_uses_the_given_split_exactly(tmp_path, caplog):
    from prodemb.pipeline import split_labelled

    catalogue, labelled, y, tokens, config = labelled_inputs(tmp_path, SPLIT_CSV)
    with caplog.at_level(logging.WARNING, logger="prodemb"):
        split = split_labelled(catalogue, labelled, y, tokens, config, "s.csv")
    # labelled rows 1, 2, 3, 5, 6, 7: train, validation, test, train, test, validation;
    # a stratified 80/10/10 split of 6 products would not look like this
    assert split.tolist() == [0, 1, 2, 0, 2, 1]
    assert not [r for r in caplog.records if "both in training" in r.getMessage()]


def test_split_labelled_without_a_split_column_stratifies(tmp_path):
    from prodemb.pipeline import split_labelled

    letters = "abcdefghij"  # distinct words: digits would all be cleaned to "0"
    rows = "".join(f"{i},item {letters[i % 10]}{letters[i // 10]} {'scarf' if i % 2 else 'tote'},"
                   f"{'A > Scarf' if i % 2 else 'B > Tote'},validation\n" for i in range(1, 41))
    catalogue, labelled, y, tokens, config = labelled_inputs(
        tmp_path, "id,title,category,split\n" + rows, split_column=None)
    assert "split" not in catalogue
    split = split_labelled(catalogue, labelled, y, tokens, config, "s.csv")
    assert (split == 0).sum() > (split == 1).sum() > 0  # not the column's "all validation"


@pytest.mark.parametrize(("kept", "missing"), [(("train", "test"), "validation"),
                                               (("validation", "test"), "train")])
def test_split_labelled_needs_training_and_validation_products(tmp_path, kept, missing):
    from prodemb.pipeline import TrainingError, split_labelled

    rows = "".join(f"{i},item {'abcdefghij'[i]},{'A > B' if i % 2 else 'A > C'},{kept[i % 2]}\n"
                   for i in range(1, 9))
    # an unlabelled row with the missing split does not count
    csv_text = "id,title,category,split\n" + rows + f"9,stray,,{missing}\n"
    catalogue, labelled, y, tokens, config = labelled_inputs(tmp_path, csv_text)
    with pytest.raises(TrainingError, match="split column.*no training or no validation"):
        split_labelled(catalogue, labelled, y, tokens, config, "s.csv")


def test_split_labelled_warns_when_a_cleaned_text_straddles_splits(tmp_path, caplog):
    from prodemb.pipeline import split_labelled

    csv_text = ("id,title,category,split\n"
                "1,Knit Scarf!,A > Scarf,train\n"
                "2,knit scarf,A > Scarf,test\n"         # the same text once cleaned
                "3,Tote bag,B > Tote,train\n"
                "4,Tote bag,B > Tote,train\n"           # repeated within train: fine
                "5,Loop scarf,A > Scarf,validation\n"
                "6,LOOP  scarf,A > Scarf,validation\n"  # repeated within validation: fine
                "7,Canvas tote,B > Tote,validation\n")
    catalogue, labelled, y, tokens, config = labelled_inputs(tmp_path, csv_text)
    with caplog.at_level(logging.WARNING, logger="prodemb"):
        split = split_labelled(catalogue, labelled, y, tokens, config, "s.csv")
    assert split.tolist() == [0, 2, 0, 0, 1, 1, 1]  # the given split is kept, not fixed
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "s.csv" in warned[0].getMessage() and "1 cleaned text" in warned[0].getMessage()

    # two texts straddling: train/validation and train/test
    caplog.clear()
    csv_text += "8,Tote bag,B > Tote,validation\n"
    catalogue, labelled, y, tokens, config = labelled_inputs(tmp_path, csv_text)
    with caplog.at_level(logging.WARNING, logger="prodemb"):
        split_labelled(catalogue, labelled, y, tokens, config, "s.csv")
    assert any("2 cleaned text" in r.getMessage() for r in caplog.records)


def test_a_file_with_a_title_and_no_description_is_told_how_to_read_it(tmp_path):
    f = write(tmp_path / "t.csv", "id,title,category\n1,wool scarf,A > B\n")
    with pytest.raises(CatalogueError, match=r"missing column\(s\) 'description'.*"
                       r"to read it from title only: --text-columns title\)"):
        read_catalogue(f)
    assert read_catalogue(f, text_columns=["title"])["text"].tolist() == ["wool scarf"]
