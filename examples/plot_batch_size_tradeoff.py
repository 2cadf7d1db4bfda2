"""
Passes to accuracy against the batch size, and where "auto" lands
=================================================================

Time to accuracy = (time per pass) x (passes to accuracy). Larger batches lower the first
factor (fewer steps, fewer reductions) and, beyond the diversity bound ``delta * n * Delta + 1``,
raise the second. This example measures the second factor in-process on a synthetic problem for a
grid of fixed batch sizes and for ``batch_size="auto"``; ``benchmarks/batch_size_tradeoff.py``
measures both factors on a 2-worker Dask cluster.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from dasksgd import SGDClassifier

alpha = 1e-5
X, y = make_classification(100_000, 30, n_informative=15, random_state=0)
n = len(y)
ref = LogisticRegression(C=1 / (alpha * n), solver="newton-cholesky", tol=1e-12).fit(X, y)
z = X @ ref.coef_.ravel() + ref.intercept_[0]
f_star = np.mean(np.logaddexp(0, -(2 * y - 1) * z)) + 0.5 * alpha * np.sum(ref.coef_**2)


def passes_to(gaps, target):
    hit = np.nonzero(gaps <= target)[0]
    return hit[0] + 1 if len(hit) else np.nan


sizes = [64, 256, 1024, 4096, 16384, n]
results = {}
for B in sizes + ["auto"]:
    est = SGDClassifier(alpha=alpha, batch_size=B, max_iter=25, tol=None, random_state=0).fit(X, y)
    obj = est.history_["objective"].dropna().to_numpy()
    results[B] = (obj - f_star) / f_star
    print(
        f"B={B}: passes to 1e-3: {passes_to(results[B], 1e-3)}, gap after 25: {results[B][-1]:.1e}"
    )

bound = est.history_["batch_bound"].replace(np.inf, np.nan)
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(sizes, [passes_to(results[b], 1e-3) for b in sizes], "o-", label="fixed B")
ax.axhline(passes_to(results["auto"], 1e-3), color="k", ls="--", label='batch_size="auto"')
ax.axvspan(
    bound.iloc[:5].median(),
    bound.dropna().iloc[-5:].median(),
    color="C1",
    alpha=0.2,
    label="diversity bound during the auto run",
)
ax.set_xscale("log")
ax.set_xlabel("batch size B")
ax.set_ylabel("passes to a 1e-3 relative gap")
ax.legend()
fig.tight_layout()
plt.show()
