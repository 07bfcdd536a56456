"""Text cleaning speed: titles per second per core (target ≥ 50,000).

Cleans the titles of the demo catalogue (300k by default) with ``prodemb.text.tokenize``
in one process (one core), best of 3 runs, and writes bench/results/text.json.

    .venv/bin/python bench/bench_text.py [--rows N]
"""

from __future__ import annotations

import argparse
import time

from common import write_result

from prodemb.demo import generate_demo
from prodemb.text import tokenize

TARGET = 50_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000)
    args = ap.parse_args()
    demo = generate_demo(n_labelled=0, n_unlabelled=args.rows, seed=0)
    titles = demo["title"].tolist()
    full = (demo["title"] + " . " + demo["description"]).tolist()
    result = {}
    for name, texts in (("titles", titles), ("title_and_description", full)):
        runs = []
        for _ in range(3):
            start = time.process_time()
            for t in texts:
                tokenize(t)
            runs.append(time.process_time() - start)
        best = min(runs)
        result[name] = {"texts": len(texts), "cpu_seconds_best_of_3": round(best, 3),
                        "per_second": round(len(texts) / best)}
        print(f"{name}: {len(texts) / best:,.0f} texts/s per core")
    result["target_titles_per_second"] = TARGET
    result["met"] = result["titles"]["per_second"] >= TARGET
    write_result("text", result)


if __name__ == "__main__":
    main()
