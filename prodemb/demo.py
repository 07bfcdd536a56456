"""Demo catalogue generator: a synthetic fashion-accessories shop (``prodemb demo-data``).

No real catalogue may be committed to the repository, so the shipped demo is
generated here. The catalogue imitates a Central European (Slovak) e-shop:

* a tree of 25 top-level categories and 161 leaves, depth 2 to 4
  (:data:`DEMO_TREE`, :func:`leaf_paths`);
* titles and short descriptions that mix English and Slovak (with diacritics,
  sometimes typed without them), brands that are used interchangeably inside a
  brand group (sport, outdoor, fashion, ...), colours, materials, sizes, SKU/EAN
  noise, typos and HTML entities;
* per-leaf signal words plus realistic noise: generic words of the top-level
  category, words borrowed from sibling leaves and titles that are little more
  than brand + colour. The scarf trio ("Knit scarf", "Scarf / Shawl",
  "Snood / Loop scarf") draws on one shared vocabulary with different weights
  and the same brands, so it is genuinely confusable. A TF-IDF (word + char
  n-grams) + logistic-regression leaf classifier trained on 16,000 products reaches
  a leaf macro-F1 of about 0.68, and about 0.4-0.55 on the trio
  (``tests/test_demo.py``);
* Zipf-like label imbalance: at 50,000 labelled products the most common leaf has
  about 7,000 products, the median leaf about 80 and the rarest 25; ~2.5 % of the
  labelled products are two-path "sets" (hat-and-scarf set, wallet-and-belt gift
  set, ...) whose text mentions both;
* a large unlabelled pool drawn from the same distribution, category blanked.

All of the above is the default. Two options (off by default, so the default
catalogue stays byte for byte the same) turn it into the harder **long-tail**
setting, "demo-longtail", which imitates a general-merchandise catalogue:

* ``tail_leaves=N`` adds N rare leaves (at most :data:`MAX_TAIL_LEAVES`) as extra
  children of the 62 internal nodes that hold hand-written leaves (all 25
  top-level categories; a parent's share is proportional to its hand-written
  children + 1). Each is a product line or type, ``"<Line> <head noun>"`` such as
  ``"Bags > Handbags > Grepegri handbag"``, with 1-3 signal words of its own: the
  generated line name and 0-2 generated model/technology words (``"svifôform"``),
  alone and in compounds with the parent's Slovak noun (``"kabelka Grepegri"``),
  about a third of them with a diacritic. Everything else (brand group, top-level
  generic words, material, size, colour, description sentences) is drawn as for a
  hand-written leaf of that parent, and sibling words are frequent: the own words
  are in ~73 % of the titles (~83 % of title + description), so the rest read
  like a sibling's product. The tail tree comes from a fixed seed: it is the same
  for every catalogue seed, and the first k tail leaves are the same for every
  N >= k (:func:`leaf_paths`, :func:`demo_tree`).
* Tail leaf counts: at the reference size of 30,000 labelled products the tail
  leaves get exactly the evenly spaced quantiles of a discrete Pareto law
  truncated at 48, ``P(count >= c) ~ c ** -0.65``, in a fixed random order: for
  N = 840, 39 % of them have 1 labelled product, 75 % at most 5, the median 2, the
  90th percentile 14, 57 have 20-48; together 4,549 products (15.2 %). At other
  sizes the tail gets the same share, split in proportion (each tail leaf keeps
  at least 1 while there are enough products); the hand-written leaves and sets
  share the rest with their Zipf weights (rarest 13 at 30,000), and unlabelled
  products are drawn from the same class distribution.
* ``shallow_share=F`` cuts the category of ``round(F * n_labelled)`` random
  labelled products to its first level (``"Bags"``; a set keeps both first levels,
  once each), as real catalogues have products categorised only coarsely. The
  first labelled product of every class is spared, so every leaf keeps a product.

``prodemb demo-data --labelled 30000 --unlabelled 120000 --tail-leaves 840
--shallow-share 0.2`` (``bench/common.py``: ``LONGTAIL``) has 1,001 leaves, all
with labelled products; 66 % of them have at most 5 labelled products (after the
cut), 20 % of the labelled products have a one-level path, and it is written in
about 2.5 s (``tests/test_demo.py``).

Output columns (all strings, in this order): ``id``, ``title``, ``description``,
``category`` (``""`` when unlabelled, else leaf paths joined by ``" > "`` and,
for sets, two paths joined by ``" | "``).

Generation is deterministic for a seed and independent of ``chunk_size``: rows are
produced in fixed internal blocks, each with its own random stream, and all
per-row work is vectorised over a block (numpy object arrays and Arrow compute;
Python loops only over the few rows that get typos or HTML), so the default
300,000 products are written in about 1.5 s (``bench/bench_demo.py``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from unidecode import unidecode

from .taxonomy import LEVEL_SEPARATOR, PATH_SEPARATOR
from .utils import atomic_output

__all__ = [
    "COLUMNS",
    "DEMO_TREE",
    "MAX_TAIL_LEAVES",
    "demo_tree",
    "generate_demo",
    "iter_demo_chunks",
    "leaf_paths",
    "write_demo",
]

#: Output columns, in order.
COLUMNS = ("id", "title", "description", "category")

#: Level separator and multi-path separator of the ``category`` column.
LEVEL_SEP = LEVEL_SEPARATOR
PATH_SEP = PATH_SEPARATOR

# Rows are generated in blocks of this many rows, each block with its own random
# stream, so the output does not depend on the chunk size asked for.
_BLOCK = 8192
# Rows per chunk written by :func:`write_demo`.
_WRITE_CHUNK = 100_000

# ---------------------------------------------------------------------------------
# Vocabulary specification
# ---------------------------------------------------------------------------------
# Words are comma-separated; ``word=3`` gives a relative weight (default 1).

#: Brands by group; brands of one group appear in the same contexts.
_BRANDS = {
    "sport": "Nike=3, Adidas=3, Puma=2, Reebok, Under Armour, Asics, New Balance, Fila, Kappa, 4F",
    "outdoor": "The North Face=2, Jack Wolfskin, Columbia, Salomon, Husky, Alpine Pro=2, Hannah, Loap, Northfinder=2, Sensor",
    "fashion": "Guess=3, Calvin Klein=3, Tommy Hilfiger=3, Michael Kors=2, Lacoste, Hugo Boss, Karl Lagerfeld, Liu Jo, Desigual, Esprit, s.Oliver, Tamaris",
    "local": "Tatra Wool=2, Karpatia, Horal, Vlnka, Zuzi Design, Kožiar Ondrej, Modrotlač, Dielňa Šariš, Tatra & Co",
    "jewellery": "Pandora=3, Swarovski=3, Thomas Sabo, Brosway, Engelsrufer, Silvego=2, Troli, Zlatníctvo Klenot",
    "watches": "Casio=3, Fossil=2, Festina=2, Tissot, Citizen, Seiko, Prim, Daniel Wellington, Timex",
    "eyewear": "Ray-Ban=3, Oakley=2, Polaroid=2, Carrera, Vuarnet, Meller, Vuch",
    "tech": "Spigen=2, OtterBox, Forcell=2, Epico, Tactical, Swissten=2, Belkin",
    "travel": "Samsonite=3, American Tourister=2, Travelite=2, Roncato, Hedgren, Dielle",
    "kids": "Disney=2, Minnie Mouse, Paw Patrol=2, Frozen, Spider-Man, Topgal=2, Bagmaster=2",
    "socks": "Dedoles=3, Fusakle=2, Happy Socks=2, Bellinda, Tommy Hilfiger, Puma",
    "umbrella": "Doppler=3, Knirps=2, Blue Drop, Perletti, Happy Rain",
    "party": "Rubie's, Widmann, Party Deco, Godan",
    "generic": "noname=2, Basic, Home & Style, GO, Trendy Line",
}

_SIZES = {
    "cloth": "S=2, M=3, L=3, XL=2, XXL, XS, uni=3, UNI, univerzálna veľkosť, one size, S/M, L/XL",
    "hat": "54 cm, 56 cm, 58 cm, 60 cm, uni=4, S/M, L/XL, obvod 56-58 cm, one size",
    "glove": "S, M=2, L=2, XL, 7, 7.5, 8, 8.5, 9, 9.5, 10, uni",
    "feet": "35-38=2, 39-42=3, 43-46=2, 47-50, 36, 38, 40, 42, 44, 37-40, 41-44",
    "belt": "85 cm, 90 cm, 95 cm=2, 100 cm=2, 105 cm, 110 cm, 115 cm, 120 cm, šírka 3,5 cm, šírka 4 cm",
    "dim": "30 x 20 x 10 cm, 25x18x8 cm, 40 x 30 x 15 cm, 35x28x12cm, 20 x 15 cm, 15 x 10 cm",
    "luggage": "55 x 40 x 20 cm=2, 68 x 46 x 27 cm, 77x52x31 cm, objem 40 l, 36 l, 95 l, S, M, L",
    "volume": "10 l, 15 l, 20 l=2, 25 l, 30 l=2, 40 l, 60 l, 45+10 l",
    "jewel": "vel. 50, vel. 52, vel. 54, vel. 56, vel. 58, 45 cm, 42 + 5 cm, 18 cm, 1 ks",
    "watch": "36 mm, 38 mm, 40 mm=2, 42 mm=2, 44 mm, 20 mm, 22 mm",
    "umbrella": "priemer 98 cm, 105 cm, 120 cm, 130 cm, 8 drôtov, 16 drôtov",
    "phone": "iPhone 13, iPhone 14, iPhone 15 Pro, Samsung Galaxy S23, Galaxy A54, Xiaomi Redmi Note 12, iPad 10.9, Google Pixel 8",
    "kids": "2-4 roky, 3-6 rokov, 6-8 rokov, vel. 98, vel. 104, vel. 116, vel. 128, 48-50 cm, 52-54 cm",
    "pack": "1 ks=3, 2 ks, 3 ks, balenie 5 ks, 3 páry, 5 párov, 10 ks, sada",
}

_MAT_LEATHER = "pravá koža=3, koža=2, leather=2, genuine leather, hovädzia koža, ekokoža=2, faux leather, vegan leather, semiš, suede, lakovaná koža"
_MAT_TEXTILE = "bavlna=2, cotton=2, 100% bavlna, polyester=2, nylon, canvas, plátno, ľan, linen, viskóza, denim, juta"
_MAT_KNIT = "vlna=2, wool=2, merino, akryl=2, acrylic, kašmír, cashmere, alpaka, mohér, bavlna, fleece, 50% vlna 50% akryl"
_MAT_METAL = "nerezová oceľ=2, stainless steel, chirurgická oceľ, striebro 925=2, sterling silver, zlato 14k, pozlátené, gold plated, mosadz, zirkóny, kryštály, perly"
_MAT_PLASTIC = "plast=2, polykarbonát, ABS, silikón=2, TPU, acetát, kov, TR90"

#: Top-level categories: generic words shared by all its leaves, materials, size kind.
_TOPS = {
    "Bags": ("taška=3, kabelka=3, bag=3, handbag, dámska kabelka=2, kožená kabelka=2, kabelky, tašky", _MAT_LEATHER + ", " + _MAT_TEXTILE, "dim"),
    "Wallets": ("peňaženka=4, wallet=3, purse, peňaženky, puzdro, RFID ochrana", _MAT_LEATHER, "pack"),
    "Hats & Caps": ("čiapka=3, hat=2, cap=2, klobúk, pokrývka hlavy, čiapky", _MAT_KNIT + ", " + _MAT_TEXTILE + ", slama, filc", "hat"),
    "Accessories": ("doplnok=2, módny doplnok, accessories, doplnky, na krk", _MAT_KNIT + ", hodváb, silk, viskóza", "cloth"),
    "Gloves": ("rukavice=4, gloves=3, zimné rukavice, rukavičky", _MAT_KNIT + ", " + _MAT_LEATHER + ", softshell", "glove"),
    "Belts": ("opasok=4, belt=3, remeň=2, opasky, pracka", _MAT_LEATHER + ", textil", "belt"),
    "Eyewear": ("okuliare=4, slnečné okuliare=3, sunglasses=2, UV400=2, polarizované, UV ochrana", _MAT_PLASTIC, "pack"),
    "Jewellery": ("šperk=2, jewellery, šperky, darček pre ženu=2, bižutéria, jewelry", _MAT_METAL, "jewel"),
    "Watches": ("hodinky=4, watch=2, náramkové hodinky, quartz, vodotesné 5 ATM, hodiny", _MAT_METAL + ", koža, silikón, titán", "watch"),
    "Umbrellas": ("dáždnik=4, umbrella=3, vetruodolný, windproof, dáždniky, proti dažďu", "polyester=2, pongee, karbón, sklolaminát, nylon", "umbrella"),
    "Hair accessories": ("do vlasov=3, hair=2, vlasový doplnok, ozdoba do vlasov, hair accessory", "plast, kov, zamat, velvet, satén, hodváb, acetát", "pack"),
    "Ties & Bow ties": ("pánsky doplnok=2, formal, spoločenský, k obleku=2, svadba, gentleman", "hodváb=2, silk=2, polyester, mikrovlákno, bavlna, vlna", "pack"),
    "Socks": ("ponožky=4, socks=3, pár, balenie, ponožka", "bavlna=3, cotton=2, bambus, merino, elastan, polyamid, 80% bavlna", "feet"),
    "Keyrings & Charms": ("kľúčenka=3, keyring=2, prívesok na kľúče=2, prívesok, keychain", "kov, koža, plyš, silikón, akryl", "pack"),
    "Tech accessories": ("obal na mobil=2, puzdro=3, kryt=2, phone case, ochrana, príslušenstvo", "silikón=2, TPU=2, koža, ekokoža, plast, polykarbonát", "phone"),
    "Luggage": ("kufor=3, luggage, cestovný=2, travel=2, batožina, na cesty", "polykarbonát=2, ABS=2, polyester, nylon, polypropylén", "luggage"),
    "Backpacks": ("batoh=4, ruksak=2, backpack=3, batohy", "polyester=2, nylon, canvas, ekokoža, 600D polyester", "volume"),
    "Sports accessories": ("šport=2, sport=2, fitness=2, tréning, workout, športový", "polyester=2, bavlna, neoprén, silikón, tritan", "cloth"),
    "Kids accessories": ("detský=3, detská=3, kids=2, pre deti=2, children, pre chlapcov, pre dievčatá", "bavlna=2, polyester, akryl, fleece", "kids"),
    "Shoe accessories": ("obuv=3, topánky=3, shoe, shoes, starostlivosť o obuv, na topánky", "vosk, bavlna, drevo, plast, pena, koža", "feet"),
    "Gifts": ("darček=4, gift=2, darčekové balenie, na Vianoce, k narodeninám", "papier, kartón, satén, plast", "pack"),
    "Carnival & Party": ("karneval=3, párty=2, kostým=2, halloween, party, maškarný ples", "plast, polyester=2, syntetika, peria", "cloth"),
    "Cosmetic bags & Organisers": ("organizér=2, na kozmetiku=2, na cesty, kozmetika, taštička", "polyester=2, ekokoža, nylon, zamat", "dim"),
    "Beach & Swim": ("pláž=2, beach=2, leto=2, summer, kúpanie, dovolenka, k moru", "bavlna, slama, polyester, viskóza, silikón, mikrovlákno", "pack"),
    "Badges & Patches": ("odznak=3, nášivka=2, pin, badge, ozdoba", "kov, smalt, textil, výšivka, plast", "pack"),
}

# The scarf trio shares one vocabulary: about half of its signal words come from a
# common scarf pool, the rest mostly from the leaf's own words and partly from the
# other two leaves' words.
_SCARF_SHARED = (
    "šál=3, scarf=3, zimný šál=2, winter scarf=2, teplý šál=2, vlnený šál=2, wool scarf=2, "
    "so strapcami, šál na krk, teplý, warm scarf"
)
_SCARF_OWN = {
    "knit": "pletený šál=3, knit scarf=3, knitted scarf, pletený=1.5, chunky knit=0.5, rebrovaný šál=0.5",
    "shawl": "šatka=3, shawl=3, pašmína, pashmina, hodvábna šatka=0.5, silk scarf=0.5, blanket scarf=0.5",
    "snood": "nákrčník=3, loop=3, snood=2, kruhový šál, infinity scarf=0.5, tube scarf=0.5",
}
_SCARF_SHARES = (0.4, 0.42, 0.09)  # shared pool, own words, each other leaf's words


def _scarf_words(own: str) -> str:
    """Mix the shared pool, the own words and the other two leaves' words."""
    parts = [(_SCARF_SHARED, _SCARF_SHARES[0]), (_SCARF_OWN[own], _SCARF_SHARES[1])]
    parts += [(_SCARF_OWN[k], _SCARF_SHARES[2]) for k in _SCARF_OWN if k != own]
    weights: dict[str, float] = {}
    for spec, share in parts:
        items = _parse_words(spec)
        total = sum(w for _, w in items)
        for word, w in items:
            weights[word] = weights.get(word, 0.0) + share * w / total
    return ", ".join(f"{w}={x:.4f}" for w, x in weights.items())


#: Leaves: path | brand group | signal words.
_LEAVES = """
Bags > Handbags > Shoulder bag | fashion | shoulder bag=3, kabelka cez rameno=3, taška cez rameno=2, shoulder handbag, hobo bag
Bags > Handbags > Tote bag | fashion | tote bag=3, tote=2, veľká kabelka=2, kabelka do ruky, shopper kabelka
Bags > Handbags > Clutch | fashion | clutch=3, listová kabelka=2, spoločenská kabelka=2, evening bag, večerná kabelka, psaníčko
Bags > Handbags > Crossbody bag | fashion | crossbody=3, crossbody bag=2, crossbody kabelka=2, malá kabelka cez plece, messenger
Bags > Shopping bags > Shopper | local | shopper=3, nákupná taška=2, plátenná taška=2, canvas bag, jutová taška
Bags > Shopping bags > Foldable shopping bag | generic | skladacia taška=3, foldable bag=2, skladacia nákupná taška, eko taška, reusable bag
Bags > Bum bags | sport | ľadvinka=4, bum bag=2, belt bag=2, waist bag, fanny pack, taška na opasok
Bags > Laptop bags > Laptop sleeve | tech | laptop sleeve=3, obal na notebook=3, puzdro na notebook, sleeve 15.6
Bags > Laptop bags > Laptop briefcase | fashion | taška na notebook=3, laptop bag=2, aktovka=2, briefcase, pracovná taška
Wallets > Women's wallets > Leather | fashion | dámska kožená peňaženka=3, leather wallet=2, kožená peňaženka=2, veľká peňaženka, zipsová peňaženka
Wallets > Women's wallets > Other | fashion | dámska peňaženka=3, peňaženka z ekokože, textilná peňaženka, lakovaná peňaženka, women's wallet
Wallets > Men's wallets > Leather | fashion | pánska kožená peňaženka=3, men's leather wallet=2, bifold=2, kožená dokladovka, kožená peňaženka
Wallets > Men's wallets > Other | fashion | pánska peňaženka=3, slim wallet=2, carbon peňaženka, kovová peňaženka, men's wallet
Wallets > Card holders | fashion | card holder=3, puzdro na karty=3, dokladovka na karty, RFID card holder, kartovnica
Wallets > Coin purses | local | mincovka=4, coin purse=2, peňaženka na mince=2, malá mincovka
Hats & Caps > Winter hats > Beanie | sport | beanie=4, zimná čiapka=3, pletená čiapka=3, čiapka beanie, knit beanie, teplá čiapka
Hats & Caps > Winter hats > Bobble hat | outdoor | čiapka s brmbolcom=4, bobble hat=2, pom pom=2, brmbolec, pompom hat
Hats & Caps > Winter hats > Earflap hat | outdoor | ušianka=4, earflap hat=2, trapper hat, čiapka s ušami=2, baranica
Hats & Caps > Caps > Baseball cap | sport | šiltovka=4, baseball cap=3, kšiltovka=2, snapback, cap s logom
Hats & Caps > Caps > Flat cap | fashion | bekovka=3, flat cap=3, newsboy cap, tweed čiapka, baretka so šiltom
Hats & Caps > Caps > Trucker cap | sport | trucker cap=3, trucker=2, mesh cap, šiltovka so sieťkou=2
Hats & Caps > Summer hats > Straw hat | fashion | slamený klobúk=4, straw hat=2, panama=2, klobúk zo slamy
Hats & Caps > Summer hats > Bucket hat | sport | bucket hat=4, rybársky klobúk=2, klobúk bucket, bucket=2
Hats & Caps > Summer hats > Fedora | fashion | fedora=4, klobúk fedora=2, trilby, plstený klobúk=2
Hats & Caps > Berets | fashion | baretka=4, beret=3, francúzska baretka, vlnená baretka
Accessories > Scarves > Knit scarf | local+fashion+outdoor | {knit}
Accessories > Scarves > Scarf / Shawl | local+fashion+outdoor | {shawl}
Accessories > Scarves > Snood / Loop scarf | local+fashion+outdoor | {snood}
Accessories > Bandanas | sport | bandana=4, šatka bandana=2, paisley, multifunkčná šatka=2, buff
Accessories > Earmuffs | outdoor | klapky na uši=4, earmuffs=3, ušné klapky, chrániče uší
Accessories > Handkerchiefs | local | vreckovka=3, látková vreckovka=3, handkerchief=2, vreckovky
Accessories > Other | generic | doplnok, accessory, rôzne, iné, mix
Gloves > Winter gloves > Knit gloves | outdoor | pletené rukavice=4, knit gloves=3, knitted gloves, teplé rukavice
Gloves > Winter gloves > Leather gloves | fashion | kožené rukavice=4, leather gloves=3, rukavice z jahňacej kože, lambskin
Gloves > Winter gloves > Mittens | outdoor | palčiaky=4, mittens=3, jednoprstové rukavice, rukavice palčiaky
Gloves > Fingerless gloves | fashion | bezprsté rukavice=4, fingerless gloves=3, návleky na ruky, rukavice bez prstov=2
Gloves > Touchscreen gloves | tech | touchscreen gloves=3, dotykové rukavice=3, rukavice na displej, touch
Gloves > Cycling gloves | sport | cyklistické rukavice=4, cycling gloves=3, rukavice na bicykel, gélové
Belts > Men's belts > Leather | fashion | pánsky kožený opasok=3, leather belt=2, kožený opasok=3, opasok z pravej kože
Belts > Men's belts > Textile | outdoor | textilný opasok=3, canvas belt=2, látkový opasok, elastický opasok, taktický opasok
Belts > Women's belts > Leather | fashion | dámsky kožený opasok=3, úzky kožený opasok=2, women's leather belt, kožený opasok
Belts > Women's belts > Waist belt | fashion | opasok do pása=3, waist belt=3, široký opasok=2, korzetový opasok
Belts > Women's belts > Chain belt | fashion | retiazkový opasok=4, chain belt=3, kovový opasok, retiazka
Belts > Braces | fashion | traky=4, braces=2, suspenders=2, pánske traky
Belts > Kids belts | kids | detský opasok=4, kids belt=2, opasok pre deti
Eyewear > Sunglasses > Men's > Aviator | eyewear | aviator=4, pilotky=3, pilotné okuliare, aviator sunglasses
Eyewear > Sunglasses > Men's > Wayfarer | eyewear | wayfarer=4, hranaté okuliare=2, wayfarer sunglasses
Eyewear > Sunglasses > Men's > Sport sunglasses | sport | športové okuliare=4, sport sunglasses=2, cyklistické okuliare, okuliare na bicykel
Eyewear > Sunglasses > Women's > Cat eye | eyewear | cat eye=4, mačacie okuliare=2, cat-eye
Eyewear > Sunglasses > Women's > Oversized | eyewear | oversized=4, veľké slnečné okuliare=2, oversize
Eyewear > Sunglasses > Women's > Round | eyewear | okrúhle okuliare=4, round sunglasses=2, lennonky
Eyewear > Sunglasses > Kids | kids | detské slnečné okuliare=4, kids sunglasses=2
Eyewear > Glasses cases | generic | puzdro na okuliare=4, glasses case=2, obal na okuliare, tvrdé puzdro
Eyewear > Reading glasses | generic | okuliare na čítanie=4, reading glasses=2, dioptrie +1.5, čítacie okuliare
Eyewear > Blue light glasses | tech | blue light=3, okuliare na počítač=3, anti blue light, okuliare k PC
Jewellery > Necklaces > Pendant necklace | jewellery | náhrdelník s príveskom=4, pendant necklace=2, prívesok=2, srdiečko
Jewellery > Necklaces > Chain necklace | jewellery | retiazka=4, chain necklace=2, retiazka na krk=2, pancierová retiazka
Jewellery > Necklaces > Choker | jewellery | choker=4, obojok=2, tesný náhrdelník
Jewellery > Earrings > Stud earrings | jewellery | náušnice na puzetu=3, stud earrings=3, puzetky=2, kôstky
Jewellery > Earrings > Hoop earrings | jewellery | kruhové náušnice=4, hoop earrings=3, kruhy, kreolky
Jewellery > Earrings > Drop earrings | jewellery | visiace náušnice=4, drop earrings=3, dangle
Jewellery > Bracelets > Bangle | jewellery | pevný náramok=4, bangle=3, kruhový náramok
Jewellery > Bracelets > Charm bracelet | jewellery | náramok na prívesky=3, charm bracelet=3, modulárny náramok, charm=2
Jewellery > Bracelets > Leather bracelet | local | kožený náramok=4, leather bracelet=2, pánsky náramok, pletený náramok
Jewellery > Rings | jewellery | prsteň=4, ring=2, prstienok=2, zásnubný prsteň, obrúčka
Jewellery > Anklets | jewellery | retiazka na nohu=4, anklet=3, náramok na členok
Jewellery > Brooches | jewellery | brošňa=4, brooch=3, ozdobná brošňa
Jewellery > Jewellery sets | jewellery | sada šperkov=4, jewellery set=3, súprava náhrdelník a náušnice
Watches > Men's watches > Analog | watches | pánske hodinky=4, men's watch=3, analógové, ručičkové hodinky
Watches > Men's watches > Chronograph | watches | chronograf=4, chronograph=3, stopky, chrono
Watches > Women's watches > Analog | watches | dámske hodinky=4, women's watch=3, analógové, elegantné hodinky
Watches > Women's watches > Fashion | fashion | módne hodinky=4, fashion watch=2, hodinky s kamienkami=2, rose gold
Watches > Smartwatches | tech | smart hodinky=4, smartwatch=3, inteligentné hodinky, fitness náramok, krokomer, bluetooth
Watches > Kids watches | kids | detské hodinky=4, kids watch=2, GPS hodinky pre deti
Watches > Watch straps | watches | remienok k hodinkám=4, watch strap=3, náhradný remienok=2, remienok
Umbrellas > Folding umbrellas | umbrella | skladací dáždnik=4, folding umbrella=3, vreckový dáždnik, automatický dáždnik, mini dáždnik
Umbrellas > Stick umbrellas | umbrella | palicový dáždnik=4, stick umbrella=3, vychádzkový dáždnik, holový dáždnik
Umbrellas > Kids umbrellas | kids | detský dáždnik=4, kids umbrella=2, priehľadný dáždnik
Umbrellas > Golf umbrellas | sport | golfový dáždnik=4, golf umbrella=3, veľký dáždnik, XXL dáždnik
Hair accessories > Hair clips > Claw clip | fashion | štipec do vlasov=4, claw clip=3, klip do vlasov, skřipec
Hair accessories > Hair clips > Barrette | fashion | spona do vlasov=4, barrette=2, sponka=2, hair slide
Hair accessories > Hair ties > Scrunchie | fashion | scrunchie=4, gumička scrunchie, saténová gumička=2, zamatová gumička
Hair accessories > Hair ties > Elastic hair ties | generic | gumičky do vlasov=4, hair ties=3, elastické gumičky, špirálové gumičky
Hair accessories > Headbands | fashion | čelenka=4, headband=3, čelenka do vlasov, turban čelenka
Hair accessories > Hair pins | generic | vlásenky=4, hair pins=3, pinetky, ozdobné vlásenky
Ties & Bow ties > Ties > Silk tie | fashion | hodvábna kravata=4, silk tie=3, kravata z hodvábu, kravata=2
Ties & Bow ties > Ties > Knit tie | fashion | pletená kravata=4, knit tie=3, knitted tie, kravata=1
Ties & Bow ties > Ties > Slim tie | fashion | úzka kravata=4, slim tie=3, skinny tie, kravata=1
Ties & Bow ties > Bow ties | fashion | motýlik=4, bow tie=3, pánsky motýlik
Ties & Bow ties > Pocket squares | fashion | vreckovka do saka=4, pocket square=3, ozdobná vreckovka
Ties & Bow ties > Cufflinks | jewellery | manžetové gombíky=4, cufflinks=3, manžetovky
Ties & Bow ties > Tie clips | jewellery | spona na kravatu=4, tie clip=3, kravatová spona
Socks > Men's socks > Everyday socks | socks | pánske ponožky=4, everyday socks=2, bežné ponožky, bavlnené ponožky
Socks > Men's socks > Business socks | socks | spoločenské ponožky=4, business socks=2, oblekové ponožky, čierne ponožky
Socks > Women's socks > Ankle socks | socks | členkové ponožky=4, ankle socks=3, krátke ponožky, ťapky, footies
Socks > Women's socks > Knee socks | socks | podkolienky=4, knee socks=3, nadkolienky, vysoké ponožky
Socks > Women's socks > Tights | socks | pančuchové nohavice=4, tights=3, pančucháče, silonky, 20 DEN
Socks > Sports socks | sport | športové ponožky=4, sports socks=2, bežecké ponožky, running socks, funkčné ponožky
Socks > Thermal socks | outdoor | termo ponožky=4, thermal socks=2, teplé ponožky, lyžiarske ponožky
Socks > Kids socks | kids | detské ponožky=4, kids socks=2, ponožky pre deti
Keyrings & Charms > Keyrings > Leather keyring | local | kožená kľúčenka=4, leather keyring=2, kožený prívesok
Keyrings & Charms > Keyrings > Metal keyring | generic | kovová kľúčenka=4, metal keyring=2, krúžok na kľúče, karabína
Keyrings & Charms > Keyrings > Plush keyring | kids | plyšová kľúčenka=4, plush keyring=2, plyšový prívesok, zvieratko
Keyrings & Charms > Bag charms | fashion | prívesok na kabelku=4, bag charm=3, ozdoba na kabelku, strapec
Tech accessories > Phone cases > Flip case | tech | flip case=3, knižkové puzdro=4, flipové puzdro, book case
Tech accessories > Phone cases > Back cover | tech | zadný kryt=4, back cover=3, silikónový kryt, ochranný kryt
Tech accessories > Tablet cases | tech | puzdro na tablet=4, tablet case=3, obal na iPad, smart cover
Tech accessories > Earbuds cases | tech | obal na slúchadlá=4, AirPods case=3, puzdro na slúchadlá
Tech accessories > Phone straps | tech | šnúrka na mobil=4, phone strap=3, crossbody šnúrka, lanyard
Luggage > Suitcases > Hard-shell > Cabin suitcase | travel | kabínový kufor=4, cabin suitcase=3, príručná batožina, palubný kufor, škrupinový kufor
Luggage > Suitcases > Hard-shell > Large suitcase | travel | veľký kufor=4, large suitcase=3, škrupinový kufor=2, pevný kufor
Luggage > Suitcases > Soft > Cabin suitcase | travel | látkový kabínový kufor=3, soft cabin case=2, príručný kufor=2, kabínový kufor
Luggage > Suitcases > Soft > Large suitcase | travel | látkový kufor=4, soft luggage=2, rozšíriteľný kufor=2, veľký kufor
Luggage > Travel bags > Duffel bag | travel | cestovná taška=4, duffel bag=3, duffle
Luggage > Travel bags > Weekender | fashion | víkendová taška=4, weekender=3, weekend bag
Luggage > Travel accessories > Luggage tag | travel | menovka na kufor=4, luggage tag=3, visačka
Luggage > Travel accessories > Travel pillow | travel | cestovný vankúš=4, travel pillow=3, nákrčný vankúš, vankúš pod krk
Luggage > Travel accessories > Passport cover | travel | obal na pas=4, passport cover=3, puzdro na cestovný pas
Luggage > Luggage sets | travel | sada kufrov=4, luggage set=3, súprava kufrov 3 ks
Backpacks > Urban backpacks | fashion | mestský batoh=4, urban backpack=3, city backpack, rolltop
Backpacks > School backpacks | kids | školský batoh=4, školská taška=2, school backpack=2, aktovka, ergonomický
Backpacks > Hiking backpacks > Daypack | outdoor | turistický batoh=4, daypack=3, hiking backpack
Backpacks > Hiking backpacks > Trekking backpack | outdoor | trekingový batoh=4, trekking backpack=3, krosna=2
Backpacks > Laptop backpacks | tech | batoh na notebook=4, laptop backpack=3, USB port, anti-theft
Backpacks > Mini backpacks | fashion | malý batoh=3, mini backpack=3, batôžtek=2
Sports accessories > Sports bags > Gym bag | sport | športová taška=4, gym bag=3, taška do fitka, fitness taška
Sports accessories > Sports bags > Drawstring bag | sport | vak=3, gymsack=3, drawstring bag=2, vak na prezuvky
Sports accessories > Sweatbands > Headband | sport | potítko na hlavu=4, sweatband=2, športová čelenka
Sports accessories > Sweatbands > Wristband | sport | potítko na zápästie=4, wristband=3, potítka
Sports accessories > Water bottles | sport | fľaša na vodu=4, water bottle=3, športová fľaša, bidon
Sports accessories > Fitness gloves | sport | fitness rukavice=4, gym gloves=3, rukavice do posilňovne
Sports accessories > Running accessories > Running belt | sport | bežecký opasok=4, running belt=3, ľadvinka na behanie
Sports accessories > Running accessories > Phone armband | sport | puzdro na ruku=4, armband=3, držiak na mobil na ruku
Kids accessories > Kids hats | kids | detská čiapka=4, kids hat=2, čiapka pre deti, detská šiltovka
Kids accessories > Kids gloves | kids | detské rukavice=4, kids gloves=2, detské palčiaky
Kids accessories > Kids bags > Preschool backpack | kids | batôžtek do škôlky=4, preschool backpack=2, detský batoh=2, škôlka
Kids accessories > Kids bags > Kids purse | kids | detská kabelka=4, kids purse=2, detská peňaženka
Kids accessories > Other | kids | detský doplnok, rôzne, iné, mix
Shoe accessories > Shoe care > Shoe polish | generic | krém na topánky=4, shoe polish=3, leštidlo, vosk na obuv
Shoe accessories > Shoe care > Waterproofing spray | generic | impregnácia=4, impregnačný sprej=3, waterproof spray
Shoe accessories > Shoe care > Shoe brush | generic | kefa na topánky=4, shoe brush=3, kefka
Shoe accessories > Insoles | generic | vložky do topánok=4, insoles=3, stielky, ortopedické vložky
Shoe accessories > Shoelaces | generic | šnúrky do topánok=4, shoelaces=3, šnúrky, tkaničky
Shoe accessories > Shoe horns | generic | obuvák=4, shoe horn=3, lyžica na topánky
Gifts > Gift cards | local | darčeková poukážka=4, gift card=3, poukaz, voucher
Gifts > Gift boxes | generic | darčeková krabička=4, gift box=3, krabička
Gifts > Gift wrapping | generic | baliaci papier=4, gift wrap=3, stuha, mašľa
Carnival & Party > Masks | party | karnevalová maska=4, benátska maska=2, mask=2, maska
Carnival & Party > Wigs | party | parochňa=4, wig=3, syntetické vlasy
Carnival & Party > Party hats | party | párty klobúk=3, party hat=3, čarodejnícky klobúk, cylinder
Carnival & Party > Costume accessories | party | kostýmový doplnok=3, tiara, krídla, korunka
Cosmetic bags & Organisers > Cosmetic bag | fashion | kozmetická taška=4, cosmetic bag=3, taštička na kozmetiku, make-up bag
Cosmetic bags & Organisers > Toiletry bag | outdoor | toaletná taška=4, toiletry bag=3, závesná toaletná taška, wash bag
Cosmetic bags & Organisers > Jewellery box | generic | šperkovnica=4, jewellery box=3, krabička na šperky, organizér na šperky
Beach & Swim > Beach bags | fashion | plážová taška=4, beach bag=3, slamená taška, taška na pláž
Beach & Swim > Pareos | fashion | pareo=4, sarong=2, plážová šatka=2, plážový šál
Beach & Swim > Swim caps | sport | kúpacia čiapka=4, swim cap=3, plavecká čiapka, silikónová čiapka
Beach & Swim > Beach towels | generic | plážová osuška=4, beach towel=3, osuška, uterák
Badges & Patches > Enamel pins | generic | smaltovaný odznak=4, enamel pin=3, pin=2
Badges & Patches > Iron-on patches | generic | nažehľovacia nášivka=4, iron-on patch=3, nášivka na oblečenie
Badges & Patches > Button badges | generic | placka=4, button badge=3, buttonka, odznak placka
"""

#: Two-path "set" products: (leaf A, leaf B, relative weight, set words).
_SETS = [
    ("Hats & Caps > Winter hats > Beanie", "Accessories > Scarves > Knit scarf", 5,
     "set čiapka a šál=3, hat and scarf set=2, súprava čiapka + šál, zimný set=2"),
    ("Gloves > Winter gloves > Knit gloves", "Accessories > Scarves > Knit scarf", 3,
     "set rukavice a šál=3, gloves and scarf gift set=2, darčeková sada šál + rukavice"),
    ("Hats & Caps > Winter hats > Bobble hat", "Accessories > Scarves > Snood / Loop scarf", 2,
     "set čiapka a nákrčník=3, hat & snood set=2, zimný komplet"),
    ("Hats & Caps > Winter hats > Beanie", "Gloves > Winter gloves > Knit gloves", 2,
     "set čiapka a rukavice=3, hat and gloves set=2, zimný komplet"),
    ("Wallets > Men's wallets > Leather", "Belts > Men's belts > Leather", 3,
     "darčeková sada peňaženka a opasok=3, gift set wallet & belt=2, pánsky darčekový set"),
    ("Ties & Bow ties > Ties > Silk tie", "Ties & Bow ties > Pocket squares", 2,
     "set kravata a vreckovka=3, tie & pocket square set=2"),
    ("Ties & Bow ties > Cufflinks", "Ties & Bow ties > Tie clips", 1,
     "set manžetové gombíky a spona=3, cufflinks & tie clip set=2"),
    ("Watches > Women's watches > Analog", "Jewellery > Bracelets > Charm bracelet", 1,
     "darčeková sada hodinky + náramok=3, watch & bracelet gift set=2"),
    ("Kids accessories > Kids hats", "Kids accessories > Kids gloves", 1,
     "detský set čiapka a rukavice=3, kids hat and gloves set=2"),
    ("Luggage > Travel accessories > Luggage tag", "Luggage > Travel accessories > Passport cover", 1,
     "cestovný set menovka + obal na pas=3, travel set=2"),
]

#: Share of labelled products that carry two paths.
_SET_SHARE = 0.025

#: Leaves listed here are the most common ones, in this order; the rest follow in a
#: fixed pseudo-random order. The scarf trio is common, so its low F1 comes from
#: confusion and not from scarcity.
_POPULAR = [
    "Hats & Caps > Winter hats > Beanie",
    "Bags > Handbags > Shoulder bag",
    "Wallets > Women's wallets > Leather",
    "Socks > Men's socks > Everyday socks",
    "Hats & Caps > Caps > Baseball cap",
    "Bags > Handbags > Crossbody bag",
    "Accessories > Scarves > Knit scarf",
    "Jewellery > Earrings > Stud earrings",
    "Gloves > Winter gloves > Knit gloves",
    "Accessories > Scarves > Scarf / Shawl",
    "Backpacks > Urban backpacks",
    "Accessories > Scarves > Snood / Loop scarf",
    "Belts > Men's belts > Leather",
    "Watches > Men's watches > Analog",
    "Tech accessories > Phone cases > Back cover",
    "Eyewear > Sunglasses > Men's > Aviator",
]
# Zipf-Mandelbrot weights (rank + q) ** -s of the single-leaf classes: at 50,000
# labelled products the top leaf gets ~6,500 (plus sets) and the rarest 25.
_ZIPF_S = 1.5
_ZIPF_Q = 3.0

_COLOURS = (
    "čierna=3, čierny=2, black=3, biela=2, biely, white=2, modrá=1.5, blue, tmavomodrá, navy, "
    "červená, red, zelená, green, khaki, sivá, šedá, grey, gray, antracit, hnedá, brown, koňak, "
    "cognac, béžová, beige, camel, krémová, ružová, pink, staroružová, fialová, purple, bordová, "
    "burgundy, vínová, žltá, yellow, horčicová, mustard, oranžová, orange, zlatá, gold, strieborná, "
    "silver, rose gold, viacfarebná, multicolor, pruhovaná, kockovaná, leopard, s potlačou"
)
_GENDERS = (
    "dámska=3, dámsky=2, dámske, pánsky=2, pánska=2, pánske, unisex=2, women's=2, men's=2, "
    "for women, for men, pre ženy, pre mužov"
)
_ADJECTIVES = (
    "nový=2, new=2, elegantný, elegant, štýlový, stylish, classic, klasický, moderný, premium=2, "
    "luxusný, originál, original, trendy, basic, vintage, retro, 2024, 2025, novinka=2, "
    "bestseller, TOP, akcia, výpredaj, -30 %, kolekcia jeseň/zima, AW24, SS25, limitovaná edícia"
)
_SEASONS = (
    "na zimu=2, for winter, celoročný, na leto, for summer, na jeseň, all season, do mesta=2, "
    "na turistiku, na každý deň=2, everyday, do práce, na párty, na výlet, na dovolenku"
)
_SHIPPING = (
    "Doprava zdarma nad 49 €.=2, Skladom – odosielame do 24 hodín.=2, Free shipping., "
    "Vrátenie tovaru do 30 dní., Originálny produkt s garanciou., 100 % spokojnosť zákazníkov., "
    "Rýchle doručenie po celom Slovensku., Dodanie 2-3 pracovné dni., Možnosť osobného odberu v Bratislave."
)
_CARE = (
    "Prať ručne.=2, Hand wash only., Prať pri 30 °C.=2, Nežehliť., Do not tumble dry., "
    "Čistiť vlhkou handričkou., Chrániť pred vlhkosťou., Nebieliť., Skladovať v suchu."
)
_RECIPIENTS = "ženu=2, muža=2, mamu, otca, priateľku, priateľa, kolegu, kolegyňu, deti, každého"
_PRAISE = (
    "kvalitné spracovanie=2, high quality, pohodlný, comfortable, odolný, durable, ľahký, "
    "lightweight, praktický, practical, nadčasový dizajn, timeless design, jemný na dotyk, "
    "soft touch, ručná výroba, handmade, slovenský výrobok"
)
_CONNECTORS = "a=3, +=3, &=2, and, s"
_SEPS = "-=3, |=2, –, /, :"
_SKU_PREFIX = "SKU=3, kód:=2, Kód:, art.=2, EAN=2, č.=1, model, ref."


def _parse_words(spec: str) -> list[tuple[str, float]]:
    """``"a=2, b"`` -> ``[("a", 2.0), ("b", 1.0)]``."""
    out = []
    for item in spec.split(", "):
        item = item.strip()
        if not item:
            continue
        word, _, weight = item.rpartition("=")
        if not word or not _is_number(weight):
            word, weight = item, "1"
        out.append((word, float(weight)))
    return out


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _parse_leaves() -> tuple[list[tuple[str, ...]], list[str], list[str]]:
    paths, groups, words = [], [], []
    for line in _LEAVES.strip().splitlines():
        path, group, spec = (x.strip() for x in line.split(" | ", 2))
        if spec.startswith("{"):
            spec = _scarf_words(spec.strip("{}"))
        paths.append(tuple(p.strip() for p in path.split(">")))
        groups.append(group)
        words.append(spec)
    return paths, groups, words


_LEAF_PATHS, _LEAF_GROUPS, _LEAF_WORDS = _parse_leaves()


def _build_tree(paths: list[tuple[str, ...]]) -> dict:
    tree: dict = {}
    for path in paths:
        node = tree
        for name in path:
            node = node.setdefault(name, {})
    return tree


#: The category tree as a nested dict ``{name: {child: {...}}}``; leaves map to ``{}``.
DEMO_TREE: dict = _build_tree(_LEAF_PATHS)


def leaf_paths(tail_leaves: int = 0) -> list[tuple[str, ...]]:
    """All leaf paths of :data:`DEMO_TREE`, in tree order, then the first
    ``tail_leaves`` generated tail leaves (see :func:`demo_tree`)."""
    _check_tail_leaves(tail_leaves)
    return list(_LEAF_PATHS) + [t.path for t in _tail_spec(tail_leaves)]


def demo_tree(tail_leaves: int = 0) -> dict:
    """The category tree of a catalogue generated with ``tail_leaves`` extra rare leaves.

    ``demo_tree(0)`` equals :data:`DEMO_TREE`. Tail leaves are extra children of
    the internal nodes that hold hand-written leaves; the tree is the same for
    every catalogue seed, and the tail leaves of a smaller ``tail_leaves`` are the
    first ones of a larger.
    """
    return _build_tree(leaf_paths(tail_leaves))


# ---------------------------------------------------------------------------------
# Long-tail leaves (``tail_leaves``)
# ---------------------------------------------------------------------------------
# Real general-merchandise trees have hundreds of small product-line / type leaves
# next to a few big ones. Tail leaf k is "<Line> <head noun>" (e.g. "Bags > Handbags
# > Velora handbag") under one of the parents of the hand-written leaves; its own
# signal words are the line name and 0-2 generated model/technology words. All of it
# comes from one fixed random stream, so the tree does not depend on the catalogue
# seed and the first k tail leaves are the same for every ``tail_leaves >= k``.

#: Seed of the tail-leaf tree (names, words, parents, brand groups, count order).
_TAIL_SEED = 0x7A11
#: Upper limit of ``tail_leaves`` (the tail then takes about a third of the products).
MAX_TAIL_LEAVES = 2000

#: English head noun (leaf names) and Slovak head noun (titles) of the tail leaves
#: under each parent of hand-written leaves.
_TAIL_HEADS = {
    "Bags > Handbags": ("handbag", "kabelka"),
    "Bags > Shopping bags": ("shopping bag", "nákupná taška"),
    "Bags": ("bag", "taška"),
    "Bags > Laptop bags": ("laptop bag", "taška na notebook"),
    "Wallets > Women's wallets": ("wallet", "dámska peňaženka"),
    "Wallets > Men's wallets": ("wallet", "pánska peňaženka"),
    "Wallets": ("wallet", "peňaženka"),
    "Hats & Caps > Winter hats": ("winter hat", "zimná čiapka"),
    "Hats & Caps > Caps": ("cap", "šiltovka"),
    "Hats & Caps > Summer hats": ("hat", "klobúk"),
    "Hats & Caps": ("hat", "čiapka"),
    "Accessories > Scarves": ("scarf", "šál"),
    "Accessories": ("accessory", "doplnok"),
    "Gloves > Winter gloves": ("gloves", "zimné rukavice"),
    "Gloves": ("gloves", "rukavice"),
    "Belts > Men's belts": ("belt", "pánsky opasok"),
    "Belts > Women's belts": ("belt", "dámsky opasok"),
    "Belts": ("belt", "opasok"),
    "Eyewear > Sunglasses > Men's": ("sunglasses", "pánske okuliare"),
    "Eyewear > Sunglasses > Women's": ("sunglasses", "dámske okuliare"),
    "Eyewear > Sunglasses": ("sunglasses", "slnečné okuliare"),
    "Eyewear": ("glasses", "okuliare"),
    "Jewellery > Necklaces": ("necklace", "náhrdelník"),
    "Jewellery > Earrings": ("earrings", "náušnice"),
    "Jewellery > Bracelets": ("bracelet", "náramok"),
    "Jewellery": ("jewel", "šperk"),
    "Watches > Men's watches": ("watch", "pánske hodinky"),
    "Watches > Women's watches": ("watch", "dámske hodinky"),
    "Watches": ("watch", "hodinky"),
    "Umbrellas": ("umbrella", "dáždnik"),
    "Hair accessories > Hair clips": ("hair clip", "spona do vlasov"),
    "Hair accessories > Hair ties": ("hair tie", "gumička"),
    "Hair accessories": ("hair accessory", "ozdoba do vlasov"),
    "Ties & Bow ties > Ties": ("tie", "kravata"),
    "Ties & Bow ties": ("accessory", "pánsky doplnok"),
    "Socks > Men's socks": ("socks", "pánske ponožky"),
    "Socks > Women's socks": ("socks", "dámske ponožky"),
    "Socks": ("socks", "ponožky"),
    "Keyrings & Charms > Keyrings": ("keyring", "kľúčenka"),
    "Keyrings & Charms": ("charm", "prívesok"),
    "Tech accessories > Phone cases": ("phone case", "kryt na mobil"),
    "Tech accessories": ("case", "puzdro"),
    "Luggage > Suitcases > Hard-shell": ("suitcase", "škrupinový kufor"),
    "Luggage > Suitcases > Soft": ("suitcase", "látkový kufor"),
    "Luggage > Travel bags": ("travel bag", "cestovná taška"),
    "Luggage > Travel accessories": ("travel accessory", "cestovný doplnok"),
    "Luggage": ("luggage", "batožina"),
    "Backpacks": ("backpack", "batoh"),
    "Backpacks > Hiking backpacks": ("hiking backpack", "turistický batoh"),
    "Sports accessories > Sports bags": ("sports bag", "športová taška"),
    "Sports accessories > Sweatbands": ("sweatband", "potítko"),
    "Sports accessories": ("sport accessory", "športový doplnok"),
    "Sports accessories > Running accessories": ("running accessory", "bežecký doplnok"),
    "Kids accessories": ("kids accessory", "detský doplnok"),
    "Kids accessories > Kids bags": ("kids bag", "detská taška"),
    "Shoe accessories > Shoe care": ("shoe care", "starostlivosť o obuv"),
    "Shoe accessories": ("shoe accessory", "doplnok k obuvi"),
    "Gifts": ("gift", "darček"),
    "Carnival & Party": ("costume", "kostým"),
    "Cosmetic bags & Organisers": ("organiser", "organizér"),
    "Beach & Swim": ("beach accessory", "plážový doplnok"),
    "Badges & Patches": ("badge", "odznak"),
}

# Syllables of the generated words: plain consonant-vowel syllables, about a third
# of the words with one Slovak diacritic, so they also get the typed-without-
# diacritics spelling like every other word ("Velôra" / "Velora").
_ONSETS = "b d k l m n p r s t v z h j f g br dr kr tr pr gr st sl sk sv vl kl pl".split()
_VOWELS = "a a e e i o o u".split()
_LINE_ENDS = ("", "", "", "n", "r", "s", "x", "l", "t", "m", "k")
_TECH_SUFFIXES = ("flex", "tex", "lite", "soft", "max", "tech", "line", "fit", "wear", "dry",
                  "cool", "form", "grip", "shell", "loft", "ček", "ník")
_ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ô", "u": "ú", "s": "š", "z": "ž", "t": "ť",
            "l": "ľ", "d": "ď", "n": "ň"}
_P_ACCENT = 0.35

#: Title / description probabilities of a tail leaf's own words and its siblings'
#: words (the hand-written leaves use ``_P_CORE_OWN`` etc.): some own word is in
#: about 73 % of the titles, so many products read like a sibling's.
_P_TAIL_CORE_OWN, _P_TAIL_CORE_SIB = 0.72, 0.16
_P_TAIL_CORE2_OWN, _P_TAIL_CORE2_SIB = 0.50, 0.25
_P_TAIL_DESC_OWN, _P_TAIL_DESC_SIB = 0.45, 0.20

#: Labelled products of the tail leaves at the reference size of 30,000 labelled
#: products: quantiles of a discrete Pareto law truncated at ``_TAIL_MAX``,
#: ``P(count >= c) ~ c ** -_TAIL_ALPHA``; proportional at other sizes.
_TAIL_REF_LABELLED = 30_000
_TAIL_ALPHA = 0.65
_TAIL_MAX = 48


class _TailLeaf:
    __slots__ = ("path", "group", "words")

    def __init__(self, path: tuple[str, ...], group: str, words: str):
        self.path, self.group, self.words = path, group, words


def _check_tail_leaves(tail_leaves: int) -> None:
    if not isinstance(tail_leaves, (int, np.integer)) or isinstance(tail_leaves, bool):
        raise ValueError(f"tail_leaves must be a whole number, got {tail_leaves!r}")
    if not 0 <= tail_leaves <= MAX_TAIL_LEAVES:
        raise ValueError(f"tail_leaves must be between 0 and {MAX_TAIL_LEAVES}, got {tail_leaves}")


def _known_tokens() -> set[str]:
    """Cleaned tokens of every hand-written word, so generated words never clash."""
    texts = [_LEAVES, repr(_TOPS), repr(_BRANDS), repr(_SIZES), repr(_SETS), repr(_TAIL_HEADS),
             _SCARF_SHARED, repr(_SCARF_OWN), _COLOURS, _GENDERS, _ADJECTIVES, _SEASONS,
             _SHIPPING, _CARE, _RECIPIENTS, _PRAISE, _CONNECTORS, _SKU_PREFIX]
    return set(re.findall(r"[a-z0-9]+", unidecode(" ".join(texts)).lower()))


def _pseudo_word(rng: np.random.Generator, syllables: int, ends: tuple[str, ...]) -> str:
    word = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                   for _ in range(syllables))
    word += ends[rng.integers(len(ends))]
    if rng.random() < _P_ACCENT:  # one letter (not the first) gets a diacritic
        spots = [i for i in range(1, len(word)) if word[i] in _ACCENTS]
        if spots:
            i = spots[rng.integers(len(spots))]
            word = word[:i] + _ACCENTS[word[i]] + word[i + 1:]
    return word


def _tail_spec(tail_leaves: int) -> tuple[_TailLeaf, ...]:
    """The first ``tail_leaves`` tail leaves (the others are generated no matter what)."""
    return _all_tail_leaves()[:tail_leaves] if tail_leaves else ()


@functools.lru_cache(maxsize=1)
def _all_tail_leaves() -> tuple[_TailLeaf, ...]:
    """All :data:`MAX_TAIL_LEAVES` tail leaves, from the fixed seed :data:`_TAIL_SEED`."""
    rng = np.random.default_rng(_TAIL_SEED)
    by_parent: dict[tuple[str, ...], list[int]] = {}
    for i, p in enumerate(_LEAF_PATHS):
        by_parent.setdefault(p[:-1], []).append(i)
    parents = list(by_parent)
    mismatch = {LEVEL_SEP.join(p) for p in parents} ^ set(_TAIL_HEADS)
    if mismatch:
        raise AssertionError(f"_TAIL_HEADS does not match the parents: {sorted(mismatch)}")
    # Hand-written leaves below each parent give the tail leaf its brand group.
    below = [[i for i, p in enumerate(_LEAF_PATHS) if p[:len(q)] == q] for q in parents]
    taken = {q: {name.lower() for name in _subtree(q)} for q in parents}
    used = _known_tokens()
    # Smooth weighted round robin: a parent's share of the tail leaves is proportional
    # to its hand-written children + 1, and the parents are evenly interleaved.
    weight = np.array([len(by_parent[q]) + 1 for q in parents], dtype=np.int64)
    current = np.zeros(len(parents), dtype=np.int64)
    out = []
    for _ in range(MAX_TAIL_LEAVES):
        current += weight
        j = int(np.argmax(current))
        current[j] -= weight.sum()
        parent = parents[j]
        head_en, head_sk = _TAIL_HEADS[LEVEL_SEP.join(parent)]
        while True:
            line = _capitalise(_pseudo_word(rng, int(rng.integers(2, 4)), _LINE_ENDS))
            key = unidecode(line).lower()
            name = f"{line} {head_en}"
            if len(key) >= 4 and key not in used and name.lower() not in taken[parent]:
                break
        used.add(key)
        taken[parent].add(name.lower())
        extras = []
        for _ in range(int(rng.integers(0, 3))):  # 1-3 own signal words in all
            while True:
                w = (_pseudo_word(rng, int(rng.integers(1, 3)), ("",))
                     + _TECH_SUFFIXES[rng.integers(len(_TECH_SUFFIXES))])
                key = unidecode(w).lower()
                if len(key) >= 5 and key not in used:
                    break
            used.add(key)
            extras.append(w)
        words = [f"{line} {head_en}=3", f"{head_sk} {line}=3", f"{line}=1.5"]
        for w in extras:
            words += [f"{w}=1.5", f"{head_sk} {w}=1", f"{line} {_capitalise(w)}=1"]
        group = _LEAF_GROUPS[below[j][int(rng.integers(len(below[j])))]]
        out.append(_TailLeaf(parent + (name,), group, ", ".join(words)))
    return tuple(out)


def _subtree(prefix: tuple[str, ...]) -> dict:
    node = DEMO_TREE
    for name in prefix:
        node = node[name]
    return node


def _tail_counts(tail_leaves: int) -> np.ndarray:
    """Labelled products of every tail leaf at :data:`_TAIL_REF_LABELLED` labelled products.

    Evenly spaced quantiles of the truncated discrete Pareto law, assigned to the
    leaves in a fixed pseudo-random order.
    """
    if tail_leaves == 0:
        return np.zeros(0, dtype=np.int64)
    u = (np.arange(tail_leaves) + 0.5) / tail_leaves
    lo = float(_TAIL_MAX + 1) ** -_TAIL_ALPHA
    counts = np.floor((lo + (1 - lo) * u) ** (-1 / _TAIL_ALPHA)).astype(np.int64)
    counts = np.clip(counts, 1, _TAIL_MAX)
    return np.random.default_rng([_TAIL_SEED, tail_leaves]).permutation(counts)


# ---------------------------------------------------------------------------------
# Compiled samplers
# ---------------------------------------------------------------------------------

_ENTITIES = {
    "š": "&scaron;", "č": "&ccaron;", "ž": "&zcaron;", "ľ": "&lcaron;", "ť": "&tcaron;",
    "ň": "&ncaron;", "á": "&aacute;", "é": "&eacute;", "í": "&iacute;", "ý": "&yacute;",
    "ú": "&uacute;", "ó": "&oacute;", "ô": "&ocirc;", "ä": "&auml;",
}


def _capitalise(w: str) -> str:
    return w[:1].upper() + w[1:]


class _Pool:
    """Weighted word lists for many groups, sampled for many rows at once.

    Each group has an inverse-CDF lookup table of :attr:`R` entries, so drawing a
    word for every row from that row's group is one fancy-indexing operation.
    ``self.words[v, i]`` is word ``i`` in spelling variant ``v`` (0 as written,
    1 capitalised, 2 without diacritics, 3 both), with a trailing space.
    """

    R = 1024

    def __init__(self, groups: list[list[tuple[str, float]]]):
        words: list[str] = []
        tables = []
        grid = (np.arange(self.R) + 0.5) / self.R
        for g, items in enumerate(groups):
            if not items:
                raise ValueError(f"empty word group {g}")
            w = np.array([x[1] for x in items], dtype=float)
            k = np.searchsorted(np.cumsum(w) / w.sum(), grid, side="right")
            tables.append(len(words) + np.minimum(k, len(items) - 1))
            words.extend(x[0] for x in items)
        self.table = np.array(tables, dtype=np.int32)
        self.raw = words
        variants = [
            words,
            [_capitalise(w) for w in words],
            [unidecode(w) for w in words],
            [_capitalise(unidecode(w)) for w in words],
        ]
        self.words = np.empty((4, len(words)), dtype=object)
        for v, ws in enumerate(variants):
            self.words[v] = [w + " " for w in ws]

    def index(self, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.table[groups, rng.integers(0, self.R, len(groups))]

    def take(self, groups, rng, variant, mask=None) -> np.ndarray:
        """One word (with trailing space) per row; ``""`` where ``mask`` is False."""
        groups = np.broadcast_to(np.asarray(groups), variant.shape)
        out = self.words[variant, self.index(groups, rng)]
        if mask is not None:
            out = np.where(mask, out, "")
        return out


class _Model:
    """Everything the generator needs, compiled once from the specification.

    Leaves: the hand-written ones, then ``tail_leaves`` tail leaves. Classes: every
    hand-written leaf alone, every two-path set, every tail leaf, in this order (so
    the default catalogue does not change with the tail machinery).
    """

    def __init__(self, tail_leaves: int = 0) -> None:
        tail = _tail_spec(tail_leaves)
        n_hand = len(_LEAF_PATHS)
        n_tail = len(tail)
        paths = list(_LEAF_PATHS) + [t.path for t in tail]
        leaf_groups = list(_LEAF_GROUPS) + [t.group for t in tail]
        leaf_str = [LEVEL_SEP.join(p) for p in paths]
        leaf_index = {s: i for i, s in enumerate(leaf_str)}
        if len(leaf_index) != len(paths):
            raise AssertionError("duplicate leaf paths")
        tops = list(_TOPS)
        top_index = {t: i for i, t in enumerate(tops)}
        self.n_hand = n_hand
        self.n_tail = n_tail
        self.n_leaves = n_hand + n_tail
        self.leaf_top = np.array([top_index[p[0]] for p in paths])
        # Brand groups: the named groups, then every "a+b" mix used by some leaf.
        groups = list(_BRANDS) + sorted({g for g in _LEAF_GROUPS if g not in _BRANDS})
        self.leaf_brand_group = np.array([groups.index(g) for g in leaf_groups])
        size_kinds = list(_SIZES)
        self.top_size_kind = np.array([size_kinds.index(_TOPS[t][2]) for t in tops])

        popular = [leaf_index[s] for s in _POPULAR]
        rest = [i for i in range(n_hand) if i not in set(popular)]
        rest = list(np.random.default_rng(20240611).permutation(rest))
        rank = np.empty(n_hand, dtype=float)
        rank[popular + rest] = np.arange(1, n_hand + 1)
        w_leaf = (rank + _ZIPF_Q) ** -_ZIPF_S
        w_leaf *= (1 - _SET_SHARE) / w_leaf.sum()
        w_set = np.array([s[2] for s in _SETS], dtype=float)
        w_set *= _SET_SHARE / w_set.sum()
        # Hand-written leaves and sets, then the tail leaves: a tail leaf's share is
        # its count at the reference size over that size, taken from the others.
        self.tail_counts = _tail_counts(n_tail)
        self.tail_share = self.tail_counts.sum() / _TAIL_REF_LABELLED
        self.hand_p = np.concatenate([w_leaf, w_set])
        if n_tail:
            self.class_p = np.concatenate([self.hand_p * (1 - self.tail_share),
                                           self.tail_counts / _TAIL_REF_LABELLED])
        else:
            self.class_p = self.hand_p

        # Siblings: leaves with the same parent; a leaf without any borrows from
        # all the other leaves of its top-level category. A sibling is picked in
        # proportion to its popularity: a rare leaf's product often reads like a
        # common sibling, but common products rarely use a rare leaf's words.
        # A tail leaf borrows from the hand-written leaves below its parent; no
        # product borrows a tail leaf's words, so those stay its own.
        parent = [p[:-1] for p in _LEAF_PATHS]
        sibs = []
        for i in range(n_hand):
            same = [(leaf_str[j], w_leaf[j]) for j in range(n_hand)
                    if j != i and parent[j] == parent[i]]
            if not same:
                same = [(leaf_str[j], w_leaf[j]) for j in range(n_hand)
                        if j != i and self.leaf_top[j] == self.leaf_top[i]]
            sibs.append(same)
        below: dict[tuple[str, ...], list] = {}
        for t in tail:
            q = t.path[:-1]
            if q not in below:
                below[q] = [(leaf_str[j], w_leaf[j]) for j in range(n_hand)
                            if _LEAF_PATHS[j][:len(q)] == q]
            sibs.append(below[q])
        self.sib_pool = _Pool(sibs)
        self.sib_leaf = np.array([leaf_index[w] for w in self.sib_pool.raw])

        def per_leaf(hand: float, tail_value: float) -> np.ndarray:
            return np.concatenate([np.full(n_hand, hand), np.full(n_tail, tail_value)])

        self.p_core_own = per_leaf(_P_CORE_OWN, _P_TAIL_CORE_OWN)
        self.p_core_sib = per_leaf(_P_CORE_SIB, _P_TAIL_CORE_SIB)
        self.p_core2_own = per_leaf(_P_CORE2_OWN, _P_TAIL_CORE2_OWN)
        self.p_core2_sib = per_leaf(_P_CORE2_SIB, _P_TAIL_CORE2_SIB)
        self.p_desc_own = per_leaf(_P_DESC_OWN, _P_TAIL_DESC_OWN)
        self.p_desc_sib = per_leaf(_P_DESC_SIB, _P_TAIL_DESC_SIB)

        self.leaf_pool = _Pool([_parse_words(w) for w in _LEAF_WORDS + [t.words for t in tail]])
        self.top_pool = _Pool([_parse_words(_TOPS[t][0]) for t in tops])
        self.mat_pool = _Pool([_parse_words(_TOPS[t][1]) for t in tops])
        self.brand_pool = _Pool([
            [w for part in g.split("+") for w in _parse_words(_BRANDS[part])] for g in groups
        ])
        self.size_pool = _Pool([_parse_words(_SIZES[k]) for k in size_kinds])
        self.set_pool = _Pool([_parse_words(s[3]) for s in _SETS])
        single = {name: _Pool([_parse_words(spec)]) for name, spec in [
            ("colour", _COLOURS), ("gender", _GENDERS), ("adj", _ADJECTIVES),
            ("season", _SEASONS), ("shipping", _SHIPPING), ("care", _CARE),
            ("recipient", _RECIPIENTS), ("praise", _PRAISE), ("conn", _CONNECTORS),
            ("sep", _SEPS), ("sku", _SKU_PREFIX),
        ]}
        self.pools = single

        # Classes: every hand-written leaf alone, every two-path set, every tail leaf.
        self.set_a = np.array([leaf_index[s[0]] for s in _SETS])
        self.set_b = np.array([leaf_index[s[1]] for s in _SETS])
        n_sets = len(_SETS)
        self.n_classes = n_hand + n_sets + n_tail
        tail_leaf = n_hand + np.arange(n_tail)
        self.class_leaf = np.concatenate([np.arange(n_hand), self.set_a, tail_leaf])
        self.class_leaf_b = np.concatenate([np.full(n_hand, -1), self.set_b, np.full(n_tail, -1)])
        self.class_set = np.concatenate([np.zeros(n_hand, dtype=np.int64), np.arange(n_sets),
                                         np.zeros(n_tail, dtype=np.int64)])
        self.class_category = np.array(
            leaf_str[:n_hand] + [a + PATH_SEP + b for a, b, _, _ in _SETS] + leaf_str[n_hand:],
            dtype=object)
        # Category cell of every class, then "" for unlabelled rows (class n_classes),
        # then the class's cell cut to the first level (``shallow_share``); a set
        # keeps both first levels, once each.
        shallow = [PATH_SEP.join(dict.fromkeys(p.split(LEVEL_SEP, 1)[0] for p in c.split(PATH_SEP)))
                   for c in self.class_category]
        self.category_cells = np.concatenate([self.class_category, [""], np.array(shallow, dtype=object)])

        # Building blocks of SKU / EAN codes.
        self.digits5 = np.array([f"{i:05d}" for i in range(100_000)], dtype=object)
        self.digits4 = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)
        self.sku_letters = np.array(
            [a + b + "-" for a in "ABCDEFGHKLMNPRSTVZ" for b in "ABCDEKMSTX"], dtype=object)

    def labelled_quotas(self, n: int) -> np.ndarray:
        """Exact labelled products of every class.

        The tail gets ``round(n * tail_share)`` products: at the reference size
        each tail leaf gets exactly its count, at other sizes proportionally (every
        tail leaf at least 1 while the tail has a product for each). The rest follow
        the hand-written Zipf weights.
        """
        if not self.n_tail:
            return _quotas(n, self.class_p)
        total = int(self.tail_counts.sum())
        n_tail = (n * total + _TAIL_REF_LABELLED // 2) // _TAIL_REF_LABELLED
        if n_tail >= self.n_tail:
            tail_q = 1 + _int_quotas(n_tail - self.n_tail, self.tail_counts - 1)
        else:
            tail_q = _int_quotas(n_tail, self.tail_counts)
        return np.concatenate([_quotas(n - n_tail, self.hand_p), tail_q])


_MODELS: dict[int, _Model] = {}


def _model(tail_leaves: int = 0) -> _Model:
    m = _MODELS.get(tail_leaves)
    if m is None:
        if len(_MODELS) >= 4:  # a few sizes at most; a model is a few MB
            _MODELS.pop(next(k for k in _MODELS if k))
        m = _MODELS[tail_leaves] = _Model(tail_leaves)
    return m


# ---------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------

#: Noise knobs (probabilities per product). Tuned so a TF-IDF + logistic-regression
#: leaf classifier lands around 0.68 leaf macro-F1 (target 0.6 to 0.85).
_P_AMBIGUOUS = 0.10  # title is little more than brand + colour (+ size)
_P_CORE_OWN = 0.78  # title core word from the product's own leaf ...
_P_CORE_SIB = 0.09  # ... or from a sibling leaf; otherwise a top-level generic word
_P_CORE2_OWN = 0.65  # same for the optional second title word
_P_CORE2_SIB = 0.12
_P_DESC_OWN = 0.60  # description mentions the own leaf ...
_P_DESC_SIB = 0.10  # ... or a sibling leaf; otherwise the top-level generic word
_P_TYPO = 0.04
_P_HTML_TITLE = 0.03
_P_HTML_DESC = 0.10
_P_ASCII = 0.12  # product typed without diacritics
_MAX_TITLE_WORDS = 15
_MAX_DESC_WORDS = 40


def _quotas(n: int, p: np.ndarray) -> np.ndarray:
    """Largest-remainder rounding of ``n * p`` to integers summing to ``n``."""
    raw = n * p
    q = np.floor(raw).astype(np.int64)
    short = n - int(q.sum())
    if short > 0:
        order = np.argsort(-(raw - q), kind="stable")
        q[order[:short]] += 1
    return q


def _int_quotas(n: int, w: np.ndarray) -> np.ndarray:
    """Largest-remainder split of ``n`` in proportion to integer weights ``w``, exactly."""
    w = np.asarray(w, dtype=np.int64)
    total = int(w.sum())
    if total == 0:
        w, total = np.ones_like(w), len(w)
    q = n * w // total
    rem = n * w - q * total
    short = n - int(q.sum())
    if short > 0:
        q[np.argsort(-rem, kind="stable")[:short]] += 1
    return q


def _layout(
    m: _Model, n_labelled: int, n_unlabelled: int, seed: int, shallow_share: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class of every row, whether it is labelled and whether its category is cut
    to the first level, already shuffled.

    Labelled classes follow exact quotas (so the rarest leaf always has its ~20
    products at 50k), unlabelled ones are drawn from the same distribution. The
    ``round(shallow_share * n_labelled)`` shallow rows are a random subset of the
    labelled rows that spares the first labelled row of every class, so every leaf
    with a labelled product keeps one at its full path.
    """
    rng = np.random.default_rng([seed, 0x1AB])
    lab = np.repeat(np.arange(m.n_classes, dtype=np.int32), m.labelled_quotas(n_labelled))
    unl = rng.choice(m.n_classes, size=n_unlabelled, p=m.class_p).astype(np.int32)
    cls = np.concatenate([lab, unl])
    perm = rng.permutation(len(cls))
    cls, labelled = cls[perm], perm < n_labelled
    shallow = np.zeros(len(cls), dtype=bool)
    n_shallow = int(round(shallow_share * n_labelled))
    if n_shallow:
        rows = np.flatnonzero(labelled)
        _, first = np.unique(cls[rows], return_index=True)
        candidates = np.delete(rows, first)
        n_shallow = min(n_shallow, len(candidates))
        pick = np.random.default_rng([seed, 0x5A11]).permutation(len(candidates))[:n_shallow]
        shallow[candidates[pick]] = True
    return cls, labelled, shallow


def _sum(parts: list) -> np.ndarray:
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def _typo(s: str, r: float) -> str:
    if len(s) < 6:
        return s
    i = 1 + int(r * (len(s) - 3))
    kind = int(r * 1000) % 3
    if kind == 0:  # swap
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == 1:  # delete
        return s[:i] + s[i + 1:]
    return s[:i] + s[i] + s[i:]  # double


def _htmlise(s: str, r: float) -> str:
    if r < 0.4:
        s = s.replace(" ", "&nbsp;", 1 + int(r * 5))
    for ch, ent in _ENTITIES.items():
        if ch in s:
            s = s.replace(ch, ent)
    return s.replace(" & ", " &amp; ").replace('"', "&quot;")


def _block(m: _Model, cls: np.ndarray, labelled: np.ndarray, shallow: np.ndarray,
           rng: np.random.Generator) -> dict:
    """Generate the title, description and category of one block of rows."""
    P = m.pools
    n = len(cls)
    leaf = m.class_leaf[cls]
    leaf_b = m.class_leaf_b[cls]
    is_set = leaf_b >= 0
    top = m.leaf_top[leaf]
    bgroup = m.leaf_brand_group[leaf]
    skind = m.top_size_kind[top]
    zero = np.zeros(n, dtype=np.int64)

    ascii_row = rng.random(n) < _P_ASCII

    def var(p_cap: float = 0.35) -> np.ndarray:
        return (rng.random(n) < p_cap).astype(np.int64) + 2 * ascii_row

    def bern(p) -> np.ndarray:
        return rng.random(n) < p

    def leaf_word(p_own: np.ndarray, p_sib: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Own-leaf word, sibling-leaf word or top-level generic word (per-leaf
        probabilities)."""
        u = rng.random(n)
        sib = m.sib_leaf[m.sib_pool.index(leaf, rng)]
        p_own, p_sib = p_own[leaf], p_sib[leaf]
        src = np.where(u < p_own, leaf, sib)
        w_leaf = m.leaf_pool.take(src, rng, v)
        w_top = m.top_pool.take(m.leaf_top[leaf], rng, v)
        return np.where(u < p_own + p_sib, w_leaf, w_top)

    # ---- title -------------------------------------------------------------------
    amb = bern(_P_AMBIGUOUS) & ~is_set
    brand = m.brand_pool.take(bgroup, rng, var(0.6), bern(np.where(amb, 0.97, 0.55)))
    gender = P["gender"].take(zero, rng, var(), bern(0.18) & ~amb)
    adj = P["adj"].take(zero, rng, var(0.5), bern(0.22))
    core = leaf_word(m.p_core_own, m.p_core_sib, var(0.4))
    core = np.where(amb, "", core)
    core2 = leaf_word(m.p_core2_own, m.p_core2_sib, var(0.2))
    core2 = np.where(bern(0.35) & ~amb, core2, "")
    generic = m.top_pool.take(top, rng, var(0.2), bern(np.where(amb, 0.25, 0.3)))
    # Sets: "<set words> <leaf A word> <connector> <leaf B word>".
    set_idx = np.where(is_set, m.class_set[cls], 0)
    set_words = m.set_pool.take(set_idx, rng, var(0.5), is_set & bern(0.8))
    b_word = m.leaf_pool.take(np.where(is_set, leaf_b, 0), rng, var(0.2))
    conn = P["conn"].take(zero, rng, var(0.0))
    set_tail = np.where(is_set, conn + b_word, "")
    core2 = np.where(is_set, "", core2)
    material = m.mat_pool.take(top, rng, var(0.3), bern(0.35))
    colour = P["colour"].take(zero, rng, var(0.3), bern(np.where(amb, 0.95, 0.55)))
    size = m.size_pool.take(skind, rng, var(0.0), bern(np.where(amb, 0.5, 0.28)))
    sep = P["sep"].take(zero, rng, var(0.0), bern(0.2))
    sku = _sku(m, rng, n, bern(0.12))

    # Word order: brand first or core first, colour/material swapped for some rows.
    core_first = bern(0.35)
    head1 = np.where(core_first, core, brand)
    head2 = np.where(core_first, brand, core)
    mat_first = bern(0.5)
    t1 = np.where(mat_first, material, colour)
    t2 = np.where(mat_first, colour, material)
    title = _sum([adj, gender, head1, set_words, head2, set_tail, core2, generic,
                  sep, t1, t2, size, sku])

    # ---- description --------------------------------------------------------------
    dv = var(0.1)
    d_core = leaf_word(m.p_desc_own, m.p_desc_sib, var(1.0))
    d_core2 = leaf_word(m.p_desc_own * 0.8, m.p_desc_sib, dv)
    d_core2 = np.where(is_set, m.leaf_pool.take(np.where(is_set, leaf_b, 0), rng, dv), d_core2)
    d_mat = m.mat_pool.take(top, rng, dv)
    d_col = P["colour"].take(zero, rng, dv)
    has_desc = bern(0.82)
    n_sent = rng.integers(1, 7, n)
    inc = (rng.random((11, n)) < (n_sent / 8.0)) & has_desc
    sentences = [
        (inc[0], [d_core, "z materiálu ", d_mat, ". "]),
        (inc[1], ["Farba: ", d_col, ". "]),
        (inc[2], [P["praise"].take(zero, rng, var(1.0)), "– ", d_core2,
                  P["season"].take(zero, rng, dv), ". "]),
        (inc[3], ["Ideálny darček pre ", P["recipient"].take(zero, rng, dv), ". "]),
        (inc[4], [P["shipping"].take(zero, rng, dv)]),
        (inc[5], [m.brand_pool.take(bgroup, rng, var(0.7)), d_core2,
                  P["praise"].take(zero, rng, dv), ". "]),
        (inc[6], [P["care"].take(zero, rng, dv)]),
        (inc[7], ["Material: ", d_mat, ", colour: ", d_col, ". "]),
        (inc[8], ["Veľkosť: ", m.size_pool.take(skind, rng, dv), ". "]),
        (inc[9], [m.top_pool.take(top, rng, var(1.0)), "– ",
                  P["praise"].take(zero, rng, dv), ". "]),
        (inc[10], ["Kód produktu: ", _sku(m, rng, n, inc[10], prefix=False), ". "]),
    ]
    desc = np.full(n, "", dtype=object)
    for mask, parts in sentences:  # append each sentence to the rows that have it
        idx = np.flatnonzero(mask)
        if len(idx):
            desc[idx] = _sum([desc[idx]] + [p[idx] if isinstance(p, np.ndarray) else p
                                            for p in parts])

    # ---- clean-up and noise: vectorised in Arrow, Python only on small subsets -----
    fallback = m.top_pool.take(top, rng, var(0.5)) + P["colour"].take(zero, rng, dv)
    r = rng.random((5, n))
    title = pc.utf8_rtrim_whitespace(pa.array(title, type=pa.large_string()))
    desc = pa.array(desc, type=pa.large_string())
    desc = pc.replace_substring(pc.replace_substring(desc, " .", "."), " ,", ",")
    desc = pc.utf8_rtrim_whitespace(desc)
    t_words = pc.count_substring(title, " ").to_numpy() + 1
    d_words = pc.count_substring(desc, " ").to_numpy() + 1

    def edit(arr: pa.Array, mask: np.ndarray, fn) -> pa.Array:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return arr
        old = arr.take(pa.array(idx)).to_pylist()
        new = [fn(i, s) for i, s in zip(idx, old)]
        return pc.replace_with_mask(arr, pa.array(mask), pa.array(new, type=arr.type))

    def fix_title(i: int, t: str) -> str:
        if t_words[i] < 3:
            t = (t + " " + fallback[i]).strip()
        elif t_words[i] > _MAX_TITLE_WORDS:
            t = " ".join(t.split()[:_MAX_TITLE_WORDS])
        if r[0, i] < _P_TYPO:
            t = _typo(t, r[4, i])
        if r[2, i] < _P_HTML_TITLE:
            t = _htmlise(t, r[4, i])
        return t

    def fix_desc(i: int, d: str) -> str:
        if d_words[i] > _MAX_DESC_WORDS:
            d = " ".join(d.split()[:_MAX_DESC_WORDS])
        if r[1, i] < _P_TYPO:
            d = _typo(d, r[4, i])
        if r[3, i] < _P_HTML_DESC:
            d = _htmlise(d, r[4, i])
            d = f"<p>{d}</p>" if r[4, i] < 0.5 else d.replace(". ", ".<br>", 1)
        return d

    title = edit(title, (t_words < 3) | (t_words > _MAX_TITLE_WORDS) | (r[0] < _P_TYPO)
                 | (r[2] < _P_HTML_TITLE), fix_title)
    desc = edit(desc, has_desc & ((d_words > _MAX_DESC_WORDS) | (r[1] < _P_TYPO)
                                  | (r[3] < _P_HTML_DESC)), fix_desc)
    cat_idx = np.where(labelled, np.where(shallow, m.n_classes + 1 + cls, cls), m.n_classes)
    category = pa.array(m.category_cells[cat_idx], type=pa.large_string())
    return {"title": title, "description": desc, "category": category}


def _sku(m: _Model, rng: np.random.Generator, n: int, mask, prefix: bool = True) -> np.ndarray:
    """SKU / EAN-like codes with a trailing space where ``mask`` is True, else ``""``.

    ``SKU AB-12345``, ``EAN 8594...``; ``mask=None`` means every row.
    """
    out = np.full(n, "", dtype=object)
    idx = np.arange(n) if mask is None else np.flatnonzero(mask)
    k = len(idx)
    if not k:
        return out
    d5 = m.digits5[rng.integers(0, 100_000, k)]
    code_a = m.sku_letters[rng.integers(0, len(m.sku_letters), k)] + d5
    code_b = "8594" + m.digits4[rng.integers(0, 10_000, k)] + d5
    code = np.where(rng.random(k) < 0.6, code_a, code_b) + " "
    if prefix:
        zero = np.zeros(k, dtype=np.int64)
        code = m.pools["sku"].take(zero, rng, zero) + code
    out[idx] = code
    return out


def iter_demo_chunks(
    n_labelled: int = 50_000,
    n_unlabelled: int = 250_000,
    seed: int = 0,
    chunk_size: int = 100_000,
    tail_leaves: int = 0,
    shallow_share: float = 0.0,
) -> Iterator[pd.DataFrame]:
    """Yield the demo catalogue as DataFrames of at most ``chunk_size`` rows.

    Columns: :data:`COLUMNS`, all of pandas' ``str`` dtype; the index continues
    across chunks. The output depends only on the sizes, the seed, ``tail_leaves``
    (extra rare leaves, 0 to :data:`MAX_TAIL_LEAVES`) and ``shallow_share`` (share
    of labelled products categorised only by their first level, in [0, 1)), not
    on ``chunk_size``. See the module docstring for the long-tail setting.
    """
    for table in _iter_tables(n_labelled, n_unlabelled, seed, chunk_size, tail_leaves,
                              shallow_share):
        yield _frame(table)


def _check_options(n_labelled: int, n_unlabelled: int, tail_leaves: int,
                   shallow_share: float) -> None:
    if n_labelled < 0 or n_unlabelled < 0:
        raise ValueError("n_labelled and n_unlabelled must be >= 0")
    _check_tail_leaves(tail_leaves)
    if not isinstance(shallow_share, (int, float, np.integer, np.floating)) or not (
            0.0 <= shallow_share < 1.0):
        raise ValueError(f"shallow_share must be at least 0 and below 1, got {shallow_share!r}")


def _iter_tables(n_labelled: int, n_unlabelled: int, seed: int, chunk_size: int,
                 tail_leaves: int = 0, shallow_share: float = 0.0):
    """Yield ``(offset, {column: pyarrow array})`` chunks of the catalogue."""
    _check_options(n_labelled, n_unlabelled, tail_leaves, shallow_share)
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    m = _model(tail_leaves)
    cls, labelled, shallow = _layout(m, n_labelled, n_unlabelled, seed, shallow_share)
    total = len(cls)
    if total == 0:
        yield 0, _columns(0, {c: pa.array([], type=pa.large_string()) for c in COLUMNS[1:]})
        return
    pending: list[dict] = []
    pending_rows = 0
    emitted = 0
    for b, start in enumerate(range(0, total, _BLOCK)):
        stop = min(start + _BLOCK, total)
        rng = np.random.default_rng([seed, 0xB10C, b])
        pending.append(_block(m, cls[start:stop], labelled[start:stop], shallow[start:stop], rng))
        pending_rows += stop - start
        while pending_rows >= chunk_size or (stop == total and pending_rows > 0):
            merged = {c: pa.concat_arrays([p[c] for p in pending]) for c in COLUMNS[1:]}
            take = min(chunk_size, pending_rows)
            yield emitted, _columns(emitted, {c: v.slice(0, take) for c, v in merged.items()})
            emitted += take
            pending_rows -= take
            pending = [{c: v.slice(take) for c, v in merged.items()}] if pending_rows else []


def _columns(offset: int, cols: dict) -> dict:
    """Add the ``id`` column (``P0000001`` ...) to a chunk's columns."""
    n = len(cols["title"])
    numbers = pa.array(np.arange(offset + 1, offset + n + 1)).cast(pa.large_string())
    ids = pc.binary_join_element_wise(
        pa.scalar("P", pa.large_string()), pc.utf8_lpad(numbers, 7, "0"), pa.scalar("", pa.large_string()))
    return {"id": ids, **cols}


def _frame(item: tuple[int, dict]) -> pd.DataFrame:
    offset, cols = item
    df = pd.DataFrame({c: pd.array(cols[c], dtype="str") for c in COLUMNS})
    df.index = pd.RangeIndex(offset, offset + len(df))
    return df


def generate_demo(
    n_labelled: int = 50_000,
    n_unlabelled: int = 250_000,
    seed: int = 0,
    tail_leaves: int = 0,
    shallow_share: float = 0.0,
) -> pd.DataFrame:
    """The whole demo catalogue as one DataFrame (see :func:`iter_demo_chunks`)."""
    chunks = list(iter_demo_chunks(n_labelled, n_unlabelled, seed, tail_leaves=tail_leaves,
                                   shallow_share=shallow_share))
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0].reset_index(drop=True)


def _mislabel(df: pd.DataFrame, share: float, rng: np.random.Generator
              ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``df`` with ``share`` of its labelled rows given another category of the chunk (half
    of them one under the same top level), and the list of those rows."""
    cats = df["category"].fillna("").astype(str).to_numpy().copy()
    labelled = np.flatnonzero(cats != "")
    pool = np.unique(cats[labelled])
    if len(pool) < 2:
        return df, pd.DataFrame(columns=["id", "category_written", "category_true"])
    tops = np.array([c.split(" > ")[0] for c in pool])
    rows = labelled[rng.random(len(labelled)) < share]
    true = cats[rows].copy()
    for i in rows:
        top = cats[i].split(" > ")[0]
        near = pool[(tops == top) & (pool != cats[i])]
        choices = near if len(near) and rng.random() < 0.5 else pool[pool != cats[i]]
        cats[i] = choices[rng.integers(len(choices))]
    out = df.copy()
    out["category"] = np.where(cats == "", df["category"], cats)
    wrong = pd.DataFrame({"id": df["id"].to_numpy()[rows], "category_written": cats[rows],
                          "category_true": true})
    return out, wrong


def write_demo(
    path: str | os.PathLike,
    n_labelled: int = 50_000,
    n_unlabelled: int = 250_000,
    seed: int = 0,
    progress: bool = True,
    tail_leaves: int = 0,
    shallow_share: float = 0.0,
    mislabel_share: float = 0.0,
) -> int:
    """Stream the demo catalogue to ``path`` (``.csv`` or ``.parquet``); return the row count.

    ``tail_leaves`` and ``shallow_share`` as in :func:`iter_demo_chunks`.
    ``mislabel_share``: this share of the labelled products (drawn with their own seeded
    generator, so the rest of the catalogue is unchanged) get a wrong category, half of
    them one of the same top-level category, the rest any other; the planted errors are
    listed in ``PATH.mislabelled.csv`` (id, category written, category true) for
    benchmarks of the label review (bench/bench_review.py). The file is
    written to a temporary file in the same directory and moved into place at the
    end, so an interrupted run never leaves a half-written file. ``path`` must not be a
    directory (``ValueError``, before anything is generated).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise ValueError(f"{path} is a directory; nothing was changed: give a file name "
                         "ending in .csv or .parquet for --out")
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{path}: unknown output format {suffix!r}; use .csv or .parquet")
    _check_options(n_labelled, n_unlabelled, tail_leaves, shallow_share)
    if not isinstance(mislabel_share, (int, float, np.integer, np.floating)) or not (
            0.0 <= mislabel_share < 1.0):
        raise ValueError(f"mislabel_share must be at least 0 and below 1, got {mislabel_share!r}")
    from tqdm.auto import tqdm

    planted: list[pd.DataFrame] = []
    mislabel_rng = np.random.default_rng([seed, 7919])

    def mislabel(df: pd.DataFrame) -> pd.DataFrame:
        if not mislabel_share:
            return df
        df, wrong = _mislabel(df, mislabel_share, mislabel_rng)
        planted.append(wrong)
        return df

    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    total = n_labelled + n_unlabelled
    with atomic_output(str(path)) as tmp:
        with tqdm(total=total, unit=" products", disable=not progress, desc=path.name) as bar:
            if suffix == ".csv":
                chunks = iter_demo_chunks(n_labelled, n_unlabelled, seed, _WRITE_CHUNK,
                                          tail_leaves, shallow_share)
                with open(tmp, "w", encoding="utf-8", newline="") as f:
                    for i, df in enumerate(chunks):
                        df = mislabel(df)
                        df.to_csv(f, header=i == 0, index=False)
                        rows += len(df)
                        bar.update(len(df))
            else:
                import pyarrow.parquet as pq

                schema = pa.schema([(c, pa.string()) for c in COLUMNS])
                with pq.ParquetWriter(tmp, schema) as writer:
                    for _, cols in _iter_tables(n_labelled, n_unlabelled, seed, _WRITE_CHUNK,
                                                tail_leaves, shallow_share):
                        table = pa.table([cols[c] for c in COLUMNS], names=list(COLUMNS))
                        if mislabel_share:
                            table = pa.Table.from_pandas(mislabel(table.to_pandas()),
                                                         preserve_index=False)
                        writer.write_table(table.cast(schema))
                        rows += table.num_rows
                        bar.update(table.num_rows)
        if mislabel_share:
            pd.concat(planted, ignore_index=True).to_csv(f"{path}.mislabelled.csv", index=False)
    return rows
