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
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# Bytecode cached as under `make bench` (the Makefile unexports PYTHONDONTWRITEBYTECODE):
# run directly in a shell that sets it, every process a benchmark starts (the app server,
# Ray workers, CLI runs) would compile its imports again and measure that instead.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from prodemb.catalogue import PRESETS, ReaderOptions  # noqa: E402
from prodemb.config import TrainConfig  # noqa: E402
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


# ---------------------------------------------------------------------- background load
#: A CPU-bound Python loop that ends by itself once the process that started it is gone: a
#: benchmark killed mid-run (Ctrl-C, kill) left the plain `while True: pass` spinning on a
#: core, and every measurement after it, by any command, ran on a loaded machine.
BUSY_LOOP = """
import os, sys
parent = int(sys.argv[1])  # not getppid() here: the parent may be gone already
n = 0
while True:
    n += 1
    if n == 5_000_000:  # about every half second
        n = 0
        if os.getppid() != parent:
            break
"""


def start_busy_process() -> subprocess.Popen:
    """One CPU-bound process (:data:`BUSY_LOOP`), the "one background process" of the
    loaded measurements; stop it with :func:`stop_busy_process`."""
    return subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())])


def stop_busy_process(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


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
    from prodemb.bundle_format import library_versions
    from prodemb.utils import available_cores

    versions = library_versions(LIBRARIES)
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
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
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


#: fashion-small: the share of each leaf's training products that keep their category.
FASHION_SMALL_SHARE = 0.2
#: How fashion-small's file is read (written by :func:`fashion_small_catalogue`).
FASHION_SMALL_READER = ReaderOptions(
    text_columns=["title"], id_column="id", label_column=None,
    level_columns=["level1", "level2", "level3"], ignore_labels=[""], split_column="split")


def fashion_small_catalogue(seed: int = 0) -> Path | None:
    """Fashion with a small training set: the long tail of a young catalogue.

    The Fashion catalogue is split as ``prodemb train`` splits it (default config); of
    each leaf's training products a random 20 % keep their category (at least one per
    leaf), the others stay in the file without it, as unlabelled products do in a real
    catalogue (Word2Vec reads them; no classifier learns from their categories).
    Validation and test products are exactly Fashion's. The split is written into the
    file's ``split`` column, so every system trains and is scored on the same products.
    Generated once into the cache; None when the Fashion file is absent.
    """
    import pandas as pd

    source = fashion_catalogue()
    if source is None:
        return None
    path = CACHE / f"fashion_small_{FASHION_SMALL_SHARE}_{seed}.csv"
    if path.exists():
        return path
    data = pipeline_split(source, "fashion")
    keep = data.split != 0
    rng = np.random.default_rng(seed)
    ends = [max(np.flatnonzero(row), key=lambda n: data.taxonomy.levels[n]) for row in data.y]
    train = np.flatnonzero(data.split == 0)
    for leaf in np.unique([ends[i] for i in train]):
        rows = train[[ends[i] == leaf for i in train]]
        n_keep = max(1, int(round(FASHION_SMALL_SHARE * len(rows))))
        keep[rng.choice(rows, n_keep, replace=False)] = True
    paths = [data.taxonomy.nodes[e] if k else () for e, k in zip(ends, keep)]
    frame = pd.DataFrame({
        "id": data.ids, "title": data.texts,
        **{f"level{d + 1}": [p[d] if len(p) > d else "" for p in paths] for d in range(3)},
        "split": [("train", "validation", "test")[s] if k else "" for s, k in zip(data.split, keep)],
    })
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.csv")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


#: The public quality settings, in report order.
SETTINGS = ("demo", "demo-longtail", "fashion", "fashion-small")


def setting(name: str) -> tuple[Path | None, ReaderOptions]:
    """The catalogue file (None when absent) and reader options of a quality setting."""
    if name == "demo":
        return demo_catalogue(), PRESETS["demo"]
    if name == "demo-longtail":
        return demo_longtail_catalogue(), PRESETS["demo"]
    if name == "fashion":
        return fashion_catalogue(), PRESETS["fashion"]
    if name == "fashion-small":
        return fashion_small_catalogue(), FASHION_SMALL_READER
    raise ValueError(f"unknown setting {name!r}; known: {', '.join(SETTINGS)}")


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

    Stages 1 and 3 of ``train_bundle`` with its own functions (same reader, same labelled
    order and labels, :func:`prodemb.pipeline.labelled_paths`, which rolls rare leaves up
    when ``config.min_leaf_count > 1``, and :func:`prodemb.pipeline.split_labelled`), so the
    split equals the ``split`` column of a bundle trained with the same config; see
    :func:`check_split_matches_bundle`.
    """
    from prodemb.pipeline import labelled_paths, load_catalogue, split_labelled

    config = config or TrainConfig()
    if isinstance(options, str):
        options = PRESETS[options]
    catalogue, tokens = load_catalogue(str(data), options, config.text.max_tokens,
                                       show_progress=False)
    labelled, paths, _ = labelled_paths(catalogue, config)
    taxonomy = Taxonomy.from_paths(p for ps in paths for p in ps)
    y = taxonomy.binarize(paths)
    lab_tokens = [tokens[i] for i in labelled]
    split = split_labelled(catalogue, labelled, y, lab_tokens, config, Path(data).name)
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
