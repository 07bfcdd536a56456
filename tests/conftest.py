"""Shared fixtures: paths to the shipped demo bundle, the shared real data, a tiny bundle."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PRODEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
FASHION_CSV = SHARED_DATA / "fashion-product-images-styles.csv"

os.environ.setdefault("PRODEMB_PROGRESS", "0")

# A suite started in the background of a non-interactive shell (`make test &` in a script)
# inherits SIGINT ignored; the tests that press Ctrl-C, in this process and on `prodemb
# train` subprocesses (which inherit it too), need the interpreter's usual handler.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`: ``--dist loadfile``) files are handed to the workers
    in collection order, so the files holding slow tests go first: a long file started
    last keeps one worker busy after the other has finished. Stable within a file."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session")
def fashion_csv() -> Path:
    if not FASHION_CSV.exists():
        pytest.skip(f"real catalogue not present at {FASHION_CSV}")
    return FASHION_CSV


#: Products the tiny bundle's t-SNE and UMAP maps are fitted on; the other 2,300 of its
#: 3,300 mapped products are placed by kNN interpolation, as every catalogue larger than
#: ``MapConfig.fit_points`` is. UMAP's layout time grows with the points (3,300: ~12 s,
#: 1,000: ~2 s on 2 quiet cores).
TINY_MAP_FIT_POINTS = 1000


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A bundle trained end to end with ``configs/tiny.json`` (maps fitted on
    :data:`TINY_MAP_FIT_POINTS` products) on a 3,000 + 3,000 demo catalogue, once per
    test run (~35 s on 2 quiet cores, of which ~11 s compile UMAP's numba code): with
    pytest-xdist (``make test``) the first worker to need it trains it under a file lock
    in the run's shared temp folder, the others wait and read it. Tests only read it; a
    test that changes a bundle copies it first."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # not under xdist
        return _train_tiny_bundle(tmp_path_factory.mktemp("tiny"))
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # the run's folder, above each worker's
    out = shared / "tiny"
    with FileLock(str(shared / "tiny.lock")):
        if not (out / "bundle" / "manifest.json").is_file():
            out.mkdir(exist_ok=True)
            _train_tiny_bundle(out)
    return out / "bundle"


def _train_tiny_bundle(tmp: Path) -> Path:
    from prodemb.config import TrainConfig
    from prodemb.demo import write_demo
    from prodemb.pipeline import train_bundle

    data = tmp / "demo.csv"
    write_demo(data, n_labelled=3000, n_unlabelled=3000, seed=1, progress=False)
    config = TrainConfig.from_json_file(str(ROOT / "configs" / "tiny.json"))
    config.maps.fit_points = TINY_MAP_FIT_POINTS
    out = tmp / "bundle"
    train_bundle(str(data), str(out), None, config, show_progress=False)
    return out


@pytest.fixture(scope="session")
def bundle_path() -> str:
    """The bundle the app tests run on: ``PRODEMB_BUNDLE`` (a path or a name under
    ``artifacts/``) if set, else the shipped ``artifacts/demo``, which must exist."""
    env = os.environ.get("PRODEMB_BUNDLE")
    candidates = [env, str(ROOT / "artifacts" / env)] if env else [str(ROOT / "artifacts" / "demo")]
    for p in candidates:
        if p and os.path.isfile(os.path.join(p, "manifest.json")):
            return os.path.abspath(p)
    pytest.fail(f"no bundle at {candidates}: the demo bundle is shipped in artifacts/demo "
                "(rebuild it with `make demo-artifacts`) or set PRODEMB_BUNDLE")


@pytest.fixture(scope="session")
def bundle(bundle_path):
    from prodemb import ui

    return ui.load_bundle(bundle_path)
