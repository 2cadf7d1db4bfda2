"""The ``dasksgd`` command line: ``demo``, ``train`` and ``predict``.

``dasksgd train DATA --target COL`` reads CSV or Parquet (local paths, globs, or any fsspec URL)
with dask.dataframe, trains on the cluster at ``--scheduler`` (or a local one), and writes the
fitted estimator (joblib) and a metrics JSON; ``dasksgd predict MODEL DATA`` writes predictions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

import numpy as np

__all__ = ["main"]

logger = logging.getLogger("dasksgd")


class CLIError(Exception):
    """A problem with the command's input, reported as one line and exit status 2."""


def _read(path: str, fmt: str | None, *, what: str = "DATA"):
    """``path`` as a dask DataFrame (CSV or Parquet, by ``fmt`` or the extension)."""
    import dask.dataframe as dd
    from fsspec.core import get_fs_token_paths

    try:
        fs, _, paths = get_fs_token_paths(path)
    except Exception as exc:  # noqa: BLE001 - an unknown protocol, a bad URL
        raise CLIError(f"{what} {path!r} cannot be opened: {exc}") from None
    if not paths or not any(fs.exists(p) for p in paths):
        raise CLIError(f"{what} {path!r}: no such file.")
    name = path.rstrip("/").lower()
    if fmt is None:
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            fmt = "csv"
        elif name.endswith((".parquet", ".pq")) or fs.isdir(paths[0]):
            fmt = "parquet"
        else:
            raise CLIError(
                f"{what} {path!r}: cannot tell CSV from Parquet by its name; "
                "pass --format csv or parquet."
            )
    try:
        if fmt == "csv":
            return dd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",")
        return dd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - shown as the reason
        raise CLIError(
            f"{what} {path!r} cannot be read as {fmt}: {type(exc).__name__}: {exc}"
        ) from None


def _columns(df, target: str | None, features: list[str] | None) -> list[str]:
    cols = [str(c) for c in df.columns]
    if target is not None and target not in cols:
        raise CLIError(f"--target {target!r} is not a column of DATA; its columns are {cols}.")
    if features is None:
        return [c for c in cols if c != target]
    missing = [c for c in features if c not in cols]
    if missing:
        raise CLIError(f"feature column(s) {missing} are not in DATA; its columns are {cols}.")
    return features


@contextlib.contextmanager
def _cluster(scheduler: str | None, workers: int):
    """The client to train on: ``scheduler``'s cluster, a LocalCluster of ``workers`` processes
    on 127.0.0.1, or none (``workers == 0``: in this process)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            client = Client(scheduler)
        except (OSError, TimeoutError) as exc:
            raise CLIError(f"--scheduler {scheduler!r} cannot be reached: {exc}") from None
        with client:
            yield client
    elif workers == 0:
        yield None
    else:
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                # The workers' own logs (a failed task's traceback) would follow the command's
                # one-line error on stderr: the error is reported here, once.
                silence_logs=logging.CRITICAL,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


def _check_output(path: str, flag: str = "--output") -> None:
    """A local output path whose directory does not exist fails now, not after the fit."""
    if "://" in path:
        return  # a remote filesystem: its writer says what is wrong
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise CLIError(
            f"{flag} {path!r}: the directory {parent!r} does not exist; create it first."
        )


def _check_workers(workers: int | None) -> None:
    if workers is not None and workers < 0:
        raise CLIError(f"--workers {workers}: give 0 (train in this process) or more.")


#: DATA smaller than this on disk is trained in this process unless ``--workers`` is given: a
#: local cluster's start costs seconds, more than such a fit.
IN_PROCESS_BYTES = 32 * 2**20
#: Worker processes of the local cluster when ``--workers`` is not given.
DEFAULT_WORKERS = 2


def _workers(args: argparse.Namespace) -> int:
    """Worker processes for the local cluster (0: this process), saying why when chosen here."""
    if args.workers is not None or args.scheduler is not None:
        return DEFAULT_WORKERS if args.workers is None else args.workers
    from fsspec.core import get_fs_token_paths

    fs, _, paths = get_fs_token_paths(args.data)
    size = sum(fs.du(p) for p in paths)
    if size < IN_PROCESS_BYTES:
        print(
            f"DATA is {size / 2**20:.1f} MiB: working in this process (a local cluster costs "
            "more than it saves here; --workers N starts one)."
        )
        return 0
    return DEFAULT_WORKERS


def _spread(df: Any, client: Any) -> Any:
    """``df`` in at least one partition per worker: a single CSV or Parquet file is one
    partition, which one worker would train alone."""
    if client is None:
        return df
    workers = len(client.scheduler_info()["workers"])
    if df.npartitions >= workers:
        return df
    print(f"DATA is {df.npartitions} partition(s): split into {workers}, one per worker.")
    return df.repartition(npartitions=workers)


def _categorical(df: Any, features: list[str], listed: str | None, strings: str) -> list[str]:
    """The categorical feature columns: those ``--categorical`` names, and the string and
    ``category`` columns (said on stdout, with what is done with them); any other column that
    is not numeric or bool is refused."""
    import pandas as pd

    from .encoding import is_categorical, is_text

    named = [c for c in (listed.split(",") if listed else []) if c]
    missing = [c for c in named if c not in features]
    if missing:
        raise CLIError(f"--categorical column(s) {missing} are not feature columns of DATA.")
    dtypes = df.dtypes
    found = [
        c for c in features if c not in named and (is_categorical(dtypes[c]) or is_text(dtypes[c]))
    ]
    bad = [
        c
        for c in features
        if c not in named
        and c not in found
        and not (pd.api.types.is_numeric_dtype(dtypes[c]) or pd.api.types.is_bool_dtype(dtypes[c]))
    ]
    if bad:
        raise CLIError(
            f"feature column(s) {bad} are neither numeric, bool, categorical nor strings; "
            "convert them first or leave them out with --features."
        )
    if named:
        print(f"categorical columns (one-hot): {', '.join(named)}")
    if found:
        how = "hashed (--string-encoding hash)" if strings == "hash" else "one-hot"
        texts = [c for c in found if is_text(dtypes[c])]
        print(
            f"string / category columns, {how}: {', '.join(found)}"
            + (
                " (--string-encoding hash to hash the strings instead)"
                if texts and strings != "hash"
                else ""
            )
        )
    return named + found


def _onehot(df: Any, categorical: list[str], strings: str) -> list[str]:
    """Those of the categorical columns that are one-hot encoded (not hashed strings)."""
    from .encoding import is_text

    return [c for c in categorical if not (strings == "hash" and is_text(df.dtypes[c]))]


def _train(args: argparse.Namespace) -> int:
    import joblib
    import pandas as pd

    from .losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES

    _check_output(args.output)
    _check_output(args.metrics, "--metrics")
    _check_workers(args.workers)
    if not 0.0 <= args.test_size < 1.0:
        raise CLIError(f"--test-size {args.test_size}: give a fraction in [0, 1).")
    df = _read(args.data, args.format)
    features = _columns(df, args.target, args.features.split(",") if args.features else None)
    if not features:
        raise CLIError("DATA has no feature columns besides the target.")
    categorical = _categorical(df, features, args.categorical, args.string_encoding)
    named = [c for c in (args.categorical or "").split(",") if c]
    loss = args.loss
    if loss == "auto":
        loss = (
            "squared_error" if pd.api.types.is_float_dtype(df.dtypes[args.target]) else "log_loss"
        )
    losses = CLASSIFICATION_LOSSES | REGRESSION_LOSSES
    if loss not in losses:
        raise CLIError(f"--loss {loss!r} is not one of {sorted(losses)} (or auto).")
    from . import SGDClassifier, SGDRegressor

    Est = SGDClassifier if loss in CLASSIFICATION_LOSSES else SGDRegressor
    if args.multi_class != "auto" and Est is not SGDClassifier:
        raise CLIError(f"--multi-class is for classification; --loss {loss} is a regression.")
    if args.multi_class == "multinomial" and loss != "log_loss":
        raise CLIError(f"--multi-class multinomial needs --loss log_loss (got {loss}).")
    extra = {"multi_class": args.multi_class} if Est is SGDClassifier else {}
    est = Est(
        **extra,
        # The columns named; the string and category ones by their dtype.
        categorical_features=[c for c in categorical if c in named] or "from_dtype",
        string_encoding=args.string_encoding,
        handle_unknown=args.handle_unknown,
        loss=loss,
        penalty=None if args.penalty == "none" else args.penalty,
        alpha=args.alpha,
        max_iter=args.max_iter,
        batch_size=args.batch_size,
        random_state=args.seed,
        verbose=args.verbose,
    )
    with _cluster(args.scheduler, _workers(args)) as client:
        df = _spread(df[[*features, args.target]], client)
        onehot = [c for c in categorical if c in _onehot(df, categorical, args.string_encoding)]
        if onehot:
            # The categories of the whole file, found in one pass before the split: the held-out
            # rows' categories then have their columns (untrained ones stay near zero).
            df = df.categorize(columns=onehot)
        # The held-out rows: a random share of every partition (the same for the same --seed).
        train, test = (
            df.random_split([1.0 - args.test_size, args.test_size], random_state=args.seed)
            if args.test_size > 0
            else (df, None)
        )
        X, y = train[features], train[args.target]
        logger.info(
            "training %r on %s (%d features) %s",
            est,
            args.data,
            len(features),
            "in this process" if client is None else f"on {client.scheduler.address}",
        )
        start = time.perf_counter()
        est.fit(X, y)
        took = time.perf_counter() - start
        score = float(est.score(X, y))
        n_samples = int(len(y))
        test_score, n_test = None, 0
        if test is not None:
            n_test = int(len(test))
            if n_test:
                test_score = float(est.score(test[features], test[args.target]))
    joblib.dump(est, args.output)
    metrics = {
        "data": args.data,
        "target": args.target,
        "features": features,
        "n_features": len(features),
        "categorical": categorical,
        "n_encoded_features": int(est.coef_.shape[-1]),
        "estimator": type(est).__name__,
        "params": {
            k: v
            for k, v in est.get_params().items()
            if isinstance(v, (int, float, str, bool, type(None)))
        },
        "n_samples": n_samples,
        "n_iter": int(est.n_iter_),
        "steps": int(len(est.history_)),
        "batch_size": int(est.batch_size_),
        "objective": float(est.history_["objective"].dropna().iloc[-1])
        if est.history_["objective"].notna().any()
        else None,
        "score": score,
        "score_name": "accuracy" if Est is SGDClassifier else "r2",
        "n_test": n_test,
        "test_size": args.test_size,
        "test_score": test_score,
        "fit_seconds": took,
        "n_workers": int(est.n_workers_),
    }
    if Est is SGDClassifier:
        metrics["classes"] = [c.item() if hasattr(c, "item") else c for c in est.classes_]
    with open(args.metrics, "w") as fh:
        json.dump(metrics, fh, indent=2)
    held_out = "" if test_score is None else f", held-out {test_score:.4f} on {n_test} rows"
    print(
        f"model: {args.output}\nmetrics: {args.metrics} ({metrics['score_name']} {score:.4f} on "
        f"the {n_samples} training rows{held_out}; {metrics['n_iter']} epochs, {took:.2f} s)"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    import joblib
    import pandas as pd

    if not os.path.exists(args.model):
        raise CLIError(f"MODEL {args.model!r}: no such file.")
    _check_output(args.output)
    _check_workers(args.workers)
    try:
        est = joblib.load(args.model)
    except Exception as exc:  # noqa: BLE001 - any unreadable model gets the same message
        raise CLIError(
            f"MODEL {args.model!r} cannot be loaded: {type(exc).__name__}: {exc}"
        ) from None
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        raise CLIError(
            f"MODEL {args.model!r} was not fitted on named columns (train it with 'dasksgd train')."
        )
    if args.proba and not hasattr(est, "predict_proba"):
        raise CLIError(
            f"--proba: MODEL {args.model!r} has no probabilities (loss={est.loss!r}; "
            "log_loss and modified_huber have them)."
        )
    df = _read(args.data, args.format)
    features = _columns(df, None, [str(c) for c in names])
    ids = args.id.split(",") if args.id else []
    _columns(df, None, ids)
    taken = set(ids) & {"prediction", *(f"proba_{c}" for c in getattr(est, "classes_", []))}
    if taken:
        raise CLIError(f"--id column(s) {sorted(taken)} would clash with the output's columns.")
    with _cluster(args.scheduler, _workers(args)) as client:
        df = _spread(df, client)
        meta = df._meta[ids].copy()
        # The labels' dtype as pandas infers it (strings: pandas' string dtype, which Parquet
        # writes; numpy's object dtype it cannot).
        labels = pd.Series(est.classes_) if hasattr(est, "classes_") else pd.Series([0.0])
        meta["prediction"] = labels.iloc[:0].to_numpy()
        meta["prediction"] = meta["prediction"].astype(labels.dtype)
        for c in getattr(est, "classes_", []) if args.proba else []:
            meta[f"proba_{c}"] = pd.Series(dtype=np.float64)
        # Each partition predicted where it is read, with its id columns beside it.
        out = df.map_partitions(_predict_part, est, features, ids, args.proba, meta, meta=meta)
        if args.output.lower().endswith(".csv"):
            out.to_csv(args.output, single_file=True, index=False)
        else:
            out.to_parquet(args.output, write_index=False)
    print(f"predictions: {args.output}")
    return 0


def _predict_part(
    part: Any, est: Any, features: list[str], ids: list[str], proba: bool, empty: Any
) -> Any:
    """A partition's predictions (and probabilities), beside its id columns (``empty`` for a
    partition without rows)."""
    import pandas as pd

    if not len(part):
        return empty
    out = part[ids].copy()
    out["prediction"] = pd.Series(est.predict(part[features]), index=part.index).astype(
        empty["prediction"].dtype
    )
    if proba:
        P = est.predict_proba(part[features])
        for k, c in enumerate(est.classes_):
            out[f"proba_{c}"] = P[:, k]
    return out


def _print_links(client: Any) -> None:
    """The training page's link (served by the scheduler itself), and Dask's own dashboard's
    where it can be drawn: its pages need bokeh, not a dependency of dasksgd."""
    import importlib.util

    from . import dashboard

    page = dashboard.enable(client)
    if page is not None:
        print(f"Training page: {page}")
    if importlib.util.find_spec("bokeh") is not None:
        print(f"Dask dashboard: {client.dashboard_link}")
    else:
        print('Dask dashboard (/status, task stream): pip install -e ".[dashboard]" (bokeh)')


def _demo(args: argparse.Namespace) -> int:
    import warnings

    from distributed import Client, LocalCluster
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from . import SGDClassifier
    from .datasets import make_classification

    if args.workers < 1:
        raise CLIError(f"--workers {args.workers}: the demo runs on 1 worker process or more.")
    logging.basicConfig(level=logging.INFO, format="  %(message)s", stream=sys.stdout)
    for name in ("distributed", "bokeh", "tornado"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"Starting a LocalCluster with {args.workers} worker processes on 127.0.0.1 ...")
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        _print_links(client)
        X, y = make_classification(
            args.n_samples, args.n_features, chunks=args.chunk_rows, random_state=args.seed
        )
        X, y = client.persist([X, y])
        print(
            f"Data: {args.n_samples} x {args.n_features} logistic problem generated on the workers "
            f"({X.numblocks[0]} shards)."
        )
        clf = SGDClassifier(
            alpha=args.alpha,
            batch_size=args.batch_size,
            max_iter=args.epochs,
            random_state=args.seed,
            verbose=1,
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
        ref = LogisticRegression(
            C=1.0 / (args.alpha * n), solver="newton-cholesky", tol=1e-12, max_iter=100
        ).fit(Xn, yn)
        z = Xn @ ref.coef_.ravel() + ref.intercept_[0]
        s = 2.0 * yn - 1.0
        f_star = float(np.mean(np.logaddexp(0.0, -s * z)) + 0.5 * args.alpha * np.sum(ref.coef_**2))
        print("Summary:")
        h = clf.history_
        print(
            f"  time {elapsed:.2f} s, {clf.n_iter_} epochs, {len(h)} steps "
            f"on {clf.n_workers_} workers; "
            f"batch size {h['batch_size'].iloc[0]} -> {clf.batch_size_}"
        )
        print(f"  training accuracy {accuracy:.4f}")
        print(
            f"  objective {objective:.6f}, optimum {f_star:.6f} (newton-cholesky), "
            f"relative gap {(objective - f_star) / f_star:.2e}"
        )
    return 0


def _batch(v: str):
    return v if v == "auto" else int(v)


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, but where it says its own or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False) or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dasksgd`` console script.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0, or 2 for bad input (said in one line on stderr).
    """
    from . import __version__

    helps = _Help
    parser = argparse.ArgumentParser(
        prog="dasksgd",
        description="Train linear models with data-parallel mini-batch SGD on a Dask cluster: "
        "'dasksgd demo' on a generated problem, 'dasksgd train DATA --target COL' on a CSV or "
        "Parquet file (a path, a glob or an fsspec URL), 'dasksgd predict MODEL DATA'.",
    )
    parser.add_argument("--version", action="version", version=f"dasksgd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.1:8786 (default: a "
        "local cluster)",
    )  # fmt: skip
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"worker processes of the local cluster; 0: work in this process (default: "
        f"{DEFAULT_WORKERS}, or this process for DATA under {IN_PROCESS_BYTES >> 20} MiB)",
    )
    where.add_argument(
        "--format", choices=["csv", "parquet"], help="of DATA (default: from its name)"
    )
    train = sub.add_parser(
        "train",
        parents=[where],
        formatter_class=helps,
        help="fit a model on a CSV or Parquet file",
        description="Fit SGDClassifier (a non-float target) or SGDRegressor (a float one) on "
        "DATA; write the model (joblib) and its metrics (JSON), with a held-out score.",
    )
    train.add_argument(
        "data", metavar="DATA", help="CSV or Parquet: a path, a glob or an fsspec URL"
    )
    train.add_argument("--target", required=True, help="the column to predict")
    train.add_argument(
        "--features", help="comma-separated feature columns (default: all but the target)"
    )
    train.add_argument(
        "--loss",
        default="auto",
        help="a loss of SGDClassifier or SGDRegressor; auto: log_loss, or squared_error "
        "for a float target",
    )
    train.add_argument(
        "--penalty",
        default="l2",
        choices=["l2", "l1", "elasticnet", "none"],
        help="the regularization",
    )
    train.add_argument(
        "--categorical",
        metavar="COLS",
        help="comma-separated columns to one-hot encode besides the string and category ones "
        "(integer codes, say)",
    )
    train.add_argument(
        "--string-encoding",
        default="onehot",
        choices=["onehot", "hash"],
        help="string columns: one-hot of their values, or hashed into 2**18 sparse columns",
    )
    train.add_argument(
        "--handle-unknown",
        default="error",
        choices=["error", "ignore"],
        help="a category unseen in training at predict: an error, or all-zero columns",
    )
    train.add_argument(
        "--multi-class",
        default="auto",
        choices=["auto", "multinomial", "ovr"],
        help="three or more classes: auto (multinomial for log_loss), one softmax model, or "
        "one binary model per class",
    )
    train.add_argument("--alpha", type=float, default=1e-4, help="the regularization strength")
    train.add_argument("--max-iter", type=int, default=100, help="epochs at most")
    train.add_argument(
        "--batch-size",
        type=_batch,
        default="auto",
        help="rows per step, or auto (from the data's gradient diversity)",
    )
    train.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="fraction of the rows held out for the metrics' test score (0: none)",
    )
    train.add_argument(
        "--seed", type=int, default=0, help="seed of the shuffles and of the held-out rows"
    )
    train.add_argument(
        "--verbose", type=int, default=0, help="1: a progress bar; 2: also a line per epoch"
    )
    train.add_argument(
        "--output", default="model.joblib", help="where to write the fitted model (joblib)"
    )
    train.add_argument(
        "--metrics", default="metrics.json", help="where to write the metrics (JSON)"
    )
    pred = sub.add_parser(
        "predict",
        parents=[where],
        formatter_class=helps,
        help="predict with a model written by 'train'",
        description="Write the predictions of a model written by 'dasksgd train' for the rows "
        "of DATA (its feature columns found by name).",
    )
    pred.add_argument(
        "model",
        metavar="MODEL",
        help="a model written by 'dasksgd train' (joblib: trusted files only)",
    )
    pred.add_argument(
        "data", metavar="DATA", help="CSV or Parquet with the model's feature columns"
    )
    pred.add_argument(
        "--output",
        default="predictions.parquet",
        help="Parquet (a directory) or, ending in .csv, one CSV file",
    )
    pred.add_argument(
        "--proba",
        action="store_true",
        help="also write each class's probability (proba_<class>; log_loss or modified_huber)",
    )
    pred.add_argument("--id", help="comma-separated columns of DATA to copy beside the predictions")
    demo = sub.add_parser(
        "demo",
        formatter_class=helps,
        help="train on a generated problem on a local cluster",
        description="Generate a logistic problem on a local cluster's workers, train "
        "SGDClassifier on it, and print the time, the accuracy and the gap to the optimum.",
    )
    demo.add_argument("--n-samples", type=int, default=200_000, help="rows")
    demo.add_argument("--n-features", type=int, default=50, help="columns")
    demo.add_argument("--chunk-rows", type=int, default=25_000, help="rows per chunk (shard)")
    demo.add_argument("--workers", type=int, default=2, help="worker processes")
    demo.add_argument(
        "--batch-size",
        type=_batch,
        default="auto",
        help="rows per step, or auto (from the gradient diversity)",
    )
    demo.add_argument("--epochs", type=int, default=20, help="epochs at most")
    demo.add_argument("--alpha", type=float, default=1e-4, help="the regularization strength")
    demo.add_argument("--seed", type=int, default=0, help="seed of the data and the shuffles")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
        if args.command == "train":
            return _train(args)
        return _predict(args)
    except CLIError as exc:
        print(f"dasksgd {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        # What the estimators refuse (NaN, one class, overflowing values, bad parameters): their
        # messages name the problem, so one line, as for the command's own checks.
        message = " ".join(str(exc).split())
        print(f"dasksgd {args.command}: error: {message}", file=sys.stderr)
        return 2
    except (RuntimeError, MemoryError) as exc:  # the cluster cannot train (no workers, ...)
        message = " ".join(str(exc).split())
        print(f"dasksgd {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
