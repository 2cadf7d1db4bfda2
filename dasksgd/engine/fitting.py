"""The functional core of a fit: inputs and a configuration in, the fitted state and history out.

:func:`fit` is what the estimators call, and what a script, a benchmark or a test can call
without an estimator (xgboost's ``dask.train`` under its wrappers, skglm's ``_glm_fit`` under
``Lasso.fit``). It chooses the backend (the default :class:`distributed.Client`'s workers for
dask collections, this process otherwise), resumes a checkpoint of the same fit or measures a
new plan, drives :func:`~dasksgd.engine.loop.train` with the progress bar and the dashboard's
reporter as callbacks, and releases the backend whatever happens. It knows nothing of
scikit-learn: the caller validates its inputs and parameters first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from .. import checkpoint as checkpoints
from .. import inputs
from ..preconditioning import ColumnMoments
from .callbacks import Report
from .config import TrainConfig
from .loop import TrainResult, TrainState, train
from .plan import apply_plan, make_plan
from .rules import Callback
from .shards import TargetSpec

__all__ = ["fit", "FitResult", "LiveReport", "live_report"]

logger = logging.getLogger("dasksgd")


@dataclass
class FitResult(TrainResult):
    """What :func:`fit` returns: :class:`~dasksgd.engine.loop.TrainResult`, the seed of the
    shuffles and of the validation split (a resumed checkpoint's own), the workers used, and
    the column moments of the feature scaling (the next ``partial_fit`` call's ``moments``)."""

    seed: int = 0
    n_workers: int = 1
    moments: ColumnMoments | None = None


def fit(
    X: Any,
    y: Any,
    sample_weight: Any = None,
    *,
    target: TargetSpec,
    config: TrainConfig,
    seed: int,
    state: TrainState | None = None,
    moments: ColumnMoments | None = None,
    max_iter: int | None = None,
    shuffle: bool = True,
    validation_fraction: float = 0.0,
    fan_in: int = 8,
    streaming: Any = "auto",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 100,
    identity: dict | None = None,
    callbacks: Sequence[Callback] = (),
    verbose: int = 0,
    name: str = "dasksgd",
    description: str | None = None,
    start_time: float | None = None,
    report: LiveReport | None = None,
) -> FitResult:
    """Train a linear model on ``X``, ``y`` with the engine; the inputs are not modified.

    Parameters
    ----------
    X : dask array, ndarray, scipy.sparse matrix or device array of shape (n_samples, n_features)
        Validated rows: a dask collection trains on the default client's workers (or, with no
        client, on its chunks computed here), anything else in this process.
    y : array-like of shape (n_samples,)
        Targets (class labels, encoded by ``target``; or values), of the same kind as ``X``.
    sample_weight : array-like of shape (n_samples,), optional
        Row weights, of the same kind as ``X``.
    target : TargetSpec
        Classes and class weights (classification) or none (regression).
    config : TrainConfig
        Loss, penalty, schedule, batch size and stopping rules.
    seed : int
        Seed of the shuffles and of the validation split (unless a checkpoint is resumed).
    state : TrainState, optional
        Where to start (``partial_fit``, warm start); zeros by default.
    moments : ColumnMoments, optional
        The column moments of a stream's earlier rows (``partial_fit``): the features are then
        scaled by those of all its rows, these included.
    max_iter : int, optional
        Epochs to run; ``config.max_iter`` by default.
    shuffle : bool
        Reorder the rows' groups every epoch.
    validation_fraction : float
        Rows of every shard held out for the validation score (early stopping).
    fan_in : int
        Children per node of the reduction tree (cluster fits).
    streaming : {"auto", True, False}
        Cluster fits of dask collections: read ``X``'s rows from their source on every pass,
        a few partitions per worker at a time, instead of holding them in the workers' memory;
        "auto" streams when they would not fit it (False then raises a ``MemoryError`` saying
        so, before any work). True without a ``distributed.Client`` raises a ``ValueError``.
    checkpoint : path, optional
        Save the fit there every ``checkpoint_every`` steps; resume it if the file holds this
        fit (``identity`` and the data agree); the file is removed when the fit ends.
    checkpoint_every : int
        Steps between checkpoints.
    identity : dict, optional
        What else a checkpoint must share with this fit (the caller's parameters).
    callbacks : sequence of Callback
        More watchers of the fit.
    verbose : int
        ``>= 1``: a progress bar; ``>= 2``: also a line per epoch on the "dasksgd" logger.
    name : str
        The fit's name on the progress bar.
    description : str, optional
        What the dashboard's page calls the fit (``name`` by default).
    start_time : float, optional
        ``time.perf_counter()`` when the caller's fit began; the history's times count from it.
    report : LiveReport, optional
        The dashboard's report of this fit, opened by the caller before its data were read
        (:func:`live_report`); by default one opened here.

    Returns
    -------
    FitResult
    """
    start = time.perf_counter() if start_time is None else start_time
    path = None if checkpoint is None else os.fspath(checkpoint)
    saved = None if path is None else checkpoints.load(path)
    if saved is not None:
        seed = saved["seed"]  # the shuffles and the validation split of the saved fit
    with contextlib.ExitStack() as stack:
        if report is None:
            report = stack.enter_context(live_report(X, description or name, verbose))
        return _fit(
            X, y, sample_weight, target, config, seed, state, moments, max_iter, shuffle,
            validation_fraction, fan_in, streaming, path, saved, checkpoint_every, identity,
            callbacks, verbose, name, start, report,
        )  # fmt: skip


@dataclass
class LiveReport:
    """The report of one fit on the cluster's dashboard page (:func:`live_report`); ``status``
    is what it closes with if no error ends the fit ("converged" once the stopping rule met)."""

    fit_id: str
    watchers: list
    status: str = "done"


@contextlib.contextmanager
def live_report(X: Any, description: str, verbose: int = 0) -> Iterator[LiveReport]:
    """Open a fit's report on the dashboard page of the default client's cluster (none for
    in-memory ``X`` or without a client), and close it with its ``status``, or as failed if
    the block raises. With ``verbose``, the page's address is printed.

    Opened when a fit starts, the page shows it while its data are read, its classes counted
    and its shards loaded (most of a short fit's time), and a fit that fails then as failed.
    """
    client = inputs.get_client() if inputs.is_dask_collection(X) else None
    fit_id = uuid.uuid4().hex[:12]
    report = LiveReport(fit_id, _reporter(client, description, fit_id, verbose) if client else [])
    status = "failed"
    try:
        yield report
        status = report.status
    finally:
        for w in report.watchers:
            w.close(status)


def _fit(
    X, y, sample_weight, target, config, seed, state, moments, max_iter, shuffle,
    validation_fraction, fan_in, streaming, path, saved, checkpoint_every, identity, callbacks,
    verbose, name, start, report,
) -> FitResult:  # fmt: skip
    """:func:`fit` once its checkpoint is read and its report open."""
    fit_id = report.fit_id
    watchers, status, backend = [], "failed", None
    try:
        backend = _backend(
            X, y, sample_weight, target, config, seed, shuffle, validation_fraction, fan_in,
            fit_id, streaming,
        )  # fmt: skip
        n_features, K = X.shape[1], target.n_outputs
        if state is None:
            state = TrainState(coef=np.zeros((n_features, K)), intercept=np.zeros(K))
        if path is None:
            plan, resume, save_to = (
                make_plan(backend, config, n_features, n_outputs=K, seed=seed, prior=moments),
                None,
                None,
            )
        else:
            plan, state, resume, save_to = _resume_or_plan(
                backend, config, X, target, seed, state, moments, path, saved, identity or {}
            )
        if verbose:
            from ..progress import Progress

            bar = Progress(
                max_iter or config.max_iter,
                backend.n_train,
                name,
                verbose >= 2,
                reads=getattr(backend, "read_totals", None),
            )
            watchers.insert(0, _Closing(bar))
        log = [Report(on_epoch=_log_epoch)] if verbose >= 2 else []
        result = train(
            backend,
            config,
            state,
            plan=plan,
            max_iter=max_iter,
            callbacks=[*watchers, *report.watchers, *log, *callbacks],
            start_time=start,
            checkpoint=save_to,
            checkpoint_every=checkpoint_every,
            resume=resume,
        )
        status = report.status = "converged" if result.converged else "done"
        n_workers = backend.n_workers
    finally:
        for w in watchers:
            w.close(status)
        if backend is not None:
            backend.close()
    if path is not None:
        # The caller holds the result now; the checkpoint was for a fit cut short.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return FitResult(**vars(result), seed=seed, n_workers=n_workers, moments=plan.moments)


def _backend(
    X, y, sample_weight, target, config, seed, shuffle, validation_fraction, fan_in, fit_id,
    streaming="auto",
):  # fmt: skip
    """The backend for this input: the one branch on where the data are."""
    from .cluster import ClusterBackend
    from .local import LocalBackend

    common = dict(
        fit_intercept=config.fit_intercept,
        shuffle=shuffle,
        seed=seed,
        validation_fraction=validation_fraction,
    )
    if not inputs.is_dask_collection(X):
        return LocalBackend([(X, y, sample_weight)], target, config.loss, **common)
    client = inputs.get_client()
    if client is not None:
        return ClusterBackend(
            client, X, y, sample_weight, target, config.loss, fan_in=fan_in, fit_id=fit_id,
            streaming=streaming, **common,
        )  # fmt: skip
    if streaming is True:
        raise ValueError(
            "streaming=True reads the rows from their source on the workers of a Dask cluster, "
            "and there is no distributed.Client: create one (e.g. Client(LocalCluster())), or "
            "leave streaming='auto' to compute the chunks in this process."
        )
    import dask

    # No cluster: compute the chunks here and keep them as the shards, so the reduction order
    # (and the result) does not depend on where the fit runs.
    delayed = [X.to_delayed().ravel().tolist(), y.to_delayed().ravel().tolist()]
    if sample_weight is not None:
        delayed.append(sample_weight.to_delayed().ravel().tolist())
    parts = dask.compute(*delayed)
    sws = parts[2] if sample_weight is not None else [None] * len(parts[0])
    shapes = [(int(r), int(X.shape[1])) for r in X.chunks[0]]
    return LocalBackend(
        list(zip(parts[0], parts[1], sws)), target, config.loss, shapes=shapes, **common
    )


def _resume_or_plan(backend, config, X, target, seed, state, moments, path, saved, identity):
    """``(plan, state, resume, save_to)``: a checkpoint of this fit resumed, or a new plan; and
    the checkpoint writer."""
    identity = _identity(backend, X, target, identity)
    resume = None
    if saved is not None:
        differ = checkpoints.mismatch(saved["identity"], identity)
        if differ:
            raise ValueError(
                f"The checkpoint {path!r} was written by another fit ({'; '.join(differ)}). "
                "Delete it, or give this fit another checkpoint path."
            )
        plan, state, resume = saved["plan"], saved["state"], saved["loop"]
        apply_plan(backend, config, plan)
        logger.info("resuming from %s at step %d", path, state.step)
    else:
        plan = make_plan(
            backend, config, X.shape[1], n_outputs=target.n_outputs, seed=seed, prior=moments
        )

    def save_to(st: TrainState, loop: Any) -> None:
        checkpoints.save(
            path, {"identity": identity, "seed": seed, "plan": plan, "state": st, "loop": loop}
        )

    return plan, state, resume, save_to


def _identity(backend: Any, X: Any, target: TargetSpec, params: dict) -> dict:
    """What a checkpoint must share with this fit to be resumed by it: the caller's parameters,
    the data's size, classes and column sums, and the loss's gradient at the zero model over
    every row (``sum_i w_i loss'(y_i, 0) [x_i, 1]`` and the loss there: other labels or
    weights of the same X change it). Two passes over the shards, only for a checkpointed fit."""
    sums = np.asarray(backend.column_sums(), dtype=np.float64)
    d, K, n = int(X.shape[1]), target.n_outputs, int(backend.n_train)
    at_zero = backend.step(np.zeros((d, K)), np.zeros(K), 0, 0, n, n)
    labels = np.concatenate(
        [
            np.asarray(at_zero.grad_coef, dtype=np.float64).ravel(),
            np.asarray(at_zero.grad_intercept, dtype=np.float64).ravel(),
            [float(at_zero.loss)],
        ]
    )
    return {
        **params,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "dtype": str(X.dtype),
        "n_train": int(backend.n_train),
        "classes": None if target.classes is None else np.asarray(target.classes),
        "class_weight": None if target.class_weight is None else np.asarray(target.class_weight),
        "column_sums": sums,
        "labels and weights": labels,
    }


class _Closing(Report):
    """A report (progress bar, dashboard page) that is closed when the fit ends, done or failed."""

    def __init__(self, target: Any) -> None:
        super().__init__(target.on_step, target.on_epoch)
        self.target = target

    def close(self, status: str) -> None:
        self.target.close(status)


def _reporter(client: Any, description: str, fit_id: str, verbose: int = 0) -> list[_Closing]:
    """The dashboard's reporter of this fit (none when the scheduler cannot serve the page)."""
    from .. import dashboard

    link = dashboard.enable(client)
    if link is None:
        return []
    logger.info("training progress: %s", link)
    if verbose:  # as scikit-learn's verbose output: on stdout, seen in a script or a notebook
        print(f"Training progress: {link}", flush=True)
    return [_Closing(dashboard.Reporter(client, description, fit_id=fit_id))]


def _log_epoch(info: dict) -> None:
    """``verbose >= 2``: a line per epoch on the "dasksgd" logger (the progress bar prints it)."""
    logger.info(
        "-- Epoch %d: objective %.6g, batch size %d, step %.3g, %.2f s",
        info["epoch"],
        info["objective"],
        info["batch_size"],
        info["learning_rate"],
        info["time"],
    )
