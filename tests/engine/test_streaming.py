"""The streamed shards (engine/streaming.py) against the same shards held in memory."""

import dask.array as da
import numpy as np
import pytest

from dasksgd.diversity import batch_diversity
from dasksgd.engine.shards import ShardOptions, TargetSpec, build_shardset
from dasksgd.engine.streaming import CACHED, StreamingShardSet, chunk_sources
from dasksgd.engine.tree import ByShard
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty

LOSS = get_loss("log_loss")
SPEC = TargetSpec(np.array([0, 1]))


def _data(sort=False, n=6000, d=5, chunk=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + 0.5
    y = (X @ np.arange(1.0, d + 1) + rng.standard_normal(n) > 2.0).astype(int)
    if sort:  # every partition of one class: partitions unlike each other
        order = np.argsort(y, kind="stable")
        X, y = X[order], y[order]
    return X, y, chunk


OPTIONS = ShardOptions(seed=3)


def _sets(X, y, chunk, options=OPTIONS):
    Xd = da.from_array(X, chunks=(chunk, X.shape[1]))
    sources = chunk_sources(Xd)
    P = len(sources)
    ys = [y[i * chunk : (i + 1) * chunk] for i in range(P)]
    held = build_shardset(
        range(P), [(X[i * chunk : (i + 1) * chunk], ys[i], None) for i in range(P)], SPEC, LOSS,
        options, total_shards=P,
    )  # fmt: skip
    streamed = StreamingShardSet(range(P), sources, ys, [None] * P, SPEC, LOSS, options, P)
    return held, streamed


def _total(r):
    return r.total() if isinstance(r, ByShard) else r


def test_full_passes_are_the_held_shards_sums_bit_for_bit():
    X, y, chunk = _data()
    held, streamed = _sets(X, y, chunk)
    coef, b = np.linspace(-1, 1, X.shape[1])[:, None], np.array([0.2])
    for ss in (held, streamed):
        ss.column_sums(7)
    np.testing.assert_array_equal(_total(streamed.column_sums(1)), _total(held.column_sums(1)))
    inv, mean = 1.0 / X.var(axis=0), X.mean(axis=0)
    a, e = _total(held.set_scale(inv, mean)), _total(streamed.set_scale(inv, mean))
    assert a.largest == e.largest and np.array_equal(a.sq_sums, e.sq_sums)
    v = np.append(coef[:, 0], 1.0)
    for op, args in [("objective", (coef, b)), ("gram", (3,)), ("gram_matvec", (v, 1))]:
        np.testing.assert_array_equal(
            _total(getattr(streamed, op)(*args)), _total(getattr(held, op)(*args))
        )
    n = held.n_rows
    s1 = _total(held.step(coef, b, 0, 0, n, n)), _total(streamed.step(coef, b, 0, 0, n, n))
    np.testing.assert_array_equal(s1[0].grad_coef, s1[1].grad_coef)
    assert s1[0].sqnorm == s1[1].sqnorm  # the row norms of the plan's pass were kept
    # Bounded: never more than CACHED shards held and one read ahead; a pass reads each shard
    # once, less those still held.
    assert streamed.peak_cached <= CACHED + 1
    P = len(streamed.indices)
    assert streamed.n_reads <= 6 * P
    before = streamed.n_reads
    streamed.objective(coef, b)
    assert streamed.n_reads - before == P - CACHED
    streamed.close()


@pytest.mark.parametrize("B", [37, 500, 1700])
def test_an_epoch_of_windows_uses_every_row_once(B):
    X, y, chunk = _data()
    held, streamed = _sets(X, y, chunk)
    coef, b = np.full((X.shape[1], 1), 0.1), np.array([-0.1])
    n = streamed.n_rows
    full = _total(held.step(coef, b, 0, 0, n, n))
    for epoch in (0, 1):
        parts = [_total(streamed.step(coef, b, epoch, a, min(a + B, n), n)) for a in range(0, n, B)]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        assert total.count == n
        np.testing.assert_allclose(total.grad_coef, full.grad_coef, rtol=1e-10)
        np.testing.assert_allclose(total.loss, full.loss, rtol=1e-12)
        # A window is drawn from one or two partitions of the epoch's order, not from all.
        assert streamed.peak_cached <= CACHED + 1
    assert streamed.n_reads <= 2 * len(streamed.indices) + 2  # each shard about once an epoch
    streamed.close()


def _n_delta(ss, B, coef, b):
    n, penalty = ss.n_rows, get_penalty("l2", 1e-4)
    ss.set_scale(np.ones(coef.shape[0]), None)  # the row norms the estimate needs
    sq, gs = [], []
    for a in range(0, n - B + 1, B):
        st = _total(ss.step(coef, b, 0, a, a + B, n))
        m, g = batch_diversity(st, penalty, coef, n)
        sq.append(m)
        gs.append(g)
    return np.mean(sq) / np.mean(gs)


def test_the_diversity_estimate_is_the_held_ones_on_alike_partitions_and_lower_otherwise():
    # What drawing a batch from the partitions being read does to the estimate of n * Delta:
    # on partitions alike (shuffled data) nothing much; on partitions unlike each other
    # (sorted by class) the batch gradients vary more than uniform batches', so it is lower
    # and the batch-size rule takes smaller batches: conservative.
    coef, b = np.zeros((5, 1)), np.zeros(1)
    X, y, chunk = _data()
    held, streamed = _sets(X, y, chunk)
    a, e = _n_delta(held, 200, coef, b), _n_delta(streamed, 200, coef, b)
    assert 0.7 < e / a < 1.4
    X, y, chunk = _data(sort=True)
    held, streamed = _sets(X, y, chunk)
    a, e = _n_delta(held, 200, coef, b), _n_delta(streamed, 200, coef, b)
    assert e < 0.8 * a  # 0.67 here
