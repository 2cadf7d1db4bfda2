"""Active-set polishing: the exact optimum of a non-smooth loss from the rows at its kinks.

The hinge and epsilon-insensitive losses are piecewise linear, so with an l2 penalty the
training objective is a quadratic program, and its optimum is fixed by which rows sit exactly at
a kink of the loss (margin 1 for the hinge, ``|r| = epsilon`` for the tube): every other row
contributes a fixed slope. Given that set ``M``, the optimality conditions are linear:

.. math::

    \\alpha n w + c_w + X_M^T \\theta = 0, \\quad c_b + 1^T \\theta = 0, \\quad
    X_M w + b = \\kappa,

where ``c = sum_i g_i [x_i, 1]`` sums the fixed slopes ``g_i`` of the other rows, ``theta_i`` is
row ``i``'s (weighted) subgradient and ``kappa_i`` the margin of its kink. Eliminating ``w``
leaves a system of ``|M| + 1`` unknowns (``theta``, ``b``), small where ``M`` is (about as many
rows as coefficients at most, for data in general position).

The full-batch phase minimizes the loss smoothed by ``mu`` (:meth:`~dasksgd.losses.Loss.smoothed`);
the rows inside the smoothing band at its solution are the estimate of ``M`` (their smoothed
slopes are the interior subgradients), and the estimate is exact once ``mu`` is small enough.
:func:`polish` solves the system for that estimate; the loop accepts the result only if its
exact objective is lower (one pass), so a wrong guess costs a pass and nothing else. This is the
"solution polishing" of OSQP (Stellato et al., 2020, Math. Prog. Comp. 12, section 4), for this
problem's structure.

Nothing here knows where the rows are: :class:`Band` is what the shards send
(``ShardSet.band``), :func:`polish` is numpy on the client.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["Band", "polish", "MAX_BAND"]

#: Most band rows (all outputs together) worth sending: beyond, the smoothing is still too
#: coarse for the band to be the kink set, and polishing waits for a smaller one.
MAX_BAND = 4096

#: How close to its kink (relative to the kink's margin) a row solved onto it must be for the
#: optimality certificate.
KINK_TOL = 1e-8


@dataclass(frozen=True)
class Band:
    """Rows near a kink of the loss (``|a| < width``), per output, and the sum of the others'
    slopes: what :func:`polish` needs of the data at a model.

    Per output ``j``: ``rows[j]`` their features with the intercept's 1 (float64, ``(m, k)``),
    ``dist[j]`` how far each lies past its kink into the loss's sloped piece (``a``),
    ``slopes[j]`` that piece's slope in the margin times the row's weight, ``kinks[j]`` the margin
    of the kink, ``ids[j]`` the rows' identities (shard and row: stable between requests);
    ``outside[j]`` (length ``k``) sums ``slope * [x, 1]`` over the rows beyond the window on
    their sloped side; ``loss`` is the weighted sum of the exact loss over all the rows (the
    model's objective comes with the band). ``overflow``: more than ``MAX_BAND`` rows, none
    sent. ``+`` joins the rows of two sets of shards.
    """

    rows: tuple
    dist: tuple
    slopes: tuple
    kinks: tuple
    ids: tuple
    outside: np.ndarray
    loss: float = 0.0
    overflow: bool = False

    @classmethod
    def empty(cls, n_outputs: int, k: int, overflow: bool = False) -> "Band":
        e = tuple(np.zeros(0) for _ in range(n_outputs))
        rows = tuple(np.zeros((0, k)) for _ in range(n_outputs))
        ids = tuple(np.zeros(0, dtype=np.int64) for _ in range(n_outputs))
        return cls(rows, e, e, e, ids, np.zeros((n_outputs, k)), 0.0, overflow)

    @property
    def size(self) -> int:
        return sum(r.shape[0] for r in self.rows)

    def __add__(self, other: "Band") -> "Band":
        if not isinstance(other, Band):
            return NotImplemented
        if self.overflow or other.overflow or self.size + other.size > MAX_BAND:
            empty = Band.empty(len(self.rows), self.rows[0].shape[1], overflow=True)
            return replace(empty, loss=self.loss + other.loss)

        def join(a: tuple, b: tuple) -> tuple:
            return tuple(np.concatenate([x, y]) for x, y in zip(a, b))

        return Band(
            join(self.rows, other.rows),
            join(self.dist, other.dist),
            join(self.slopes, other.slopes),
            join(self.kinks, other.kinks),
            join(self.ids, other.ids),
            self.outside + other.outside,
            self.loss + other.loss,
        )


def polish(
    band: Band,
    fractions: list[dict],
    width: float,
    l2: float,
    n: float,
    fit_intercept: bool,
) -> tuple[np.ndarray, np.ndarray, list[dict], bool] | None:
    """One primal-dual active-set step (Hintermueller, Ito & Kunisch, 2002, SIAM J. Optim. 13)
    for the l2-penalized piecewise-linear objective, over ``band``'s rows.

    Every window row has a fraction ``nu`` of its slope (1: on the sloped piece, 0: on the flat
    one, in between: at the kink, ``theta = nu * slope``): from ``fractions`` (the last step's,
    by row id) or 0 for a row seen first. The step assigns each row by ``q = nu + a / width``:
    ``q >= 1`` sloped, ``q <= 0`` flat, else at the kink (the set ``M``; at first, the rows
    where the loss smoothed by ``width`` is quadratic); solves the linear optimality conditions
    for that assignment; and returns the model with the new fractions. Repeated from its own
    result, the assignment stops changing at the optimum.

    Parameters
    ----------
    band : Band
        The rows near a kink at the current model.
    fractions : list of dict
        Per output, row id -> ``nu`` of the last step (empty dicts at first).
    width : float
        The window's half width (in margin units).
    l2 : float
        The l2 penalty's strength ``alpha`` (must be positive).
    n : float
        Training rows (the objective is the mean loss).
    fit_intercept : bool
        Whether the intercept is free.

    Returns
    -------
    (coef, intercept, fractions, optimal) or None
        The candidate model and its fractions (None: an overflow, no l2, or no solution);
        ``optimal``: ``band``'s model is optimal (the step reproduced the assignment it was
        solved with, ``fractions``, and the candidate is that model again).
    """
    if band.overflow or l2 <= 0.0:
        return None
    K, k = band.outside.shape
    d = k - int(fit_intercept)
    coef, intercept, out = np.empty((d, K)), np.zeros(K), []
    an, fixed = l2 * n, True
    for j in range(K):
        R, a, s, kappa, ids = band.rows[j], band.dist[j], band.slopes[j], band.kinks[j], band.ids[j]
        last = fractions[j] if j < len(fractions) else {}
        nu = np.array([last.get(int(i), np.nan) for i in ids.tolist()])
        seen = np.isfinite(nu)
        nu[~seen] = 0.0
        q = nu + a / width
        sloped, at_kink = q >= 1.0, (q > 0.0) & (q < 1.0)
        # The fixed slopes: the rows beyond the window, and the window's rows on a sloped piece.
        c = band.outside[j] + R[sloped].T @ s[sloped]
        Rm, km, sm = R[at_kink], kappa[at_kink], s[at_kink]
        Xm, m = Rm[:, :d], int(at_kink.sum())
        cw = c[:d]
        if fit_intercept:
            A = np.zeros((m + 1, m + 1))
            A[:m, :m], A[:m, m], A[m, :m] = Xm @ Xm.T, -an, 1.0
            rhs = np.concatenate([-an * km - Xm @ cw, [-c[d]]])
            sol = np.linalg.lstsq(A, rhs, rcond=None)[0]
            theta, intercept[j] = sol[:m], sol[m]
        else:
            theta = np.linalg.lstsq(Xm @ Xm.T, -an * km - Xm @ cw, rcond=None)[0]
        coef[:, j] = -(cw + Xm.T @ theta) / an
        new = np.where(sloped, 1.0, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            new[at_kink] = theta / sm
        out.append(dict(zip(ids.tolist(), new.tolist())))
        # The last step's assignment, reproduced with every kink row's fraction in [0, 1]: the
        # model it was solved at meets the optimality conditions.
        was = np.where(seen, nu, np.nan)
        fixed = fixed and bool(np.all(seen)) and len(last) == ids.size
        fixed = (
            fixed
            and np.array_equal(sloped, was >= 1.0)
            and np.array_equal(at_kink, (was > 0.0) & (was < 1.0))
            # and the rows put at a kink are there (an inconsistent system leaves them off it)
            and bool(np.all(np.abs(a[at_kink]) <= KINK_TOL * (1.0 + np.abs(kappa[at_kink]))))
        )
    if not (np.all(np.isfinite(coef)) and np.all(np.isfinite(intercept))):
        return None
    return coef, intercept, out, fixed
