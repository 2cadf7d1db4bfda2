"""The distributed training engine: shards, backends, the reduction tree and the loop.

Nothing here knows scikit-learn; the estimators in :mod:`dasksgd.linear_model` are thin
wrappers over :func:`fit` (the functional core, :mod:`.fitting`), which drives :func:`train`
(the loop) over a backend. Names are imported on first use, so that a worker unpickling a
:class:`ShardHolder` does not import the loop (and pandas with it).
"""

from importlib import import_module
from typing import Any

__all__ = [
    "ClusterBackend",
    "FitResult",
    "LocalBackend",
    "ShardHolder",
    "ShardSet",
    "TargetSpec",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "LoopState",
    "apply_plan",
    "build_tree",
    "make_plan",
    "Plan",
    "build_rules",
    "fit",
    "live_report",
    "LiveReport",
    "train",
]

_WHERE = {
    "ClusterBackend": ".cluster",
    "ShardHolder": ".cluster",
    "LocalBackend": ".local",
    "Plan": ".plan",
    "TrainConfig": ".config",
    "TrainResult": ".loop",
    "TrainState": ".loop",
    "LoopState": ".loop",
    "apply_plan": ".plan",
    "make_plan": ".plan",
    "train": ".loop",
    "build_rules": ".loop",
    "ShardSet": ".shards",
    "TargetSpec": ".shards",
    "build_tree": ".tree",
    "fit": ".fitting",
    "FitResult": ".fitting",
    "live_report": ".fitting",
    "LiveReport": ".fitting",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
