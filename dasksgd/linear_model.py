"""scikit-learn estimators trained by synchronous data-parallel mini-batch SGD.

Thin wrappers: parameters are checked here (a declarative table, as scikit-learn), inputs are
turned into shards, and :func:`dasksgd.engine.train` does the work, in process for in-memory
data or on the workers of the default :class:`distributed.Client` for dask collections.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
import warnings
from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    check_X_y,
    validate_data,
)

from . import encoding, inputs
from .arrays import is_device_array, on_device_of, to_like, to_numpy
from .checkpoint import is_packed, pack, unpack
from .encoding import TabularEncoder
from .engine import TargetSpec, TrainConfig, TrainState
from .engine.fitting import LiveReport, live_report
from .engine.fitting import fit as engine_fit
from .losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from .metrics import score_from_sums, score_sums

__all__ = ["SGDClassifier", "SGDRegressor"]

logger = logging.getLogger("dasksgd")


#: All-zero weights are refused when the shards load (the held-out rows' message first, as
#: scikit-learn's SGD says it); scikit-learn >= 1.7 would refuse them here with another message.
_ALL_ZERO = (
    {"allow_all_zero_weights": True}
    if "allow_all_zero_weights" in inspect.signature(_check_sample_weight).parameters
    else {}
)


def _block_decision(X: Any, coef: np.ndarray, intercept: np.ndarray) -> Any:
    """Margins of one block of rows: ``X @ coef.T + intercept`` in the block's dtype, namespace
    and device (the model goes to the rows)."""
    if is_device_array(X):
        from .arrays import float_dtype

        dtype = float_dtype(X)
        out = X @ to_like(np.ascontiguousarray(coef.T), X, dtype) + to_like(intercept, X, dtype)
        return out
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
    out = X @ coef.T.astype(dtype, copy=False) + intercept.astype(dtype, copy=False)
    return np.asarray(out)


def _finite_block_decision(X: Any, coef: np.ndarray, intercept: np.ndarray) -> Any:
    """:func:`_block_decision` for a block of a dask array, which nothing validated: a row with
    NaN or infinity has a non-finite margin (``0 * nan`` is nan), and is refused rather than
    given a class (in memory, scikit-learn's validation refuses it before any arithmetic)."""
    from array_api_compat import array_namespace

    out = _block_decision(X, coef, intercept)
    xp = array_namespace(out)
    if not bool(xp.all(xp.isfinite(out))):
        bad = int(np.count_nonzero(~np.isfinite(to_numpy(out)).all(axis=1)))
        raise ValueError(
            f"Input X contains NaN or infinity ({bad} of the {out.shape[0]} rows of a block "
            "give a non-finite margin). Impute or drop those rows before predicting."
        )
    return out


def _per_block(
    fn: Any,
    Z: Any,
    *args: Any,
    token: str,
    meta: Any = None,
    chunks: Any = None,
    drop_axis: int | None = None,
) -> Any:
    """``fn(Z, *args)``: at once for in-memory ``Z``, block by block (lazy) for a dask array.

    The one place prediction branches on the input kind. ``meta`` and ``chunks`` (dask only) may
    be functions of the dask array; ``meta`` defaults to its own.
    """
    if not inputs.is_dask_collection(Z):
        return fn(Z, *args)
    kw: dict = {"meta": Z._meta if meta is None else meta(Z._meta) if callable(meta) else meta}
    if chunks is not None:
        kw["chunks"] = chunks(Z)
    if drop_axis is not None:
        kw["drop_axis"] = drop_axis
    return Z.map_blocks(fn, *args, token=token, **kw)


class _BaseSGD(BaseEstimator):
    """Shared parameters, input handling and training for both estimators."""

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l2", "l1", "elasticnet"}), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "fit_intercept": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, None, None, closed="neither"), None],
        "shuffle": ["boolean"],
        "verbose": ["verbose"],
        "epsilon": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
        "learning_rate": [StrOptions({"auto", "constant", "optimal", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="left")],
        "power_t": [Interval(Real, None, None, closed="neither")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "average": [Interval(Integral, 0, None, closed="left"), "boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "precondition": ["boolean"],
        "trust_ratio": ["boolean"],
        "delta": [Interval(Real, 0, None, closed="neither")],
        "fan_in": [Interval(Integral, 2, None, closed="left")],
        "streaming": [StrOptions({"auto"}), "boolean"],
        "checkpoint": [str, os.PathLike, None],
        "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
        "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
        "string_encoding": [StrOptions({"onehot", "hash"})],
        "handle_unknown": [StrOptions({"error", "ignore"})],
    }

    #: Parameters that do not change the fitted model (a checkpoint written under other values
    #: of these still resumes).
    _NOT_IN_CHECKPOINT = frozenset(
        {
            "verbose",
            "max_iter",
            "checkpoint",
            "checkpoint_every",
            "warm_start",
            "random_state",
            "n_jobs",
        }
    )

    # -- persistence ------------------------------------------------------------------

    #: Fitted attributes of dasksgd's own types, saved as plain values (checkpoint.pack).
    _PACKED_ATTRIBUTES = ("_state", "_moments", "encoder_")

    def __getstate__(self) -> dict:
        # Only plain values, so that skops persists a fitted model trusting no type but the
        # estimator's own: history_ as its columns (skops cannot persist a pandas DataFrame),
        # the training state and the encoder packed as a checkpoint's arrays and manifest. A
        # pickle is then independent of pandas' and dasksgd's internals too.
        state = dict(super().__getstate__())
        history = state.get("history_")
        if history is not None and hasattr(history, "columns"):
            state["history_"] = {str(c): history[c].to_numpy() for c in history.columns}
        for name in self._PACKED_ATTRIBUTES:
            if state.get(name) is not None:
                try:
                    state[name] = pack(state[name])
                except TypeError:  # a category of a type no checkpoint holds: kept as it is
                    pass
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if isinstance(state.get("history_"), dict):
            import pandas as pd

            state["history_"] = pd.DataFrame(state["history_"])
        for name in self._PACKED_ATTRIBUTES:
            if is_packed(state.get(name)):
                state[name] = unpack(state[name])
        super().__setstate__(state)

    # -- helpers shared by fit and predict ------------------------------------------------

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def _target_spec(self, y: Any, sample_weight: Any) -> TargetSpec:
        raise NotImplementedError

    def _engine_loss(self, spec: TargetSpec) -> str:
        """The loss the engine minimizes for this target (the ``loss`` parameter, here)."""
        return self.loss

    def _config(self, n_samples: int, spec: TargetSpec) -> TrainConfig:
        return TrainConfig.from_params(
            self._engine_loss(spec),
            penalty=self.penalty,
            alpha=self.alpha,
            l1_ratio=0.15 if self.l1_ratio is None else self.l1_ratio,  # None: no elastic net
            epsilon=self.epsilon,
            learning_rate=self.learning_rate,
            eta0=self.eta0,
            power_t=self.power_t,
            average=self.average,
            batch_size=self.batch_size if self.batch_size == "auto" else int(self.batch_size),
            precondition=bool(self.precondition),
            trust_ratio=bool(self.trust_ratio),
            delta=float(self.delta),
            fit_intercept=bool(self.fit_intercept),
            max_iter=int(self.max_iter),
            tol=self.tol,
            n_iter_no_change=int(self.n_iter_no_change),
            early_stopping=bool(self.early_stopping),
        )

    def _validate_params(self) -> None:
        """The table, then the rules that involve several parameters (scikit-learn's words)."""
        super()._validate_params()
        if self.penalty == "elasticnet" and self.l1_ratio is None:
            raise ValueError("l1_ratio must be set when penalty is 'elasticnet'")
        if self.power_t < 0:
            warnings.warn(
                "Negative values for `power_t` are deprecated (as in scikit-learn 1.8) and will "
                "raise an error in a future release. Use values in the range [0.0, inf) instead.",
                FutureWarning,
                stacklevel=3,  # the caller of fit / partial_fit
            )

    def _check_partial(self) -> None:
        """What partial_fit cannot do, refused before any work (scikit-learn's wording)."""
        if self.early_stopping:
            # A stream has no held-out rows: the score would be 0 / 0 at every call.
            raise ValueError("early_stopping should be False with partial_fit")

    def _check_X_dask(self, X: Any, reset: bool) -> Any:
        Xd, names = inputs.as_dask_matrix(X)
        self._check_features(int(Xd.shape[1]), names, reset)
        return Xd

    def _check_features(self, n_features: int, names: list[str] | None, reset: bool) -> None:
        """Record (``reset``) or check the number and names of the features, as scikit-learn
        does."""
        if reset:
            self.n_features_in_ = n_features
            if names is not None:
                self.feature_names_in_ = np.asarray(names, dtype=object)
            elif hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            return
        if n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        fitted = getattr(self, "feature_names_in_", None)
        if names is not None and fitted is not None and list(fitted) != names:
            raise ValueError("The feature names should match those that were passed during fit.")

    def _check_device_X(self, X: Any, reset: bool) -> Any:
        """An in-memory array of another namespace (cupy, ...): checked for shape, kept as it is."""
        inputs.check_2d(X.ndim)
        self._check_features(int(X.shape[1]), None, reset)
        return X

    def _encoder(self, X: Any, reset: bool) -> TabularEncoder | None:
        """The encoding of a frame's categorical and string columns: fitted on ``X`` (``reset``;
        None where it has none to encode), or the fitted model's."""
        if reset:
            if not encoding.encodes(X, self.categorical_features):
                return None
            return TabularEncoder.fit(
                X, self.categorical_features, self.string_encoding, self.handle_unknown
            )
        enc = getattr(self, "encoder_", None)
        if enc is not None and not encoding.is_frame(X):
            raise ValueError(
                f"This {type(self).__name__} was fitted on a DataFrame with categorical "
                f"columns ({enc.feature_names_in[:5]}...), encoded into {enc.n_features_out} "
                "columns; pass a DataFrame with the same columns to predict."
            )
        return enc

    def _set_encoded_features(self, enc: TabularEncoder) -> None:
        """``n_features_in_`` and ``feature_names_in_`` of the frame before its encoding."""
        self.n_features_in_ = enc.n_features_in
        self.feature_names_in_ = np.asarray([str(c) for c in enc.feature_names_in], dtype=object)

    def _validate_input(self, X, y, sample_weight, *, reset):
        """Checked inputs: dask arrays (lazy) or in-memory arrays, and the raw target; and the
        encoder fitted on a frame with categorical or string columns (None without)."""
        enc = self._encoder(X, reset)
        if enc is None:
            return (*self._validate_arrays(X, y, sample_weight, reset=reset), None)
        # The first partial_fit fits the encoder on its chunk: later chunks' new categories are
        # refused (or ignored), so a stream should carry its categories in its dtype.
        out = self._validate_arrays(enc.transform(X), y, sample_weight, reset=reset, encoded=True)
        if reset:
            self._set_encoded_features(enc)
        return (*out, enc)

    def _validate_arrays(self, X, y, sample_weight, *, reset, encoded=False):
        """``encoded``: ``X`` is what the encoder made of a frame, whose features were checked
        (and are recorded) by their names before encoding."""
        if inputs.is_dask_collection(X) or inputs.is_dask_collection(y):
            if not inputs.is_dask_collection(X):
                raise TypeError(
                    "y is a dask collection but X is not; pass both as dask collections "
                    "(e.g. dask.array.from_array) or both in memory."
                )
            Xd = inputs.as_dask_matrix(X)[0] if encoded else self._check_X_dask(X, reset)
            yd = inputs.as_dask_vector(y, Xd, "y")
            sw = inputs.as_dask_vector(sample_weight, Xd, "sample_weight")
            return Xd, yd, sw
        if is_device_array(X):
            # Rows stay on their device; targets and weights are checked on the host (labels may
            # be strings) and each shard takes them to its rows.
            X = self._check_device_X(X, reset)
            y = to_numpy(y, dtype=None)
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]
            if y.ndim != 1:
                raise ValueError(f"y must be 1-D; got shape {y.shape}.")
            if sample_weight is not None:
                sample_weight = to_numpy(sample_weight)
                if sample_weight.ndim == 0:
                    sample_weight = np.full(X.shape[0], float(sample_weight))
            if not isinstance(self, ClassifierMixin) and y.dtype.kind not in "fiub":
                raise ValueError(f"Regression targets y must be numeric; got dtype {y.dtype}.")
            return X, y, sample_weight
        kw = dict(
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            y_numeric=not isinstance(self, ClassifierMixin),
        )
        if encoded:
            X, y = check_X_y(X, y, **kw)
        else:
            X, y = validate_data(self, X, y, reset=reset, **kw)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, **_ALL_ZERO)
        return X, y, sample_weight

    def _initial_state(
        self, coef_init: Any, intercept_init: Any, n_features: int, K: int
    ) -> TrainState | None:
        """The starting model ``fit(coef_init=, intercept_init=)`` asks for (None: not given).

        Shapes as scikit-learn's: ``coef_init`` is ``(K, n_features)`` (or ``(n_features,)``
        with one output), ``intercept_init`` is ``(K,)``; either may be given alone (the other
        starts at zero).
        """
        if coef_init is None and intercept_init is None:
            return None
        coef = np.zeros((n_features, K))
        intercept = np.zeros(K)
        if coef_init is not None:
            c = np.asarray(coef_init, dtype=np.float64)
            if c.shape not in ({(n_features,)} if K == 1 else set()) | {(K, n_features)}:
                raise ValueError(
                    f"Provided coef_init does not match dataset: shape {c.shape}, expected "
                    f"{(K, n_features) if K > 1 else (n_features,)}."
                )
            coef = c.reshape(K, n_features).T.copy()
        if intercept_init is not None:
            b = np.asarray(intercept_init, dtype=np.float64)
            if b.shape not in {(K,)} | ({()} if K == 1 else set()):
                raise ValueError(
                    f"Provided intercept_init does not match dataset: shape {b.shape}, "
                    f"expected {(K,)}."
                )
            intercept = b.reshape(K).copy()
        if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
            raise ValueError("coef_init and intercept_init must be finite.")
        return TrainState(coef=coef, intercept=intercept)

    def _train(
        self,
        X,
        y,
        sample_weight,
        spec,
        *,
        partial: bool,
        start: float,
        init: TrainState | None = None,
        report: LiveReport | None = None,
        encoder: TabularEncoder | None = None,
    ) -> None:
        """Fit from the current state (partial), from ``init`` (``coef_init``), from the last
        fit (``warm_start``) or from scratch, then set the fitted attributes.

        ``start`` is when the public call began: the history's times count from it.
        """
        config = self._config(X.shape[0], spec)
        if partial:  # a chunk of a stream is not the objective: its passes are not exact steps
            config = replace(config, goodput=False, stream=True)
        n_features, K = X.shape[1], spec.n_outputs
        state = None
        if partial and hasattr(self, "_state"):
            state = self._state
        elif init is not None:
            state = init
        elif self.warm_start and hasattr(self, "coef_") and not partial:
            state = TrainState(
                coef=np.asarray(self._coef2d(), dtype=np.float64).reshape(K, n_features).T.copy(),
                intercept=np.asarray(self.intercept_, dtype=np.float64).reshape(K).copy(),
            )
        if partial and hasattr(self, "_seed"):
            seed = self._seed
        else:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        params = {
            k: v for k, v in self.get_params(deep=False).items() if k not in self._NOT_IN_CHECKPOINT
        }
        if isinstance(self.random_state, Integral):
            params["random_state"] = int(self.random_state)
        result = engine_fit(
            X,
            y,
            sample_weight,
            target=spec,
            config=config,
            seed=seed,
            state=state,
            moments=getattr(self, "_moments", None) if partial else None,
            max_iter=1 if partial else None,
            shuffle=self.shuffle,
            validation_fraction=self.validation_fraction
            if (self.early_stopping and not partial)
            else 0.0,
            fan_in=self.fan_in,
            streaming=self.streaming,
            checkpoint=None if partial else self.checkpoint,
            checkpoint_every=self.checkpoint_every,
            identity={"estimator": type(self).__name__, **params},
            verbose=self.verbose,
            name=type(self).__name__,
            description=repr(self)[:300],
            start_time=start,
            report=report,
        )
        # Only a finished fit touches the estimator's attributes.
        if not partial and config.tol is not None and not result.converged:
            warnings.warn(
                "Maximum number of iteration reached before convergence. Consider increasing "
                f"max_iter to improve the fit. ({result.n_iter} epochs)",
                ConvergenceWarning,
                stacklevel=3,  # the caller of fit
            )
        self._state, self._seed, self._moments = result.state, result.seed, result.moments
        coef, intercept = result.state.model()
        if config.loss.coupled:
            # The softmax is the same for intercepts shifted together (and they are not
            # penalized): report the centred ones, as the coefficients are at an l2 optimum.
            intercept = intercept - intercept.mean()
        self._multinomial = config.loss.coupled
        self._set_model(coef, intercept)
        if encoder is not None:
            self.encoder_ = encoder
        elif hasattr(self, "encoder_"):
            del self.encoder_
        prev_iter = getattr(self, "n_iter_", 0) if partial else 0
        self.n_iter_ = prev_iter + result.n_iter
        self.t_ = result.state.t + 1.0
        self.batch_size_ = result.batch_size
        self.n_workers_ = result.n_workers
        if partial and hasattr(self, "history_"):
            import pandas as pd

            self.history_ = pd.concat([self.history_, result.history], ignore_index=True)
        else:
            self.history_ = result.history

    def _set_model(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        raise NotImplementedError

    # -- prediction ---------------------------------------------------------------------

    def _coef2d(self) -> np.ndarray:
        coef = self.coef_.toarray() if sp.issparse(self.coef_) else self.coef_
        return np.atleast_2d(coef)

    def sparsify(self) -> "_BaseSGD":
        """Store ``coef_`` as a scipy.sparse CSR array.

        Worth it when most coefficients are zero (as an l1 penalty makes them): prediction and
        scores accept it, as scikit-learn's do.

        Returns
        -------
        self
            The estimator, its ``coef_`` sparse.
        """
        check_is_fitted(self, "coef_")
        self.coef_ = sp.csr_array(self._coef2d())
        return self

    def densify(self) -> "_BaseSGD":
        """Store ``coef_`` as a dense array again (a no-op unless :meth:`sparsify` was called).

        Returns
        -------
        self
            The estimator, its ``coef_`` dense, of the shape a fit gives it.
        """
        check_is_fitted(self, "coef_")
        if sp.issparse(self.coef_):
            dense = self.coef_.toarray()
            self.coef_ = dense[0] if isinstance(self, RegressorMixin) else dense
        return self

    def _decision(self, X: Any) -> Any:
        check_is_fitted(self, "coef_")
        coef, intercept = self._coef2d(), np.atleast_1d(self.intercept_)
        enc = self._encoder(X, reset=False)
        if enc is not None:
            X = enc.transform(X)  # checks the frame's columns
            if inputs.is_dask_collection(X):
                X = inputs.as_dask_matrix(X)[0]
            else:
                X = check_array(X, accept_sparse="csr", dtype=[np.float64, np.float32])
        elif inputs.is_dask_collection(X):
            X = self._check_X_dask(X, reset=False)
        elif is_device_array(X):
            X = self._check_device_X(X, reset=False)
        else:
            X = validate_data(
                self, X, accept_sparse="csr", dtype=[np.float64, np.float32], reset=False
            )
        K = coef.shape[0]
        return _per_block(
            _finite_block_decision if inputs.is_dask_collection(X) else _block_decision,
            X,
            coef,
            intercept,
            token="dasksgd-decision",
            # Margins come back as the chunks' kind of array (numpy for scipy.sparse chunks).
            meta=lambda m: to_like(np.empty((0, K)), m),
            chunks=lambda Z: (Z.chunks[0], (K,)),
        )


class SGDClassifier(ClassifierMixin, _BaseSGD):
    """Linear classifier trained by synchronous data-parallel mini-batch SGD on Dask.

    The model of :class:`sklearn.linear_model.SGDClassifier` (a linear model with a convex
    loss and an l2 / l1 / elastic-net penalty; one-vs-rest for more than two classes), or for
    the log loss with three or more classes that of :class:`sklearn.linear_model.LogisticRegression`
    (multinomial, see ``multi_class``), trained with mini-batches of ``batch_size`` rows. For
    dask collections the rows stay on the workers of the default :class:`distributed.Client`
    (or are computed here when there is none); in-memory data is trained in this process. All
    the classes advance in the same step.

    Read more in the :doc:`User Guide </user_guide>`; the gallery trains one on a
    ``LocalCluster`` (:doc:`/auto_examples/plot_local_cluster`).

    Parameters
    ----------
    loss : str, default="log_loss"
        "log_loss", "hinge", "modified_huber", "squared_hinge", "perceptron", or a regression
        loss ("squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive")
        applied to +-1 labels.
    multi_class : {"auto", "multinomial", "ovr"}, default="auto"
        The model of three or more classes. "multinomial": one softmax model over all the
        classes, minimizing the cross-entropy (``loss="log_loss"`` only): scikit-learn's
        ``LogisticRegression``. "ovr": one binary problem per class, scikit-learn's
        ``SGDClassifier`` (its probabilities are the binary ones normalized). "auto":
        multinomial for the log loss, one-vs-rest for the others. The default follows
        ``LogisticRegression`` rather than ``SGDClassifier``: the log loss is the default here,
        and its multinomial model is one model of all the classes, whose probabilities are that
        model's. Two classes make one logistic model either way.
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Regularization; l1 is applied by a proximal (soft-thresholding) step.
    alpha : float, default=1e-4
        Regularization strength.
    l1_ratio : float or None, default=0.15
        Elastic-net mixing, in [0, 1]; None only with another penalty than "elasticnet".
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept.
    max_iter : int, default=1000
        Maximum number of epochs (passes over the training rows).
    tol : float or None, default=1e-3
        Stop when the training objective (or the validation score with ``early_stopping``) has
        not improved by more than ``tol`` for ``n_iter_no_change`` epochs. None: run ``max_iter``
        epochs.
    shuffle : bool, default=True
        Permute every shard's rows at the start of each epoch.
    verbose : int, default=0
        1: a progress bar (tqdm; a widget in Jupyter) over the epochs, with the objective, the
        batch size and the step size, and on a cluster the link of the fit's dashboard page.
        2: also a line per epoch on stdout (and the "dasksgd" logger).
    epsilon : float, default=0.1
        Width of the huber / epsilon-insensitive losses.
    n_jobs : int or None, default=None
        Accepted as scikit-learn's (there, the processes that fit the one-vs-rest problems);
        it has no effect here: every class is fitted in each step together, and the
        parallelism is that of the Dask cluster's workers (or this process without one).
    random_state : int, RandomState or None, default=None
        Seeds the shuffles and the step-size estimate.
    learning_rate : {"auto", "optimal", "constant", "invscaling", "adaptive"}, default="auto"
        Per-sample step ``gamma_t``; a batch of ``B`` rows takes the mean step
        ``min(B * gamma_t / (1 + delta), 1 / L)``, with jumps ramped in over a few steps
        (warmup). "auto": ``gamma = 1 / L_max``, the safe step of one sample, so the step grows
        with the batch until the full-batch limit ``1 / L``. The others are scikit-learn's
        schedules.
    eta0 : float, default=0.0
        Initial rate for "constant", "invscaling" and "adaptive".
    power_t : float, default=0.5
        Exponent of "invscaling"; negative values are deprecated (a FutureWarning).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of every shard and stop on its accuracy.
    validation_fraction : float, default=0.1
        Fraction of rows held out with ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or decaying, for "adaptive").
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplying the sample weights.
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Report the average of the iterates (from the start, or after that many samples).
    batch_size : int or "auto", default="auto"
        Rows per step (the global mini-batch, split across shards by size). "auto": chosen from
        the gradient diversity of the data, ``B = delta * n * Delta(w) + 1``, re-estimated at
        every step from the batch's own statistics, between the batch that amortizes the
        measured per-step overhead and the full data (so training ends as full-batch descent).
    delta : float, default=1.0
        Slack of the batch-size rule; the step is scaled by ``1 / (1 + delta)``.
    precondition : bool, default=True
        Scale every feature by the inverse of its root mean square inside the optimizer (a
        diagonal preconditioner measured in one pass; the optimum, the coefficients returned and
        the sparsity of the data do not change). Makes the defaults work on unscaled data.
    trust_ratio : bool, default=False
        LARS's per-block trust ratios (You et al., 2017) on the mini-batch steps: each output's
        coefficients and each intercept take the step size times their weights' norm over
        their step's, relative to the largest ratio of their kind (so no block steps further
        than without them). Full-batch L-BFGS iterations are not affected. On the real data
        measured it does not help (see the user guide).
    fan_in : int, default=8
        Most partial sums a node of the reduction tree receives per step.
    streaming : "auto" or bool, default="auto"
        Dask input on a cluster: read ``X``'s rows from their source (the Parquet, Zarr, CSV
        or npy files the collection reads, or whatever computes its chunks) on every pass, a
        few partitions per worker at a time, instead of holding them in the workers' memory.
        "auto" streams when they would not fit it; False then raises a ``MemoryError`` that
        says so before any work. The targets and weights are held. Mini-batches are drawn
        from the partitions being read (see "Data larger than memory" in the cluster guide).
        Ignored for in-memory input.
    checkpoint : str or path-like, default=None
        File to which ``fit`` writes the model and the training state every
        ``checkpoint_every`` steps (atomically: a crash leaves the previous checkpoint or the new
        one). If the file exists when ``fit`` starts, the fit resumes from it and ends with the
        same model as an uninterrupted fit (bit for bit when the data are chunked the same way);
        a checkpoint of other features, labels, weights or parameters is refused with a
        ``ValueError``, and so is, at once, a path in a directory that does not exist. The
        file is removed when the fit finishes. It holds no pickle (an ``.npz`` and a JSON
        manifest): a file someone else put there is refused, never run.
        ``partial_fit`` ignores it.
    checkpoint_every : int, default=50
        Steps between checkpoints.
    categorical_features : "from_dtype", list of str or None, default="from_dtype"
        Columns of a pandas or dask DataFrame ``X`` to encode: "from_dtype" takes its
        ``category`` and string columns, a list also the columns it names (integer codes, say),
        None none (a column that is not numeric is then refused). Each becomes one-hot columns,
        one per category (sparse CSR chunks when they number more than 1024, computed on the
        workers), its categories taken from the dtype or, where it does not list them, found in
        one pass over the data. A missing value has all of its column's one-hot columns zero.
        Bool columns are always 0/1. ``encoder_`` keeps the encoding, so ``predict`` encodes
        new rows the same way.
    string_encoding : {"onehot", "hash"}, default="onehot"
        String columns: one-hot of their distinct values, or their ``column=value`` tokens
        hashed into 2**18 sparse columns (scikit-learn's ``FeatureHasher``: no pass over the
        data and no unseen value at ``predict``, but values that collide share a coefficient).
    handle_unknown : {"error", "ignore"}, default="error"
        A category ``predict`` meets that training did not: a ``ValueError`` naming the column,
        or all-zero one-hot columns (its rows then get the model's baseline for that column).

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_iter_ : int
        Epochs run.
    t_ : float
        Samples seen plus one, as scikit-learn.
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features, for dataframe input with string column names.
    encoder_ : TabularEncoder
        For a DataFrame with categorical or string columns only: the fitted encoding.
        ``encoder_.get_feature_names_out()`` names the columns of ``coef_`` (``"dest_JFK"``
        for a one-hot column); ``n_features_in_`` and ``feature_names_in_`` are the frame's
        columns before it.
    batch_size_ : int
        Batch size of the last step.
    n_workers_ : int
        Dask workers the last fit trained on (1 for a fit in this process).
    history_ : pandas.DataFrame
        One row per step: step, epoch, samples, batch_size, diversity (the smoothed estimate of
        ``Delta(w)`` from the batches), batch_bound (``delta * n * Delta + 1``), learning_rate
        (the mean-form step), loss (the batch's mean loss), time (seconds since the fit
        started); objective and validation_score are filled at the last step of each epoch.

    See Also
    --------
    SGDRegressor : The same engine for regression.
    sklearn.linear_model.SGDClassifier : The in-memory, per-sample reference.

    Examples
    --------
    >>> import numpy as np
    >>> from dasksgd import SGDClassifier
    >>> X = np.array([[-2.0, -1.0], [-1.0, -1.0], [1.0, 1.0], [2.0, 1.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> clf = SGDClassifier(random_state=0).fit(X, y)
    >>> clf.predict([[-0.8, -1.0]])
    array([0])
    """

    _parameter_constraints: dict = {
        **_BaseSGD._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES | REGRESSION_LOSSES))],
        "class_weight": [StrOptions({"balanced"}), dict, None],
        "n_jobs": [Integral, None],
        "multi_class": [StrOptions({"auto", "multinomial", "ovr"})],
    }

    def __init__(
        self,
        loss: str = "log_loss",
        *,
        multi_class: str = "auto",
        penalty: str | None = "l2",
        alpha: float = 1e-4,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        n_jobs: int | None = None,
        random_state: Any = None,
        learning_rate: str = "auto",
        eta0: float = 0.0,
        power_t: float = 0.5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        class_weight: Any = None,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int | str = "auto",
        delta: float = 1.0,
        precondition: bool = True,
        trust_ratio: bool = False,
        fan_in: int = 8,
        streaming: bool | str = "auto",
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 50,
        categorical_features: Any = "from_dtype",
        string_encoding: str = "onehot",
        handle_unknown: str = "error",
    ) -> None:
        self.loss = loss
        self.multi_class = multi_class
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size
        self.delta = delta
        self.precondition = precondition
        self.trust_ratio = trust_ratio
        self.fan_in = fan_in
        self.streaming = streaming
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.categorical_features = categorical_features
        self.string_encoding = string_encoding
        self.handle_unknown = handle_unknown

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.multi_class == "multinomial" and self.loss != "log_loss":
            raise ValueError(
                f"multi_class='multinomial' is the softmax model of the log loss; got "
                f"loss={self.loss!r}. Use loss='log_loss', or multi_class='ovr' for one binary "
                "problem per class."
            )

    def _engine_loss(self, spec: TargetSpec) -> str:
        if spec.n_outputs >= 3 and self.loss == "log_loss" and self.multi_class != "ovr":
            return "multinomial"
        return self.loss

    def _classes(self, y: Any) -> np.ndarray:
        if inputs.is_dask_collection(y):
            # scikit-learn's check on the distinct values (what decides the target's type): a
            # float target is "continuous", not as many classes as it has values; NaN is named.
            classes = inputs.label_counts(y)[0]
            check_classification_targets(classes)
            return classes
        check_classification_targets(y)
        return np.unique(y)

    def _class_weight(self, classes: np.ndarray, y: Any) -> np.ndarray | None:
        cw = self.class_weight
        if cw is None:
            return None
        if cw == "balanced":
            if inputs.is_dask_collection(y):
                found, n = inputs.label_counts(y)
                counts = np.array([n[found == c].sum() for c in classes], dtype=np.float64)
            else:
                counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
            return counts.sum() / (len(classes) * counts)
        unknown = [k for k in cw if k not in set(classes.tolist())]
        if unknown:
            raise ValueError(
                f"The classes, {unknown}, are not in class_weight's classes {classes.tolist()}."
            )
        weights = np.array([float(cw.get(c, 1.0)) for c in classes.tolist()])
        bad = {c: w for c, w in zip(classes.tolist(), weights) if not (np.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(
                f"class_weight must be finite and non-negative; got {bad}. A class's weight "
                "multiplies its rows' loss: give it a value >= 0 (0 ignores the class)."
            )
        return weights

    def fit(
        self,
        X: Any,
        y: Any,
        coef_init: Any = None,
        intercept_init: Any = None,
        sample_weight: Any = None,
    ) -> "SGDClassifier":
        """Fit the model by mini-batch SGD over ``max_iter`` epochs at most.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Training data.
        y : array-like or dask array of shape (n_samples,)
            Class labels (any hashable, sortable values).
        coef_init : array-like of shape (n_classes, n_features), optional
            The starting coefficients (``(n_features,)`` or ``(1, n_features)`` for two
            classes); it takes precedence over ``warm_start``.
        intercept_init : array-like of shape (n_classes,), optional
            The starting intercepts (``(1,)`` for two classes).
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights multiplying each sample's loss.

        Returns
        -------
        self : SGDClassifier
            The fitted estimator.
        """
        start = time.perf_counter()
        self._validate_params()
        X, y, sample_weight, enc = self._validate_input(X, y, sample_weight, reset=True)
        # On the dashboard from here: reading the data and counting the classes take time too.
        with live_report(X, repr(self)[:300], self.verbose) as report:
            X, y, sample_weight = inputs.persist(X, y, sample_weight, streaming=self.streaming)
            classes = self._classes(y)
            if len(classes) < 2:
                raise ValueError(
                    f"The number of classes has to be greater than one; got {len(classes)} class"
                )
            spec = TargetSpec(classes, self._class_weight(classes, y))
            init = self._initial_state(coef_init, intercept_init, int(X.shape[1]), spec.n_outputs)
            self._train(
                X,
                y,
                sample_weight,
                spec,
                partial=False,
                start=start,
                init=init,
                report=report,
                encoder=enc,
            )
        self.classes_ = classes
        return self

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> "SGDClassifier":
        """One epoch of mini-batch SGD over ``(X, y)``, the next chunk of a stream.

        It continues from the current model and the schedule's count of samples; the
        features are scaled by the column moments of every row the stream has given so far
        (see "partial_fit: SGD over a stream" in the user guide).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Training data.
        y : array-like or dask array of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), optional
            All classes; required on the first call.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights multiplying each sample's loss.

        Returns
        -------
        self : SGDClassifier
            The updated estimator.
        """
        start = time.perf_counter()
        first = not hasattr(self, "classes_")
        if first:
            self._validate_params()
        self._check_partial()
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            if self.class_weight == "balanced":
                raise ValueError(  # scikit-learn's words
                    "class_weight 'balanced' is not supported for partial_fit. In order to use "
                    "'balanced' weights, use compute_class_weight('balanced', classes=classes, "
                    "y=y). In place of y you can use a large enough sample of the full training "
                    "set target to properly estimate the class frequency distributions. Pass the "
                    "resulting weights as the class_weight parameter."
                )
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"`classes={list(np.unique(classes))}` is not the same as on last call to "
                f"partial_fit, was: {list(self.classes_)}"
            )
        X, y, sample_weight, enc = self._validate_input(X, y, sample_weight, reset=first)
        all_classes = np.unique(classes) if first else self.classes_
        if len(all_classes) < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {len(all_classes)} class"
            )
        if not inputs.is_dask_collection(y):
            check_classification_targets(y)
        spec = TargetSpec(all_classes, self._class_weight(all_classes, y))
        self._train(X, y, sample_weight, spec, partial=True, start=start, encoder=enc)
        self.classes_ = all_classes
        return self

    def _set_model(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef_ = np.ascontiguousarray(coef.T)
        self.intercept_ = intercept.copy()

    def decision_function(self, X: Any) -> Any:
        """Signed distance to the hyperplane of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples,) or (n_samples, n_classes)
            Margins (lazy for dask input).
        """
        Z = self._decision(X)
        return _first_column(Z) if Z.shape[1] == 1 else Z

    def predict(self, X: Any) -> Any:
        """Class label of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples,)
            Predicted labels (lazy for dask input).
        """
        Z = self._decision(X)  # checks that the model is fitted
        classes = self.classes_
        numeric = classes.dtype.kind in "iufb"
        return _per_block(
            _labels,
            Z,
            classes,
            token="dasksgd-predict",
            drop_axis=1,
            meta=lambda m: on_device_of(classes[:0], m) if numeric else classes[:0],
        )

    def _check_proba(self) -> bool:
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(f"probability estimates are not available for loss={self.loss!r}")
        return True

    @available_if(_check_proba)
    def predict_proba(self, X: Any) -> Any:
        """Probability of each class (log_loss and modified_huber losses).

        For a multinomial model, the softmax of the margins; for a one-vs-rest one, the binary
        probabilities normalized to sum to one, as scikit-learn's ``SGDClassifier`` does.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples, n_classes)
            Class probabilities (lazy for dask input).
        """
        Z = self._decision(X)  # checks that the model is fitted
        K = len(self.classes_)
        return _per_block(
            _proba,
            Z,
            "multinomial" if getattr(self, "_multinomial", False) else self.loss,
            K,
            token="dasksgd-predict-proba",
            chunks=lambda Z: (Z.chunks[0], (K,)),
        )

    @available_if(_check_proba)
    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples, n_classes)
            Log-probabilities (lazy for dask input).
        """
        return _per_block(_log, self.predict_proba(X), token="dasksgd-predict-log-proba")

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on ``(X, y)`` (computed on the cluster for dask input).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.
        y : array-like or dask array of shape (n_samples,)
            True labels.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights of the samples.

        Returns
        -------
        float
            Accuracy.
        """
        if inputs.is_dask_collection(X):
            return _dask_score(self.predict(X), X, y, sample_weight, accuracy=True)
        if is_device_array(X):  # the score is one number: computed on the host
            from sklearn.metrics import accuracy_score

            sw = None if sample_weight is None else to_numpy(sample_weight)
            return float(
                accuracy_score(
                    to_numpy(y, dtype=None), to_numpy(self.predict(X), dtype=None), sample_weight=sw
                )
            )
        return super().score(X, y, sample_weight=sample_weight)


class SGDRegressor(RegressorMixin, _BaseSGD):
    """Linear regression trained by synchronous data-parallel mini-batch SGD on Dask.

    The same model as :class:`sklearn.linear_model.SGDRegressor`, trained with mini-batches of
    ``batch_size`` rows; dask collections are trained on the workers of the default
    :class:`distributed.Client`, in-memory data in this process.

    Read more in the :doc:`User Guide </user_guide>` and :doc:`/cluster` (running on a
    cluster).

    Parameters
    ----------
    loss : str, default="squared_error"
        Loss of the residual: "squared_error", "huber", "epsilon_insensitive" or
        "squared_epsilon_insensitive".
    penalty : {"l2", "l1", "elasticnet"} or None, default="l2"
        Regularization; l1 is applied by a proximal (soft-thresholding) step.
    alpha : float, default=1e-4
        Regularization strength.
    l1_ratio : float or None, default=0.15
        Elastic-net mixing, in [0, 1]; None only with another penalty than "elasticnet".
    fit_intercept : bool, default=True
        Whether to fit an (unpenalized) intercept.
    max_iter : int, default=1000
        Maximum number of epochs.
    tol : float or None, default=1e-3
        Stop when the training objective (or the validation R^2 with ``early_stopping``) has not
        improved by more than ``tol`` for ``n_iter_no_change`` epochs. None: run ``max_iter``
        epochs.
    shuffle : bool, default=True
        Permute every shard's rows at the start of each epoch.
    verbose : int, default=0
        1: a progress bar (tqdm; a widget in Jupyter) over the epochs, with the objective, the
        batch size and the step size, and on a cluster the link of the fit's dashboard page.
        2: also a line per epoch on stdout (and the "dasksgd" logger).
    epsilon : float, default=0.1
        Width of the huber / epsilon-insensitive losses.
    random_state : int, RandomState or None, default=None
        Seeds the shuffles and the step-size estimate.
    learning_rate : {"auto", "invscaling", "constant", "optimal", "adaptive"}, default="auto"
        Per-sample step ``gamma_t``; a batch of ``B`` rows takes the mean step
        ``min(B * gamma_t / (1 + delta), 1 / L)`` (see :class:`SGDClassifier`).
    eta0 : float, default=0.01
        Initial rate for "constant", "invscaling" and "adaptive".
    power_t : float, default=0.25
        Exponent of "invscaling"; negative values are deprecated (a FutureWarning).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of every shard and stop on its R^2.
    validation_fraction : float, default=0.1
        Fraction of rows held out with ``early_stopping``.
    n_iter_no_change : int, default=5
        Epochs without improvement before stopping (or decaying, for "adaptive").
    warm_start : bool, default=False
        Start ``fit`` from the previous solution.
    average : bool or int, default=False
        Report the average of the iterates (from the start, or after that many samples).
    batch_size : int or "auto", default="auto"
        Rows per step (the global mini-batch, split across shards by size). "auto": chosen from
        the gradient diversity of the data, ``B = delta * n * Delta(w) + 1``, re-estimated at
        every step from the batch's own statistics, between the batch that amortizes the
        measured per-step overhead and the full data (so training ends as full-batch descent).
    delta : float, default=1.0
        Slack of the batch-size rule; the step is scaled by ``1 / (1 + delta)``.
    precondition : bool, default=True
        Scale every feature by the inverse of its root mean square inside the optimizer (a
        diagonal preconditioner measured in one pass; the optimum, the coefficients returned and
        the sparsity of the data do not change). Makes the defaults work on unscaled data.
    trust_ratio : bool, default=False
        LARS's per-block trust ratios (You et al., 2017) on the mini-batch steps: each output's
        coefficients and each intercept take the step size times their weights' norm over
        their step's, relative to the largest ratio of their kind (so no block steps further
        than without them). Full-batch L-BFGS iterations are not affected. On the real data
        measured it does not help (see the user guide).
    fan_in : int, default=8
        Most partial sums a node of the reduction tree receives per step.
    streaming : "auto" or bool, default="auto"
        Dask input on a cluster: read ``X``'s rows from their source (the Parquet, Zarr, CSV
        or npy files the collection reads, or whatever computes its chunks) on every pass, a
        few partitions per worker at a time, instead of holding them in the workers' memory.
        "auto" streams when they would not fit it; False then raises a ``MemoryError`` that
        says so before any work. The targets and weights are held. Mini-batches are drawn
        from the partitions being read (see "Data larger than memory" in the cluster guide).
        Ignored for in-memory input.
    checkpoint : str or path-like, default=None
        File to which ``fit`` writes the model and the training state every
        ``checkpoint_every`` steps (atomically: a crash leaves the previous checkpoint or the new
        one). If the file exists when ``fit`` starts, the fit resumes from it and ends with the
        same model as an uninterrupted fit (bit for bit when the data are chunked the same way);
        a checkpoint of other features, labels, weights or parameters is refused with a
        ``ValueError``, and so is, at once, a path in a directory that does not exist. The
        file is removed when the fit finishes. It holds no pickle (an ``.npz`` and a JSON
        manifest): a file someone else put there is refused, never run.
        ``partial_fit`` ignores it.
    checkpoint_every : int, default=50
        Steps between checkpoints.
    categorical_features : "from_dtype", list of str or None, default="from_dtype"
        Columns of a pandas or dask DataFrame ``X`` to encode: "from_dtype" takes its
        ``category`` and string columns, a list also the columns it names (integer codes, say),
        None none (a column that is not numeric is then refused). Each becomes one-hot columns,
        one per category (sparse CSR chunks when they number more than 1024, computed on the
        workers), its categories taken from the dtype or, where it does not list them, found in
        one pass over the data. A missing value has all of its column's one-hot columns zero.
        Bool columns are always 0/1. ``encoder_`` keeps the encoding, so ``predict`` encodes
        new rows the same way.
    string_encoding : {"onehot", "hash"}, default="onehot"
        String columns: one-hot of their distinct values, or their ``column=value`` tokens
        hashed into 2**18 sparse columns (scikit-learn's ``FeatureHasher``: no pass over the
        data and no unseen value at ``predict``, but values that collide share a coefficient).
    handle_unknown : {"error", "ignore"}, default="error"
        A category ``predict`` meets that training did not: a ``ValueError`` naming the column,
        or all-zero one-hot columns (its rows then get the model's baseline for that column).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients.
    intercept_ : ndarray of shape (1,)
        Intercept.
    n_iter_ : int
        Epochs run.
    t_ : float
        Samples seen plus one.
    n_features_in_ : int
        Number of features.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features, for dataframe input with string column names.
    encoder_ : TabularEncoder
        For a DataFrame with categorical or string columns only: the fitted encoding.
        ``encoder_.get_feature_names_out()`` names the columns of ``coef_`` (``"dest_JFK"``
        for a one-hot column); ``n_features_in_`` and ``feature_names_in_`` are the frame's
        columns before it.
    batch_size_ : int
        Batch size of the last step.
    n_workers_ : int
        Dask workers the last fit trained on (1 for a fit in this process).
    history_ : pandas.DataFrame
        One row per step (see :class:`SGDClassifier`).

    See Also
    --------
    SGDClassifier : The same engine for classification.
    sklearn.linear_model.SGDRegressor : The in-memory, per-sample reference.

    Examples
    --------
    >>> import numpy as np
    >>> from dasksgd import SGDRegressor
    >>> X = np.arange(20.0).reshape(10, 2) / 10
    >>> y = X @ np.array([1.0, 2.0]) + 0.5
    >>> reg = SGDRegressor(alpha=0.0, tol=None, max_iter=500, random_state=0).fit(X, y)
    >>> float(round(reg.score(X, y), 3))
    1.0
    """

    _parameter_constraints: dict = {
        **_BaseSGD._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
    }

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        penalty: str | None = "l2",
        alpha: float = 1e-4,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        random_state: Any = None,
        learning_rate: str = "auto",
        eta0: float = 0.01,
        power_t: float = 0.25,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int | str = "auto",
        delta: float = 1.0,
        precondition: bool = True,
        trust_ratio: bool = False,
        fan_in: int = 8,
        streaming: bool | str = "auto",
        checkpoint: str | os.PathLike | None = None,
        checkpoint_every: int = 50,
        categorical_features: Any = "from_dtype",
        string_encoding: str = "onehot",
        handle_unknown: str = "error",
    ) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size
        self.delta = delta
        self.precondition = precondition
        self.trust_ratio = trust_ratio
        self.fan_in = fan_in
        self.streaming = streaming
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.categorical_features = categorical_features
        self.string_encoding = string_encoding
        self.handle_unknown = handle_unknown

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(
        self,
        X: Any,
        y: Any,
        coef_init: Any = None,
        intercept_init: Any = None,
        sample_weight: Any = None,
    ) -> "SGDRegressor":
        """Fit the model by mini-batch SGD over ``max_iter`` epochs at most.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Training data.
        y : array-like or dask array of shape (n_samples,)
            Targets.
        coef_init : array-like of shape (n_features,), optional
            The starting coefficients; it takes precedence over ``warm_start``.
        intercept_init : array-like of shape (1,), optional
            The starting intercept.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights multiplying each sample's loss.

        Returns
        -------
        self : SGDRegressor
            The fitted estimator.
        """
        start = time.perf_counter()
        self._validate_params()
        X, y, sample_weight, enc = self._validate_input(X, y, sample_weight, reset=True)
        init = self._initial_state(coef_init, intercept_init, int(X.shape[1]), 1)
        self._train(
            X, y, sample_weight, TargetSpec(), partial=False, start=start, init=init, encoder=enc
        )
        return self

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "SGDRegressor":
        """One epoch of mini-batch SGD over ``(X, y)``, the next chunk of a stream.

        It continues from the current model and the schedule's count of samples; the
        features are scaled by the column moments of every row the stream has given so far
        (see "partial_fit: SGD over a stream" in the user guide).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Training data.
        y : array-like or dask array of shape (n_samples,)
            Targets.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights multiplying each sample's loss.

        Returns
        -------
        self : SGDRegressor
            The updated estimator.
        """
        start = time.perf_counter()
        first = not hasattr(self, "coef_")
        if first:
            self._validate_params()
        self._check_partial()
        X, y, sample_weight, enc = self._validate_input(X, y, sample_weight, reset=first)
        self._train(X, y, sample_weight, TargetSpec(), partial=True, start=start, encoder=enc)
        return self

    def _set_model(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.coef_ = coef[:, 0].copy()
        self.intercept_ = intercept.copy()

    def predict(self, X: Any) -> Any:
        """Predicted target of each sample.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        ndarray or dask array of shape (n_samples,)
            Predictions (lazy for dask input).
        """
        return _first_column(self._decision(X))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 on ``(X, y)`` (computed on the cluster for dask input).

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask dataframe} of shape (n_samples, n_features)
            Samples.
        y : array-like or dask array of shape (n_samples,)
            True targets.
        sample_weight : array-like or dask array of shape (n_samples,), optional
            Weights of the samples.

        Returns
        -------
        float
            R^2.
        """
        if inputs.is_dask_collection(X):
            return _dask_score(self.predict(X), X, y, sample_weight, accuracy=False)
        if is_device_array(X):  # the score is one number: computed on the host
            from sklearn.metrics import r2_score

            sw = None if sample_weight is None else to_numpy(sample_weight)
            return float(r2_score(to_numpy(y), to_numpy(self.predict(X)), sample_weight=sw))
        return super().score(X, y, sample_weight=sample_weight)


def _column0(Z: Any) -> Any:
    return Z[:, 0]


def _first_column(Z: Any) -> Any:
    """``Z[:, 0]``; for dask, block by block (dask's own indexing needs numpy-like chunks)."""
    return _per_block(
        _column0, Z, token="dasksgd-column", drop_axis=1, meta=lambda m: to_like(np.empty(0), m)
    )


def _labels(Z: Any, classes: np.ndarray) -> Any:
    """The class of each row of margins, as an array of ``Z``'s kind (numeric classes) or a
    numpy array (other labels, which no device holds)."""
    from array_api_compat import array_namespace, device

    xp = array_namespace(Z)
    idx = xp.astype(Z[:, 0] > 0, xp.int64) if Z.shape[1] == 1 else xp.argmax(Z, axis=1)
    if classes.dtype.kind in "iufb":
        return xp.take(xp.asarray(classes, device=device(Z)), idx)
    return classes[to_numpy(idx, dtype=np.intp)]


def _proba(Z: Any, loss: str, K: int) -> Any:
    """Class probabilities from margins (one-vs-rest, normalized), in ``Z``'s namespace."""
    from array_api_compat import array_namespace

    xp = array_namespace(Z)
    if loss == "multinomial":
        e = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
        return e / xp.sum(e, axis=1, keepdims=True)
    if loss == "log_loss":
        e = xp.exp(-xp.abs(Z))
        P = xp.where(Z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    else:  # modified_huber
        P = (xp.clip(Z, min=-1.0, max=1.0) + 1.0) / 2.0
    if K == 2:
        return xp.concat([1.0 - P, P], axis=1)
    s = xp.sum(P, axis=1, keepdims=True)
    zero = s == 0
    return xp.where(zero, 1.0 / K, P) / xp.where(zero, 1.0, s)


def _log(P: Any) -> Any:
    from array_api_compat import array_namespace

    with np.errstate(divide="ignore"):  # log(0) = -inf, as scikit-learn
        return array_namespace(P).log(P)


def _score_sums(pred: Any, y: Any, w: Any, accuracy: bool) -> np.ndarray:
    """One block's sums for a score (:func:`dasksgd.metrics.score_sums`), on the host."""
    pred, y = to_numpy(pred, dtype=None), to_numpy(y, dtype=None)
    w = np.ones(pred.shape[0]) if w is None else to_numpy(w)
    return score_sums(y if accuracy else y.astype(np.float64), pred, w, accuracy=accuracy)


def _dask_score(pred, X, y, sample_weight, *, accuracy: bool) -> float:
    """Accuracy or R^2 of lazy predictions: one named task per block, the sums added here."""
    yd = inputs.as_dask_vector(y, pred[:, None] if pred.ndim == 1 else pred, "y")
    sw = inputs.as_dask_vector(sample_weight, pred[:, None], "sample_weight")
    k = 4
    arrays = [pred, yd] + ([] if sw is None else [sw])

    def block(p, t, w=None):
        return _score_sums(p, t, w, accuracy)

    # One graph for the blocks of all three arrays (separately optimized graphs would give the
    # user's chunks two different task specs under one key).
    sums = pred.map_blocks(
        block,
        *arrays[1:],
        chunks=((k,) * pred.numblocks[0],),
        dtype=np.float64,
        meta=np.empty(0),
        token="dasksgd-score",
    ).compute()
    return score_from_sums(np.asarray(sums).reshape(-1, k).sum(axis=0), accuracy=accuracy)
