from hypothesis import given
from hypothesis import strategies as st

from dasksgd.engine.tree import build_tree, tree_order


def _max_children(tree):
    out = len(tree)
    for _, sub in tree:
        out = max(out, _max_children(sub))
    return out


def _depth(tree):
    return 0 if not tree else 1 + max(_depth(sub) for _, sub in tree)


@given(st.integers(0, 300), st.integers(2, 16))
def test_tree_shape(n, fan_in):
    nodes = list(range(n))
    tree = build_tree(nodes, fan_in)
    assert tree_order(tree) == nodes  # every node once, in order: the sum order is fixed
    assert _max_children(tree) <= fan_in
    if n:
        # Depth is logarithmic: fan_in ** depth covers the nodes.
        assert fan_in ** (_depth(tree) - 1) <= max(n, 1) or _depth(tree) == 1


def test_flat_when_few_workers():
    assert build_tree(["a", "b"], 8) == [("a", []), ("b", [])]


def test_fan_in_checked():
    import pytest

    with pytest.raises(ValueError, match="fan_in must be >= 2"):
        build_tree([1, 2, 3], 1)
