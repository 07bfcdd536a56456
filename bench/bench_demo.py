"""Benchmark the demo catalogue generator: ``write_demo`` with the default sizes.

Times ``prodemb.demo.write_demo`` (50,000 labelled + 250,000 unlabelled products,
seed 0) to a Parquet file in a temporary directory, prints products per second and
writes ``bench/results/demo_data.json``::

    {"products_per_second": ..., "seconds": ..., "cpu_seconds": ..., "rows": ..., ...}

``seconds`` is wall-clock time; ``cpu_seconds`` is the process CPU time, which is
the better figure on a busy machine (the generator runs on one core).

Usage: ``.venv/bin/python bench/bench_demo.py [--format parquet|csv] [--repeat N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prodemb.demo import write_demo  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "demo_data.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    parser.add_argument("--labelled", type=int, default=50_000)
    parser.add_argument("--unlabelled", type=int, default=250_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    write_demo(Path(tempfile.gettempdir()) / "prodemb_warmup.parquet", 100, 100, progress=False)
    best = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"demo.{args.format}"
        for _ in range(args.repeat):
            wall, cpu = time.perf_counter(), time.process_time()
            rows = write_demo(path, args.labelled, args.unlabelled, seed=0, progress=False)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if best is None or wall < best[0]:
                best = (wall, cpu, rows, path.stat().st_size)
    (Path(tempfile.gettempdir()) / "prodemb_warmup.parquet").unlink(missing_ok=True)
    wall, cpu, rows, size = best
    result = {
        "products_per_second": round(rows / wall),
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "products_per_cpu_second": round(rows / cpu),
        "rows": rows,
        "format": args.format,
        "file_bytes": size,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"write_demo: {rows:,} products in {wall:.2f} s wall ({cpu:.2f} s CPU) "
          f"= {rows / wall:,.0f} products/s ({rows / cpu:,.0f} per CPU second) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
