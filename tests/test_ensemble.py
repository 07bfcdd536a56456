"""Ensembles of networks (``classifier.members``): trained with seeds seed, seed + 1000, ...;
their node probabilities averaged; the first network's embedding; saved and loaded with
the bundle's other weights; the mixing weights set alike on every network."""

from __future__ import annotations

import copy
from unittest import mock

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_model_tuning import tiny_config
from test_wide_path import rare_leaf_data

import prodemb.pipeline as pipeline
from prodemb.classifier import Classifier
from prodemb.side_training import SideNetwork, SideNetworkError

pytestmark = pytest.mark.filterwarnings(
    "ignore:Sparse invariant checks are implicitly disabled:UserWarning")


@pytest.fixture(scope="module")
def data():
    return rare_leaf_data(0, n_common=40)


@pytest.fixture(scope="module")
def fitted(data):
    tax, tr, ytr, va, yva = data
    kw = dict(taxonomy=tax, show_progress=False)
    single = {s: Classifier(tiny_config(wide=True), seed=s).fit(tr, ytr, va, yva, **kw) for s in (3, 1003)}
    # The second network trains in a process of its own (as on any machine with 2 cores).
    with mock.patch("prodemb.classifier.available_cores", return_value=2):
        pair = Classifier(tiny_config(wide=True, members=2), seed=3).fit(tr, ytr, va, yva, **kw)
    return single, pair


def test_networks_train_side_by_side_only_with_a_core_for_each():
    def side(cores, **changes):
        with mock.patch("prodemb.classifier.available_cores", return_value=cores):
            return Classifier(tiny_config(**changes))._side_processes()

    assert side(2, members=2) == 1 and side(8, members=3) == 2 and side(2, members=3) == 1
    assert side(1, members=2) == 0 and side(8, members=1) == 0
    assert side(8, members=2, parallel_members=False) == 0
    assert side(8, members=2, threads=0) == 0  # each network wants every core
    assert side(3, members=2, threads=2) == 0 and side(4, members=2, threads=2) == 1


def test_a_network_whose_process_dies_is_an_error_not_a_hang(data):
    tax, tr, ytr, va, yva = data
    other = SideNetwork(tiny_config(epochs=50), 5, tr, ytr, va, yva, None, tax, None)
    other.process.kill()
    with pytest.raises(SideNetworkError, match=r"ended by signal 9 \(SIGKILL\).*parallel_members"):
        other.result()
    other.stop()


def test_a_side_network_does_not_run_the_callers_main_script_again(data, tmp_path, monkeypatch):
    """Training started from a Streamlit page or a test runner: the page is the parent's
    ``__main__``, and a side network's process must not import it again (multiprocessing's
    spawn did, and the page's code ran, failed and left the training hanging)."""
    import sys
    import types

    tax, tr, ytr, va, yva = data
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit('the page ran again')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    monkeypatch.setitem(sys.modules, "__main__", main)
    other = SideNetwork(tiny_config(), 5, tr, ytr, va, yva, None, tax, None)
    try:
        net, history, kept_epoch = other.result()
    finally:
        other.stop()
    assert len(history) == 3 and net.config.n_labels == ytr.shape[1]


def test_a_side_network_ends_when_its_parent_is_killed(tmp_path):
    """``prodemb train`` killed with SIGKILL: its side network's process ends too and
    removes its job directory, instead of training on alone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; sys.path.insert(0, 'tests')\n"
        "from test_model_tuning import tiny_config\n"
        "from test_wide_path import rare_leaf_data\n"
        "from prodemb.side_training import SideNetwork\n"
        "tax, tr, ytr, va, yva = rare_leaf_data(0, n_common=40)\n"
        "other = SideNetwork(tiny_config(epochs=100000), 5, tr, ytr, va, yva, None, tax, None)\n"
        "print(other.process.pid, other.directory, flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pid, directory = parent.stdout.readline().split()
    try:
        # Wait until the side process is past its start-up (it has begun training).
        for _ in range(600):
            if os.path.exists(os.path.join(directory, "stderr.txt")) and _alive(int(pid)):
                break
            time.sleep(0.1)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        for _ in range(600):  # poll, up to a minute, for the process to end
            if not _alive(int(pid)):
                break
            time.sleep(0.1)
        assert not _alive(int(pid)), "the side network trains on after its parent was killed"
        assert not os.path.exists(directory)
    finally:
        if _alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_an_ensemble_is_the_mean_of_its_networks_trained_alone(fitted, data):
    single, pair = fitted
    _, tr, _, va, _ = data
    assert pair.n_networks == 2 and single[3].n_networks == 1
    # Network k is the network a single classifier trains with seed + 1000 k.
    for net, alone in zip([pair.model, *pair.extra_models], (single[3], single[1003])):
        for (name, a), b in zip(net.state_dict().items(), alone.model.state_dict().values()):
            assert np.array_equal(a.numpy(), b.numpy()), name
    mean = (single[3].predict_proba(va) + single[1003].predict_proba(va)) / 2
    np.testing.assert_allclose(pair.predict_proba(va), mean, atol=1e-6)
    # The embedding is the first network's (one vector space for maps and neighbours).
    np.testing.assert_array_equal(pair.transform(va), single[3].transform(va))
    proba, emb = pair.predict_proba_and_transform(va)
    np.testing.assert_allclose(proba, mean, atol=1e-6)
    assert not np.allclose(single[3].predict_proba(va), single[1003].predict_proba(va))


def test_logits_and_combine_cover_every_network(fitted, data):
    _, pair = fitted
    va = data[3]
    parts = pair.predict_logits(va)
    assert len(parts) == 6
    np.testing.assert_allclose(pair.combine(parts), pair.predict_proba(va), atol=1e-6)
    empty = pair.predict_logits([])
    assert len(empty) == 6 and pair.combine(empty).shape == (0, data[2].shape[1])


def test_mixing_weights_are_chosen_for_the_ensemble_and_set_on_every_network(fitted, data):
    tax, _, _, va, yva = data
    pair = copy.deepcopy(fitted[1])
    got = pipeline.tune_mix(pair, "leaf_prior_weight", (0.0, 1.0), va, yva, tax, True)
    assert [net.config.leaf_prior_weight for net in [pair.model, *pair.extra_models]] == [got] * 2


def test_an_ensemble_is_saved_and_loaded_whole(fitted, data, tmp_path):
    _, pair = fitted
    va = data[3]
    pair.save(str(tmp_path))
    again = Classifier.load(str(tmp_path))
    assert again.n_networks == 2
    # The same probabilities (the tables kept in float16 give the same values).
    np.testing.assert_array_equal(again.predict_proba(va), pair.predict_proba(va))
    np.testing.assert_array_equal(again.transform(va), pair.transform(va))
    # The wide pairs are stored once and shared again.
    stored = load_file(str(tmp_path / "classifier.safetensors"))
    assert "wide_keys" in stored and "network1.wide_keys" not in stored
    assert "network1.wide_weight" in stored and "network1.lstm.weight_hh_l0" in stored
    assert again.extra_models[0].wide_keys is again.model.wide_keys
    # A one-network classifier is saved as before ensembles: no prefixed weights.
    one = Classifier(tiny_config(wide=True), seed=0)
    one.encoder, one.model = pair.encoder, pair.model
    (tmp_path / "one").mkdir()
    one.save(str(tmp_path / "one"))
    names = load_file(str(tmp_path / "one" / "classifier.safetensors"))
    assert names and not any(k.startswith("network") for k in names)
    assert Classifier.load(str(tmp_path / "one")).n_networks == 1


def test_each_network_can_start_from_its_own_word_vectors(data):
    """Given one Word2Vec run per network, network i starts from the i-th; the vocabulary
    (one encoder for all) is the first's, and a word the other run lacks keeps its random
    start there."""
    from prodemb.word2vec import WordVectors

    tax, tr, ytr, va, yva = data
    words = sorted({w for t in tr for w in t})
    rng = np.random.default_rng(0)
    dim = 8
    first = WordVectors(words, rng.normal(size=(len(words), dim)).astype(np.float32),
                        np.ones(len(words)))
    # The second run in another order and without the first word.
    second_words = words[::-1][:-1]
    second = WordVectors(second_words, rng.normal(size=(len(second_words), dim)).astype(np.float32),
                         np.ones(len(second_words)))
    cfg = tiny_config(wide=True, members=2, epochs=0)  # not trained: the initial tables
    clf = Classifier(cfg, seed=0).fit(tr, ytr, va, yva, word_vectors=[first, second],
                                      taxonomy=tax, show_progress=False)
    enc = clf.encoder
    assert enc.words[2:2 + len(words)] == words  # the first run's vocabulary
    for net, wv in ((clf.model, first), (clf.extra_models[0], second)):
        table = net.word_emb.weight.detach().numpy()
        for w, v in zip(wv.words, wv.vectors):
            np.testing.assert_allclose(table[enc.index[w]], v.astype(np.float16).astype(np.float32))
    missing = clf.extra_models[0].word_emb.weight.detach().numpy()[enc.index[words[0]]]
    assert not np.allclose(missing, first.vectors[0].astype(np.float16).astype(np.float32))


def test_a_side_network_given_one_vector_set_for_start_and_vocabulary_stores_it_once(data):
    """A shared Word2Vec run (the same vectors as start and vocabulary): the job holds one
    copy, and the side network is the one trained here from the same vectors."""
    import os

    import torch

    from prodemb.word2vec import WordVectors

    tax, tr, ytr, va, yva = data
    words = sorted({w for t in tr for w in t})
    wv = WordVectors(words, np.random.default_rng(0).normal(size=(len(words), 8)).astype(np.float32),
                     np.ones(len(words)))
    cfg = tiny_config(wide=True)
    other = SideNetwork(cfg, 5, tr, ytr, va, yva, wv, tax, wv)
    try:
        assert os.path.exists(os.path.join(other.directory, "start.npy"))
        assert not os.path.exists(os.path.join(other.directory, "vocabulary.npy"))
        net, _, _ = other.result()
    finally:
        other.stop()
    here = Classifier(cfg, seed=5)
    here._fit_network(5, tr, ytr, va, yva, wv, tax, False, None, vocabulary=wv)
    for name, value in here.model.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, rtol=0, atol=0)


@pytest.mark.slow
def test_a_two_network_bundle_trains_loads_and_predicts_what_training_recorded(tmp_path):
    """End to end: ``prodemb train`` with ``classifier.members = 2`` (tiny config, no maps):
    two Word2Vec runs, two networks in the bundle, and the loaded bundle's predictions are
    the ones its training recorded for its products. The second network trains in a
    process of its own, as on any machine with two cores."""
    from pathlib import Path

    from prodemb.bundle import Bundle
    from prodemb.config import TrainConfig
    from prodemb.demo import write_demo
    from prodemb.pipeline import train_bundle
    from prodemb.taxonomy import PATH_SEPARATOR, format_paths

    root = Path(__file__).resolve().parents[1]
    data = tmp_path / "demo.csv"
    write_demo(data, n_labelled=600, n_unlabelled=200, seed=3, progress=False)
    config = TrainConfig.from_json_file(str(root / "configs" / "tiny.json"))
    config.classifier.members = 2
    config.classifier.parallel_members = True  # the second network in a process of its own
    config.maps.methods = []
    out = tmp_path / "bundle"
    with mock.patch("prodemb.classifier.available_cores", return_value=2):
        train_bundle(str(data), str(out), None, config, show_progress=False)
    b = Bundle.load(str(out))
    assert b.classifier.n_networks == 2
    words = [net.word_emb.weight.float() for net in (b.classifier.model, b.classifier.extra_models[0])]
    assert not np.allclose(words[0].numpy(), words[1].numpy())  # two Word2Vec starts, trained apart
    products = b.products[b.products["split"] != "unlabelled"]
    decoded = b.decode(b.predict_proba(products["text"].tolist()))
    assert [format_paths(p for p, _ in d) for d in decoded] == products["pred_path"].tolist()
    top = b.classify_frame(products["text"].tolist())["category"].fillna("")
    assert top.tolist() == products["pred_path"].str.split(PATH_SEPARATOR, regex=False).str[0].fillna("").tolist()


def test_train_reports_a_failed_side_network_in_one_line(tmp_path, capsys):
    """``prodemb train`` whose second network's process dies: an error naming the way out,
    no traceback, and no bundle."""
    import json
    from pathlib import Path

    from prodemb.cli import main
    from prodemb.demo import write_demo
    from prodemb.side_training import SideNetwork

    root = Path(__file__).resolve().parents[1]
    config = json.loads((root / "configs" / "tiny.json").read_text())
    config["classifier"].update(members=2, parallel_members=True, epochs=1)
    config["maps"]["methods"] = []
    (tmp_path / "config.json").write_text(json.dumps(config))
    data = tmp_path / "demo.csv"
    write_demo(data, n_labelled=300, n_unlabelled=0, seed=3, progress=False)

    def killed(self, on_wait=None):
        self.process.kill()
        return original(self, on_wait)

    original = SideNetwork.result
    with mock.patch("prodemb.classifier.available_cores", return_value=2), \
            mock.patch.object(SideNetwork, "result", killed):
        code = main(["train", "--data", str(data), "--out", str(tmp_path / "bundle"),
                     "--config", str(tmp_path / "config.json"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    assert "prodemb train: error: the process training network with seed 1000 was ended by " \
           "signal 9 (SIGKILL)" in err and "parallel_members to false" in err
    assert "Traceback" not in err
    assert not (tmp_path / "bundle").exists()
