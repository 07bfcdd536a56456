"""Word2Vec health of the benchmark bundles: ``bench/results/word_vectors.json``.

For each quality setting (``bench/results/quality_<setting>.json``, whose ``bundle`` is
prodemb's first-seed bundle) and the shipped demo bundle (``artifacts/demo``), loads the
bundle's Word2Vec vectors and reports the vocabulary size, the mean cosine of 2,000
random word pairs among the 5,000 most frequent words
(:func:`prodemb.word2vec.random_pair_cosine`: near 1 means the vectors stayed nearly all
alike, as on the first catalogue of issue 11 at 0.98) and the nearest words of four probe
words chosen from the catalogue (:func:`prodemb.word2vec.choose_probe_words`, from the
vocabulary alone here). Seconds, no training.

Usage: ``.venv/bin/python bench/bench_vectors.py [--quick]`` (``--quick``: the bundle of
``quality_demo_quick.json``, written to ``word_vectors_quick.json``)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import ROOT, log  # noqa: E402

from prodemb.word2vec import WordVectors, choose_probe_words, random_pair_cosine  # noqa: E402


def health(bundle_dir: Path) -> dict:
    wv = WordVectors.load(str(bundle_dir))
    probes = choose_probe_words(wv, ("nike", "scarf"))
    return {"bundle": str(bundle_dir), "vocabulary": len(wv),
            "random_pair_cosine": round(random_pair_cosine(wv), 3),
            "nearest": {w: [x for x, _ in wv.similar(w, 6)] for w in probes}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the quick demo run's bundle only")
    args = ap.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    rows = {}
    for setting in ["demo"] if args.quick else common.SETTINGS:
        path = common.RESULTS / f"quality_{setting.replace('-', '_')}{suffix}.json"
        if not path.exists():
            continue
        bundle = Path(json.loads(path.read_text(encoding="utf-8")).get("bundle", ""))
        if not (bundle / "word_vectors.npy").exists():
            log(f"{setting}: bundle {bundle} not in the cache; rerun bench/bench_quality.py")
            continue
        rows[setting] = health(bundle)
    shipped = ROOT / "artifacts" / "demo"
    if not args.quick and (shipped / "word_vectors.npy").exists():
        rows["shipped demo bundle"] = health(shipped)
    for name, r in rows.items():
        log(f"{name}: {r['vocabulary']:,} words, random-pair cosine {r['random_pair_cosine']}")
    common.write_result("word_vectors" + suffix, {"bundles": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
