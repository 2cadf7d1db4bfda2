"""LARS's per-block trust ratios (``trust_ratio=True``) against none, on real multiclass data.

The blocks are each one-vs-rest output's coefficients and intercept; each kind's ratios are
scaled by their largest (:func:`dasksgd.schedules.trust_ratios`), so a binary problem's
factors are all one and only the multiclass problems are fitted. The ratios act on mini-batch
(proximal) steps only, so each
data set is fitted with a fixed batch of ``--batch`` rows (mini-batch steps throughout) and
with the defaults (``batch_size="auto"``, which moves to full-batch L-BFGS), each with and
without the ratios: one fit of ``--epochs`` epochs (``tol=None``), in memory (the ratios change
the steps, not what a step costs), and the relative objective gap at the end of each epoch
(the ``objective`` column of ``history_``; ``f*`` and the problems are those of
``real_data.py``). The data come from packages, as for ``real_data.py``.

    python benchmarks/trust_ratio.py [--data fashion,wordnet] [--epochs 16] [--batch 1024]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
from common import write_table
from real_data import ALPHA, optimum, problems

EPOCHS_SHOWN = (1, 2, 4, 8, 16, 32)


def gaps(p, f_star: float, epochs: int, **params) -> tuple[list[float], float]:
    """The gap at each epoch's end of one fit, and its seconds."""
    from dasksgd import SGDClassifier

    est = SGDClassifier(alpha=ALPHA, random_state=0, max_iter=epochs, tol=None, **params)
    t0 = time.perf_counter()
    est.fit(p.X.astype(np.float32), p.y)
    seconds = time.perf_counter() - t0
    values = est.history_["objective"].dropna().to_numpy()
    # The history's objective is the benchmark's objective (checked at the last epoch).
    last = p.objective(est.coef_, est.intercept_)
    assert abs(values[-1] - last) <= 1e-5 * abs(last), (values[-1], last)
    return [(v - f_star) / abs(f_star) for v in values], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion,wordnet")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1024)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    shown = [e for e in EPOCHS_SHOWN if e <= args.epochs]
    rows = []
    for p in problems(args.data.split(",")):
        if p.kind != "ovr":
            continue  # one output: the factors are all one
        f_star = optimum(p)
        print(f"{p.name}: f* = {f_star:.10g}", flush=True)
        for batch in (args.batch, "auto"):
            for ratio in (False, True):
                g, seconds = gaps(p, f_star, args.epochs, batch_size=batch, trust_ratio=ratio)
                cells = " | ".join(f"{g[e - 1]:.1e}" if e <= len(g) else "-" for e in shown)
                rows.append(
                    f"| {p.name} | {batch} | {'yes' if ratio else 'no'} | {cells} | {seconds:.1f} |"
                )
                print(rows[-1], flush=True)
    head = (
        f"Trust ratios on real data, alpha={ALPHA:g}, float32, in memory; "
        f"{platform.machine()}, Python {platform.python_version()}. Relative objective gap at "
        f"the end of epoch k of one fit of {args.epochs} epochs (tol=None).\n\n"
        "| data | batch_size | trust_ratio | "
        + " | ".join(f"epoch {e}" for e in shown)
        + " | s |\n|---|---|---|"
        + "---:|" * len(shown)
        + "---:|\n"
    )
    write_table("trust_ratio", head + "\n".join(rows))


if __name__ == "__main__":
    main()
