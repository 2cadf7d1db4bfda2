"""The live training page of the Dask dashboard: ``/dasksgd`` on the scheduler's web server.

Built from distributed's own extension points, no second web server:

- a fit on a cluster publishes what it does as scheduler *events* (``Client.log_event``) under
  the topic ``"dasksgd"``: its steps (batch size, the diversity bound, step size, loss, time) and
  epochs (objective), in batches at most twice a second (:class:`Reporter`); every worker's actor
  publishes the seconds its shards took per step under ``"dasksgd-worker"``;
- a :class:`DashboardPlugin` (a ``SchedulerPlugin``, registered by the first fit on a cluster)
  adds two routes to the scheduler's web application: the page, and ``/dasksgd/data.json``, which
  reads the events back per fit. The module's ``routes`` also work through Dask's
  ``distributed.scheduler.http.routes`` configuration.

The page is static HTML with a small script that polls ``data.json`` every second and draws SVG:
objective against time (with the last epoch's relative decrease as an estimate of the gap),
batch size and the diversity bound against step, step size against step, and step time per
worker. Fits (a grid search's candidates) are listed apart, newest first.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from typing import Any

from .engine.cluster import WORKER_TOPIC

__all__ = ["DashboardPlugin", "Reporter", "enable", "routes", "TOPIC", "WORKER_TOPIC"]

logger = logging.getLogger("dasksgd")

TOPIC = "dasksgd"

#: Seconds between two publications of a fit's steps (each costs a round trip to the scheduler).
INTERVAL = 0.5


def _fits(scheduler: Any) -> list[dict]:
    """The fits the scheduler's events tell of, newest first."""
    fits: dict[str, dict] = {}
    for _, msg in scheduler.get_events(TOPIC):
        if not isinstance(msg, dict) or "fit" not in msg:
            continue
        f = fits.setdefault(
            msg["fit"],
            {
                "id": msg["fit"],
                "label": msg.get("label", msg["fit"]),
                "status": "running",
                "start": msg.get("start"),
                "steps": [],
                "epochs": [],
                "workers": {},
            },
        )
        f["steps"].extend(msg.get("steps", ()))
        f["epochs"].extend(msg.get("epochs", ()))
        if msg.get("status"):
            f["status"] = msg["status"]
    for _, msg in scheduler.get_events(WORKER_TOPIC):
        if isinstance(msg, dict) and msg.get("fit") in fits:
            fits[msg["fit"]]["workers"].setdefault(msg["worker"], []).extend(msg.get("times", ()))
    return sorted(fits.values(), key=lambda f: f["start"] or 0.0, reverse=True)


def _finite(v: Any) -> Any:
    """JSON has no NaN or infinity: those become null."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


try:  # the handlers need tornado and distributed's http helpers, as the dashboard does
    from distributed.http.utils import RequestHandler
except ImportError:  # pragma: no cover - distributed is a dependency
    RequestHandler = object  # type: ignore[misc, assignment]


class _Data(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps({"now": time.time(), "fits": _finite(_fits(self.server))}))


class _Page(RequestHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(PAGE)


#: Routes relative to the dashboard's prefix, in the form distributed's ``get_handlers`` reads.
routes: list[tuple] = [(r"dasksgd", _Page, {}), (r"dasksgd/data.json", _Data, {})]


try:
    from distributed.diagnostics.plugin import SchedulerPlugin
except ImportError:  # pragma: no cover
    SchedulerPlugin = object  # type: ignore[misc, assignment]


class DashboardPlugin(SchedulerPlugin):
    """Adds the ``/dasksgd`` routes to a running scheduler's web application (once)."""

    name = "dasksgd-dashboard"
    idempotent = True

    async def start(self, scheduler: Any) -> None:
        app = getattr(scheduler, "http_application", None)
        if app is None or getattr(scheduler, "_dasksgd_routes", False):
            return
        import dask
        from distributed.http.utils import get_handlers

        prefix = dask.config.get("distributed.scheduler.dashboard.prefix", None) or "/"
        app.add_handlers(r".*$", get_handlers(server=scheduler, modules=[__name__], prefix=prefix))
        scheduler._dasksgd_routes = True


def enable(client: Any) -> str | None:
    """Make sure ``client``'s scheduler serves the page; its address, or None when it cannot
    (no web server, or a scheduler that cannot import dasksgd: the fit goes on without it)."""
    try:
        client.register_plugin(DashboardPlugin())
    except Exception as exc:  # noqa: BLE001 - the page is optional; the fit is not
        logger.debug("the dasksgd dashboard page is not available: %s", exc)
        return None
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    return link.rsplit("/", 1)[0] + "/dasksgd"


class Reporter:
    """Publishes one fit's steps and epochs as scheduler events (at most every ``interval`` s).

    Parameters
    ----------
    client : distributed.Client
        The cluster's client.
    label : str
        How the page names the fit.
    fit_id : str, optional
        Identifier (default: a fresh one).
    interval : float
        Seconds between publications of buffered steps.
    """

    def __init__(
        self, client: Any, label: str, fit_id: str | None = None, interval: float = INTERVAL
    ) -> None:
        self.client = client
        self.fit_id = fit_id or uuid.uuid4().hex[:12]
        self.label = label
        self.interval = interval
        self.start = time.time()
        self._steps: list = []
        self._epochs: list = []
        self._last = 0.0
        self._publish(status="running")

    def _publish(self, status: str | None = None) -> None:
        msg = {
            "fit": self.fit_id,
            "label": self.label,
            "start": self.start,
            "steps": self._steps,
            "epochs": self._epochs,
        }
        if status:
            msg["status"] = status
        try:
            self.client.log_event(TOPIC, msg)
        except Exception as exc:  # noqa: BLE001 - reporting never stops a fit
            logger.debug("could not publish progress: %s", exc)
        self._steps, self._epochs, self._last = [], [], time.perf_counter()

    def on_step(self, info: dict) -> None:
        """Buffer a step; publish when ``interval`` has passed."""
        self._steps.append(
            [
                int(info["step"]),
                int(info["batch_size"]),
                float(info.get("bound", math.nan)),
                float(info["learning_rate"]),
                float(info["loss"]),
                float(info["time"]),
            ]
        )
        if time.perf_counter() - self._last >= self.interval:
            self._publish()

    def on_epoch(self, info: dict) -> None:
        """Publish an epoch's objective (with the steps before it)."""
        self._epochs.append(
            [
                int(info["epoch"]),
                float(info["objective"]),
                float(info["time"]),
                int(info.get("steps", 0)),
            ]
        )
        self._publish()

    def close(self, status: str = "done") -> None:
        """Publish what is left and the fit's end (``done`` or ``failed``)."""
        self._publish(status=status)


PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dasksgd: training</title>
<style>
body{font-family:system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:20px;margin:0 0 8px}
.fit{border:1px solid #ccc;border-radius:6px;padding:8px 12px;margin:0 0 16px}
.fit h2{font-size:15px;margin:4px 0 8px;font-weight:600}
.status{font-weight:400;color:#666}
.panels{display:flex;flex-wrap:wrap;gap:12px}
.panel{width:300px}
.panel h3{font-size:12px;margin:0 0 2px;font-weight:600}
.panel .note{font-size:11px;color:#555;min-height:28px}
svg{background:#fafafa;border:1px solid #e5e5e5}
.axis{font-size:9px;fill:#666}
#empty{color:#666}
</style></head><body>
<h1>dasksgd: training on this cluster</h1>
<div id="empty">No fit has reported yet. This page updates every second.</div>
<div id="fits"></div>
<script>
const W = 300, H = 170, PAD = 44, COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
function fmt(v) { return v === null || v === undefined ? "-" : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : (+v.toPrecision(6)).toString(); }
// One panel: series = [{name, pts: [[x, y], ...]}]; log: log10 y axis.
function panel(fitId, key, title, note, series, log) {
  let xs = [], ys = [];
  for (const s of series) for (const [x, y] of s.pts) if (y !== null && (!log || y > 0)) { xs.push(x); ys.push(log ? Math.log10(y) : y); }
  let svg = `<svg width="${W}" height="${H}" data-fit="${esc(fitId)}" data-panel="${key}">`;
  if (xs.length) {
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const sx = x => PAD + (x - x0) / (x1 - x0) * (W - PAD - 8), sy = y => H - 16 - (y - y0) / (y1 - y0) * (H - 28);
    const lab = v => log ? fmt(Math.pow(10, v)) : fmt(v);
    svg += `<text class="axis" x="2" y="12">${lab(y1)}</text><text class="axis" x="2" y="${H - 16}">${lab(y0)}</text>`;
    svg += `<text class="axis" x="${PAD}" y="${H - 3}">${fmt(x0)}</text><text class="axis" x="${W - 8}" y="${H - 3}" text-anchor="end">${fmt(x1)}</text>`;
    series.forEach((s, i) => {
      const pts = s.pts.filter(p => p[1] !== null && (!log || p[1] > 0));
      const d = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(log ? Math.log10(y) : y).toFixed(1)}`).join(" ");
      const last = pts.length ? pts[pts.length - 1][1] : null;
      svg += `<polyline class="series" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.5" points="${d}" ` +
             `data-fit="${esc(fitId)}" data-series="${esc(s.name)}" data-n="${pts.length}" data-last="${last}" ` +
             `data-y="${pts.map(p => p[1]).join(",")}"></polyline>`;
      svg += `<text class="axis" x="${W - 8}" y="${12 + 11 * i}" text-anchor="end" fill="${COLORS[i % COLORS.length]}">${esc(s.name)}</text>`;
    });
  } else {
    svg += `<text class="axis" x="${W / 2 - 30}" y="${H / 2}">no data yet</text>`;
  }
  return `<div class="panel"><h3>${esc(title)}</h3><div class="note">${note}</div>${svg}</svg></div>`;
}
function render(data) {
  document.getElementById("empty").style.display = data.fits.length ? "none" : "block";
  document.getElementById("fits").innerHTML = data.fits.map(f => {
    const ep = f.epochs, st = f.steps;
    let gap = "";
    if (ep.length >= 2) {
      const a = ep[ep.length - 2][1], b = ep[ep.length - 1][1];
      if (a !== null && b !== null && b > 0) gap = a >= b ? `last epoch's relative decrease (a gap estimate): ${fmt((a - b) / b)}`
                                                           : `the last epoch raised the objective by ${fmt((b - a) / b)} (relative)`;
    }
    const objNote = ep.length ? `epoch ${ep[ep.length - 1][0]}: objective ${fmt(ep[ep.length - 1][1])}. ${gap}` : "";
    const workers = Object.entries(f.workers).map(([w, t]) => ({name: w.replace(/^tcp:\/\//, ""), pts: t.map(p => [p[0] - f.start, p[1] * 1000])}));
    return `<div class="fit" data-fit="${esc(f.id)}"><h2>${esc(f.label)} <span class="status">${esc(f.status)}, ${st.length ? st[st.length - 1][0] : 0} steps</span></h2><div class="panels">` +
      panel(f.id, "objective", "objective against time (s)", objNote, [{name: "objective", pts: ep.map(e => [e[2], e[1]])}], true) +
      panel(f.id, "batch", "batch size and diversity bound against step", st.length ? `B = ${st[st.length - 1][1]}` : "",
            [{name: "batch size", pts: st.map(s => [s[0], s[1]])}, {name: "delta n Delta + 1", pts: st.map(s => [s[0], s[2]])}], true) +
      panel(f.id, "lr", "step size against step", st.length ? `${fmt(st[st.length - 1][3])}` : "", [{name: "step size", pts: st.map(s => [s[0], s[3]])}], true) +
      panel(f.id, "workers", "step time per worker (ms) against time (s)", "", workers, false) +
      `</div></div>`;
  }).join("");
}
async function poll() {
  try { const r = await fetch(location.pathname.replace(/\/?$/, "/data.json")); render(await r.json()); }
  catch (e) { document.getElementById("empty").textContent = "Cannot reach the scheduler: " + e; }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>
"""
