"""The worker-side actor, run in this process: where its arithmetic runs, and its wire format."""

import asyncio
import pickle
import threading

import numpy as np

from dasksgd.engine.cluster import ShardHolder
from dasksgd.engine.shards import ShardOptions, TargetSpec
from dasksgd.engine.transport import pack as _pack
from dasksgd.losses import get_loss


def _holder(n=100_000, d=5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return ShardHolder(
        [0],
        [X],
        [y],
        [None],
        TargetSpec(np.array([-1.0, 1.0])),
        get_loss("log_loss"),
        ShardOptions(fit_intercept=True, shuffle=True, seed=0, validation_fraction=0.0),
        total_shards=1,
    )


def test_short_steps_run_on_the_event_loop_and_long_ones_off_it():
    holder = _holder()
    where = []
    step = holder.shardset.step

    def recorded(*args):
        where.append(threading.current_thread() is threading.main_thread())
        return step(*args)

    holder.shardset.step = recorded
    W, b, n = np.zeros((5, 1)), np.zeros(1), 100_000

    async def run(lo, hi):
        return pickle.loads(await holder.run(_pack(("step", (W, b, 0, lo, hi, n), [])))).total()

    async def small_steps():
        # One event loop, as on a worker (a new loop per step would start a new thread for
        # every threaded step, and on a loaded machine that alone outlasts the inline limit).
        return [(await run(16 * i, 16 * (i + 1))).count for i in range(6)]

    assert asyncio.run(small_steps()) == [16] * 6  # the first (nothing measured) in a thread
    assert where[0] is False
    assert any(where[1:])  # once a small step was measured, small steps run inline
    out = asyncio.run(run(0, n))  # ~100k rows: far longer than the inline limit
    assert out.count == n and where[-1] is False
    assert holder.calls["step"] == 7


def test_results_are_what_the_shards_compute():
    holder = _holder(n=1000)
    W, b = np.full((5, 1), 0.1), np.zeros(1)
    got = pickle.loads(
        asyncio.run(holder.run(_pack(("step", (W, b, 0, 0, 1000, 1000), []))))
    ).total()
    want = holder.shardset.step(W, b, 0, 0, 1000, 1000).total()  # per shard, summed at the root
    np.testing.assert_array_equal(got.grad_coef, want.grad_coef)
    assert got.loss == want.loss and got.count == 1000
