import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prodemb.taxonomy import Taxonomy, format_path, parse_path, roll_up_rare_leaves

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


# ---------------------------------------------------------------------- roll_up_rare_leaves
def _items(*groups):
    """``(path, n)`` pairs -> n items with that one path each."""
    return [[p] for p, n in groups for _ in range(n)]


def _leaf_counts(paths_per_item):
    tax = Taxonomy.from_paths(p for ps in paths_per_item for p in ps)
    y = tax.binarize(paths_per_item)
    return {tax.nodes[i]: int(y[:, i].sum()) for i in tax.leaves}


def test_roll_up_cascades_until_stable():
    items = _items((("A", "B", "C1"), 1), (("A", "B", "C2"), 1), (("A", "D"), 6), (("E",), 1))
    new, report = roll_up_rare_leaves(items, 3)
    # C1 and C2 go to A > B, which is then a leaf with 2 products and goes on to A; A keeps
    # its child D, so it stays an inner node with 2 products. E is a top-level node: kept.
    assert new == _items((("A",), 2), (("A", "D"), 6), (("E",), 1))
    assert report == {"min_leaf_count": 3, "leaves_before": 4, "leaves_after": 2,
                      "rolled_up_leaves": 3, "products_relabelled": 2}


def test_roll_up_stops_at_a_parent_that_is_common_enough():
    items = _items((("A", "B", "C1"), 2), (("A", "B", "C2"), 2), (("A", "D"), 1), (("X", "Y"), 9))
    new, report = roll_up_rare_leaves(items, 3)
    assert _leaf_counts(new) == {("A", "B"): 4, ("X", "Y"): 9}
    assert new[:4] == [[("A", "B")]] * 4 and new[4] == [("A",)]
    assert report["rolled_up_leaves"] == 3 and report["products_relabelled"] == 5


def test_roll_up_deduplicates_and_drops_covered_prefixes():
    common = _items((("A", "B", "K"), 5), (("A", "Z"), 5))
    # Two rare leaves under one parent: one path A > B, not two.
    # A rare leaf beside a path through its parent: the cut path A > B adds nothing.
    items = [[("A", "B", "C1"), ("A", "B", "C2")], [("A", "B", "C3"), ("A", "B", "K")]] + common
    new, report = roll_up_rare_leaves(items, 3)
    assert new[0] == [("A", "B")]
    assert new[1] == [("A", "B", "K")]
    assert new[2:] == common
    assert report["products_relabelled"] == 2
    assert all(ps == sorted(set(ps)) for ps in new)


def test_roll_up_never_cuts_below_the_top_level():
    items = _items((("A",), 1), (("B", "C"), 1), (("D",), 1))
    new, report = roll_up_rare_leaves(items, 10)
    assert new == _items((("A",), 1), (("B",), 1), (("D",), 1))
    assert report["leaves_after"] == 3 and report["rolled_up_leaves"] == 1


@pytest.mark.parametrize("min_count", [-1, 0, 1])
def test_roll_up_off_returns_the_input(min_count):
    items = _items((("A", "B"), 1), (("A", "C"), 2))
    new, report = roll_up_rare_leaves(items, min_count)
    assert new == items and new is not items
    assert report == {"min_leaf_count": min_count, "leaves_before": 2, "leaves_after": 2,
                      "rolled_up_leaves": 0, "products_relabelled": 0}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.lists(st.sampled_from("abc"), min_size=1, max_size=4).map(tuple),
                         min_size=1, max_size=3).map(lambda ps: sorted(set(ps))),
                min_size=1, max_size=30),
       st.integers(0, 6))
def test_roll_up_property(items, min_count):
    new, report = roll_up_rare_leaves(items, min_count)
    assert len(new) == len(items)
    before = _leaf_counts(items)
    after = _leaf_counts(new)
    if min_count > 1:
        # Every leaf below the top level is common enough ...
        assert all(n >= min_count for leaf, n in after.items() if len(leaf) > 1)
    else:
        assert new == items
    # ... every leaf that was common enough is untouched ...
    for leaf, n in before.items():
        if n >= min_count:
            assert after.get(leaf) == n
    # ... and each item keeps at least one path, each a prefix of one of its old paths, and
    # is still in every node it was in down to the cut (its top-level nodes at least).
    for old, ps in zip(items, new):
        assert ps and ps == sorted(set(ps))
        assert all(any(o[:len(p)] == p for o in old) for p in ps)
        assert {p[:1] for p in ps} == {o[:1] for o in old}
    assert report["leaves_after"] == len(after) and report["leaves_before"] == len(before)
    assert report["products_relabelled"] == sum(a != b for a, b in zip(items, new))
    # Rolling up again changes nothing.
    assert roll_up_rare_leaves(new, min_count)[0] == new


def test_cell_paths_reads_a_stored_path_cell():
    from prodemb.taxonomy import Taxonomy, format_paths

    tax = Taxonomy.from_paths([("A", "B"), ("C",)])
    assert tax.cell_paths(format_paths([("A", "B"), ("C",)])) == [("A", "B"), ("C",)]
    assert tax.cell_paths("") == []
    with pytest.raises(KeyError) as e:
        tax.cell_paths(format_paths([("A", "X")]))
    assert e.value.args[0] == "A > X"
