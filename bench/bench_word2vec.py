"""Word2Vec on 3,000,000 demo texts: ``bench/results/word2vec_3m.json``.

Generates 3,000,000 unlabelled demo products (``prodemb.demo.iter_demo_chunks``),
cleans them into a corpus file in ``$PRODEMB_BENCH_CACHE`` (one text per line, as
``prodemb train`` writes it) and times ``prodemb.word2vec.train_word2vec`` with the
default ``Word2VecConfig`` (all cores). Generation and cleaning are timed separately;
the corpus is reused by later runs.

Usage: ``.venv/bin/python bench/bench_word2vec.py [--quick] [--n N]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import CACHE, log  # noqa: E402

from prodemb.config import Word2VecConfig  # noqa: E402
from prodemb.text import tokenize  # noqa: E402


def build_corpus(n: int, path: Path) -> dict:
    """Generate ``n`` unlabelled demo products and write their cleaned texts to ``path``."""
    from prodemb.demo import iter_demo_chunks

    gen = clean = 0.0
    lines = tokens = 0
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="ascii") as f:
        t = time.perf_counter()
        for chunk in iter_demo_chunks(n_labelled=0, n_unlabelled=n, seed=0, chunk_size=100_000):
            t1 = time.perf_counter()
            gen += t1 - t
            text = (chunk["title"] + " . " + chunk["description"]).tolist()
            for s in text:
                toks = tokenize(s)
                if toks:
                    f.write(" ".join(toks))
                    f.write("\n")
                    lines += 1
                    tokens += len(toks)
            t = time.perf_counter()
            clean += t - t1
    os.replace(tmp, path)
    return {"generate_seconds": round(gen, 1), "clean_seconds": round(clean, 1),
            "lines": lines, "tokens": tokens}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="300,000 texts instead of 3,000,000")
    ap.add_argument("--n", type=int, help="number of texts")
    args = ap.parse_args(argv)
    n = args.n or (300_000 if args.quick else 3_000_000)

    from prodemb.word2vec import train_word2vec

    CACHE.mkdir(parents=True, exist_ok=True)
    corpus = CACHE / f"w2v_corpus_{n}.txt"
    corpus_info = {"reused": corpus.exists()}
    if not corpus.exists():
        log(f"generating and cleaning {n:,} demo texts into {corpus}")
        corpus_info.update(build_corpus(n, corpus))
    else:
        with open(corpus, encoding="ascii") as f:
            counts = [line.count(" ") + 1 for line in f]
        corpus_info.update(lines=len(counts), tokens=sum(counts))
    corpus_info["bytes"] = corpus.stat().st_size
    config = Word2VecConfig()
    log(f"training Word2Vec ({config.vector_size}-d, {config.epochs} epochs, "
        f"min_count {config.min_count}) on {n:,} texts")
    start, cpu = time.perf_counter(), time.process_time()
    wv = train_word2vec(str(corpus), config, seed=0, show_progress=False)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    log(f"Word2Vec: {seconds:.1f} s wall, {cpu:.1f} s CPU, vocabulary {len(wv):,}")
    from prodemb.utils import available_cores

    name = ("word2vec_3m_quick" if args.quick else
            "word2vec_3m" if n == 3_000_000 else f"word2vec_{n}")
    common.write_result(name, {
        "quick": args.quick, "n_texts": n, "corpus": corpus_info,
        "config": {k: v for k, v in vars(config).items() if k != "probe_words"},
        "workers": config.workers or available_cores(),
        "train_seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
        "vocabulary": len(wv),
        "words_per_second": round(corpus_info["tokens"] * config.epochs / seconds),
        "probe": {w: [x for x, _ in wv.similar(w, 5)] for w in ("scarf", "nike") if w in wv},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
