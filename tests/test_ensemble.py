"""Ensembles of networks (``classifier.members``): trained with seeds seed, seed + 1000, ...;
their node probabilities averaged; the first network's embedding; saved and loaded with
the bundle's other weights; the mixing weights set alike on every network."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from safetensors.numpy import load_file
from test_model_tuning import tiny_config
from test_wide_path import rare_leaf_data

import prodemb.pipeline as pipeline
from prodemb.classifier import Classifier

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
    pair = Classifier(tiny_config(wide=True, members=2), seed=3).fit(tr, ytr, va, yva, **kw)
    return single, pair


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
