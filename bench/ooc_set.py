"""The fixed out-of-catalogue set of the confidence benchmark (issue 12).

Texts the demo tree (fashion accessories: scarves, hats, bags, gloves, socks, umbrellas,
...) cannot hold, in three kinds, every one drawn with a fixed seed so the set is the same
on every run:

* ``fashion``: 800 product titles from the Apparel and Footwear branches of the Fashion
  Product Images catalogue (shirts, jeans, shoes, ...), read from ``../shared/data`` at run
  time (never copied into the repository); left out when the file is absent;
* ``random``: 300 strings of 2-5 random lower-case "words" of 3-8 letters;
* ``scripts``: 300 texts of 2-5 words in scripts the catalogue lacks (Cyrillic, Greek,
  Arabic, Chinese; 75 each), which cleaning transliterates into unfamiliar ASCII.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ALPHABETS = {
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюя",
    "greek": "αβγδεζηθικλμνξοπρστυφχψω",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "chinese": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年",
}


def _words(rng: np.random.Generator, alphabet: str, lo: int = 3, hi: int = 9) -> str:
    letters = list(alphabet)
    return " ".join("".join(rng.choice(letters, rng.integers(lo, hi)))
                    for _ in range(rng.integers(2, 6)))


def out_of_catalogue_texts(fashion_csv: Path | None, seed: int = 0) -> pd.DataFrame:
    """The set as a table: ``text, kind`` (fashion, random, scripts)."""
    rng = np.random.default_rng(seed)
    parts = []
    if fashion_csv is not None and Path(fashion_csv).exists():
        styles = pd.read_csv(fashion_csv, on_bad_lines="skip", usecols=["masterCategory",
                                                                         "productDisplayName"])
        titles = (styles[styles["masterCategory"].isin(["Apparel", "Footwear"])]
                  ["productDisplayName"].dropna().astype(str))
        parts.append(pd.DataFrame({"text": titles.sample(800, random_state=seed).tolist(),
                                   "kind": "fashion"}))
    parts.append(pd.DataFrame({"text": [_words(rng, "abcdefghijklmnopqrstuvwxyz")
                                        for _ in range(300)], "kind": "random"}))
    parts.append(pd.DataFrame({"text": [_words(rng, alphabet) for alphabet in ALPHABETS.values()
                                        for _ in range(75)], "kind": "scripts"}))
    return pd.concat(parts, ignore_index=True)
