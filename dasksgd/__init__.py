"""dasksgd: linear models trained by synchronous data-parallel mini-batch SGD on Dask."""

from .diversity import gradient_diversity
from .linear_model import SGDClassifier, SGDRegressor

__version__ = "0.1.0.dev0"

__all__ = ["SGDClassifier", "SGDRegressor", "gradient_diversity", "__version__"]
