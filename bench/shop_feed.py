"""A European shop's export of the Fashion catalogue, for trying prodemb as a new user would.

Writes, from ``../shared/data/fashion-product-images-styles.csv`` (never copied into the
repo), the files a partner shop might send:

* ``feed.csv``: 15,000 products, semicolon-separated, Windows-1252, ``\\r\\n`` line ends,
  German column names (``Artikelnummer;Bezeichnung;Beschreibung;Marke;Kategoriepfad;Preis``),
  a breadcrumb path ``Apparel > Topwear > Tshirts``, prices with decimal commas, German and
  accented words in a third of the titles (für, Größe, Crème, –, ‘ ’), 10 % of the products
  without a category, 8 empty titles, 6 repeated article numbers, a few quoted cells that
  hold the delimiter;
* ``holdout.csv``: 1,500 other products of the same catalogue, all labelled, to score
  ``prodemb predict`` / ``prodemb evaluate`` on;
* ``feed.jsonl`` / ``holdout.jsonl``: the same rows as JSON Lines (UTF-8), the category as
  a JSON list of path strings.

The README's example of what ``prodemb train`` prints is a training on ``feed.csv``:

    .venv/bin/python bench/shop_feed.py --out /tmp/shop
    .venv/bin/prodemb train --data /tmp/shop/feed.csv --delimiter ';' --encoding cp1252 \\
        --text-columns Bezeichnung,Beschreibung --id-column Artikelnummer \\
        --label-column Kategoriepfad --out artifacts/shop-feed

The rows depend only on the source file and the fixed seeds below.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

# (English, what the shop writes instead): German words and non-ASCII characters in titles.
SUBSTITUTIONS = [("Men ", "Herren "), ("Women ", "Damen "), ("Tshirt", "T-Shirt für Herren"),
                 ("Shirt", "Shirt – Baumwolle"), ("Watch", "Armbanduhr · Edelstahl"),
                 ("Jeans", "Jeans ‘Slim’"), ("Bag", "Tasche aus Leder"), ("Kurta", "Kurta – Crème"),
                 ("Shoes", "Schuhe Größe 42"), ("Perfume", "Parfüm Eau de Toilette – Café")]
PRICES = [299, 499, 799, 999, 1299, 1499, 2499, 12999]


def shop_title(title: str, i: int, rng: random.Random) -> str:
    if rng.random() < 0.35:
        for english, shop in SUBSTITUTIONS:
            if english in title:
                title = title.replace(english, shop, 1)
                break
    if rng.random() < 0.05:
        title = title.replace("Men", "Men’s", 1)
    if i % 997 == 5:
        title += "; slim fit"  # the delimiter inside a quoted cell
    return title


def decimal_comma(value: float) -> str:
    """1299.0 -> '1.299,00'."""
    return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def shop_rows(source: pd.DataFrame, unlabelled_share: float, empty_titles: int,
              repeated_ids: int, seed: int, title_rng: random.Random) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i, r in enumerate(source.itertuples(index=False)):
        title = shop_title(r.productDisplayName, i, title_rng)
        path = f"{r.masterCategory} > {r.subCategory} > {r.articleType}"
        rows.append({"Artikelnummer": f"A-{r.id}", "Bezeichnung": title,
                     "Beschreibung": (f"Farbe: {r.baseColour}; Saison: {r.season} {r.year}; "
                                      f"Anlass: {r.usage}; für {r.gender}"),
                     "Marke": title.split(" ")[0] if title else "",
                     "Kategoriepfad": "" if rng.random() < unlabelled_share else path,
                     "Preis": decimal_comma(rng.choice(PRICES) + 0.0)})
    for j in rng.sample(range(len(rows)), empty_titles):
        rows[j]["Bezeichnung"] = ""
    for j in rng.sample(range(len(rows)), repeated_ids):
        rows[j]["Artikelnummer"] = rows[rng.randrange(len(rows))]["Artikelnummer"]
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buf.getvalue().encode("cp1252"))


def write_jsonl(rows: list[dict], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            path_string = r["Kategoriepfad"]
            f.write(json.dumps({**r, "Kategoriepfad": [path_string] if path_string else []},
                               ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(common.FASHION_CSV),
                    help="the Fashion Product Images styles CSV")
    ap.add_argument("--out", required=True, help="folder for the four files")
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"shop_feed: {args.data} not found (pass --data)", file=sys.stderr)
        return 2
    source = pd.read_csv(args.data, on_bad_lines="skip", dtype=str).fillna("")
    source = source.sample(frac=1.0, random_state=7).reset_index(drop=True)
    title_rng = random.Random(7)  # one stream over both files, feed first
    feed = shop_rows(source.iloc[:15000], 0.10, 8, 6, 1, title_rng)
    holdout = shop_rows(source.iloc[15000:16500], 0.0, 2, 0, 2, title_rng)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(feed, out / "feed.csv")
    write_csv(holdout, out / "holdout.csv")
    write_jsonl(feed, out / "feed.jsonl")
    write_jsonl(holdout, out / "holdout.jsonl")
    print(f"{len(feed):,} + {len(holdout):,} products -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
