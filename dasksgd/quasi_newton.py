"""L-BFGS for the full-batch phase of smooth problems, one data pass per iteration.

Once ``batch_size="auto"`` has grown the batch to the whole data, every step is an exact gradient
of a deterministic objective, and a quasi-Newton method adapts to its actual curvature where
momentum only knows the global bound ``L`` (for the logistic loss near the optimum the curvature
is often several times below ``L``). Each pass over the data returns the objective and its
gradient at the point it was asked for, which is all L-BFGS needs: the point handed to the next
pass is a trial ``x + t p``; its result either passes the Armijo test (the trial is accepted and
the curvature pair ``(s, y)`` joins the memory) or halves ``t`` (backtracking). Unit steps are
accepted almost always, so an iteration costs one pass.

The initial inverse Hessian is the preconditioner's metric (``P``, the inverse of the
diagonal Jacobi scaling with the intercept decoupled;
:class:`~dasksgd.preconditioning.Preconditioner`)
times ``s'y / y'Py``, and the very first direction is the safe preconditioned gradient step
``-eta P g`` with ``eta = 1/L``. Used only for smooth losses with a smooth penalty (l2 or none);
l1 needs the proximal steps and keeps the momentum of :mod:`dasksgd.acceleration`.

State is explicit (:class:`QuasiNewtonState`); nothing here knows where the data are.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = ["QuasiNewton", "QuasiNewtonState"]


class QuasiNewtonState(NamedTuple):
    """The accepted point ``x`` (flat), its objective ``f`` and gradient ``g``, the direction
    ``p`` and step ``t`` of the pending trial, and the memory of ``(s, y, rho)`` triples (``s``
    and ``y`` as ``(block, K)`` arrays, ``rho`` the ``K`` blocks' ``1 / s'y``, 0 for a block
    whose pair failed the curvature test)."""

    x: Any = None
    f: float = np.inf
    g: Any = None
    p: Any = None
    t: float = 1.0
    memory: tuple = ()
    backtracks: int = 0


class QuasiNewton:
    """L-BFGS with Armijo backtracking over exact (full-batch) objective evaluations.

    With ``block``, the flat vector is ``K`` independent blocks (``x.reshape(block, K)``'s
    columns: the one-vs-rest outputs of a linear model, in the layout ``[coef (d, K) raveled,
    intercept (K)]``), and the inverse Hessian is block diagonal: each block has its own
    curvature pairs and scaling, as ``K`` separate L-BFGS runs would, under one line search on
    the summed objective. One L-BFGS on the joined vector mixes the outputs' curvature in its
    inner products and scaling, and slows every output to the pace of the stiffest (the
    one-vs-rest problems of ``benchmarks/real_data.py``).

    Parameters
    ----------
    precondition : callable
        ``precondition(v) -> P v`` for a flat gradient ``v``: the initial inverse Hessian (up to
        a scalar per block), symmetric positive definite and block diagonal.
    first_step : float
        ``eta`` of the first direction ``-eta P g`` (``1/L``; 1 where ``P`` inverts a bound).
    memory : int
        Curvature pairs kept.
    c1 : float
        Armijo constant: a trial is accepted when ``f(x + t p) <= f(x) + c1 t g'p``.
    block : int, optional
        Length of one block (None: the whole vector is one).
    """

    def __init__(
        self,
        precondition: Callable[[np.ndarray], np.ndarray],
        first_step: float,
        memory: int = 10,
        c1: float = 1e-4,
        block: int | None = None,
    ) -> None:
        self.precondition = precondition
        self.first_step = first_step
        self.memory = memory
        self.c1 = c1
        self.block = block

    def init(self) -> QuasiNewtonState:
        return QuasiNewtonState()

    def _blocks(self, v: np.ndarray) -> np.ndarray:
        """``v`` as ``(block, K)``: column ``j`` is block ``j``."""
        return v.reshape(-1, 1) if self.block is None else v.reshape(self.block, -1)

    def update(
        self, state: QuasiNewtonState, point: np.ndarray, f: float, g: np.ndarray
    ) -> tuple[QuasiNewtonState, np.ndarray]:
        """Take the objective ``f`` and gradient ``g`` at ``point`` (the last trial, or the first
        full-batch point); return the new state and the next point to evaluate."""
        if state.x is None:
            return self._direction(QuasiNewtonState(point, f, g), first=True)
        slope = float(state.g @ state.p)
        if f <= state.f + self.c1 * state.t * slope:
            s, y = self._blocks(point - state.x), self._blocks(g - state.g)
            sy = np.sum(s * y, axis=0)
            # Keep H positive definite: a block's pair counts only with positive curvature.
            ok = sy > 1e-12 * np.sqrt(np.sum(s * s, axis=0) * np.sum(y * y, axis=0))
            memory = state.memory
            if np.any(ok):
                rho = np.where(ok, 1.0 / np.where(ok, sy, 1.0), 0.0)
                memory = (memory + ((s, y, rho),))[-self.memory :]
            return self._direction(
                QuasiNewtonState(point, f, g, memory=memory, backtracks=state.backtracks)
            )
        t = 0.5 * state.t
        if t < 1e-10:
            # No decrease along p at any sane step (rounding at the optimum, or a bad memory):
            # start over from the accepted point with a plain preconditioned step.
            return self._direction(state._replace(memory=()), first=True)
        return state._replace(t=t, backtracks=state.backtracks + 1), state.x + t * state.p

    def restart(
        self, state: QuasiNewtonState, point: np.ndarray, f: float, g: np.ndarray
    ) -> tuple[QuasiNewtonState, np.ndarray]:
        """Accept ``point`` (its ``f`` and ``g`` measured, perhaps of another objective) without
        a line search, keeping the memory; return the new state and the next trial."""
        return self._direction(
            QuasiNewtonState(point, f, g, memory=state.memory, backtracks=state.backtracks)
        )

    def _direction(
        self, state: QuasiNewtonState, first: bool = False
    ) -> tuple[QuasiNewtonState, np.ndarray]:
        """``p = -H g`` by the two-loop recursion, block by block; the next trial is ``x + p``."""
        g = state.g
        if first or not state.memory:
            p = -self.first_step * self.precondition(g)
        else:
            q = self._blocks(g).copy()
            alphas = []
            for s, y, rho in reversed(state.memory):
                a = rho * np.sum(s * q, axis=0)
                q -= a * y
                alphas.append(a)
            # Each block's scaling s'y / y'Py from its latest pair; the first step's where
            # none of its pairs passed.
            gamma = np.full(q.shape[1], self.first_step)
            found = np.zeros(q.shape[1], dtype=bool)
            for s, y, rho in reversed(state.memory):
                new = (rho > 0) & ~found
                if np.any(new):
                    Py = self._blocks(self.precondition(y.ravel()))
                    yPy = np.sum(y * Py, axis=0)
                    take = new & (yPy > 0)
                    gamma = np.where(take, np.sum(s * y, axis=0) / np.where(take, yPy, 1.0), gamma)
                    found |= new
                if found.all():
                    break
            r = self._blocks(self.precondition(q.ravel())) * gamma
            for (s, y, rho), a in zip(state.memory, reversed(alphas)):
                b = rho * np.sum(y * r, axis=0)
                r += (a - b) * s
            p = -r.ravel()
            if float(g @ p) >= 0.0:  # not a descent direction (should not happen): fall back
                p = -self.first_step * self.precondition(g)
        return state._replace(p=p, t=1.0), state.x + p
