"""The shape of the reduction tree over the workers, and per-shard results.

The client is the root (it applies the update); below it, the workers ordered by their first
shard. Each node computes its own shards' results, adds those of its children in order, and
passes the sum up: with ``P`` workers and fan-in ``f`` a step needs ``log_f P`` hops and no node
receives more than ``f`` partial results. When results are small they are not summed on the way
but kept per shard (:class:`ByShard`) and summed at the root in shard order: then the order of
every sum is fixed by the shards alone, whichever worker holds which shard and whatever order the
partial results arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

__all__ = ["ByShard", "build_tree", "tree_order"]

Tree = list  # list of (node, subtree) pairs


@dataclass(frozen=True)
class ByShard:
    """Results kept apart per shard on their way up the tree; :meth:`total` sums them in shard
    order. The sum then has the same order (and the same bits) whichever worker holds which
    shard: workers keep the chunks where Dask put them, and a fit is still reproducible.

    Attributes
    ----------
    parts : dict
        Result of each shard, by the shard's global index.
    zero : object
        The neutral element (the total of no shards).
    """

    parts: dict
    zero: Any

    def __add__(self, other: "ByShard") -> "ByShard":
        if not isinstance(other, ByShard):
            return NotImplemented
        return ByShard({**self.parts, **other.parts}, self.zero)

    def total(self) -> Any:
        """The sum of the parts in shard order, starting from ``zero``."""
        out = self.zero
        for key in sorted(self.parts):
            out = out + self.parts[key]
        return out


def build_tree(nodes: Sequence[Any], fan_in: int) -> Tree:
    """Nest ``nodes`` (in order) into a tree whose nodes have at most ``fan_in`` children.

    Returns a list of ``(head, subtree)`` pairs: the children of the root. Each contiguous group
    of nodes is led by its first node, whose subtree holds the rest of the group.

    >>> build_tree([0, 1, 2], 8)
    [(0, []), (1, []), (2, [])]
    >>> build_tree([0, 1, 2, 3, 4], 2)
    [(0, [(1, []), (2, [])]), (3, [(4, [])])]
    """
    if fan_in < 2:
        raise ValueError(f"fan_in must be >= 2; got {fan_in}.")
    nodes = list(nodes)
    if not nodes:
        return []
    k = min(fan_in, len(nodes))
    size, extra = divmod(len(nodes), k)
    out, pos = [], 0
    for g in range(k):
        n = size + (1 if g < extra else 0)
        group = nodes[pos : pos + n]
        pos += n
        out.append((group[0], build_tree(group[1:], fan_in)))
    return out


def tree_order(tree: Tree) -> list:
    """The order in which the tree sums its nodes' contributions (depth first, head first)."""
    out = []
    for head, sub in tree:
        out.append(head)
        out.extend(tree_order(sub))
    return out
