"""The rule protocol: the container's semantics, each default rule's decisions, and a new rule
and a new callback added to a fit without touching the loop."""

import math

import numpy as np
import pytest

from dasksgd.acceleration import Momentum
from dasksgd.diversity import DiversityBatchSize, FixedBatchSize
from dasksgd.engine.local import LocalBackend
from dasksgd.engine.loop import Plan, TrainConfig, TrainState, build_rules, train
from dasksgd.engine.plan import make_plan
from dasksgd.engine.rules import (
    AveragingRule,
    BatchSizeRule,
    Callback,
    Diverged,
    DivergenceRule,
    EpochEvent,
    GoodputRule,
    Rule,
    Rules,
    ScheduleRule,
    StepEvent,
    StoppingRule,
    TrustRatioRule,
    UpdateRule,
)
from dasksgd.engine.rules.goodput import GoodputState
from dasksgd.engine.rules.stopping import REPEATS
from dasksgd.engine.shards import TargetSpec
from dasksgd.losses import get_loss
from dasksgd.penalties import get_penalty
from dasksgd.preconditioning import Preconditioner
from dasksgd.schedules import LearningRate
from dasksgd.statistics import GradStats


class _Counter(Rule):
    name = "counter"

    def init(self):
        return 0

    def after_step(self, state, *, step):
        return state + 1


class _Kept(_Counter):
    name = "kept"
    persistent = True


def test_rules_need_names_of_their_own():
    with pytest.raises(ValueError, match="name of its own"):
        Rules.of([_Counter(), _Counter()])
    with pytest.raises(ValueError, match="name of its own"):
        Rules.of([Rule()])


def test_a_fresh_call_keeps_persistent_states_and_a_roll_back_restores_only_them():
    rules = Rules.of([_Counter(), _Kept()])
    states = rules.init({"counter": 7, "kept": 7}, fresh=True)
    assert states == {
        "counter": 0,
        "kept": 7,
    }  # a new call: what it learned is new, the trajectory is not
    assert rules.init({"counter": 7, "kept": 7}, fresh=False) == {
        "counter": 7,
        "kept": 7,
    }  # a resume
    assert rules.init({}, fresh=False) == {"counter": 0, "kept": 0}
    rules.after_step(states, step=None)
    assert states == {"counter": 1, "kept": 8}
    assert rules.restore(states, {"counter": 0, "kept": 7}) == {"counter": 1, "kept": 7}


def _stats(count, loss):
    return GradStats(
        count=float(count),
        loss=float(loss),
        grad_coef=np.ones((2, 1)),
        grad_intercept=np.ones(1),
        sqnorm=float(count),
    )


def _step(count=10, loss=1.0, full_batch=False):
    return StepEvent(
        _stats(count, loss), (np.zeros((2, 1)), np.zeros(1)), 0, 0.0, full_batch, 1.0, None
    )


def _epoch(value, previous=math.nan):
    return EpochEvent(0, 1, value, previous, (np.zeros((2, 1)), np.zeros(1)), None)


def test_divergence_rule():
    rule = DivergenceRule(get_penalty("l2", 0.5), line_search=True)
    state = rule.after_step(rule.init(), step=_step(10, 30.0))
    assert state.best == 3.0 and not state.exact  # the first batch's mean loss (w = 0: no penalty)
    assert rule.after_step(state, step=_step(10, 1.0)) == state
    with pytest.raises(Diverged, match="loss of a batch became nan"):
        rule.after_step(state, step=_step(10, math.nan))
    assert rule.after_step(state, step=_step(10, math.inf, full_batch=True)) == state  # a trial
    with pytest.raises(Diverged, match="objective became 301"):
        rule.after_epoch(state, epoch=_epoch(301.0))
    after = rule.after_epoch(state, epoch=_epoch(2.0))
    assert after.best == 2.0 and after.exact


@pytest.mark.parametrize(("start", "diverged"), [(0.6, False), (0.004, True)])
def test_a_first_batch_the_start_already_fits_does_not_fake_a_divergence(start, diverged):
    # Sorted rows: the first batch's loss at the start is ~0, so 100 x that estimate is no bound.
    # The suspected explosion is checked against the start's objective, measured once.
    asked = []

    def objective(coef, intercept):
        asked.append((coef.copy(), intercept.copy()))
        return start

    rule = DivergenceRule(get_penalty("l2", 0.0), line_search=False, objective=objective)
    state = rule.after_step(rule.init(), step=_step(10, 0.01))
    assert state.best == 0.001
    assert rule.after_epoch(state, epoch=_epoch(0.05)).best == 0.001 and not asked  # < 100 x
    if diverged:
        with pytest.raises(Diverged, match="objective became 0.5"):
            rule.after_epoch(state, epoch=_epoch(0.5))
    else:
        assert rule.after_epoch(state, epoch=_epoch(0.5)).best == 0.5
    assert len(asked) == 1 and not asked[0][0].any()  # at the point the fit started from
    # Once an epoch's objective is the reference, it is trusted: no more passes.
    exact = rule.after_epoch(state, epoch=_epoch(0.002))
    with pytest.raises(Diverged):
        rule.after_epoch(exact, epoch=_epoch(0.5))
    assert len(asked) == 1


def test_batch_size_rule_after_epochs():
    n = 10_000
    rule = BatchSizeRule(
        DiversityBatchSize(1.0, 100, n), get_penalty("l2", 0.0), Preconditioner.identity(2), n, True
    )
    state = rule.init()
    assert rule.batch_size(state) == 100
    state = rule.after_epoch(state, epoch=_epoch(1.0))  # the first epoch: nothing to compare with
    assert rule.batch_size(state) == 100 and state.progress is None
    state = rule.after_epoch(state, epoch=_epoch(0.5, previous=1.0))  # progress 0.5
    assert rule.batch_size(state) == 100
    state = rule.after_epoch(
        state, epoch=_epoch(0.49, previous=0.5)
    )  # progress 0.01 <= 0.1 * 0.5: stalled
    assert rule.batch_size(state) == state.batch.floor == 200
    state = rule.after_epoch(
        state, epoch=_epoch(0.495, previous=0.49)
    )  # the objective rose: exact steps
    assert rule.batch_size(state) == n
    fixed = BatchSizeRule(
        FixedBatchSize(64, n), get_penalty("l2", 0.0), Preconditioner.identity(2), n, True
    )
    assert fixed.batch_size(fixed.after_epoch(fixed.init(), epoch=_epoch(2.0, previous=1.0))) == 64


@pytest.mark.parametrize("early", [False, True])
def test_stopping_rule_finds_a_plateau(early):
    scores = iter([0.5, 0.6, 0.6, 0.6])
    rule = StoppingRule(0.01, 2, validate=(lambda c, b: next(scores)) if early else None)
    assert rule.measures_at_epoch_end is early
    state, verdicts = rule.init(), []
    for value in (1.0, 0.5, 0.499, 0.498):  # better, better, then two epochs within tol
        event = _epoch(value)
        state = rule.after_epoch(state, epoch=event)
        verdicts.append(event.plateau)
    assert verdicts == [False, False, False, True]
    assert state.no_improve == 0  # counted afresh after a plateau


@pytest.mark.parametrize(("kind", "stops"), [("constant", True), ("adaptive", False)])
def test_schedule_rule_at_a_plateau(kind, stops):
    loss = get_loss("squared_error")
    rule = ScheduleRule(
        LearningRate(kind=kind, eta0=0.1, power_t=0.5, alpha=1e-3, loss=loss),
        delta=1.0,
        max_step=math.inf,
    )
    step = _step(count=10)
    state = rule.after_step(rule.init(), step=step)
    assert step.eta == pytest.approx(
        10 * 0.1 / 2
    )  # the linear scaling rule with the (1 + delta) slack
    event = _epoch(1.0)
    event.plateau = True
    state = rule.after_epoch(state, epoch=event)
    assert event.stop is event.converged is stops
    assert state.scale == (1.0 if stops else 0.2)  # adaptive divides by 5


def test_averaging_rule_is_the_mean_of_the_iterates_after_start():
    rule = AveragingRule(start=20.0)
    state, iterates = rule.init(), [np.full((2, 1), float(k)) for k in range(5)]
    for k, w in enumerate(iterates):
        step = _step(count=10)
        step.t, step.iterate = 10.0 * k, (w, np.zeros(1))
        state = rule.after_step(state, step=step)
    assert state.count == 4  # from the step that reached 20 samples
    np.testing.assert_allclose(rule.model(state)[0], np.mean(iterates[1:], axis=0))


# -- adding a rule and a callback: no edit of the loop --------------------------------------


class MaxStep(Rule):
    """A rule of the kind docs/architecture.md adds as its example: a cap on the step size."""

    name = "max_step"

    def __init__(self, cap):
        self.cap = cap

    def after_step(self, state, *, step):
        step.eta = min(step.eta, self.cap)
        return state


class StopAfter(Callback):
    def __init__(self, epochs):
        self.epochs, self.seen = epochs, []

    def after_epoch(self, *, epoch):
        self.seen.append(epoch.value)
        epoch.stop = len(self.seen) >= self.epochs


def _problem():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.standard_normal(400)
    loss = get_loss("squared_error")
    config = TrainConfig(
        loss=loss,
        penalty=get_penalty("l2", 1e-3),
        schedule=LearningRate(kind="constant", eta0=0.01, power_t=0.5, alpha=1e-3, loss=loss),
        batch_size=40,
        max_iter=6,
        tol=None,
        precondition=False,
        accelerate=False,
        warmup_steps=1,
    )
    plan = Plan(
        precond=Preconditioner.identity(3),
        max_step=math.inf,
        gamma=0.01,
        overhead=0.0,
        row_cost=1.0,
        b_min=1,
    )
    backend = LocalBackend([(X, y, None)], TargetSpec(), loss, shuffle=False)
    return backend, config, plan, TrainState(coef=np.zeros((3, 1)), intercept=np.zeros(1))


def test_a_new_rule_joins_the_chain_without_an_edit_of_the_loop():
    backend, config, plan, start = _problem()
    default = build_rules(config, plan, backend.n_train)
    # The step the schedule asks for is 40 * 0.01 / 2 = 0.2; cap it at 0.05 before the update.
    at = [type(r).__name__ for r in default].index("UpdateRule")
    capped = train(
        backend, config, start, plan=plan, rules=[*default[:at], MaxStep(0.05), *default[at:]]
    )
    assert (capped.history["learning_rate"] == 0.05).all()
    # The same as a schedule whose rate gives that step: the cap changed nothing but the step.
    slower = TrainConfig(
        **{
            **config.__dict__,
            "schedule": LearningRate(
                kind="constant", eta0=0.0025, power_t=0.5, alpha=1e-3, loss=config.loss
            ),
        }
    )
    ref = train(backend, slower, start, plan=plan)
    np.testing.assert_allclose(capped.state.model()[0], ref.state.model()[0], rtol=1e-12)
    assert "max_step" in capped.state.rules


def test_a_callback_can_end_the_fit_and_sees_the_rules_decisions():
    backend, config, plan, start = _problem()
    stop = StopAfter(3)
    res = train(backend, config, start, plan=plan, callbacks=[stop])
    assert res.n_iter == 3 and not res.converged
    np.testing.assert_allclose(
        stop.seen, res.history["objective"].dropna().to_numpy(), rtol=0, atol=0
    )


def test_stopping_rule_counts_a_repeated_best_as_no_improvement():
    rule = StoppingRule(0.0, 2)
    state, plateaus = rule.init(), []
    for value in (2.0, 1.0, 1.0, 1.0):
        event = _epoch(value)
        state = rule.after_epoch(state, epoch=event)
        plateaus.append(event.plateau)
    assert plateaus == [False, False, False, True]


def test_stopping_rule_skips_repeated_reports_up_to_repeats_then_counts_them():
    # L-BFGS's epochs repeat a point: reported again, then rejected trials (the step halves).
    # Up to REPEATS in a row say nothing of progress; one more counts as an epoch without
    # improvement.
    rule = StoppingRule(0.0, 1)
    state, plateaus, previous = rule.init(), [], math.nan
    values = (2.0, 1.0, 1.0, 0.5, *([0.5] * (REPEATS + 1)))
    for value in values:
        event = _epoch(value, previous)
        state = rule.after_epoch(state, epoch=event)
        plateaus.append(event.plateau)
        previous = value
    assert plateaus == [False] * (len(values) - 1) + [True]


def _goodput(overhead=2e-3, pass_time=0.02, n=100_000, b_min=1_000, eta0=1e-3):
    loss = get_loss("log_loss")
    schedule = LearningRate(kind="constant", eta0=eta0, power_t=0.5, alpha=0.0, loss=loss)
    return GoodputRule(
        DiversityBatchSize(1.0, b_min, n),
        schedule,
        get_penalty("l2", 0.0),
        Preconditioner.identity(2),
        n,
        True,
        1.0,
        1.0,  # max_step: L = 1
        overhead,
        pass_time,
    )


def test_goodput_rule_predicts_the_descent_lemma_per_second():
    # Written out from the formula: B = 1000 (the floor; n Delta = 11 asks for 12), the step
    # B gamma / (1 + delta) = 0.5, the noise nu = 10 with the without-replacement factor, over
    # the step's cost of overhead plus B rows at the pass's rate.
    rule, n = _goodput(), 100_000
    state = GoodputState(grad_sq=2.0, ndelta=11.0)
    d = 0.5 * (1 - 0.5 / 2) - 0.5**2 / 2 * 10.0 * (n - 1000) / (1000 * (n - 1))
    assert rule.mini_batch_rate(state) == pytest.approx(d * 2.0 / (2e-3 + 1000 * 0.02 / n))
    # A gradient under the noise of the steps: the batch is the data, no mini-batch step.
    assert rule.mini_batch_rate(state._replace(ndelta=math.inf)) == -math.inf
    assert rule.mini_batch_rate(state._replace(grad_sq=0.0)) == -math.inf


def test_goodput_rule_keeps_a_trial_only_if_it_measured_faster():
    rule = _goodput()
    state = GoodputState(mode="trial", spent=1.0, ends=((0.5, 2.0),), rate=1.0, trial_epoch=3)
    epoch = EpochEvent(2, 1, 1.0, 2.0, (np.zeros((2, 1)), np.zeros(1)), None)
    assert rule.after_epoch(state, epoch=epoch) is state  # the pass that chose it
    # The trial epoch (2 steps: 2 overheads and a pass) and its objective's pass: 0.044
    # counted seconds after the 0.5 already spent since its start.
    won = EpochEvent(3, 2, 1.0, 2.0, (np.zeros((2, 1)), np.zeros(1)), None)  # 1.0 / 0.544 s
    lost = EpochEvent(3, 2, 1.9, 2.0, (np.zeros((2, 1)), np.zeros(1)), None)  # 0.1 / 0.544 s
    assert rule.batch_size(rule.after_epoch(state, epoch=won)) is None  # the batch rule's
    assert rule.batch_size(rule.after_epoch(state, epoch=lost)) == 100_000  # passes to the end


@pytest.mark.parametrize("overhead, leaves", [(1.0, True), (1e-9, False)])
def test_goodput_rule_weighs_what_a_step_costs_against_a_pass(overhead, leaves):
    # The same data, two machines: where a step's measured fixed cost is a second against a
    # pass of 10 ms (a slow cluster, or a wide model's transfer), the fit leaves mini-batches
    # after the first step (the rest of the first epoch is one step, then passes); where it
    # costs nothing, the first epoch is the batch-size rule's mini-batches.
    from dataclasses import replace

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 10))
    y = (X @ rng.standard_normal(10) + rng.standard_normal(20000) > 0).astype(int)
    config = TrainConfig.from_params("log_loss", alpha=1e-4, max_iter=4, tol=None)
    backend = LocalBackend([(X, y, None)], TargetSpec(np.array([0, 1])), config.loss, seed=0)
    plan = replace(make_plan(backend, config, 10), step_time=overhead, pass_time=0.01, b_min=256)
    res = train(
        backend, config, TrainState(coef=np.zeros((10, 1)), intercept=np.zeros(1)), plan=plan
    )
    B = res.history["batch_size"].to_numpy()
    assert B[0] == 256
    if leaves:
        np.testing.assert_array_equal(B[1:], [20000 - 256] + [20000] * (len(B) - 2))
    else:
        assert (B[1:10] < 20000).all()


def test_goodput_rule_counts_the_step_time_the_plan_measured():
    # The per-step cost weighed is the plan's measurement at this model's size (not the cost
    # model behind b_min): a probe step of the zero model, so finite and non-negative.
    from dataclasses import replace

    from dasksgd.engine.loop import build_rules

    rng = np.random.default_rng(0)
    X = rng.standard_normal((20000, 10))
    y = (X[:, 0] > 0).astype(int)
    config = TrainConfig.from_params("log_loss", alpha=1e-4)
    backend = LocalBackend([(X, y, None)], TargetSpec(np.array([0, 1])), config.loss, seed=0)
    plan = make_plan(backend, config, 10)
    assert np.isfinite(plan.step_time) and plan.step_time >= 0.0
    # No rule weighs it with a fixed batch size: the plan does not spend the probe steps.
    fixed = TrainConfig.from_params("log_loss", alpha=1e-4, batch_size=256)
    assert np.isnan(make_plan(backend, fixed, 10).step_time)
    plan = replace(plan, step_time=0.125, pass_time=0.01, b_min=256)
    (rule,) = [r for r in build_rules(config, plan, 20000) if isinstance(r, GoodputRule)]
    assert rule.overhead == 0.125
    assert rule.step_cost(20000) == pytest.approx(0.135)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_trust_ratio_rule_takes_the_lars_step_in_the_optimizers_coordinates(fit_intercept):
    # A mini-batch step of 3 outputs with the trust ratios, against the same step written out
    # by hand in the optimizer's coordinates: wt = s w, bt = b + mu . w, direction P g.
    rng = np.random.default_rng(1)
    d, K, count, eta, l2 = 4, 3, 8.0, 0.3, 0.05
    precond = Preconditioner(rng.standard_normal(d), rng.uniform(0.5, 2.0, d))
    pen = get_penalty("l2", l2)
    coef, intercept = rng.standard_normal((d, K)), rng.standard_normal(K)
    if not fit_intercept:
        intercept = np.zeros(K)
    gc, gb = rng.standard_normal((d, K)) * count, rng.standard_normal(K) * count
    stats = GradStats(count=count, loss=1.0, grad_coef=gc, grad_intercept=gb, sqnorm=1.0)
    step = StepEvent(stats, (coef, intercept), 0, 0.0, False, 1.0, TrainState(coef, intercept))
    step.eta = eta
    TrustRatioRule(precond, pen, fit_intercept).after_step(None, step=step)
    update = UpdateRule(pen, precond, fit_intercept, Momentum(False), None, n=100)
    update.after_step(update.init(), step=step)

    s, mu = precond.scale, precond.mean if fit_intercept else np.zeros(d)
    wt, bt = s[:, None] * coef, intercept + mu @ coef
    g = gc / count + l2 * coef
    ut, ub = (g - mu[:, None] * (gb / count)[None, :]) / s[:, None], gb / count
    fc = np.array([np.linalg.norm(wt[:, k]) / np.linalg.norm(ut[:, k]) for k in range(K)])
    fc /= fc.max()
    assert fc.min() < 0.5  # the blocks' steps differ: the test sees the factors
    new_wt = wt - eta * fc * ut
    new_coef = new_wt / s[:, None]
    np.testing.assert_allclose(step.train.coef, new_coef, rtol=1e-12)
    if fit_intercept:
        fb = np.abs(bt) / np.abs(ub)
        new_bt = bt - eta * (fb / fb.max()) * ub
        np.testing.assert_allclose(step.train.intercept, new_bt - mu @ new_coef, rtol=1e-12)
    assert step.eta == eta  # the history shows the step the rules decided
