"""Shared fixtures: paths to the shipped demo bundle, the shared real data, a tiny bundle."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PRODEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
FASHION_CSV = SHARED_DATA / "fashion-product-images-styles.csv"

os.environ.setdefault("PRODEMB_PROGRESS", "0")


@pytest.fixture(scope="session")
def fashion_csv() -> Path:
    if not FASHION_CSV.exists():
        pytest.skip(f"real catalogue not present at {FASHION_CSV}")
    return FASHION_CSV


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A bundle trained end to end with a tiny config on a small demo catalogue (~30 s)."""
    from prodemb.config import TrainConfig
    from prodemb.demo import write_demo
    from prodemb.pipeline import train_bundle

    tmp = tmp_path_factory.mktemp("tiny")
    data = tmp / "demo.csv"
    write_demo(data, n_labelled=3000, n_unlabelled=3000, seed=1, progress=False)
    config = TrainConfig.from_json_file(str(ROOT / "configs" / "tiny.json"))
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
