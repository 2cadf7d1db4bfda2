"""A progress bar for a fit: epochs (advancing within an epoch as its rows are stepped over),
with the latest objective, batch size and step size.

``tqdm.auto`` draws a widget in Jupyter and text on a terminal.
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Callbacks for :func:`dasksgd.engine.train` that drive a ``tqdm`` bar.

    Parameters
    ----------
    epochs : int
        Epochs the fit may run (the bar's total; a fit that stops early leaves it short, and
        says that it converged).
    n_rows : int
        Training rows per epoch.
    desc : str
        Label of the bar.
    epoch_lines : bool
        Also print a line per epoch on stdout (``verbose=2``, as scikit-learn's ``-- Epoch``
        lines), above the bar.
    **tqdm_kwargs
        Passed to ``tqdm.auto.tqdm`` (e.g. ``file``, ``disable``).
    """

    def __init__(
        self, epochs: int, n_rows: int, desc: str, epoch_lines: bool = False, **tqdm_kwargs: Any
    ) -> None:
        from tqdm.auto import tqdm

        self.n_rows = max(int(n_rows), 1)
        self.epoch_lines = epoch_lines
        self.bar = tqdm(
            total=epochs,
            desc=desc,
            unit="epoch",
            dynamic_ncols=True,
            bar_format="{l_bar}{bar}| {n:.1f}/{total} epochs [{elapsed}<{remaining}{postfix}]",
            **tqdm_kwargs,
        )
        self._done = 0.0  # epochs done, fractional
        self._epochs = 0  # epochs ended
        self._step = ""  # what the last step was
        self._objective = ""

    def on_step(self, info: dict) -> None:
        """One step: advance by its share of an epoch, show its batch size and step.

        Mini-batch steps show ``B`` and ``eta`` (the step size); full-batch steps show ``full
        batch`` and ``t``, the line search's step along the quasi-Newton direction (1: the whole
        step) or the full gradient's step.
        """
        self._advance(self._done + info["batch_size"] / self.n_rows)
        step = f"{info['learning_rate']:.3g}"
        if info.get("full_batch"):
            self._step = f"full batch, t={step}"
        else:
            self._step = f"B={int(info['batch_size'])}, eta={step}"
        self.bar.set_postfix_str(self._postfix(), refresh=False)

    def on_epoch(self, info: dict) -> None:
        """An epoch's end: round the bar to whole epochs and show the objective."""
        self._epochs += 1
        self._advance(float(self._epochs))
        if math.isfinite(info["objective"]):
            self._objective = f"objective={info['objective']:.6g}"
        self.bar.set_postfix_str(self._postfix())
        if self.epoch_lines:
            self.bar.write(
                f"-- Epoch {info['epoch']}: objective {info['objective']:.6g}, batch size "
                f"{info['batch_size']}, step {info['learning_rate']:.3g}, {info['time']:.2f} s",
                file=sys.stdout,
            )

    def _postfix(self, *more: str) -> str:
        return ", ".join(p for p in (self._step, self._objective, *more) if p)

    def _advance(self, to: float) -> None:
        to = min(to, float(self.bar.total))
        if to > self._done:
            self.bar.update(to - self._done)
            self._done = to

    def close(self, status: str = "done") -> None:
        """Finish the bar; a fit that ``converged`` (its stopping rule ended it before
        ``max_iter``) says so, where the bar stops short of its total."""
        if status == "converged":
            self.bar.set_postfix_str(self._postfix(f"converged at epoch {self._epochs}"))
        self.bar.close()
