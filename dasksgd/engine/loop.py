"""The synchronous mini-batch SGD loop, independent of where the shards live.

:func:`train` drives a backend (in-process or cluster) that answers requests by summing
:class:`~dasksgd.statistics.GradStats` over shards. Per step: one request (``step``) for the
statistics of the batch, one update of the model here; per epoch: one request (``full``) for the
training objective, and one (``validation``) when early stopping holds rows out.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..losses import Loss
from ..penalties import Penalty
from ..schedules import LearningRate, ScheduleState, scaled_step, smoothness

__all__ = ["TrainConfig", "TrainState", "TrainResult", "train", "estimate_max_step", "HISTORY_COLUMNS"]

logger = logging.getLogger("dasksgd")

HISTORY_COLUMNS = [
    "step", "epoch", "samples", "batch_size", "diversity", "learning_rate", "loss", "time",
    "objective", "validation_score",
]


@dataclass(frozen=True)
class TrainConfig:
    """Everything the loop needs to know that does not change during a fit."""

    loss: Loss
    penalty: Penalty
    schedule: LearningRate
    batch_size: int
    delta: float = 1.0
    fit_intercept: bool = True
    max_iter: int = 1000
    tol: float | None = 1e-3
    n_iter_no_change: int = 5
    early_stopping: bool = False
    average_start: float | None = None  # samples before averaging starts; None: no averaging


@dataclass
class TrainState:
    """The model and the counters that carry over between calls (``partial_fit``, warm start)."""

    coef: np.ndarray  # (d, K)
    intercept: np.ndarray  # (K,)
    t: float = 0.0  # samples seen
    epoch: int = 0  # epochs started (seeds the shuffles)
    step: int = 0
    schedule: ScheduleState = field(default_factory=ScheduleState)
    avg_coef: np.ndarray | None = None
    avg_intercept: np.ndarray | None = None
    n_avg: int = 0

    def copy(self) -> "TrainState":
        return replace(
            self,
            coef=self.coef.copy(),
            intercept=self.intercept.copy(),
            avg_coef=None if self.avg_coef is None else self.avg_coef.copy(),
            avg_intercept=None if self.avg_intercept is None else self.avg_intercept.copy(),
        )

    def model(self) -> tuple[np.ndarray, np.ndarray]:
        """The model to report: the average when averaging has started, else the iterate."""
        if self.n_avg > 0:
            return self.avg_coef, self.avg_intercept
        return self.coef, self.intercept


@dataclass
class TrainResult:
    """What :func:`train` returns: the final state, epochs run, and the step history."""

    state: TrainState
    n_iter: int
    converged: bool
    history: pd.DataFrame
    batch_size: int
    objective: float


def estimate_max_step(
    backend: Any, config: TrainConfig, n_features: int, *, sample: int = 20000, iters: int = 30, seed: int = 0
) -> float:
    """``1 / L`` for the mean objective, ``L`` from a power iteration on a sample of rows.

    One request per iteration over every ``n_train // sample``-th row; stops early once the
    eigenvalue estimate moves by less than 1e-3 (relative).
    """
    stride = max(1, backend.n_train // sample)
    v = np.random.default_rng(seed).standard_normal(n_features + int(config.fit_intercept))
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(iters):
        out = backend.call("gram_matvec", v, stride)
        av = out[:-1] / max(out[-1], 1.0)
        new = float(np.linalg.norm(av))
        if new == 0.0:
            break
        v = av / new
        if abs(new - lam) <= 1e-3 * new:
            lam = new
            break
        lam = new
    L = smoothness(lam, config.loss, config.penalty.l2_strength)
    return 1.0 / L if L > 0 else math.inf


def _objective(backend: Any, config: TrainConfig, coef: np.ndarray, intercept: np.ndarray) -> float:
    full = backend.call("full", coef, intercept)
    return full.loss / max(full.count, 1.0) + config.penalty.value(coef)


def _validation_score(backend: Any, config: TrainConfig, coef: np.ndarray, intercept: np.ndarray) -> float:
    w, a, sy, syy = backend.call("validation", coef, intercept)
    if config.loss.is_classification:
        return a / w
    var = syy - sy * sy / w
    return 1.0 - a / var if var > 0 else 0.0


def train(
    backend: Any,
    config: TrainConfig,
    state: TrainState,
    *,
    max_step: float,
    max_iter: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Run epochs of synchronous mini-batch SGD from ``state``.

    Parameters
    ----------
    backend : LocalBackend or ClusterBackend
        Where the shards are.
    config : TrainConfig
        Loss, penalty, schedule, batch size and stopping rules.
    state : TrainState
        Starting model and counters; not modified (the result holds a new state).
    max_step : float
        Largest mean-form step (``1/L``).
    max_iter : int, optional
        Epochs to run; ``config.max_iter`` by default.
    on_epoch : callable, optional
        Called with a dict (epoch, objective, batch_size, learning_rate, time) after each epoch.

    Returns
    -------
    TrainResult

    Raises
    ------
    FloatingPointError
        If the objective stops being finite (the step size is too large for the data).
    """
    state = state.copy()
    pen, sched = config.penalty, config.schedule
    n = backend.n_train
    B = int(min(config.batch_size, n))
    max_iter = config.max_iter if max_iter is None else max_iter
    t0 = time.perf_counter()
    rows: list[tuple] = []
    epoch_rows: dict[int, tuple[float, float]] = {}
    best, no_improve, converged, objective = None, 0, False, math.nan
    epochs_run = 0
    for _ in range(max_iter):
        epoch = state.epoch
        pos = 0
        while pos < n:
            end = min(pos + B, n)
            st = backend.call("step", state.coef, state.intercept, epoch, pos, end, n)
            pos = end
            if st.count == 0:
                continue
            gamma = sched.value(state.schedule, state.t + 1.0)
            eta = scaled_step(gamma, st.count, config.delta, max_step)
            grad = st.grad_coef / st.count + pen.smooth_grad(state.coef)
            state.coef = pen.prox(state.coef - eta * grad, eta)
            if config.fit_intercept:
                state.intercept = state.intercept - eta * (st.grad_intercept / st.count)
            state.t += st.count
            state.step += 1
            if config.average_start is not None and state.t >= config.average_start:
                if state.n_avg == 0:
                    state.avg_coef, state.avg_intercept = state.coef.copy(), state.intercept.copy()
                else:
                    k = state.n_avg + 1
                    state.avg_coef += (state.coef - state.avg_coef) / k
                    state.avg_intercept += (state.intercept - state.avg_intercept) / k
                state.n_avg += 1
            rows.append(
                (state.step, epoch, state.t, st.count, math.nan, eta, st.loss / st.count,
                 time.perf_counter() - t0)
            )
        state.epoch += 1
        epochs_run += 1
        coef, intercept = state.model()
        objective = _objective(backend, config, coef, intercept)
        if not math.isfinite(objective):
            raise FloatingPointError(
                f"The training objective became {objective} in epoch {epoch}: the step size is too "
                "large for this data. Scale the features (e.g. StandardScaler), lower eta0 or use "
                "learning_rate='optimal'."
            )
        score = math.nan
        if config.early_stopping:
            score = _validation_score(backend, config, coef, intercept)
        epoch_rows[state.step] = (objective, score)
        if on_epoch is not None:
            on_epoch({
                "epoch": state.epoch, "objective": objective, "validation_score": score,
                "batch_size": B, "learning_rate": rows[-1][5] if rows else math.nan,
                "time": time.perf_counter() - t0, "steps": state.step,
            })
        logger.debug("epoch %d: objective %.6g, B %d", state.epoch, objective, B)
        if config.tol is None:
            continue
        # scikit-learn's rule: n_iter_no_change epochs without an improvement of tol.
        if config.early_stopping:
            improved = best is None or score >= best + config.tol
            best = score if best is None else max(best, score)
        else:
            improved = best is None or objective <= best - config.tol
            best = objective if best is None else min(best, objective)
        no_improve = 0 if improved else no_improve + 1
        if no_improve >= config.n_iter_no_change:
            nxt = sched.on_plateau(state.schedule)
            if nxt is None:
                converged = True
                break
            state.schedule, no_improve = nxt, 0
    history = pd.DataFrame(rows, columns=HISTORY_COLUMNS[:8])
    history["objective"] = np.nan
    history["validation_score"] = np.nan
    if len(history):
        idx = history.index[history["step"].isin(list(epoch_rows))]
        for i in idx:
            obj, sc = epoch_rows[int(history.at[i, "step"])]
            history.at[i, "objective"] = obj
            history.at[i, "validation_score"] = sc
    for col in ("step", "epoch"):
        history[col] = history[col].astype(np.int64)
    return TrainResult(state, epochs_run, converged, history, B, objective)
