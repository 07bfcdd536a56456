"""The category tree.

A node is identified by its full path from the top, e.g.
``("Accessories", "Scarves", "Knit scarf")``: the same name can stand under two
parents (``Accessories > Scarves > Scarves`` and ``Free Items > Free Gifts > Scarves``)
and they are different nodes.

The whole tree is predicted, as in the published system: a product's label vector
has a 1 for every node on each of its paths (multi-label binarisation), and a
predicted node set is repaired into valid root-to-node paths by :meth:`Taxonomy.decode`.

Node ids are positions in :attr:`Taxonomy.nodes`, which is sorted by path, so the
same set of paths always gives the same ids.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: A category path: the node names from the top level down, ``("Accessories", "Scarves")``.
Path = tuple[str, ...]

#: Between the levels of a path as shown to people and written in tables: ``"A > B"``.
LEVEL_SEPARATOR = " > "
#: The former name of :data:`LEVEL_SEPARATOR`.
DISPLAY_SEPARATOR = LEVEL_SEPARATOR
#: Between the paths of one product in a table cell (products.parquet's ``true_path`` and
#: ``pred_path``, ``all_paths`` of a batch): ``"A > B | C > D"``.
PATH_SEPARATOR = " | "


def format_path(path: Sequence[str]) -> str:
    """``("A", "B")`` -> ``"A > B"``."""
    return LEVEL_SEPARATOR.join(path)


def parse_path(text: str) -> Path:
    """Inverse of :func:`format_path`: ``"A > B"`` -> ``("A", "B")``. Split on the whole
    separator, so a name holding a bare ``>`` (a catalogue read with ``>>`` between levels)
    stays one name."""
    return tuple(text.split(LEVEL_SEPARATOR))


def format_paths(paths: Iterable[Sequence[str]]) -> str:
    """Several paths in one cell: ``[("A", "B"), ("C",)]`` -> ``"A > B | C"``."""
    return PATH_SEPARATOR.join(format_path(p) for p in paths)


def split_paths(cell: str) -> list[str]:
    """The display paths of a cell written by :func:`format_paths` (none for ``""``)."""
    return [s for s in str(cell).split(PATH_SEPARATOR) if s]


def top_level(display_path: str) -> str:
    """The top-level node of a display path (``"A > B"`` -> ``"A"``)."""
    return display_path.split(LEVEL_SEPARATOR, 1)[0]


@dataclass
class Taxonomy:
    """A category tree built from the paths that occur in a catalogue.

    Attributes (all indexed by node id, ``n_nodes`` long):
        nodes: full path of each node.
        parents: parent node id, ``-1`` for top-level nodes.
        children: child node ids.
        levels: depth, 1 for top-level nodes.
    """

    nodes: list[Path]
    parents: np.ndarray = field(init=False, repr=False)
    children: list[list[int]] = field(init=False, repr=False)
    levels: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.nodes = [tuple(n) for n in self.nodes]
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError("duplicate node paths")
        self._index = {n: i for i, n in enumerate(self.nodes)}
        self._by_name = {format_path(n): n for n in self.nodes}
        self.parents = np.full(len(self.nodes), -1, dtype=np.int64)
        self.children = [[] for _ in self.nodes]
        for i, n in enumerate(self.nodes):
            if len(n) == 0 or any(not part for part in n):
                raise ValueError(f"invalid node path {n!r}")
            if len(n) > 1:
                p = self._index.get(n[:-1])
                if p is None:
                    raise ValueError(f"node {format_path(n)!r} has no parent node")
                self.parents[i] = p
                self.children[p].append(i)
        self.levels = np.array([len(n) for n in self.nodes], dtype=np.int64)
        self._roots = [i for i in range(len(self.nodes)) if self.parents[i] < 0]
        # Each node's path as node ids, top level first: a tuple per node, and an
        # (n_nodes, depth) array padded with -1 (decoding and binarising look them up).
        self._lineages = [tuple(self._index[n[:d]] for d in range(1, len(n) + 1))
                          for n in self.nodes]
        self._lineage = np.full((len(self.nodes), max(self.levels, default=1)), -1, dtype=np.int64)
        for i, lineage in enumerate(self._lineages):
            self._lineage[i, : len(lineage)] = lineage

    # ------------------------------------------------------------------ building
    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[str]]) -> Taxonomy:
        """Build the tree holding every node on every given path."""
        nodes: set[Path] = set()
        for path in paths:
            path = tuple(path)
            for depth in range(1, len(path) + 1):
                nodes.add(path[:depth])
        return cls(sorted(nodes))

    # ------------------------------------------------------------------ queries
    @property
    def n_nodes(self) -> int:
        return len(self.nodes)

    @property
    def depth(self) -> int:
        return int(self.levels.max()) if self.nodes else 0

    @property
    def roots(self) -> list[int]:
        return list(self._roots)  # a copy: computed once (decoding asks per call)

    @property
    def leaves(self) -> list[int]:
        """Ids of nodes without children."""
        return [i for i in range(self.n_nodes) if not self.children[i]]

    @property
    def is_leaf(self) -> np.ndarray:
        """Boolean mask, shape ``(n_nodes,)``."""
        return np.array([not c for c in self.children], dtype=bool)

    def __len__(self) -> int:
        return self.n_nodes

    def __contains__(self, path: object) -> bool:
        return tuple(path) in self._index  # type: ignore[arg-type]

    def index(self, path: Sequence[str]) -> int:
        """Node id of ``path``; ``KeyError`` naming the path if it is not in the tree."""
        try:
            return self._index[tuple(path)]
        except KeyError:
            raise KeyError(f"unknown category {format_path(path)!r}") from None

    def cell_paths(self, cell: str) -> list[Path]:
        """The paths of a path cell as the bundle stores them (display names joined by
        :func:`format_paths`, e.g. products.parquet's ``true_path``); ``KeyError`` holding
        the first display name that is not a node of this tree."""
        try:
            return [self._by_name[name] for name in split_paths(cell)]
        except KeyError as e:
            raise KeyError(e.args[0]) from None

    def name(self, node: int) -> str:
        """Display name of a node: its full path, ``"A > B > C"``."""
        return format_path(self.nodes[node])

    def ancestors(self, node: int) -> list[int]:
        """Ids from the top-level node down to ``node`` itself."""
        return list(self._lineages[node])

    def descendants(self, node: int) -> list[int]:
        """Ids of ``node`` and every node below it."""
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self.children[n])
        return sorted(out)

    # ------------------------------------------------------------------ binarisation
    def binarize(self, paths_per_item: Sequence[Sequence[Sequence[str]]]) -> np.ndarray:
        """0/1 matrix, shape ``(n_items, n_nodes)``, uint8: every node on every path of an item.

        Raises ``KeyError`` for a path that is not in the tree.
        """
        return self.ends_to_matrix([[self.index(path) for path in paths] for paths in paths_per_item])

    def ends_to_matrix(self, ends_per_item: Sequence[Sequence[int]]) -> np.ndarray:
        """0/1 matrix, shape ``(n_items, n_nodes)``, uint8: every node on the paths that end
        at the given node ids (a list of ids per item)."""
        counts = np.fromiter(map(len, ends_per_item), dtype=np.int64, count=len(ends_per_item))
        ends = np.fromiter(itertools.chain.from_iterable(ends_per_item), dtype=np.int64,
                           count=int(counts.sum()))
        y = np.zeros((len(ends_per_item), self.n_nodes), dtype=np.uint8)
        lineage = self._lineage[ends]                                  # (n_ends, depth)
        rows = np.broadcast_to(np.repeat(np.arange(len(counts)), counts)[:, None], lineage.shape)
        on_path = lineage >= 0
        y[rows[on_path], lineage[on_path]] = 1
        return y

    def node_set_to_paths(self, node_ids: Iterable[int]) -> list[Path]:
        """The paths of a node set: its nodes that have no descendant in the set, sorted.

        Inverse of :meth:`binarize` for one item when the set is ancestor-closed.
        """
        ids = set(int(i) for i in node_ids)
        ends = [i for i in ids if not any(c in ids for c in self.children[i])]
        return sorted(self.nodes[i] for i in ends)

    def unbinarize(self, y: np.ndarray) -> list[list[Path]]:
        """Inverse of :meth:`binarize`: the paths of each row of a 0/1 matrix."""
        return [self.node_set_to_paths(np.flatnonzero(row)) for row in np.asarray(y)]

    def close_upward(self, node_ids: Iterable[int]) -> set[int]:
        """The node set plus all ancestors of its nodes (repair by adding parents)."""
        out: set[int] = set()
        for i in node_ids:
            out.update(self.ancestors(int(i)))
        return out

    # ------------------------------------------------------------------ decoding
    def decode(
        self,
        probs: np.ndarray,
        thresholds: np.ndarray | float = 0.5,
        complete: bool = True,
        max_paths: int = 3,
        extra_path_min: float = 0.5,
    ) -> list[list[tuple[Path, float]]]:
        """Hierarchy-consistent decoding of node probabilities into paths.

        Args:
            probs: node probabilities, shape ``(n_items, n_nodes)``.
            thresholds: per-node decision thresholds, shape ``(n_nodes,)``, or a scalar.
            complete: when True (catalogues whose labels always end at a leaf), a path
                that stops at an inner node is extended to a leaf by following the most
                probable child; this is what a leaf-level catalogue expects.
            max_paths: at most this many paths per item, the most probable first.
            extra_path_min: a second or later path is kept only if its score is at least
                this. Most products have one path; low per-node thresholds (tuned for
                rare classes) would otherwise add weak extra paths to many products.

        Top-down: a node is predicted only if it passes its threshold and its parent
        is predicted. If no top-level node passes, the single most probable path is
        returned, so every item gets at least one path.

        Returns, per item, a list of ``(path, score)`` where ``score`` is the lowest
        node probability along the path (a path is as sure as its weakest node).
        """
        return [[(self.nodes[e], score) for e, score in cut_paths(scored, max_paths, extra_path_min)]
                for scored in self.scored_ends(probs, thresholds, complete)]

    def scored_ends(self, probs: np.ndarray, thresholds: np.ndarray | float = 0.5,
                    complete: bool = True) -> list[list[tuple[int, float]]]:
        """:meth:`decode` before any path is cut: per item, the end node id and score of
        every path the top-down decoding reaches, most probable first (ties in the order
        reached). :func:`cut_paths` keeps what :meth:`decode` keeps."""
        probs = np.asarray(probs, dtype=np.float32)
        if probs.ndim != 2 or probs.shape[1] != self.n_nodes:
            raise ValueError(f"probs must have shape (n, {self.n_nodes}), got {probs.shape}")
        t = np.broadcast_to(np.asarray(thresholds, dtype=np.float32), (self.n_nodes,))
        passed = probs >= t
        roots, children, lineages = self.roots, self.children, self._lineages
        out = []
        for row, ok_row in zip(probs, passed):
            # Python lists and a set: per-element numpy indexing made this loop the
            # slowest part of decoding.
            p = row.tolist()
            ok = set(np.flatnonzero(ok_row).tolist())
            ends: list[int] = []
            stack = [r for r in roots if r in ok]
            if not stack:
                stack = [max(roots, key=lambda r: p[r])]
            while stack:
                node = stack.pop()
                kids = [c for c in children[node] if c in ok]
                if kids:
                    stack.extend(kids)
                elif complete and children[node]:
                    stack.append(max(children[node], key=lambda c: p[c]))
                else:
                    ends.append(node)
            scored = [(e, min(p[a] for a in lineages[e])) for e in ends]
            scored.sort(key=lambda es: -es[1])
            out.append(scored)
        return out

    def decode_to_matrix(self, decoded: Sequence[Sequence[tuple[Path, float]]]) -> np.ndarray:
        """0/1 matrix of the nodes on the decoded paths, shape ``(n_items, n_nodes)``."""
        return self.binarize([[p for p, _ in paths] for paths in decoded])

    # ------------------------------------------------------------------ serialisation
    def to_json(self) -> str:
        return json.dumps({"format": "prodemb.taxonomy/1", "nodes": [list(n) for n in self.nodes]},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Taxonomy:
        data = json.loads(text)
        if data.get("format") != "prodemb.taxonomy/1":
            raise ValueError(f"not a prodemb taxonomy (format {data.get('format')!r})")
        return cls([tuple(n) for n in data["nodes"]])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Taxonomy) and self.nodes == other.nodes

    def __hash__(self) -> int:
        return hash(tuple(self.nodes))


def cut_paths(scored: list[tuple[int, float]], max_paths: int, extra_path_min: float
              ) -> list[tuple[int, float]]:
    """The paths :meth:`Taxonomy.decode` keeps of one item's :meth:`Taxonomy.scored_ends`
    (most probable first): the first, then the next ones scoring at least
    ``extra_path_min``, at most ``max_paths`` in all. As ``scored`` is sorted, what passes
    the cut-off is a prefix of it."""
    return scored[:1] + [es for es in scored[1:max_paths] if es[1] >= extra_path_min]


# ---------------------------------------------------------------------- long tails
def roll_up_rare_leaves(paths_per_item: Sequence[Sequence[Sequence[str]]],
                        min_count: int) -> tuple[list[list[Path]], dict]:
    """Roll every leaf with fewer than ``min_count`` labelled products up into its parent.

    Args:
        paths_per_item: the category paths of each labelled product (``n_items`` lists of
            paths, as in the ``paths`` column of :func:`prodemb.catalogue.read_catalogue`).
        min_count: a leaf needs at least this many products; ``<= 1`` changes nothing.

    The tree is the one :meth:`Taxonomy.from_paths` builds from all paths. A leaf's count is
    the number of items having a path that ends at it. Every path ending at a leaf counted
    below ``min_count`` is cut to the leaf's parent, all such leaves at once; this repeats
    until nothing changes, because a parent whose children all rolled up becomes a leaf
    itself and may still be rare (its count is then its own products plus those it
    received). A top-level node is never cut (no path goes to zero levels), so a rare
    top-level leaf stays. A leaf with at least ``min_count`` products is never touched:
    its paths are only cut when it is rare, so its count never drops.

    Each changed item's paths are deduplicated and sorted, as the reader leaves them, and a
    cut path that is a strict prefix of another of the item's paths is dropped (the item is
    in that node through the other path; its label row is the same without it). Items whose
    paths did not change are returned as they were (as lists of tuples).

    Returns:
        ``(paths, report)``: the new paths, ``n_items`` lists, and ``{"min_leaf_count": N,
        "leaves_before": .., "leaves_after": .., "rolled_up_leaves": .., "products_relabelled":
        ..}`` where ``rolled_up_leaves`` counts the nodes whose products moved to their
        parent (including parents that became leaves and rolled up in a later round) and
        ``products_relabelled`` the items with at least one changed path.
    """
    original = [[tuple(p) for p in ps] for ps in paths_per_item]
    current = [list(ps) for ps in original]
    leaves_before = len(_leaf_counts(current))
    rolled: set[Path] = set()
    changed = [False] * len(current)
    while min_count > 1:
        counts = _leaf_counts(current)
        rare = {leaf for leaf, n in counts.items() if n < min_count and len(leaf) > 1}
        if not rare:
            break
        rolled |= rare
        for i, ps in enumerate(current):
            if not any(p in rare for p in ps):
                continue
            kept = {p for p in ps if p not in rare}
            cut = {p[:-1] for p in ps if p in rare} - kept
            both = kept | cut
            cut = {c for c in cut if not any(len(k) > len(c) and k[:len(c)] == c for k in both)}
            current[i] = sorted(kept | cut)
            changed[i] = True
    report = {
        "min_leaf_count": int(min_count),
        "leaves_before": leaves_before,
        "leaves_after": len(_leaf_counts(current)),
        "rolled_up_leaves": len(rolled),
        "products_relabelled": sum(c and new != old
                                   for c, new, old in zip(changed, current, original)),
    }
    return current, report


def _leaf_counts(paths_per_item: Sequence[Sequence[Path]]) -> dict[Path, int]:
    """Leaves of the tree built from all paths -> number of items with a path ending there."""
    inner = {p[:d] for ps in paths_per_item for p in ps for d in range(1, len(p))}
    counts: dict[Path, int] = {}
    for ps in paths_per_item:
        for p in set(ps):
            if p not in inner:
                counts[p] = counts.get(p, 0) + 1
    return counts
