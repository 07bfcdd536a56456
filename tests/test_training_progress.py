"""What ``prodemb train`` shows while it runs and what it reports about Word2Vec.

- every stage is announced (``[3/9] split: ...``) and a stage without a progress bar gets
  heartbeat lines with the elapsed time (:class:`prodemb.utils.StageTimer`);
- the end of training prints a table of stage times;
- metrics.json holds the mean cosine of random word pairs and a probe table whose words
  come from the catalogue when the configured ones are not in its vocabulary.
"""

from __future__ import annotations

import json
import time
import warnings

import numpy as np
import pytest
from reliability_helpers import fast_config

from prodemb.utils import StageTimer, format_seconds, progress, stage_table
from prodemb.word2vec import (
    WordVectors,
    choose_probe_words,
    random_pair_cosine,
    word2vec_diagnostics,
)


@pytest.fixture
def progress_on(monkeypatch):
    """Progress output on (the test suite turns it off with PRODEMB_PROGRESS=0)."""
    monkeypatch.delenv("PRODEMB_PROGRESS", raising=False)


# ---------------------------------------------------------------------- stage timer
def test_stages_are_announced_and_heartbeats_show_elapsed_time(capsys, progress_on):
    timer = StageTimer(show=True, stages=("read_clean", "split"),
                       labels={"read_clean": "read + clean"}, heartbeat=0.05)
    with timer("read_clean"):
        pass
    with timer("split", "40 labelled products") as stage:
        stage.note("grouping identical texts")
        time.sleep(0.3)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == "[1/2] read + clean"
    assert lines[1] == "[2/2] split: 40 labelled products"
    assert lines[2].strip() == "split: grouping identical texts"
    beats = [line for line in lines if "still running" in line]
    assert beats and all("elapsed (grouping identical texts)" in b for b in beats)
    assert set(timer.seconds) == {"read_clean", "split"} and timer.seconds["split"] >= 0.3
    # The heartbeat thread ends with its stage.
    time.sleep(0.15)
    assert "still running" not in capsys.readouterr().err


def test_heartbeat_is_quiet_while_a_progress_bar_moves(capsys, progress_on):
    timer = StageTimer(show=True, stages=("classifier",), heartbeat=0.4)
    with timer("classifier"):
        for _ in progress(range(40), desc="epoch 1/1", mininterval=0, miniters=1):
            time.sleep(0.03)
    assert "still running" not in capsys.readouterr().err


def test_nothing_is_shown_when_progress_is_off(capsys, monkeypatch):
    monkeypatch.setenv("PRODEMB_PROGRESS", "0")
    timer = StageTimer(show=True, stages=("split",), heartbeat=0.02)
    with timer("split") as stage:
        stage.note("working")
        time.sleep(0.1)
    assert capsys.readouterr().err == ""
    quiet = StageTimer(show=False, heartbeat=0.02)
    with quiet("split"):
        time.sleep(0.05)
    assert capsys.readouterr().err == "" and "split" in quiet.seconds


def test_stage_table_and_durations():
    table = stage_table({"read_clean": 1.0, "maps": 95.0, "write": 4.0},
                        {"read_clean": "read + clean"}).splitlines()
    assert table[0].split() == ["stage", "time", "share"]
    assert table[1].split() == ["read", "+", "clean", "1.0", "s", "1", "%"]
    assert table[2].split() == ["maps", "1", "min", "35", "s", "95", "%"]
    assert table[-1].split() == ["total", "1", "min", "40", "s"]
    assert [format_seconds(s) for s in (0.25, 42.4, 125, 3725)] == [
        "0.2 s", "42 s", "2 min 05 s", "1 h 02 min"]
    assert stage_table({}).splitlines()[-1].split() == ["total", "0.0", "s"]


# ---------------------------------------------------------------------- Word2Vec diagnostics
def _vectors(words, vectors=None, seed=0):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(words), 16)) if vectors is None else vectors
    return WordVectors(list(words), vectors, np.arange(len(words), 0, -1))


def test_random_pair_cosine_tells_learned_from_degenerate_vectors():
    words = [f"w{i}" for i in range(300)]
    spread = random_pair_cosine(_vectors(words))
    alike = _vectors(words, np.ones((300, 16)) + 0.01 * np.random.default_rng(1).normal(
        size=(300, 16)))
    assert abs(spread) < 0.1
    assert random_pair_cosine(alike) > 0.99
    assert random_pair_cosine(_vectors(words)) == spread  # fixed seed: same number
    assert random_pair_cosine(_vectors(["one"])) is None
    report = word2vec_diagnostics(alike, ["w1"], configured=["nike"])
    assert report["random_pair_cosine"] > 0.99 and "nearly all alike" in report["warning"]
    assert report["probe_words_from_catalogue"] == ["w1"]
    assert word2vec_diagnostics(_vectors(words), ["w1"], ["w1"])["warning"] is None


def _shop():
    """Cleaned tokens and top-level categories of a small made-up shop: brands lead the
    titles and sell in several categories; 'delivery' is everywhere; 'shirt' and 'watch'
    belong to one category each."""
    rows = []
    for _ in range(40):
        rows.append((["nike", "men", "shirt", "cotton", "free", "delivery"], "Apparel"))
        rows.append((["nike", "running", "shoes", "free", "delivery"], "Footwear"))
        rows.append((["puma", "women", "shirt", "free", "delivery"], "Apparel"))
        rows.append((["puma", "sport", "shoes", "free", "delivery"], "Footwear"))
        rows.append((["titan", "steel", "watch", "free", "delivery"], "Accessories"))
    tokens, groups = [r[0] for r in rows], [r[1] for r in rows]
    words = ["delivery", "free", "shirt", "nike", "puma", "shoes", "men", "women", "cotton",
             "running", "sport", "titan", "steel", "watch", "and", "000"]
    return _vectors(words), tokens, groups


def test_probe_words_come_from_the_catalogue():
    wv, tokens, groups = _shop()
    # None of the demo's probe words is in this vocabulary: brand-like and category words
    # of the catalogue, alternately, most frequent first, one category word per category.
    probes = choose_probe_words(wv, ["nike", "kabelka", "scarf"], n=4, tokens=tokens,
                                groups=groups)
    assert probes[0] == "nike"  # configured and present: kept, first
    assert probes[1:] == ["puma", "shirt", "shoes"]
    free = choose_probe_words(wv, ["kabelka"], n=5, tokens=tokens, groups=groups)
    assert free == ["nike", "shirt", "puma", "shoes", "titan"]
    assert "delivery" not in free and "and" not in free and "000" not in free
    # Without labels: the most frequent words a user would look up.
    assert choose_probe_words(wv, [], n=3) == ["delivery", "free", "shirt"]
    # Configured words present in the vocabulary are all used, in their order.
    assert choose_probe_words(wv, ["watch", "nike"], n=2, tokens=tokens,
                              groups=groups) == ["watch", "nike"]


def test_demo_probe_words_stay_on_the_demo(tiny_bundle):
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    w2v = metrics["word2vec"]
    assert w2v["probe_words"][:2] == ["nike", "scarf"]
    assert set(w2v["probe_words_from_config"]) >= {"nike", "scarf"}
    assert list(metrics["word2vec_probes"]) == w2v["probe_words"]
    assert 0 < w2v["random_pair_cosine"] < 0.9 and w2v["warning"] is None
    assert w2v["vocabulary"] > 100 and w2v["epochs"] >= 1 and w2v["corpus_tokens"] > 0


# ---------------------------------------------------------------------- prodemb train
def test_train_shows_every_stage_and_a_table_of_stage_times(capsys, tmp_path, progress_on):
    from prodemb.cli import main
    from prodemb.demo import write_demo

    data = tmp_path / "shop.csv"
    write_demo(data, n_labelled=600, n_unlabelled=200, seed=3, progress=False)
    config = fast_config(tmp_path / "fast.json")
    out = tmp_path / "bundle"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["train", "--data", str(data), "--out", str(out), "--config", str(config),
                     "--epochs", "1"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    for i, label in enumerate(("read + clean", "Word2Vec", "split", "classifier", "evaluate",
                               "label review", "embeddings", "maps", "write"), 1):
        assert f"[{i}/9] {label}" in err
    table = stdout[stdout.index("Stage times:"):].splitlines()
    assert table[1].split() == ["stage", "time", "share"]
    assert [line.split()[0] for line in table[2:12]] == [
        "read", "Word2Vec", "split", "classifier", "evaluate", "label", "embeddings", "maps",
        "write", "total"]
    assert "mean cosine of random word pairs" in stdout
    assert "stage seconds" not in stdout


def test_a_read_error_starts_on_its_own_line(capsys, tmp_path, progress_on):
    """The read + clean progress bar is closed before the error is printed."""
    from prodemb.cli import main

    data = tmp_path / "bad.csv"
    data.write_text("id,title\nP1,a scarf\n")  # no category column
    code = main(["train", "--data", str(data), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2
    last = [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]
    assert last.startswith("prodemb train: error: "), err


def test_readme_shows_the_stages_and_epoch_cap_of_the_code():
    """README's "What prodemb train shows" matches the stages and the epoch cap of the code."""
    import re
    from pathlib import Path

    from prodemb.config import ClassifierConfig
    from prodemb.pipeline import STAGE_LABELS, STAGES

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### What `prodemb train` shows"):]
    section = section[:section.index("**Word2Vec's health check**")]
    n = len(STAGES)
    announced = re.findall(r"^\[(\d+)/(\d+)\] ([^:\n]+)", section, flags=re.MULTILINE)
    assert [(int(i), int(k), label) for i, k, label in announced] == [
        (i, n, STAGE_LABELS[s]) for i, s in enumerate(STAGES, 1)]
    cap = ClassifierConfig().max_epochs
    assert {int(k) for k in re.findall(r"^epoch \d+/(\d+)", section, flags=re.MULTILINE)} == {cap}
    assert not re.search(r"\b(eight|[0-9]+) stages\b", section) or f"{n} stages" in section
    assert not re.search(r"classifier's \d+\s+epochs", readme)
