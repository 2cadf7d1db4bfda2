import numpy as np
import pytest

from dasksgd.engine.shards import ShardSet, TargetSpec, prepare_shard
from dasksgd.losses import get_loss
from dasksgd.statistics import gradient_statistics, row_sq_norms


def _shardset(sizes, shuffle=True, seed=0, d=3):
    rng = np.random.default_rng(0)
    parts, start = [], 0
    for i, n in enumerate(sizes):
        # Column 0 holds the global row id so we can see which rows a step used.
        X = np.column_stack(
            [np.arange(start, start + n, dtype=float), rng.standard_normal((n, d - 1))]
        )
        y = rng.standard_normal(n)
        parts.append(prepare_shard(i, X, y, None, TargetSpec()))
        start += n
    return ShardSet(parts, get_loss("squared_error"), shuffle=shuffle, seed=seed)


@pytest.mark.parametrize("B", [1, 7, 50, 1000])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("block", [3, 16, 4096])
def test_epoch_uses_every_row_once(B, shuffle, block):
    sizes = [40, 17, 100, 3]
    ss = _shardset(sizes, shuffle=shuffle)
    for s in ss.shards:
        s.block = block
    n = sum(sizes)
    # The gradient of 0.5 (z - y)^2 at w = 0, b = 0 with y replaced: use the rows themselves.
    seen = []
    for s in ss.shards:
        s.Y = s.X[:, :1].copy()  # y = row id, so grad_intercept = -sum of row ids used
    counts = 0
    for pos in range(0, n, B):
        st = ss.step(np.zeros((3, 1)), np.zeros(1), 0, pos, min(pos + B, n), n)
        counts += st.count
        seen.append(-st.grad_intercept[0])
        if B < n:
            assert abs(st.count - (min(pos + B, n) - pos)) <= len(sizes)  # proportional split
    assert counts == n
    assert sum(seen) == pytest.approx(n * (n - 1) / 2)  # every row id exactly once


def _row_ids_by_step(ss, epoch, B, n):
    """Row ids (column 0) each step of an epoch used, via y = row id and the intercept gradient."""
    ids = []
    for s in ss.shards:
        s.Y = s.X[:, :1].copy()
    for pos in range(0, n, B):
        st = ss.step(np.zeros((3, 1)), np.zeros(1), epoch, pos, min(pos + B, n), n)
        ids.append(-st.grad_intercept[0])
    return ids


def test_shuffle_is_seeded_and_changes_per_epoch():
    a, b = _shardset([30, 30], seed=1), _shardset([30, 30], seed=1)
    for ss in (a, b):
        for s in ss.shards:
            s.block = 4  # several blocks per shard, so that epochs reorder them
    ids_a0, ids_b0 = _row_ids_by_step(a, 0, 6, 60), _row_ids_by_step(b, 0, 6, 60)
    assert ids_a0 == ids_b0  # same seed, same batches
    ids_a1 = _row_ids_by_step(a, 1, 6, 60)
    assert ids_a1 != ids_a0  # another epoch, other batches
    assert sum(ids_a1) == sum(ids_a0) == 60 * 59 / 2  # every row once per epoch
    # The rows themselves are never moved or copied at load.
    assert np.array_equal(a.shards[0].X[:, 0], np.arange(30))


def test_shards_are_not_copied_at_load():
    X = np.arange(40.0).reshape(20, 2)
    s = prepare_shard(0, X, np.zeros(20), None, TargetSpec())
    ss = ShardSet([s], get_loss("squared_error"))
    assert np.shares_memory(ss.shards[0].X, X)


def test_full_pass_equals_direct_computation():
    ss = _shardset([10, 20])
    W, b = np.ones((3, 1)), np.array([0.5])
    full = ss.step(W, b, 0, 0, 30, 30)  # one step over every row
    X = np.vstack([s.X for s in ss.shards])
    Y = np.vstack([s.Y for s in ss.shards])
    ref = gradient_statistics(X, Y, W, b, get_loss("squared_error"), row_norms=row_sq_norms(X))
    np.testing.assert_allclose(full.grad_coef, ref.grad_coef)
    assert full.loss == pytest.approx(ref.loss)


def test_gram_matvec():
    ss = _shardset([10, 20])
    X = np.vstack([s.X for s in ss.shards])
    Xt = np.column_stack([X, np.ones(len(X))])
    v = np.arange(4.0)
    out = ss.gram_matvec(v, 1)
    np.testing.assert_allclose(out[:-1], Xt.T @ (Xt @ v))
    assert out[-1] == 30


@pytest.mark.parametrize(
    "X, y, sw, match",
    [
        (np.ones((2, 2)), [1.0], None, r"inconsistent numbers of samples: \[2, 1\] \(shard 4\)"),
        (np.ones((1, 2)), [np.nan], None, r"Input y contains NaN"),
        (np.ones((1, 2)), [1.0], [-1.0], r"Negative values in data passed to sample_weight"),
    ],
)
def test_bad_shards_are_named(X, y, sw, match):
    with pytest.raises(ValueError, match=match):
        prepare_shard(4, X, np.asarray(y), None if sw is None else np.asarray(sw), TargetSpec())


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.nan, r"Input X contains NaN \(shard 4\)"),
        (np.inf, r"Input X contains infinity or a value too large \(shard 4\)"),
        (1e200, r"Input X contains values too large .*\(shard 4\)"),
    ],
)
@pytest.mark.parametrize("in_sample", [False, True])
def test_bad_values_of_dense_rows_are_named_by_the_plans_pass(bad, match, in_sample):
    # Dense numpy rows are checked by set_scale (their first pass). A bad value in the sample the
    # scaling comes from spoils the scaling of every shard: only the shard holding it is named.
    rng = np.random.default_rng(0)
    good = prepare_shard(
        0, rng.standard_normal((30, 3)), rng.standard_normal(30), None, TargetSpec()
    )
    X = rng.standard_normal((30, 3))
    X[0 if in_sample else 7, 1] = bad
    ss = ShardSet(
        [good, prepare_shard(4, X, rng.standard_normal(30), None, TargetSpec())],
        get_loss("squared_error"),
    )
    sums = ss.column_sums(5)  # rows 0, 5, 10, ... of each shard
    mean, sq, count = sums[:3] / sums[-1], sums[3:6], sums[-1]
    with np.errstate(all="ignore"):
        inv2 = 1.0 / np.where(np.isfinite(sq), sq / count - mean**2, 1.0)
    with pytest.raises(ValueError, match=match):
        ss.set_scale(inv2, mean)
    # The good shard alone, with the spoiled scaling: nothing of its own to refuse.
    out = ShardSet([good], get_loss("squared_error")).set_scale(inv2, mean)
    assert out.count == 30


@pytest.mark.parametrize("layout", ["dense", "csr", "csr after column_sums"])
def test_set_scale_measures_the_rows_in_the_new_coordinates(layout):
    import scipy.sparse as sp

    ss = _shardset([40, 17, 100])
    X = np.vstack([s.X for s in ss.shards])
    if layout != "dense":
        for s in ss.shards:
            s.X = sp.csr_matrix(np.where(np.abs(s.X) < 0.5, 0.0, s.X))
        X = np.vstack([s.X.toarray() for s in ss.shards])
        if layout == "csr after column_sums":
            ss.column_sums()  # kept by the shards; set_scale derives its sums from them
            assert all(s.columns is not None for s in ss.shards)
    rng = np.random.default_rng(1)
    mean, inv2 = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    out = ss.set_scale(inv2, mean)
    T2 = (X - mean) ** 2 * inv2  # brute force
    assert out.count == len(X)
    assert out.largest == pytest.approx(T2.sum(axis=1).max(), rel=1e-12)
    np.testing.assert_allclose(out.sq_sums, T2.sum(axis=0), rtol=1e-10)
    np.testing.assert_allclose(
        np.concatenate([s.norms for s in ss.shards]), T2.sum(axis=1), rtol=1e-10
    )


def test_column_sums_of_all_rows_and_of_a_sample():
    ss = _shardset([40, 17, 100])
    X = np.vstack([s.X for s in ss.shards])
    full = ss.column_sums()
    np.testing.assert_allclose(
        full, np.concatenate([X.sum(0), (X * X).sum(0), [len(X)]]), rtol=1e-12
    )
    S = np.vstack([s.X[::7] for s in ss.shards])  # every 7th row of each shard
    np.testing.assert_allclose(
        ss.column_sums(7), np.concatenate([S.sum(0), (S * S).sum(0), [len(S)]]), rtol=1e-12
    )


def test_unknown_label():
    spec = TargetSpec(classes=np.array(["a", "b"]))
    with pytest.raises(ValueError, match=r"y contains labels \['c'\] that are not in classes"):
        prepare_shard(0, np.ones((2, 1)), np.array(["a", "c"]), None, spec)


def test_encoding_and_class_weight():
    spec = TargetSpec(classes=np.array([3, 5, 9]), class_weight=np.array([1.0, 2.0, 4.0]))
    s = prepare_shard(0, np.ones((3, 1)), np.array([9, 3, 5]), np.array([1.0, 1.0, 0.5]), spec)
    np.testing.assert_array_equal(s.Y, [[-1, -1, 1], [1, -1, -1], [-1, 1, -1]])
    np.testing.assert_array_equal(s.sw, [4.0, 1.0, 1.0])
    binary = prepare_shard(
        0, np.ones((2, 1)), np.array(["n", "p"]), None, TargetSpec(np.array(["n", "p"]))
    )
    np.testing.assert_array_equal(binary.Y[:, 0], [-1, 1])


def test_input_not_modified():
    X = np.arange(12.0).reshape(6, 2)
    y = np.arange(6.0)
    X0, y0 = X.copy(), y.copy()
    s = prepare_shard(0, X, y, None, TargetSpec(), validation_fraction=0.3, seed=3)
    ss = ShardSet([s], get_loss("squared_error"), seed=3)
    ss.step(np.ones((2, 1)), np.zeros(1), 0, 0, 4, 4)
    ss.set_epoch(1)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    assert s.X.shape[0] == 4 and s.X_val.shape[0] == 2


@pytest.mark.parametrize("gram_features", [1024, 0])  # the Gram matrix, or power iteration
def test_scale_and_plan_against_numpy(gram_features, monkeypatch):
    import dasksgd.engine.plan as plan_module

    monkeypatch.setattr(plan_module, "GRAM_FEATURES", gram_features)
    from dasksgd.engine import LocalBackend, TrainConfig, make_plan
    from dasksgd.penalties import get_penalty
    from dasksgd.schedules import LearningRate

    rng = np.random.default_rng(2)
    X = rng.standard_normal((3000, 4)) * np.array([0.01, 1.0, 30.0, 1.0])
    X[:, 3] = 0.0  # an empty column keeps scale 1
    y = np.where(rng.random(3000) < 0.5, -1.0, 1.0)
    loss = get_loss("log_loss")
    backend = LocalBackend(
        [(X[:1000], y[:1000], None), (X[1000:], y[1000:], None)],
        TargetSpec(np.array([-1.0, 1.0])),
        loss,
    )
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-3),
        schedule=LearningRate(kind="auto", eta0=0.0, power_t=0.5, alpha=1e-3, loss=loss),
    )
    plan = make_plan(backend, config, 4)
    var = X.var(axis=0)
    # Jacobi: the square root of curvature * var + alpha, over the curvature (0.25 for log loss).
    expected = np.where(var > 0, np.sqrt(var + 1e-3 / 0.25), 1.0)
    np.testing.assert_allclose(plan.precond.scale, expected, rtol=1e-10)
    np.testing.assert_allclose(plan.precond.mean, X.mean(axis=0), rtol=1e-10, atol=1e-15)
    Z = (X - X.mean(axis=0)) / plan.precond.scale  # standardized, as the optimizer sees it
    Xs = np.column_stack([Z, np.ones(3000)])
    lam = np.linalg.eigvalsh(Xs.T @ Xs / 3000)[-1]
    l2 = 1e-3 / plan.precond.scale.min() ** 2
    # Power iteration stops at a 1e-3 relative change; on this near-flat spectrum that is ~1%.
    assert 1.0 / plan.max_step == pytest.approx(
        0.25 * lam + l2, rel=1e-10 if gram_features else 2e-2
    )
    assert plan.gamma == pytest.approx(1.0 / (0.25 * np.max(np.sum(Xs**2, axis=1)) + l2))
    expected_bmin = int(np.ceil(backend.step_overhead / (4.0 * 5e-9 * 4)))
    assert plan.b_min == min(expected_bmin, 3000)
    # The row norms the diversity uses are now those of the scaled rows.
    norms = np.concatenate([s.norms for s in backend.shardset.shards])
    np.testing.assert_allclose(np.sort(norms), np.sort(np.sum(Z**2, axis=1)), rtol=1e-10)


def test_misaligned_chunks_are_realigned():
    """A chunk received from another worker can start at any byte of a frame."""
    X0 = np.random.default_rng(0).standard_normal((50, 3))
    raw = np.zeros(X0.nbytes + 8, dtype=np.uint8)
    X = raw[3 : 3 + X0.nbytes].view(np.float64).reshape(50, 3)
    X[...] = X0
    assert not X.flags.aligned
    s = prepare_shard(0, X, np.zeros(50), None, TargetSpec())
    assert s.X.flags.aligned and s.X.ctypes.data % 64 == 0
    np.testing.assert_array_equal(s.X, X0)


@pytest.mark.parametrize("block", [1, 3, 7, 64])
@pytest.mark.parametrize("cap_rows", [5, 1000])
@pytest.mark.parametrize("in_place_rows", [4, None])
def test_runs_and_pieces_follow_the_epoch_order(block, cap_rows, in_place_rows, monkeypatch):
    """The runs of rows [lo, hi) of an epoch's order, and the pieces a step computes on, are the
    rows a brute-force expansion of the blocks' permutation gives, in that order (with a work
    buffer smaller than a run, and runs computed in place, too)."""
    import dasksgd.engine.shards as shards_module

    ss = _shardset([50], shuffle=True, seed=3)
    s = ss.shards[0]
    s.block = block
    ss.set_epoch(2)
    order = np.concatenate([np.arange(b * block, min((b + 1) * block, s.n)) for b in s.order])
    assert sorted(order) == list(range(s.n))
    monkeypatch.setattr(shards_module, "BUFFER_BYTES", cap_rows * s.X.shape[1] * 8)
    if in_place_rows:
        monkeypatch.setattr(shards_module, "IN_PLACE_BYTES", in_place_rows * s.X.shape[1] * 8)
    ss._buffer = None
    rng = np.random.default_rng(block)
    for lo, hi in [
        (0, 50),
        (0, 1),
        (49, 50),
        (3, 4),
        *(sorted(rng.choice(51, 2, replace=False)) for _ in range(30)),
    ]:
        starts, ends = s.runs(lo, hi)
        rows = np.concatenate([np.arange(a, e) for a, e in zip(starts, ends)])
        if (lo, hi) != (0, 50):  # the whole shard is one run, in physical order
            np.testing.assert_array_equal(rows, order[lo:hi])
            assert np.all(starts[1:] != ends[:-1])  # adjacent runs are joined
        # A piece may be the work buffer, which the next one overwrites: copy as they come.
        pieces = [(X.copy(), i) for X, i in ss._pieces(s, starts, ends)]
        assert all(len(X) <= max(cap_rows, max(ends - starts)) for X, _ in pieces)
        if max(ends - starts) >= min(cap_rows, in_place_rows or 10**9):
            # long runs are views of the shard, not copies
            assert any(np.shares_memory(X, s.X) for X, _ in ss._pieces(s, starts, ends))
        got = np.concatenate([X[:, 0] for X, _ in pieces])
        idx = np.concatenate([np.arange(s.n)[i] for _, i in pieces])
        np.testing.assert_array_equal(got, s.X[rows, 0])
        np.testing.assert_array_equal(idx, rows)


def test_held_out_rows_that_all_weigh_zero_are_refused():
    # The validation score would be 0 / 0 (NaN) at every epoch: refused when the shards load.
    from dasksgd.engine import LocalBackend

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))  # distinct rows: the held-out ones can be found again
    y = np.where(X[:, 0] > 0, 1.0, -1.0)
    spec, loss = TargetSpec(np.array([-1.0, 1.0])), get_loss("log_loss")
    backend = LocalBackend([(X, y, None)], spec, loss, seed=3, validation_fraction=0.25)
    held = {row.tobytes() for row in backend.shardset.shards[0].X_val}
    w = np.array([0.0 if row.tobytes() in held else 1.0 for row in X])
    assert 0 < (w == 0).sum() < len(w)
    with pytest.raises(ValueError, match="sample weights for validation set are all zero"):
        LocalBackend([(X, y, w)], spec, loss, seed=3, validation_fraction=0.25)
    w[np.flatnonzero(w == 0)[0]] = 2.0  # one held-out row with weight: accepted
    LocalBackend([(X, y, w)], spec, loss, seed=3, validation_fraction=0.25)
