"""Outputs that cannot destroy a user's data (issue 17, part 1).

Each failure an independent probe reported is reproduced and shown fixed:

1. ``prodemb train --out DIR`` deleted whatever DIR held: ``--out .`` in a folder with
   user files, ``--out userdir/`` with nested files, a file or a symlink at ``--out``, and
   ``--data X --out X``. Now ``--out`` must be a new path, an empty directory or a
   directory holding a prodemb bundle (replaced only with ``--force``); anything else exits
   with status 2 before any work, and nothing is changed.
2. ``predict --in X --out X`` overwrote its input; ``evaluate --out`` on a full disk left a
   truncated JSON; a killed training left the Word2Vec corpus (the cleaned catalogue text)
   in TMPDIR; two trainings to one ``--out`` both reported success. Now an output may not
   be an input, files are written through a temporary file moved into place only on
   success, SIGTERM/SIGINT remove the corpus (written beside the bundle, where the next run
   also removes a SIGKILLed run's), and a second training to a locked ``--out`` exits 2.

Runs use ``configs/tiny.json`` without maps on a 600-product demo catalogue (a training
takes a few seconds); the refusals happen before anything is read, so most tests are
instant.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import time
import warnings
from pathlib import Path

import pytest
from reliability_helpers import ROOT, assert_refused, fast_config
from reliability_helpers import run_cli as run


# ---------------------------------------------------------------------- helpers
def snapshot(path: Path) -> dict[str, str]:
    """Every entry under ``path`` (hidden ones included): file digests, link targets, dirs."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root) / name
            rel = str(p.relative_to(path))
            if p.is_symlink():
                out[rel] = "link -> " + os.readlink(p)
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A 600-product demo catalogue and the fast training config."""
    from prodemb.demo import write_demo

    tmp = tmp_path_factory.mktemp("safe")
    data = tmp / "catalogue.csv"
    write_demo(data, n_labelled=600, n_unlabelled=0, seed=3, progress=False)
    return {"tmp": tmp, "data": data, "fast": fast_config(tmp / "fast.json")}


@pytest.fixture(scope="module")
def small_bundle(shop):
    """A bundle trained by ``prodemb train`` into an existing empty directory (allowed)."""
    from prodemb.cli import main

    out = shop["tmp"] / "artifacts" / "small"
    out.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--data", str(shop["data"]), "--out", str(out),
                     "--config", str(shop["fast"]), "-q"]) == 0
    assert (out / "manifest.json").is_file()
    assert hidden(out.parent) == [], "no lock file or temporary directory is left behind"
    return out


def train_argv(shop, out, *extra: str, data=None) -> list[str]:
    return ["train", "--data", str(data or shop["data"]), "--out", str(out),
            "--config", str(shop["fast"]), "-q", *extra]


# ====================================================================== 1. train --out
def test_train_out_dot_in_a_folder_with_user_files_is_refused(capsys, tmp_path, shop, monkeypatch):
    """Was: `--out .` left only the 11 bundle files (report.txt and the CSV deleted), exit 0."""
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "report.txt").write_text("my report\n")
    shutil.copy(shop["data"], folder / "catalogue.csv")
    before = snapshot(folder)
    monkeypatch.chdir(folder)
    code, _, err = run(capsys, train_argv(shop, ".", data="catalogue.csv"))
    assert_refused(code, err, "train", r"cannot write the bundle to '\.': it contains the "
                   r"catalogue being trained on .*Nothing was changed")
    assert snapshot(folder) == before

    # the catalogue elsewhere: the folder is still not a bundle, and not empty
    code, _, err = run(capsys, train_argv(shop, ".", data=shop["data"]))
    line = assert_refused(code, err, "train", r"not a prodemb bundle .*not empty")
    assert "report.txt" in line and "choose a new or empty directory" in line
    assert snapshot(folder) == before


def test_train_out_user_dir_with_nested_files_is_refused(capsys, tmp_path, shop):
    """Was: `--out userdir/` deleted notes.txt, catalogue.csv and sub/keep.txt."""
    user = tmp_path / "userdir"
    (user / "sub").mkdir(parents=True)
    (user / "notes.txt").write_text("notes\n")
    (user / "sub" / "keep.txt").write_text("keep\n")
    shutil.copy(shop["data"], user / "catalogue.csv")
    before = snapshot(tmp_path)
    code, _, err = run(capsys, train_argv(shop, f"{user}/"))
    line = assert_refused(code, err, "train", r"is a directory that is not a prodemb bundle "
                          r"\(no manifest\.json\) and is not empty")
    assert "catalogue.csv, notes.txt, sub" in line
    assert snapshot(tmp_path) == before, "nothing changed, no lock or temporary file left"


@pytest.mark.parametrize("kind", ["file", "link_to_dir", "link_to_bundle", "link_to_file",
                                  "dangling_link"])
def test_train_out_file_or_symlink_is_refused(capsys, tmp_path, shop, small_bundle, kind):
    """Was: the file or link became a bundle directory, the original survived only as a
    hidden ``.NAME.tmp-PID``."""
    target = tmp_path / "target"
    out = tmp_path / "out"
    if kind == "file":
        out.write_text("a user's file\n")
    elif kind == "link_to_dir":
        target.mkdir()
        (target / "keep.txt").write_text("keep\n")
        out.symlink_to(target)
    elif kind == "link_to_bundle":
        out.symlink_to(small_bundle)
    elif kind == "link_to_file":
        target.write_text("keep\n")
        out.symlink_to(target)
    else:
        out.symlink_to(tmp_path / "nowhere")
    before = snapshot(tmp_path)
    bundle_before = snapshot(small_bundle)
    code, _, err = run(capsys, train_argv(shop, out, "--force"))
    pattern = r"it is an existing file" if kind == "file" else r"it is a symbolic link \(to '.*'\)"
    assert_refused(code, err, "train", pattern + r".*Nothing was changed")
    assert snapshot(tmp_path) == before
    assert snapshot(small_bundle) == bundle_before


def test_train_data_as_out_is_refused(capsys, tmp_path, shop):
    """Was: `--data X --out X` turned the catalogue into a bundle directory."""
    data = tmp_path / "shop.csv"
    shutil.copy(shop["data"], data)
    before = snapshot(tmp_path)
    code, _, err = run(capsys, train_argv(shop, data, "--force", data=data))
    assert_refused(code, err, "train", r"it is the catalogue being trained on .*shop\.csv")
    # the same file by another name (a hard link) is refused as well
    os.link(data, tmp_path / "same.csv")
    before = snapshot(tmp_path)
    code, _, err = run(capsys, train_argv(shop, tmp_path / "same.csv", data=data))
    assert_refused(code, err, "train", r"it is the catalogue being trained on")
    assert snapshot(tmp_path) == before


def test_train_into_an_existing_bundle_needs_force(capsys, tmp_path, shop, small_bundle):
    """Without --force an existing bundle is refused and untouched; with it the bundle is
    replaced, and what killed runs left beside it (a SIGKILLed run's Word2Vec corpus, a
    lock file nobody holds) is removed and does not block."""
    from prodemb.bundle import Bundle, lock_path

    out = shutil.copytree(small_bundle, tmp_path / "artifacts" / "shop")
    before = snapshot(out)
    code, _, err = run(capsys, train_argv(shop, out))
    assert_refused(code, err, "train", r"already holds a prodemb bundle\. Nothing was changed: "
                   r"pass --force to replace that bundle")
    assert snapshot(out) == before

    leftover = out.parent / ".shop.tmp-w2v-999999999"  # no such process
    leftover.mkdir()
    (leftover / "corpus.txt").write_text("the cleaned catalogue text\n")
    Path(lock_path(str(out))).write_text("123\n")  # left by a killed run; flock is gone
    data = tmp_path / "catalogue-2.csv"
    shutil.copy(shop["data"], data)
    code, stdout, err = run(capsys, train_argv(shop, out, "--force", data=data))
    assert code == 0, err
    assert f"bundle written to {out}" in stdout
    bundle = Bundle.load(str(out))
    assert bundle.manifest["data"]["file"] == "catalogue-2.csv", "the bundle was replaced"
    assert hidden(out.parent) == [], "leftovers and the lock file are removed"


def test_python_api_replaces_a_bundle_as_the_benchmarks_do(tmp_path, shop, small_bundle):
    """``train_bundle(data, out, ...)`` into a directory that holds a bundle (and, like
    bench/bench_quality.py's cache, a stamp file of its own) replaces it, as before;
    ``overwrite=False`` refuses it before reading anything; a non-bundle is always refused."""
    from prodemb.bundle import Bundle, OutputError
    from prodemb.config import TrainConfig
    from prodemb.pipeline import train_bundle

    config = TrainConfig.from_json_file(str(shop["fast"]))
    out = shutil.copytree(small_bundle, tmp_path / "bundles" / "quality-x")
    (out / "bench_key.txt").write_text("old key")
    before = snapshot(out)
    with pytest.raises(OutputError, match="already holds a prodemb bundle"):
        train_bundle("no-such-file.csv", str(out), None, config, show_progress=False,
                     overwrite=False)
    assert snapshot(out) == before
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("notes\n")
    with pytest.raises(OutputError, match="not a prodemb bundle"):
        train_bundle(str(shop["data"]), str(user), None, config, show_progress=False,
                     overwrite=True)
    assert (user / "notes.txt").read_text() == "notes\n"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        manifest = train_bundle(str(shop["data"]), str(out), None, config, show_progress=False)
    assert Bundle.load(str(out)).manifest["created"] == manifest["created"]
    assert not (out / "bench_key.txt").exists(), "the whole directory was replaced"
    assert hidden(out.parent) == []


def test_a_second_training_while_the_first_holds_the_lock_is_refused(capsys, tmp_path, shop,
                                                                     small_bundle):
    """Was: two trainings to one --out both reported success and the last silently won.
    The lock is an flock on ``.NAME.lock`` beside --out; here the test holds it."""
    import fcntl

    from prodemb.bundle import lock_path

    for out in (tmp_path / "new-bundle", shutil.copytree(small_bundle, tmp_path / "old")):
        existed = out.exists()
        before = snapshot(out) if existed else None
        fd = os.open(lock_path(str(out)), os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            code, _, err = run(capsys, train_argv(shop, out, "--force"))
            assert_refused(code, err, "train", r"is in use: another training is writing a "
                           r"bundle there right now .*wait for it to finish")
        finally:
            os.close(fd)
        assert (snapshot(out) if existed else None) == before
        assert not any(n.startswith(f".{out.name}.tmp-") for n in os.listdir(tmp_path))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_training_removes_the_word2vec_corpus(capsys, tmp_path, shop, monkeypatch, sig):
    """Was: the corpus lived in TMPDIR and a SIGTERM left it there for good. It is now
    written beside the output (``.NAME.tmp-w2v-PID``) and SIGTERM, like Ctrl-C, unwinds
    the run: the corpus, the lock and the output's new parent folder are all removed."""
    import prodemb.pipeline

    seen = {}

    def fake_word2vec(corpus_file, config, seed=0, show_progress=True, **_):
        if seen:  # the second network's run, beside the first: one signal is enough
            time.sleep(30)
        seen["corpus"] = Path(corpus_file)
        seen["text"] = Path(corpus_file).read_text()
        os.kill(os.getpid(), sig)  # what `kill` or Ctrl-C does to the CLI
        time.sleep(30)
        raise AssertionError("the signal did not stop the run")

    monkeypatch.setattr(prodemb.pipeline, "train_word2vec", fake_word2vec)
    handler = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "artifacts" / "b"
    code, _, err = run(capsys, train_argv(shop, out))
    assert code == (128 + signal.SIGTERM if sig == signal.SIGTERM else 130), err
    assert ("stopped by SIGTERM" if sig == signal.SIGTERM else "interrupted") in err
    assert "Traceback" not in err
    corpus = seen["corpus"]
    assert corpus.parent.parent == out.parent and corpus.parent.name.startswith(".b.tmp-w2v-")
    assert seen["text"].strip(), "the corpus held the catalogue's text"
    assert not corpus.exists() and not out.exists()
    assert not out.parent.exists(), "the folder this run created is removed again"
    assert signal.getsignal(signal.SIGTERM) == handler, "the CLI restores the signal handler"


def test_a_signal_the_caller_ignores_stays_ignored(capsys, tmp_path, shop, monkeypatch):
    """`nohup prodemb train ...` keeps running when the terminal closes: the CLI turns only
    signals left at their default into a clean stop, never an ignored SIGHUP."""
    import prodemb.pipeline

    seen = {}

    def fake_word2vec(corpus_file, config, seed=0, show_progress=True, **_):
        seen["hup"], seen["term"] = signal.getsignal(signal.SIGHUP), signal.getsignal(signal.SIGTERM)
        raise ValueError("stop here")

    monkeypatch.setattr(prodemb.pipeline, "train_word2vec", fake_word2vec)
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        code, _, err = run(capsys, train_argv(shop, tmp_path / "b"))
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert_refused(code, err, "train", "stop here")
    assert seen["hup"] == signal.SIG_IGN
    assert callable(seen["term"]), "SIGTERM (at its default) does stop the run cleanly"
    assert os.listdir(tmp_path) == []


def test_write_atomically_refuses_what_is_not_a_bundle(tmp_path):
    """The bundle writer itself checks, before writing and again before the swap."""
    from prodemb.bundle import OutputError, check_bundle_output, write_atomically

    called = []
    web = tmp_path / "site"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "my web app", "icons": []}')
    (web / "index.html").write_text("<html></html>")
    with pytest.raises(OutputError, match="not a prodemb bundle"):
        write_atomically(str(web), called.append)
    assert called == [] and sorted(os.listdir(web)) == ["index.html", "manifest.json"]

    empty = tmp_path / "empty"
    empty.mkdir()
    check_bundle_output(str(empty), overwrite=False)  # an empty directory is fine
    write_atomically(str(empty), lambda d: Path(d, "manifest.json").write_text("{}"))
    with pytest.raises(OutputError, match="already holds a prodemb bundle"):
        write_atomically(str(empty), called.append, overwrite=False)
    assert called == []

    def sneak_in(d):  # something else moves into place while the bundle is written
        Path(d, "manifest.json").write_text("{}")
        shutil.rmtree(empty)
        empty.mkdir()
        (empty / "thesis.tex").write_text("years of work")

    with pytest.raises(OutputError, match="not a prodemb bundle"):
        write_atomically(str(empty), sneak_in)
    assert (empty / "thesis.tex").read_text() == "years of work"
    assert hidden(tmp_path) == []


def test_makefile_rebuilds_the_demo_bundle_with_force():
    recipe = (ROOT / "Makefile").read_text().split("demo-artifacts: setup", 1)[1].split("\n\n")[0]
    assert re.search(r"prodemb train .*--out artifacts/demo .*--force", recipe), recipe


# ====================================================================== 2. predict / evaluate
def test_predict_in_equals_out_is_refused(capsys, tmp_path, shop, small_bundle):
    """Was: `predict --in X --out X` overwrote the input with predictions."""
    data = tmp_path / "products.csv"
    shutil.copy(shop["data"], data)
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    before = snapshot(tmp_path)
    for out in (data, tmp_path / "link.csv", tmp_path / "hard.csv"):
        code, _, err = run(capsys, ["predict", "--bundle", str(small_bundle), "--in", str(data),
                                    "--out", str(out), "-q"])
        assert_refused(code, err, "predict", r"it is the input file \(--in '.*products\.csv'\), "
                       r"which would be overwritten\. Nothing was changed")
    code, _, err = run(capsys, ["predict", "--bundle", str(small_bundle), "--in", str(data),
                                "--out", str(small_bundle / "products.parquet"), "-q"])
    assert_refused(code, err, "predict", r"inside the bundle")
    code, _, err = run(capsys, ["predict", "--bundle", str(small_bundle), "--in", str(data),
                                "--out", str(tmp_path), "-q"])
    assert_refused(code, err, "predict", r"it is a directory")
    assert snapshot(tmp_path) == before


def test_evaluate_out_is_written_whole_or_not_at_all(capsys, tmp_path, shop, small_bundle,
                                                     monkeypatch):
    """Was: `evaluate --out` on a full disk left a truncated JSON. The result goes through a
    temporary file in the same folder; a failed write (ENOSPC, simulated) leaves neither a
    partial file nor the temporary one, and a previous result stays as it was."""
    import json

    argv = ["evaluate", "--bundle", str(small_bundle), "--data", str(shop["data"])]
    out = tmp_path / "result.json"
    code, _, err = run(capsys, argv + ["--out", str(out)])
    assert code == 0, err
    good = out.read_text()
    assert json.loads(good)["macro_f1"] > 0
    assert os.listdir(tmp_path) == ["result.json"]

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    for target in (out, tmp_path / "new.json"):
        code, _, err = run(capsys, argv + ["--out", str(target)])
        assert_refused(code, err, "evaluate", r"No space left on device")
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["result.json"], "no partial or temporary file"
    assert out.read_text() == good, "the previous result is intact"

    code, _, err = run(capsys, argv + ["--out", str(shop["data"])])
    assert_refused(code, err, "evaluate", r"it is the input file \(--data ")
    code, _, err = run(capsys, argv + ["--out", str(tmp_path / "no" / "such" / "r.json")])
    assert_refused(code, err, "evaluate", r"the folder '.*no/such' does not exist")


def test_demo_data_out_directory_is_refused(capsys, tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    (folder / "keep.txt").write_text("keep\n")
    before = snapshot(tmp_path)
    code, _, err = run(capsys, ["demo-data", "--out", str(folder), "--labelled", "50",
                                "--unlabelled", "0", "-q"])
    assert_refused(code, err, "demo-data", r"is a directory; nothing was changed: give a file "
                   r"name ending in \.csv or \.parquet")
    assert snapshot(tmp_path) == before
