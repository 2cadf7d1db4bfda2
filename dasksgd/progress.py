"""A progress bar for a fit: epochs (advancing within an epoch as its rows are stepped over),
with the latest objective, batch size and step size, the time of the last epoch (a pass over
the rows) and, for a fit that streams its rows from storage, the rate it read them at.

``tqdm.auto`` draws a widget in Jupyter and text on a terminal.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Callable

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
    reads : callable, optional
        Returns the bytes and seconds read from the data's source so far, or None (a fit
        that does not stream): asked at each epoch's end, shown as the epoch's read rate
        (bytes over the epoch's wall time: what streaming sustained, reading and computing).
    **tqdm_kwargs
        Passed to ``tqdm.auto.tqdm`` (e.g. ``file``, ``disable``).
    """

    def __init__(
        self,
        epochs: int,
        n_rows: int,
        desc: str,
        epoch_lines: bool = False,
        reads: Callable[[], tuple[float, float] | None] | None = None,
        **tqdm_kwargs: Any,
    ) -> None:
        from tqdm.auto import tqdm

        self.n_rows = max(int(n_rows), 1)
        self.epoch_lines = epoch_lines
        self.reads = reads
        self._at: tuple[float, float | None] | None = None  # (time, bytes read) then
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
        self._pass = ""  # the last epoch's seconds (and read rate)

    def on_step(self, info: dict) -> None:
        """One step: advance by its share of an epoch, show its batch size and step.

        Mini-batch steps show ``B`` and ``eta`` (the step size); full-batch steps show ``full
        batch`` and ``t``, the line search's step along the quasi-Newton direction (1: the whole
        step) or the full gradient's step.
        """
        if self._at is None and "time" in info:  # the first step: epochs are timed from here
            self._at = (float(info["time"]), self._read())
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
        if self._at is not None and "time" in info:
            self._pass = self._timing(float(info["time"]))
        self.bar.set_postfix_str(self._postfix())
        if self.epoch_lines:
            self.bar.write(
                f"-- Epoch {info['epoch']}: objective {info['objective']:.6g}, batch size "
                f"{info['batch_size']}, step {info['learning_rate']:.3g}, {info['time']:.2f} s",
                file=sys.stdout,
            )

    def _read(self) -> float | None:
        if self.reads is None:
            return None
        try:
            totals = self.reads()
        except Exception:  # noqa: BLE001 - a worker lost just now: the fit's to handle, not the bar's
            return None
        return None if totals is None else float(totals[0])

    def _timing(self, now: float) -> str:
        """The last epoch's seconds (the first's from the first step: not the loading) and,
        streaming, the MB/s read during it."""
        (then, read_then), read_now = self._at, self._read()
        self._at = (now, read_now)
        seconds = now - then
        text = f"{seconds:.3g} s/epoch"
        # A rebuilt actor (a worker lost) counts from zero again: no rate for that epoch.
        if read_now is not None and read_then is not None and read_now >= read_then:
            if seconds > 0:
                text += f", read {(read_now - read_then) / seconds / 1e6:.4g} MB/s"
        return text

    def _postfix(self, *more: str) -> str:
        return ", ".join(p for p in (self._step, self._objective, self._pass, *more) if p)

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
