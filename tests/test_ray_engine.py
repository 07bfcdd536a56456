"""The Ray Data engine (issue 15, part 1): ``prodemb predict/embed --engine ray`` gives the
local engine's rows, reads CSV / JSONL / Parquet from a file, a directory or a glob, writes
Parquet shards, and says how to install Ray when it is missing.

One local Ray session (2 CPUs) is shared by the module's tests; the Ray runs are few and
small (Ray's start and each actor's bundle load cost seconds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prodemb.cli import main

ROOT = Path(__file__).resolve().parent.parent
DEMO = str(ROOT / "artifacts" / "demo")


def _handlers():
    import signal

    return signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


HANDLERS_AT_IMPORT = _handlers()


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")  # a guard only: `make setup` installs ray[data]
    from prodemb.ray_engine import callers_signal_handlers

    # Ray's own SIGTERM handler would stay after shutdown and end the test run at the
    # first later test that sends itself SIGTERM (test_safe_outputs).
    with callers_signal_handlers():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=512 * 1024 ** 2)
    yield ray
    with callers_signal_handlers():
        ray.shutdown()


def test_ray_leaves_the_callers_signal_handlers(ray_session):
    import signal

    assert signal.getsignal(signal.SIGTERM) is HANDLERS_AT_IMPORT[0]
    assert signal.getsignal(signal.SIGINT) is HANDLERS_AT_IMPORT[1]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The local CLI engine sets torch to all cores; later tests expect the default."""
    yield
    from prodemb.bundle import set_inference_threads

    set_inference_threads(None)


def catalogue(n: int, seed: int = 3) -> pd.DataFrame:
    from prodemb.demo import generate_demo

    return generate_demo(n_labelled=n // 4, n_unlabelled=n - n // 4, seed=seed)


def read_shards(out: Path) -> pd.DataFrame:
    files = sorted(out.glob("*.parquet"))
    assert files, f"no shards in {out}"
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def by_id(df: pd.DataFrame) -> pd.DataFrame:
    """Rows sorted by id: the Ray engine keeps no row order across its shards."""
    return df.sort_values(["id", "text"], kind="stable").reset_index(drop=True)


def local_predict(tmp_path: Path, data: Path) -> pd.DataFrame:
    out = tmp_path / f"local-{data.stem}.parquet"
    # One thread: two OpenMP threads against a busy machine's other jobs run many times
    # slower (issue 15, part 3); the output is the same.
    assert main(["predict", "--bundle", DEMO, "--in", str(data), "--out", str(out),
                 "--threads", "1", "-q"]) == 0
    return pd.read_parquet(out)


@pytest.mark.slow
def test_ray_predictions_equal_the_local_engine_on_20000_products(ray_session, tmp_path):
    """20,000 generated products in one CSV (local engine) and as 3 CSV shards of a
    directory (Ray, 2 workers): the same rows, product by product."""
    df = catalogue(20_000)
    whole = tmp_path / "all.csv"
    df.to_csv(whole, index=False)
    shards = tmp_path / "shards"
    shards.mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), 3)):
        df.iloc[part].to_csv(shards / f"part-{i}.csv", index=False)
    out = tmp_path / "ray-out"
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(shards),
                 "--out", str(out), "-q"]) == 0
    got = read_shards(out)
    want = local_predict(tmp_path, whole)
    assert len(got) == 20_000
    assert list(got.columns) == list(want.columns) == [
        "id", "text", "category", "score", "all_paths", "status", "confidence", "flags"]
    pd.testing.assert_frame_equal(by_id(got), by_id(want))
    summary = json.loads((out / "_prodemb.json").read_text())
    assert summary["rows"] == 20_000 and summary["workers"] == 2 and summary["inputs"] == 3


@pytest.mark.slow
def test_ray_predict_jsonl_glob_and_embed_parquet(ray_session, tmp_path):
    """JSONL shards named by a glob (predict) and a Parquet directory (embed): the local
    engine's predictions, and embeddings as a fixed-size list column equal to
    ``Bundle.embed``."""
    df = catalogue(600, seed=4)
    df.loc[df.index[:3], "title"] = ["", "asdf qwer", "=SUM(A1:A3)"]  # odd texts too
    (tmp_path / "j").mkdir()
    for i, part in enumerate(np.array_split(np.arange(len(df)), 2)):
        df.iloc[part].to_json(tmp_path / "j" / f"p{i}.jsonl", orient="records", lines=True,
                              force_ascii=False)
    df.to_json(tmp_path / "all.jsonl", orient="records", lines=True, force_ascii=False)
    out = tmp_path / "pred"
    assert main(["predict", "--engine", "ray", "--workers", "1", "--bundle", DEMO,
                 "--in", str(tmp_path / "j" / "p*.jsonl"), "--out", str(out), "-q"]) == 0
    pd.testing.assert_frame_equal(by_id(read_shards(out)),
                                  by_id(local_predict(tmp_path, tmp_path / "all.jsonl")))

    (tmp_path / "pq").mkdir()
    df.iloc[:300].to_parquet(tmp_path / "pq" / "a.parquet")
    df.iloc[300:].to_parquet(tmp_path / "pq" / "b.parquet")
    emb_out = tmp_path / "emb"
    from prodemb.ray_engine import run

    summary = run("embed", DEMO, str(tmp_path / "pq"), str(emb_out))
    assert summary["rows"] == 600
    import pyarrow.dataset as pads

    table = pads.dataset(str(emb_out), format="parquet").to_table()
    etype = table.schema.field("embedding").type  # a fixed-size list of 128 float32
    assert (etype.num_fields, etype.list_size, str(etype.value_type)) == (1, 128, "float")
    assert sorted(table.column("id").to_pylist()) == sorted(df["id"].tolist())
    from prodemb.bundle import Bundle

    b = Bundle.load(DEMO)
    texts = table.column("text").to_pylist()
    want = b.embed(texts)
    got = np.stack(table.column("embedding").to_numpy(zero_copy_only=False))
    np.testing.assert_allclose(got, want, atol=1e-5)
    # The shards are what `prodemb index --embeddings` reads.
    from prodemb.index import embeddings_fingerprint, read_embeddings

    ids, _, vectors = read_embeddings(str(emb_out))
    assert len(ids) == 600 and vectors.shape == (600, 128)
    assert embeddings_fingerprint(str(emb_out)) == \
        b.manifest["files"]["classifier.safetensors"]["sha256"]


def test_ray_output_must_be_a_new_directory(ray_session, tmp_path, capsys):
    data = tmp_path / "a.csv"
    catalogue(20).to_csv(data, index=False)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(data),
                 "--out", str(full), "-q"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (full / "keep.txt").read_text() == "mine"
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(tmp_path / "x*.csv"),
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    assert "no catalogue files found" in capsys.readouterr().err
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(data),
                 "--out", str(tmp_path / "o"), "--id-column", "", "-q"]) == 2
    assert "needs an id column" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_bad_input_is_said_as_the_local_engine_says_it(ray_session, tmp_path, capsys):
    """A missing column is said before any Ray work, naming the file; a bad line in a later
    shard, read inside a worker, is said in one line as well (not as Ray's traceback), and
    no output directory is left."""
    pd.DataFrame({"id": ["1"], "title": ["sal"]}).to_csv(tmp_path / "a.csv", index=False)
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(tmp_path / "a.csv"),
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prodemb predict: error: a.csv: missing column(s) 'description'")
    assert "--text-columns title" in err and "Traceback" not in err

    (tmp_path / "j").mkdir()
    catalogue(40, seed=1).to_json(tmp_path / "j" / "p0.jsonl", orient="records", lines=True)
    with open(tmp_path / "j" / "p1.jsonl", "w", encoding="utf-8") as f:
        f.write('{"id": "x1", "title": "sal", "description": ""}\n{"id": "x2", "title": oops\n')
    assert main(["predict", "--engine", "ray", "--bundle", DEMO, "--in", str(tmp_path / "j"),
                 "--out", str(tmp_path / "o"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("prodemb predict: error: an input batch: invalid JSON")
    assert "oops" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.tmp")]


def test_without_ray_the_command_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    data = tmp_path / "a.csv"
    pd.DataFrame({"id": ["1"], "title": ["sal"], "description": [""]}).to_csv(data, index=False)
    for cmd in ("predict", "embed"):
        rc = main([cmd, "--engine", "ray", "--bundle", DEMO, "--in", str(data),
                   "--out", str(tmp_path / "out"), "-q"])
        err = capsys.readouterr().err
        assert rc == 2
        assert "Ray is not installed" in err and "pip install 'ray[data]==2.60.0'" in err
    assert not (tmp_path / "out").exists()
