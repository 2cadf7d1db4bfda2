"""dasksgd: linear models trained by synchronous data-parallel mini-batch SGD on Dask."""

from .linear_model import SGDClassifier, SGDRegressor

__version__ = "0.1.0.dev0"

__all__ = ["SGDClassifier", "SGDRegressor", "__version__"]
