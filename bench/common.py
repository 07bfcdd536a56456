"""Shared helpers of the benchmark scripts: paths, machine information, results files,
the demo and fashion catalogues, and the exact train/validation/test split of
``prodemb train``.

Every script writes ``bench/results/<name>.json`` through :func:`write_result`, which
adds the machine (cores, Python, library versions, CPU), the date, the git commit and
the load average before and after the run (this machine is shared: a load above the
number of cores means timings are pessimistic).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prodemb.catalogue import PRESETS, ReaderOptions  # noqa: E402
from prodemb.config import TrainConfig  # noqa: E402
from prodemb.split import group_ids, stratified_split  # noqa: E402
from prodemb.taxonomy import Taxonomy  # noqa: E402
from prodemb.utils import json_default  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: Generated data, trained bundles and other large intermediate files.
CACHE = Path(os.environ.get("PRODEMB_BENCH_CACHE", "/tmp/prodemb-bench"))
SHARED_DATA = Path(os.environ.get("PRODEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
FASHION_CSV = SHARED_DATA / "fashion-product-images-styles.csv"
LOAD_AT_START = os.getloadavg()
STARTED = time.time()

LIBRARIES = ("numpy", "scipy", "torch", "gensim", "scikit-learn", "fasttext-wheel", "pandas",
             "streamlit", "playwright")


# ---------------------------------------------------------------------- machine + results
def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        # Code changes only: the results a run writes under bench/results do not count.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "prodemb", "bench", "app.py", "pages", ":!bench/results"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        return out + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def machine_info() -> dict:
    from prodemb.utils import available_cores

    versions = {"python": platform.python_version()}
    for lib in LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return {
        "cores": available_cores(),
        "cpu": cpu_model(),
        "memory_gb": memory_total_gb(),
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": git_commit(),
    }


def load_average() -> dict:
    """1/5/15-minute load averages at the start of this process and now."""
    return {"start": [round(x, 2) for x in LOAD_AT_START],
            "end": [round(x, 2) for x in os.getloadavg()]}


def write_result(name: str, data: dict, command: str | None = None) -> Path:
    """Write ``bench/results/<name>.json`` with machine info, date, commit and load."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "name": name,
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "command": command or "python " + " ".join(
            [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
        "wall_seconds": round(time.time() - STARTED, 1),
        "machine": machine_info(),
        "load_average": load_average(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False, default=json_default)
        f.write("\n")
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def percentiles(seconds: list[float] | np.ndarray) -> dict:
    """p50 / p95 / mean in milliseconds of a list of durations in seconds."""
    a = np.asarray(seconds, dtype=np.float64) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 3),
            "p95_ms": round(float(np.percentile(a, 95)), 3),
            "mean_ms": round(float(a.mean()), 3), "n": int(len(a))}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------- catalogues
def demo_catalogue(n_labelled: int = 50_000, n_unlabelled: int = 250_000, seed: int = 0) -> Path:
    """The demo catalogue (the ``prodemb demo-data`` default), generated once into the cache."""
    from prodemb.demo import write_demo

    path = CACHE / f"demo_{n_labelled}_{n_unlabelled}_{seed}.parquet"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.parquet")
        write_demo(tmp, n_labelled=n_labelled, n_unlabelled=n_unlabelled, seed=seed, progress=False)
        os.replace(tmp, path)
    return path


#: The "demo-longtail" setting: 161 hand-written + 840 generated rare leaves, 20 % of the
#: labelled products categorised only by their first level (``prodemb/demo.py``).
LONGTAIL = dict(n_labelled=30_000, n_unlabelled=120_000, tail_leaves=840, shallow_share=0.2)


def demo_longtail_catalogue(seed: int = 0) -> Path:
    """The long-tail demo catalogue (:data:`LONGTAIL`), generated once into the cache.

    The same file as ``prodemb demo-data --labelled 30000 --unlabelled 120000
    --tail-leaves 840 --shallow-share 0.2``.
    """
    from prodemb.demo import write_demo

    lt = LONGTAIL
    path = CACHE / (f"demo-longtail_{lt['n_labelled']}_{lt['n_unlabelled']}_{seed}"
                    f"_t{lt['tail_leaves']}_s{lt['shallow_share']}.parquet")
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.parquet")
        write_demo(tmp, seed=seed, progress=False, **lt)
        os.replace(tmp, path)
    return path


def fashion_catalogue() -> Path | None:
    """The real catalogue, or None (with a message) when ``../shared/data`` does not have it."""
    if FASHION_CSV.exists():
        return FASHION_CSV
    print(f"skipping the fashion catalogue: {FASHION_CSV} not found "
          "(set PRODEMB_SHARED_DATA to the directory holding it)")
    return None


# ---------------------------------------------------------------------- the pipeline's split
@dataclass
class LabelledData:
    """The labelled products of a catalogue, in the order ``prodemb train`` uses.

    Attributes:
        ids, texts: raw product ids and texts, ``(n,)``.
        tokens: cleaned tokens of each text.
        taxonomy: the tree built from the labelled paths.
        y: 0/1 node matrix ``(n, n_nodes)``.
        split: 0 train, 1 validation, 2 test, ``(n,)``.
        all_tokens: cleaned tokens of every product, labelled or not (Word2Vec corpus).
    """

    ids: np.ndarray
    texts: list[str]
    tokens: list[list[str]]
    taxonomy: Taxonomy
    y: np.ndarray
    split: np.ndarray
    all_tokens: list[list[str]]
    complete: bool

    def rows(self, which: int) -> np.ndarray:
        return np.flatnonzero(self.split == which)

    def part(self, which: int) -> tuple[list[str], np.ndarray]:
        idx = self.rows(which)
        return [self.texts[i] for i in idx], self.y[idx]


def pipeline_split(data: str | Path, options: ReaderOptions | str,
                   config: TrainConfig | None = None) -> LabelledData:
    """Read, clean and split a catalogue exactly as :func:`prodemb.pipeline.train_bundle`.

    The code mirrors stages 1 and 3 of ``train_bundle`` (same reader, same labelled
    order, same grouping of identical cleaned texts, same seed and proportions), so the
    split equals the ``split`` column of a bundle trained with the same config; see
    :func:`check_split_matches_bundle`.
    """
    from prodemb.pipeline import load_catalogue

    config = config or TrainConfig()
    if isinstance(options, str):
        options = PRESETS[options]
    catalogue, tokens = load_catalogue(str(data), options, config.text.max_tokens,
                                       show_progress=False)
    labelled = np.flatnonzero(catalogue["paths"].map(len).to_numpy() > 0)
    paths = [catalogue["paths"].iat[i] for i in labelled]
    taxonomy = Taxonomy.from_paths(p for ps in paths for p in ps)
    y = taxonomy.binarize(paths)
    lab_tokens = [tokens[i] for i in labelled]
    groups = group_ids([" ".join(t) for t in lab_tokens])
    split = stratified_split(y, groups, (config.split.train, config.split.validation,
                                         config.split.test),
                                         seed=config.split.split_seed(config.seed))
    complete = all(taxonomy.children[taxonomy.index(p)] == [] for ps in paths for p in ps)
    return LabelledData(
        ids=catalogue["id"].to_numpy()[labelled].astype(str),
        texts=catalogue["text"].to_numpy()[labelled].astype(str).tolist(),
        tokens=lab_tokens, taxonomy=taxonomy, y=y, split=split, all_tokens=tokens,
        complete=complete)


def bundle_config(bundle_dir: str | Path) -> tuple[TrainConfig, ReaderOptions]:
    """The training config and reader options a bundle was trained with."""
    with open(Path(bundle_dir) / "config.json", encoding="utf-8") as f:
        cfg = json.load(f)
    return TrainConfig.from_dict(cfg["train"]), ReaderOptions.from_dict(cfg["reader"])


def check_split_matches_bundle(data: LabelledData, bundle_dir: str | Path) -> dict:
    """Compare the split with the ``split`` column of a bundle's products.parquet.

    Returns ``{"checked": n, "same_ids": bool, "same_split": bool}``; raises
    ``AssertionError`` if ids or splits differ (every system must see one split).
    """
    import pandas as pd

    from prodemb.split import SPLITS

    products = pd.read_parquet(Path(bundle_dir) / "products.parquet", columns=["id", "split"])
    lab = products[products["split"] != "unlabelled"]
    n = len(data.ids)
    same_ids = len(lab) == n and bool((lab["id"].astype(str).to_numpy() == data.ids).all())
    want = np.array([SPLITS[s] for s in data.split])
    same_split = same_ids and bool((lab["split"].to_numpy() == want).all())
    if not (same_ids and same_split):
        raise AssertionError(f"the benchmark's split differs from the bundle's ({bundle_dir}): "
                             f"same ids {same_ids}, same split {same_split}")
    return {"checked": n, "same_ids": same_ids, "same_split": same_split}
