"""A progress bar for a fit: epochs (advancing within an epoch as its rows are stepped over),
with the latest objective, batch size and step size.

``tqdm.auto`` draws a widget in Jupyter and text on a terminal. The bar is the only output a
fit makes on its own; everything else goes to the ``"dasksgd"`` logger.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Callbacks for :func:`dasksgd.engine.train` that drive a ``tqdm`` bar.

    Parameters
    ----------
    epochs : int
        Epochs the fit may run (the bar's total; a fit that stops early leaves it short).
    n_rows : int
        Training rows per epoch.
    desc : str
        Label of the bar.
    **tqdm_kwargs
        Passed to ``tqdm.auto.tqdm`` (e.g. ``file``, ``disable``).
    """

    def __init__(self, epochs: int, n_rows: int, desc: str, **tqdm_kwargs: Any) -> None:
        from tqdm.auto import tqdm

        self.n_rows = max(int(n_rows), 1)
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
        self._post: dict[str, Any] = {}

    def on_step(self, info: dict) -> None:
        """One step: advance by its share of an epoch, show its batch size and step size."""
        self._advance(self._done + info["batch_size"] / self.n_rows)
        self._post.update(B=str(int(info["batch_size"])), lr=f"{info['learning_rate']:.3g}")
        self.bar.set_postfix(self._post, refresh=False)

    def on_epoch(self, info: dict) -> None:
        """An epoch's end: round the bar to whole epochs and show the objective."""
        self._epochs += 1
        self._advance(float(self._epochs))
        if math.isfinite(info["objective"]):
            self._post["objective"] = f"{info['objective']:.6g}"
        self.bar.set_postfix(self._post)

    def _advance(self, to: float) -> None:
        to = min(to, float(self.bar.total))
        if to > self._done:
            self.bar.update(to - self._done)
            self._done = to

    def close(self, status: str = "done") -> None:
        """Finish the bar (also after a failed fit: ``status`` is not shown)."""
        self.bar.close()
