"""A pytest plugin that points scikit-learn's SGD estimators at dasksgd's.

Loaded with ``-p sklearn_sgd_plugin`` before scikit-learn's ``test_sgd.py`` is collected, it
rebinds ``sklearn.linear_model.SGDClassifier`` / ``SGDRegressor``: the test file's own factory
functions and its sparse subclasses then build dasksgd's estimators, with no line of the test
file copied or changed. ``SGDOneClassSVM`` stays scikit-learn's (dasksgd has none); the runner,
``benchmarks/sklearn_conformance.py``, counts its tests apart.
"""

import sklearn.linear_model

import dasksgd

sklearn.linear_model.SGDClassifier = dasksgd.SGDClassifier
sklearn.linear_model.SGDRegressor = dasksgd.SGDRegressor
