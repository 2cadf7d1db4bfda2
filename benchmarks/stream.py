"""``partial_fit`` over a stream of small chunks, against scikit-learn's per-sample SGD.

Logistic loss, alpha=1e-2, on scikit-learn's breast-cancer data (standardized), fed in chunks
of 100 rows, 20 passes over the chunks, in three orders: as given, sorted by class (each chunk
holds one class) and sorted by the first feature. Relative objective gap to the exact optimum
(LogisticRegression at tol=1e-12) after 1 / 5 / 20 passes, and the seconds of all the calls.
Contenders: dasksgd with its defaults; dasksgd with scikit-learn's per-sample settings
(``batch_size=1, learning_rate="optimal"``); scikit-learn's ``SGDClassifier(loss="log_loss")``.
Issue 16, B10.

``--first-chunk-scaling`` is an ablation (issue 19): the features scaled by the first call's
chunk alone for the whole stream (the plan's scaling patched), instead of by the moments of
every row seen so far, dasksgd's way.

    python benchmarks/stream.py [--first-chunk-scaling]
"""

import pathlib
import sys
import time
import warnings

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from references import ALPHA, XC, YC, objective, reference  # noqa: E402
from sklearn.linear_model import SGDClassifier as SklearnSGD  # noqa: E402

from dasksgd import SGDClassifier  # noqa: E402

CHUNK, PASSES, REPORT = 100, 20, (1, 5, 20)


def contenders() -> dict:
    return {
        "dasksgd defaults": lambda: SGDClassifier(alpha=ALPHA, random_state=0),
        "dasksgd batch_size=1, optimal": lambda: SGDClassifier(
            alpha=ALPHA, batch_size=1, learning_rate="optimal", random_state=0
        ),
        "scikit-learn SGD (log_loss)": lambda: SklearnSGD(
            loss="log_loss", alpha=ALPHA, random_state=0
        ),
    }


def main() -> None:
    warnings.simplefilter("ignore")
    ys = 2.0 * YC - 1.0
    f_star = reference("log_loss", "l2", XC, ys, True)
    orders = {
        "given": np.arange(len(YC)),
        "by class": np.argsort(YC, kind="stable"),
        "by a feature": np.argsort(XC[:, 0], kind="stable"),
    }
    print("| order | contender | " + " | ".join(f"gap, {p} passes" for p in REPORT) + " | s |")
    print("|---|---|" + "---:|" * (len(REPORT) + 1))
    for order, rows in orders.items():
        for name, make in contenders().items():
            est, gaps, seconds = make(), [], 0.0
            for p in range(1, PASSES + 1):
                t0 = time.perf_counter()
                for a in range(0, len(rows), CHUNK):
                    chunk = rows[a : a + CHUNK]
                    est.partial_fit(XC[chunk], YC[chunk], classes=[0, 1])
                seconds += time.perf_counter() - t0
                if p in REPORT:
                    f = objective("log_loss", "l2", XC, ys, est.coef_, est.intercept_[0])
                    gaps.append(f"{(f - f_star) / f_star:.1e}")
            print(f"| {order} | {name} | " + " | ".join(gaps) + f" | {seconds:.2f} |")


def first_chunk_scaling() -> None:
    """Patch the plan: a stream's later calls keep the first call's scaling (the ablation)."""
    from dasksgd.engine import plan

    measured = plan._scaling

    def first(config, n_features, moments, prior):
        if prior is None or moments is None:
            return measured(config, n_features, moments, prior)
        ridge = config.penalty.l2_strength / config.loss.curvature
        return prior.preconditioner(center=config.fit_intercept, ridge=ridge), prior

    plan._scaling = first


if __name__ == "__main__":
    if "--first-chunk-scaling" in sys.argv[1:]:
        first_chunk_scaling()
    main()
