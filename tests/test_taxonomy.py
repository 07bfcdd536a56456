import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodemb.taxonomy import Taxonomy, format_path, parse_path

PATHS = [
    ("Accessories", "Scarves", "Knit scarf"),
    ("Accessories", "Scarves", "Scarf / Shawl"),
    ("Accessories", "Scarves", "Snood / Loop scarf"),
    ("Accessories", "Hats"),
    ("Free Items", "Free Gifts", "Scarves"),
    ("Bags", "Handbags", "Leather", "Tote"),
]


@pytest.fixture
def tax():
    return Taxonomy.from_paths(PATHS)


def test_nodes_are_full_paths_and_same_name_differs(tax):
    assert ("Accessories", "Scarves") in tax
    assert ("Free Items", "Free Gifts", "Scarves") in tax
    assert tax.index(("Accessories", "Scarves")) != tax.index(("Free Items", "Free Gifts", "Scarves"))
    assert tax.n_nodes == 13
    assert tax.depth == 4


def test_parents_children_levels_leaves(tax):
    knit = tax.index(("Accessories", "Scarves", "Knit scarf"))
    scarves = tax.index(("Accessories", "Scarves"))
    acc = tax.index(("Accessories",))
    assert tax.parents[knit] == scarves and tax.parents[acc] == -1
    assert knit in tax.children[scarves]
    assert tax.levels[knit] == 3
    assert tax.ancestors(knit) == [acc, scarves, knit]
    assert sorted(tax.name(i) for i in tax.leaves) == sorted(format_path(p) for p in PATHS)
    assert set(tax.descendants(scarves)) == {scarves} | set(tax.children[scarves])


def test_unknown_path_raises_named_error(tax):
    with pytest.raises(KeyError, match="Nope > X"):
        tax.index(("Nope", "X"))


def test_binarize_marks_every_node_on_every_path(tax):
    y = tax.binarize([[PATHS[0], PATHS[3]], []])
    assert y.shape == (2, tax.n_nodes)
    assert y[1].sum() == 0
    assert y[0].sum() == 4  # Accessories, Scarves, Knit scarf, Hats
    assert tax.unbinarize(y) == [sorted([PATHS[0], PATHS[3]]), []]


def test_json_round_trip(tax):
    assert Taxonomy.from_json(tax.to_json()) == tax


def test_from_json_rejects_other_formats():
    with pytest.raises(ValueError):
        Taxonomy.from_json('{"format": "x", "nodes": []}')


def test_missing_parent_is_rejected():
    with pytest.raises(ValueError, match="no parent"):
        Taxonomy([("A", "B")])


def test_decode_top_down_consistent(tax):
    probs = np.zeros((1, tax.n_nodes), dtype=np.float32)
    # A confident leaf whose parent is below threshold is not predicted...
    probs[0, tax.index(PATHS[0])] = 0.9
    probs[0, tax.index(("Bags",))] = 0.7
    probs[0, tax.index(("Bags", "Handbags"))] = 0.6
    out = tax.decode(probs, 0.5, complete=True)[0]
    # ... Bags passes, is extended to a leaf by the most probable children.
    assert [p for p, _ in out] == [("Bags", "Handbags", "Leather", "Tote")]
    assert out[0][1] == pytest.approx(0.0)  # weakest node on the path


def test_decode_always_returns_a_path(tax):
    probs = np.full((3, tax.n_nodes), 0.01, dtype=np.float32)
    probs[1, tax.index(("Free Items",))] = 0.3
    out = tax.decode(probs, 0.5)
    assert all(len(paths) >= 1 for paths in out)
    assert out[1][0][0][0] == "Free Items"


def test_decode_multiple_paths_and_incomplete(tax):
    probs = np.zeros((1, tax.n_nodes), dtype=np.float32)
    for node in [("Accessories",), ("Accessories", "Scarves"), ("Accessories", "Hats"),
                 ("Accessories", "Scarves", "Knit scarf")]:
        probs[0, tax.index(node)] = 0.8
    out = tax.decode(probs, 0.5, complete=False)[0]
    assert sorted(p for p, _ in out) == [("Accessories", "Hats"), ("Accessories", "Scarves", "Knit scarf")]
    y = tax.decode_to_matrix([out])
    assert y[0].sum() == 4


def test_decode_uses_per_node_thresholds(tax):
    probs = np.zeros((1, tax.n_nodes), dtype=np.float32)
    probs[0, tax.index(("Accessories",))] = 0.3
    probs[0, tax.index(("Accessories", "Hats"))] = 0.3
    t = np.full(tax.n_nodes, 0.5, dtype=np.float32)
    t[tax.index(("Accessories",))] = 0.2
    t[tax.index(("Accessories", "Hats"))] = 0.2
    assert tax.decode(probs, t, complete=False)[0][0][0] == ("Accessories", "Hats")


names = st.sampled_from(["a", "b", "c", "Scarves", "x y", "Šál"])
paths_st = st.lists(st.lists(names, min_size=1, max_size=4).map(tuple), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(paths_st, st.data())
def test_binarize_round_trip_property(paths, data):
    tax = Taxonomy.from_paths(paths)
    assert Taxonomy.from_json(tax.to_json()) == tax
    # Any subset of the paths, as one item, comes back as its maximal paths.
    subset = data.draw(st.lists(st.sampled_from(paths), max_size=4))
    y = tax.binarize([subset])
    back = tax.unbinarize(y)[0]
    expected = sorted({p for p in subset if not any(q != p and q[: len(p)] == p for q in subset)})
    assert back == expected
    assert (tax.binarize([back]) == y).all()


@settings(max_examples=100, deadline=None)
@given(paths_st, st.data())
def test_decode_yields_valid_paths_property(paths, data):
    tax = Taxonomy.from_paths(paths)
    probs = np.array([data.draw(st.lists(st.floats(0, 1), min_size=tax.n_nodes,
                                         max_size=tax.n_nodes))], dtype=np.float32)
    out = tax.decode(probs, 0.5, complete=True)[0]
    assert out
    for path, _score in out:
        assert path in tax
        assert tax.children[tax.index(path)] == []  # complete: always a leaf


def test_format_parse_path():
    assert parse_path(format_path(("A", "B / C"))) == ("A", "B / C")
