"""dasksgd: linear models trained by synchronous data-parallel mini-batch SGD on Dask.

The public names are imported on first use (PEP 562): a Dask worker that unpickles an engine
object or a data-generating task imports only what that needs (numpy and the engine's pure
modules), not scikit-learn, pandas and dask.array, which cost a worker ~200 MB of resident
memory.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

__all__ = ["SGDClassifier", "SGDRegressor", "gradient_diversity", "__version__"]

_WHERE = {
    "SGDClassifier": ".linear_model",
    "SGDRegressor": ".linear_model",
    "gradient_diversity": ".diversity",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(_WHERE[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
