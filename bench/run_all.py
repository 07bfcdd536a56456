"""Run every benchmark and regenerate BENCHMARKS.md: ``make bench``.

Steps, in order (each a separate process, so one failing does not stop the rest):

1. ``training``  bench/bench_training.py  the demo bundle, timed stage by stage
2. ``maps``      bench/bench_maps.py      t-SNE + UMAP of 20,000 and 60,000 product embeddings
3. ``speed``     bench/bench_speed.py     classify latency / throughput, fastText, neighbours
4. ``app``       bench/bench_app.py       the dashboard in headless Chromium, memory
5. ``sessions``  bench/bench_sessions.py  30 sessions at once: time to first
                                         classification, websocket pings, memory
6. ``word2vec``  bench/bench_word2vec.py  Word2Vec on 3,000,000 demo texts
7. ``quality``   bench/bench_quality.py   prodemb against peers on demo, demo-longtail,
                                         fashion and fashion-small
8. ``plain``     bench/bench_plain.py     prodemb used the plain way (train, predict, the
                                         category column) against TF-IDF + LinearSVC
9. ``vectors``   bench/bench_vectors.py   Word2Vec health of the quality bundles
10. ``review``   bench/bench_review.py    label review: planted wrong labels found
11. ``scale``    bench/bench_scale.py     Ray engine throughput, FAISS index build / recall / latency
12. ``report``   bench/report.py          BENCHMARKS.md from bench/results/*.json

The speed and app steps use the bundle that the training step writes; the sessions
step the shipped ``artifacts/demo``. The full run
takes a few hours on a 2-core machine (most of it the quality step's peer tuning and
prodemb's own training); ``--quick`` runs everything on small data in minutes and writes
``*_quick.json`` and ``bench/results/quick_report.md`` instead.

Usage::

    .venv/bin/python bench/run_all.py                    # everything
    .venv/bin/python bench/run_all.py --quick            # smoke run
    .venv/bin/python bench/run_all.py --only speed,app   # some steps (report always runs)
    .venv/bin/python bench/run_all.py --only quality -- --catalogue fashion
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS = {
    "training": "bench_training.py",
    "maps": "bench_maps.py",
    "speed": "bench_speed.py",
    "app": "bench_app.py",
    "sessions": "bench_sessions.py",
    "word2vec": "bench_word2vec.py",
    "quality": "bench_quality.py",
    "plain": "bench_plain.py",
    "vectors": "bench_vectors.py",
    "review": "bench_review.py",
    "scale": "bench_scale.py",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data, minutes")
    ap.add_argument("--only", action="append", default=[],
                    help=f"comma-separated steps to run: {', '.join(STEPS)} (repeatable)")
    args = ap.parse_args(argv)
    only = [s.strip() for o in args.only for s in o.split(",") if s.strip()]
    unknown = [s for s in only if s not in STEPS and s != "report"]
    if unknown:
        ap.error(f"unknown step(s) {unknown}; choose from {', '.join(STEPS)}, report")
    steps = [s for s in STEPS if not only or s in only]
    if extra and len(steps) != 1:
        ap.error("arguments after -- are passed to one step only: use --only STEP")
    env = dict(os.environ, PRODEMB_PROGRESS="0", PYTHONUNBUFFERED="1")
    failed = []
    started = time.time()
    for step in steps:
        cmd = [sys.executable, str(ROOT / "bench" / STEPS[step])]
        if args.quick:
            cmd.append("--quick")
        cmd += extra
        print(f"\n=== {step}: {' '.join(os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in cmd[1:])}",
              flush=True)
        t = time.time()
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        print(f"=== {step}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {time.time() - t:.0f} s",
              flush=True)
        if rc != 0:
            failed.append(step)
    report = [sys.executable, str(ROOT / "bench" / "report.py")] + (["--quick"] if args.quick else [])
    rc = subprocess.call(report, cwd=ROOT, env=env)
    if rc != 0:
        failed.append("report")
    print(f"\nall done in {(time.time() - started) / 60:.1f} min"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
