"""The bad-input corpus shared by the reliability tests (API, CLI, app, browser).

Two kinds of input:

- :data:`BAD_TEXTS`: strings a category manager may paste into any text box (or that a
  catalogue may contain): empty, huge, punctuation, emoji, other scripts, NUL bytes,
  markup, invisible characters, ...
- :func:`bad_files`: catalogue files / uploads that are broken in some way (invalid
  UTF-8, wrong delimiter, broken quotes, a binary or XLSX file named ``.csv``,
  inconsistent label paths, an empty catalogue, one class, a JSONL line that is not an
  object, a Parquet file with other columns, ...). Each :class:`BadFile` says what the
  catalogue reader, ``prodemb train`` and the app's batch upload should do with it:
  succeed, or fail with a message matching a pattern that names the problem.

Also :func:`write_hostile_catalogue`: a small labelled catalogue whose product texts,
ids and one category contain HTML/script payloads (for the browser tests).
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

#: The classic XSS payload of the issue.
XSS = "<img src=x onerror=alert(1)>"

MEGABYTE = 1 << 20

# ---------------------------------------------------------------------- texts
#: name -> text. Every entry must give a sane result everywhere (API, CLI, app).
BAD_TEXTS: dict[str, str] = {
    "empty": "",
    "whitespace": "   \t \n\r\n  \u00a0\u2003 ",
    "one_megabyte": ("Knitted merino wool scarf, warm and soft. " * (MEGABYTE // 42 + 1))[:MEGABYTE],
    "punctuation_only": "!!! ??? ... ,,, ;;; --- *** ((( ))) ''' \"\"\" /// \\\\\\ @#$%^&~`|",
    "emoji": "🧣🧤🎁👟🔥✨ 💯",
    "emoji_zwj_sequences": "👨\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👍🏽",
    "cyrillic": "Вязаный шарф из шерсти мериноса, тёплый, серый, 180 см",
    "cjk": "羊毛围巾 保暖 灰色 180厘米 ウールのマフラー 목도리",
    "arabic": "وشاح صوف ميرينو دافئ رمادي ١٨٠ سم",
    "hebrew_rtl": "צעיף צמר חם",
    "nul_bytes": "wool\x00scarf\x00\x00 180 cm\x00",
    "control_chars": "\x1b[31mred scarf\x1b[0m\x07\x08\x0b\x0c\x7f",
    "script_tag": "<script>alert(1)</script>",
    "img_onerror": XSS,
    "other_html": ("<b>bold</b> <iframe src=\"javascript:alert(1)\"></iframe> <svg onload=alert(1)> "
                   "<a href=\"javascript:alert(1)\">click</a> <style>*{display:none}</style>"),
    "unclosed_tag": "<div class=\"x\" scarf wool",
    "html_entities": "&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; &#0; &#x110000; &bogus;",
    "markdown_injection": ("**bold** _it_ # Heading [link](javascript:alert(1)) ![i](x) :red[red] "
                           ":material/home: $x^2$ <br> | a | b |\n|---|---|\n- list"),
    "long_single_token": "a" * 200_000,
    "many_tokens": " ".join(f"w{i}" for i in range(50_000)),
    "rtl_marks": "\u202escarf wool\u202c \u200fشال\u200e \u2067x\u2069 \u061c",
    "zero_width": "sc\u200barf\u200c wo\u200dol \ufeff\u2060mer\u00adino",
    "bom_prefix": "\ufeffKnitted scarf",
    "combining_marks": "Z\u0334\u0321\u032a\u035aa\u0336l\u0337g\u0338o\u0335 s\u0301c\u0302a\u0303r\u0304f",
    "numeric_only": "1234567890 42 3.14 -7 1e309 0x1F",
    "sql_and_format": "'; DROP TABLE products; -- %s %d {0} {__class__} ${jndi:ldap://x}",
    "path_traversal": "../../../../etc/passwd C:\\Windows\\system32",
    "only_newlines": "\n" * 10_000,
    "surrogate_like": "\U0001d54a\U0001d554\U0001d552\U0001d563\U0001d557 ｓｃａｒｆ",
    "mixed_diacritics": "Pletený šál z merino vlny, hrejivý, sivý – knitted scarf",
    "private_use_and_noncharacters": "\ue000\uf8ff\ufffe\uffff\U000f0000 scarf",
    "url": "https://example.com/?q=<script>alert(1)</script>&x=\"'",
}

#: A text that must round-trip as literal text in the browser.
HOSTILE_TEXTS = {k: BAD_TEXTS[k] for k in ("script_tag", "img_onerror", "other_html",
                                           "markdown_injection")}


# ---------------------------------------------------------------------- files
@dataclass
class BadFile:
    """A catalogue file / upload and what each consumer must do with it.

    Attributes:
        name: short identifier (used as the test id).
        filename: the file name (the extension decides the format).
        content: the bytes.
        read: ``None`` if :func:`prodemb.catalogue.read_catalogue` (default options)
            must succeed, else a regex its :class:`CatalogueError` must match.
        train: ``None`` if ``prodemb train`` may succeed, else a regex of its error message
            (``CatalogueError`` or ``TrainingError``).
        upload: ``None`` if the app's batch upload (:func:`read_texts`) must accept it, else a
            regex of its error message; only for files uploaded as CSV.
        note: why the file is bad.
        tags: ``"labels"`` if only the label column is bad (reading without labels works).
    """

    name: str
    filename: str
    content: bytes
    read: str | None
    train: str | None
    upload: str | None = None
    note: str = ""
    tags: set[str] = field(default_factory=set)

    def write(self, directory: Path) -> Path:
        path = Path(directory) / self.filename
        path.write_bytes(self.content)
        return path


HEADER = "id,title,description,category\n"


def _csv(rows: list[tuple[str, str, str, str]], header: str = HEADER) -> bytes:
    import csv

    buf = io.StringIO()
    buf.write(header)
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def _labelled_rows(n: int = 40, prefix: str = "P") -> list[tuple[str, str, str, str]]:
    """``n`` well-formed rows in two top-level classes (enough to get past the reader)."""
    kinds = [("knitted wool scarf warm", "Accessories > Scarves"),
             ("leather belt brown buckle", "Accessories > Belts"),
             ("running shoes mesh light", "Shoes > Sneakers"),
             ("ankle boots suede winter", "Shoes > Boots")]
    colours = ["red", "blue", "grey", "black", "white", "green", "navy", "beige", "pink", "olive"]
    fits = ["slim", "classic", "oversized", "cropped", "long", "soft", "heavy", "light"]
    return [(f"{prefix}{i:04d}", f"{colours[i % 10]} {fits[i // 10 % 8]} {kinds[i % 4][0]}", "",
             kinds[i % 4][1]) for i in range(n)]


def minimal_xlsx() -> bytes:
    """A small but real Office Open XML workbook (what Excel saves as .xlsx)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.spreadsheetml.sheet.main+xml"/></Types>')
        z.writestr("xl/workbook.xml",
                   '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   'spreadsheetml/2006/main"><sheets><sheet name="Sheet1" sheetId="1"/></sheets></workbook>')
        z.writestr("xl/worksheets/sheet1.xml",
                   '<?xml version="1.0"?><worksheet><sheetData><row><c t="inlineStr"><is><t>title</t>'
                   '</is></c></row></sheetData></worksheet>')
    return buf.getvalue()


def _parquet(frame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def bad_files() -> list[BadFile]:
    """The file corpus (built fresh each call; some entries are a few hundred KB)."""
    import pandas as pd

    good = _labelled_rows()
    files = [
        BadFile("empty_file", "empty.csv", b"", read=r"empty", train=r"empty", upload=r"empty",
                note="zero bytes"),
        BadFile("header_only", "header_only.csv", HEADER.encode(), read=r"no products",
                train=r"no products", upload=r"no rows", note="an empty catalogue"),
        BadFile("whitespace_file", "blank.csv", b"\n\n   \n\t\n", read=r"empty|no header|column",
                train=r"empty|no header|column", upload=r"empty", note="only blank lines"),
        BadFile("invalid_utf8", "latin1.csv",
                _csv(good).replace(b"white slim knitted wool scarf warm", "biely pletený šál".encode("cp1250")),
                read=r"not valid utf-8.*row 5|row 5.*not valid utf-8", train=r"not valid utf-8",
                # the dashboard's upload detects Windows-1250 (issue 16: what Excel on a
                # Slovak machine writes) and reads it; the CLI reader still refuses it
                upload=None, note="cp1250 bytes in a UTF-8 file (row 5)"),
        BadFile("utf16", "utf16.csv", _csv(good).decode().encode("utf-16"),
                read=None, train=None, upload=r"binary|UTF",
                note="UTF-16 with a byte order mark (NUL bytes everywhere; the reader follows "
                     "the mark, the upload asks for UTF-8)"),
        BadFile("utf16_no_bom", "utf16le.csv", _csv(good).decode().encode("utf-16-le"),
                read=r"UTF-16-LE text without a byte order mark.*--encoding utf-16-le",
                train=r"UTF-16-LE.*--encoding utf-16-le", upload=r"binary|UTF",
                note="UTF-16 without a byte order mark: a hint to pass the encoding"),
        BadFile("wrong_delimiter", "semicolon.csv", _csv(good).replace(b",", b";"),
                read=r"missing column.*delimiter", train=r"missing column.*delimiter", upload=None,
                note="semicolon separated (the upload sniffs the delimiter)"),
        BadFile("broken_quotes", "quotes.csv",
                HEADER.encode() + b'P1,"knitted scarf,,Accessories > Scarves\nP2,belt,"x,'
                                  b'Accessories > Belts\nP3,"shoes"oops",,Shoes > Boots\n'
                + b"".join(f'Q{i},"open quote {i},,A > B\n'.encode() for i in range(5)),
                read=r"well-formed|quot|column|row", train=r"well-formed|quot|column|row",
                upload=r"well-formed|quot", note="unbalanced double quotes"),
        BadFile("ragged_rows", "ragged.csv",
                HEADER.encode() + b"P1,scarf,,A > B\nP2,belt,,A > C,extra,fields,here\n",
                read=r"well-formed|fields", train=r"well-formed|fields", upload=r"well-formed|fields",
                note="a row with more fields than the header"),
        BadFile("binary", "random.csv", bytes(range(256)) * 64 + b"\x00\x01\x02",
                read=r"binary", train=r"binary", upload=r"binary", note="random bytes"),
        BadFile("xlsx_as_csv", "products.csv", minimal_xlsx(),
                read=r"Excel|xlsx|ZIP", train=r"Excel|xlsx|ZIP", upload=r"Excel|xlsx|ZIP",
                note="an Excel workbook renamed .csv"),
        BadFile("gzip_as_csv", "packed.csv", b"\x1f\x8b\x08\x00" + bytes(range(1, 200)) * 4,
                read=r"binary|not valid|well-formed", train=r"binary|not valid|well-formed",
                upload=r"binary|not UTF-8|well-formed", note="gzip bytes named .csv"),
        BadFile("png_as_csv", "image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64,
                read=r"binary", train=r"binary", upload=r"binary", note="an image"),
        BadFile("inconsistent_paths", "paths.csv",
                _csv(good + [("X1", "wool scarf", "", "A > B"), ("X2", "wool hat", "", "A > B > C"),
                             ("X3", "wool glove", "", "A >  > C")]),
                read=r"row 43.*category.*empty level|empty level.*'A >  > C'",
                train=r"empty level", upload=None,
                note='"A > B", "A > B > C" and "A >  > C" in one label column', tags={"labels"}),
        BadFile("trailing_separator", "trailing.csv",
                _csv(good + [("X1", "wool scarf", "", "Accessories > Scarves >")]),
                read=r"empty level", train=r"empty level", upload=None,
                note="a path ending in a separator", tags={"labels"}),
        BadFile("one_class", "one_class.csv",
                _csv([(f"P{i}", f"wool scarf {i}", "", "Accessories > Scarves") for i in range(50)]),
                read=None, train=r"only one category.*at least two", upload=None,
                note="every product in one category"),
        BadFile("no_labels", "unlabelled.csv",
                _csv([(f"P{i}", f"wool scarf {i}", "", "") for i in range(50)]),
                read=None, train=r"no product has a category", upload=None,
                note="no product has a category"),
        BadFile("missing_text_column", "no_title.csv",
                b"id,name,category\n1,scarf,A > B\n2,belt,A > C\n",
                read=r"missing column.*'title'", train=r"missing column.*'title'", upload=None,
                note="the title column is called 'name'"),
        BadFile("empty_id", "empty_id.csv", _csv(good + [("", "wool scarf", "", "A > B")]),
                read=r"row 41.*empty product id|empty product id", train=r"empty product id",
                upload=None, note="a row without an id"),
        BadFile("nul_in_cell", "nul_cell.csv",
                _csv(good).replace(b"red slim knitted wool scarf warm", b"red slim knitted\x00wool scarf"),
                read=r"binary|NUL", train=r"binary|NUL", upload=r"binary",
                note="a NUL byte inside a cell"),
        BadFile("hostile_html", "hostile.csv",
                _csv([(f"H{i}", f"{XSS} <script>alert({i})</script> {good[i][1]}", "<b>desc</b>",
                       good[i][3]) for i in range(40)]),
                read=None, train=None, upload=None, note="markup in every text cell"),
        BadFile("numeric_titles", "numeric.csv",
                _csv([(f"P{i}", str(1000 + i), "", good[i][3]) for i in range(40)]),
                read=None, train=r"40 labelled, 1 distinct text", upload=None,
                note="titles that are only numbers (all clean to '0000')"),
        BadFile("same_text_10000", "same_text.csv",
                _csv([(f"P{i}", "knitted wool scarf", "", good[i % 4][3]) for i in range(10_000)]),
                read=None, train=r"10000 labelled, 1 distinct text", upload=None,
                note="10,000 rows of the same text"),
        BadFile("huge_cell", "huge_cell.csv",
                _csv(good + [("BIG", "scarf " * (MEGABYTE // 6), "", "Accessories > Scarves")]),
                read=None, train=None, upload=None, note="one cell of a megabyte"),
        BadFile("duplicate_ids", "dups.csv", _csv(good + good[:5]), read=None, train=None,
                upload=None, note="repeated ids (kept once, with a warning)"),
        BadFile("unicode_everywhere", "unicode.csv",
                # Line breaks left out: a multi-line cell needs allow_multiline (tested in
                # test_strict_inputs.py).
                _csv([(f"Ü{i}", f"{_one_line(list(BAD_TEXTS.values())[i % 10][:200])} {good[i][1]}",
                       BAD_TEXTS["rtl_marks"], good[i][3]) for i in range(40)]),
                read=None, train=None, upload=None, note="emoji, scripts, RTL marks in cells"),
        BadFile("crlf_bom", "crlf_bom.csv", b"\xef\xbb\xbf" + _csv(good).replace(b"\n", b"\r\n"),
                read=None, train=None, upload=None, note="Windows line ends and a BOM"),
        BadFile("jsonl_non_object", "lines.jsonl",
                b'{"id": "1", "title": "wool scarf", "category": "A > B"}\n[1, 2, 3]\n',
                read=r"row 2.*JSON object", train=r"row 2.*JSON object", note="a JSON list line"),
        BadFile("jsonl_invalid", "broken.jsonl",
                b'{"id": "1", "title": "wool scarf", "category": "A > B"}\n{"id": "2", "title": \n',
                read=r"row 2.*invalid JSON", train=r"row 2.*invalid JSON", note="a truncated line"),
        BadFile("jsonl_scalar", "scalar.jsonl", b'"just a string"\n42\n',
                read=r"row 1.*JSON object", train=r"row 1.*JSON object", note="scalars, not objects"),
        BadFile("parquet_wrong_columns", "wrong.parquet",
                _parquet(pd.DataFrame({"sku": ["1", "2"], "name": ["scarf", "belt"],
                                       "price": [1.5, 2.0]})),
                read=r"missing column", train=r"missing column", note="other column names"),
        BadFile("parquet_corrupt", "corrupt.parquet", b"PAR1" + b"\x00garbage" * 50,
                read=r"Parquet", train=r"Parquet", note="not a real Parquet file"),
        BadFile("csv_named_parquet", "text.parquet", _csv(good),
                read=r"Parquet", train=r"Parquet", note="a CSV file named .parquet"),
        BadFile("unknown_extension", "catalogue.xls", _csv(good),
                read=r"format", train=r"format", note="an extension prodemb does not read"),
    ]
    names = [f.name for f in files]
    assert len(names) == len(set(names)), "duplicate corpus names"
    return files


def upload_files() -> list[BadFile]:
    """The files of :func:`bad_files` that the app's batch upload (CSV) is tested with."""
    return [f for f in bad_files() if f.filename.endswith(".csv")]


# ---------------------------------------------------------------------- hostile catalogue
def write_hostile_catalogue(path: Path, n_labelled: int = 700, n_unlabelled: int = 200,
                            seed: int = 3) -> Path:
    """A small demo catalogue (CSV) in which product texts, ids and one leaf category
    contain markup: ``<img src=x onerror=alert(1)>``, ``<script>``, Markdown.

    The hostile category has enough products to be a class of its own. Levels are
    separated by ``>>`` (read it with ``level_separator=">>"``, CLI ``--level-separator '>>'``).
    """
    import csv

    import pandas as pd

    from prodemb.demo import write_demo

    path = Path(path)
    raw = path.with_suffix(".raw.csv")
    write_demo(raw, n_labelled=n_labelled, n_unlabelled=n_unlabelled, seed=seed, progress=False)
    df = pd.read_csv(raw, dtype=str, keep_default_na=False)
    raw.unlink()
    labelled = df.index[df["category"] != ""]
    hostile = labelled[::7][:60]
    df.loc[hostile, "title"] = [f"{XSS} {t} <script>alert(2)</script>" for t in df.loc[hostile, "title"]]
    # The payload contains ">", the default level separator: this catalogue uses ">>".
    df["category"] = df["category"].str.replace(" > ", " >> ", regex=False)
    df.loc[hostile[:30], "category"] = f"Accessories >> {XSS}"
    df.loc[labelled[1], "title"] = BAD_TEXTS["markdown_injection"].replace("\n", " ") + " scarf"
    df.loc[labelled[2], "id"] = f"id-{XSS}"
    df.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    return path


def json_lines(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
