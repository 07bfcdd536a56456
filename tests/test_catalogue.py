import json

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


def test_undecodable_bytes_name_row(tmp_path):
    data = (b"id,title,description,category\n1,ok,,A > B\n2,ok,,A > B\n") + \
        b"3,bad \xff\xfe byte,,A > B\n"
    with pytest.raises(CatalogueError, match=r"row 3.*not valid utf-8"):
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
