"""The shape of the reduction tree over the workers.

The client is the root (it applies the update); below it, the workers ordered by the shards they
hold. Each node computes its own shards' statistics, adds those of its children in order, and
passes the sum up: with ``P`` workers and fan-in ``f`` a step needs ``log_f P`` hops and no node
receives more than ``f`` partial sums. The order of every sum is fixed by the shape alone, so a
run is reproducible whatever order the partial sums arrive in.
"""

from __future__ import annotations

from typing import Any, Sequence

__all__ = ["build_tree", "tree_order"]

Tree = list  # list of (node, subtree) pairs


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
