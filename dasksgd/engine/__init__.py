"""The distributed training engine: shards, backends, the reduction tree and the loop.

Nothing here knows scikit-learn; the estimators in :mod:`dasksgd.linear_model` are thin
wrappers over :func:`train`.
"""

from .cluster import ClusterBackend, ShardHolder
from .local import LocalBackend
from .loop import TrainConfig, TrainResult, TrainState, estimate_max_step, train
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
    "estimate_max_step",
    "train",
]
