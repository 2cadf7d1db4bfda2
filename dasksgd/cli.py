"""The ``dasksgd`` command line: ``dasksgd demo``."""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    import warnings

    from distributed import Client, LocalCluster
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from . import SGDClassifier
    from .datasets import make_classification

    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    for name in ("distributed", "bokeh", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"Starting a LocalCluster with {args.workers} worker processes on 127.0.0.1 ...")
    with LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True,
        host="127.0.0.1", dashboard_address="127.0.0.1:0",
    ) as cluster, Client(cluster) as client:
        print(f"Dashboard: {client.dashboard_link}")
        X, y = make_classification(args.n_samples, args.n_features, chunks=args.chunk_rows,
                                   random_state=args.seed)
        X, y = client.persist([X, y])
        print(f"Data: {args.n_samples} x {args.n_features} logistic problem generated on the workers "
              f"({X.numblocks[0]} shards).")
        clf = SGDClassifier(
            alpha=args.alpha, batch_size=args.batch_size, max_iter=args.epochs,
            random_state=args.seed, verbose=1,
        )
        print(f"Training {clf!r}:")
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        elapsed = time.perf_counter() - start
        accuracy = clf.score(X, y)
        objective = float(clf.history_["objective"].dropna().iloc[-1])
        # The reference optimum: a second-order solver on the gathered data (demo only; the
        # library itself never gathers the data).
        Xn, yn = X.compute(), y.compute()
        n = len(yn)
        ref = LogisticRegression(C=1.0 / (args.alpha * n), solver="newton-cholesky", tol=1e-12,
                                 max_iter=100).fit(Xn, yn)
        z = Xn @ ref.coef_.ravel() + ref.intercept_[0]
        s = 2.0 * yn - 1.0
        f_star = float(np.mean(np.logaddexp(0.0, -s * z)) + 0.5 * args.alpha * np.sum(ref.coef_**2))
        print("Summary:")
        h = clf.history_
        print(f"  time {elapsed:.2f} s, {clf.n_iter_} epochs, {len(h)} steps on {clf.n_workers_} workers; "
              f"batch size {h['batch_size'].iloc[0]} -> {clf.batch_size_}")
        print(f"  training accuracy {accuracy:.4f}")
        print(f"  objective {objective:.6f}, optimum {f_star:.6f} (newton-cholesky), "
              f"relative gap {(objective - f_star) / f_star:.2e}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dasksgd`` console script."""
    parser = argparse.ArgumentParser(prog="dasksgd", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train on a generated problem on a local cluster")
    demo.add_argument("--n-samples", type=int, default=200_000)
    demo.add_argument("--n-features", type=int, default=50)
    demo.add_argument("--chunk-rows", type=int, default=25_000)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--batch-size", type=lambda v: v if v == "auto" else int(v), default="auto",
                      help='rows per step, or "auto" (from the gradient diversity; the default)')
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--alpha", type=float, default=1e-4)
    demo.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
