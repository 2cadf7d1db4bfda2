"""The in-process backend: all shards in this process, no cluster.

Used when there is no :class:`distributed.Client` (or the data is in memory), so that small fits
inside a grid search or scikit-learn's estimator checks cost no scheduling at all. It runs the
same :class:`~dasksgd.engine.shards.ShardSet` code as every worker of a cluster.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..losses import Loss
from .backend import Backend
from .shards import SHARD_OVERHEAD, ShardOptions, TargetSpec, build_shardset, check_weights

__all__ = ["LocalBackend"]


class LocalBackend(Backend):
    """Runs the loop's requests on a :class:`ShardSet` in this process.

    Its ``step_overhead`` (modelled seconds of Python bookkeeping per step, and the fixed cost
    of every shard) sets, with the cost of a row, the smallest batch of ``batch_size="auto"``.

    Parameters
    ----------
    parts : sequence of (X, y, sample_weight)
        The shards, in order.
    spec : TargetSpec
        How targets are encoded.
    loss : Loss
        The loss.
    fit_intercept, shuffle, seed, validation_fraction
        As for :class:`ShardSet` and :func:`prepare_shard`.
    shapes : sequence of (rows, columns), optional
        The shape a dask array declared for each part, checked against the data.
    """

    def __init__(
        self,
        parts: Sequence[tuple[Any, Any, Any]],
        spec: TargetSpec,
        loss: Loss,
        *,
        fit_intercept: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        validation_fraction: float = 0.0,
        shapes: Sequence[tuple[int, int]] | None = None,
    ) -> None:
        options = ShardOptions(fit_intercept, shuffle, seed, validation_fraction)
        self.shardset = build_shardset(range(len(parts)), parts, spec, loss, options, shapes=shapes)
        info = self.shardset.info()
        check_weights(info["weight"], sum(info["n_val"]), info["val_weight"])
        self.n_train = sum(info["n_train"])
        self.n_val = sum(info["n_val"])
        self.n_workers = 1
        self.work_per_row = info["work"] / max(self.n_train, 1)

    @property
    def step_overhead(self) -> float:
        """Seconds of bookkeeping per step (~0.1 ms of Python in the loop, and the fixed cost of
        every shard): a cost model, not a timing, so that fits are reproducible."""
        return 1e-4 + SHARD_OVERHEAD * len(self.shardset.shards)

    def call(self, op: str, *args: Any) -> Any:
        """Run ``op`` on every shard and return the sum."""
        return getattr(self.shardset, op)(*args)

    def close(self) -> None:
        self.shardset = None
