"""
Gradient diversity along a training run, and the batch size that follows it
===========================================================================

The gradient diversity ``Delta(w) = sum_i ||g_i||^2 / ||sum_i g_i||^2`` of the per-sample
gradients says up to which batch size ``B = delta * n * Delta(w) + 1`` a mini-batch step
still makes about ``B`` serial steps' worth of progress (Yin et al., 2018). Far from the optimum
the per-sample gradients agree (small ``Delta``: small batches suffice); near it they cancel
(``Delta`` grows: larger batches, finally the full data). ``batch_size="auto"`` estimates
``n * Delta`` from each batch's own statistics and lets ``B`` follow it.

This example fits three bundled data sets and plots, step by step, the estimate of
``n * Delta`` in the optimizer's coordinates, the batch size it chose, and the objective.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_classification

from dasksgd import SGDClassifier, SGDRegressor

problems = {
    "breast cancer (binary)": (SGDClassifier, load_breast_cancer(return_X_y=True)),
    "digits (10 classes)": (SGDClassifier, load_digits(return_X_y=True)),
    "diabetes (regression)": (SGDRegressor, load_diabetes(return_X_y=True)),
    "synthetic 100k x 20": (
        SGDClassifier,
        make_classification(100_000, 20, n_informative=10, random_state=0),
    ),
}

fig, axes = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
for name, (Estimator, (X, y)) in problems.items():
    est = Estimator(alpha=1e-4, max_iter=30, tol=None, random_state=0).fit(X, y)
    h = est.history_
    n = len(y)
    axes[0].plot(h["step"], h["diversity"] * n, label=name)
    axes[1].plot(h["step"], h["batch_size"] / n, label=name)
    print(
        f"{name}: n={n}, B from {h['batch_size'].iloc[0]} to {h['batch_size'].iloc[-1]}, "
        f"n*Delta from {h['diversity'].iloc[0] * n:.3g} to {h['diversity'].iloc[-1] * n:.3g}"
    )
axes[0].set_yscale("log")
axes[0].set_ylabel("estimated n * Delta(w)")
axes[1].set_yscale("log")
axes[1].set_ylabel("batch size / n")
axes[1].set_xlabel("step")
axes[1].set_xscale("log")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
