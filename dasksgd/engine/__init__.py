"""The distributed training engine: shards, backends, the reduction tree and the loop.

Nothing here knows scikit-learn; the estimators in :mod:`dasksgd.linear_model` are thin
wrappers over :func:`train`.
"""

from .cluster import ClusterBackend, ShardHolder
from .local import LocalBackend
from .loop import Plan, TrainConfig, TrainResult, TrainState, make_plan, train
from .shards import ShardSet, TargetSpec
from .tree import build_tree

__all__ = [
    "ClusterBackend",
    "LocalBackend",
    "ShardHolder",
    "ShardSet",
    "TargetSpec",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "build_tree",
    "make_plan",
    "Plan",
    "train",
]
