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

The page is static HTML with a small script that polls ``data.json`` every second and draws SVG
with ticks and grids: the objective's decrease (its distance to the best value seen, on a log
axis) against time, the validation score with ``early_stopping``, batch size and the diversity
bound against step, step size against step, and step time per worker. Fits (a grid search's
candidates) are listed apart, newest first, and their objectives drawn together on one plot.
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


#: Rows (steps, epochs, worker times) at most in one ``data.json`` answer; the page asks again
#: at once for the rest. Bounds a poll of a long fit's history (a fit at ~300 steps/s holds
#: megabytes of it) and the time to build it.
MAX_ROWS = 20_000

#: Characters kept of a name (a fit's label, id, status, a worker's address).
MAX_NAME = 300


def _new_events(scheduler: Any, topic: str, since: float) -> list[tuple[float, Any]]:
    """The events of ``topic`` logged after time ``since``, oldest first.

    On the scheduler's event loop, where events are logged too: every event stamped up to now
    is already there, and a later one is stamped later, so the time of the last event sent is
    a cursor that neither repeats nor skips one. Walks back from the newest: the cost is the
    new events, not the history (beside ``get_events``' copy of the references).
    """
    events = scheduler.get_events(topic)
    i = len(events)
    while i > 0 and events[i - 1][0] > since:
        i -= 1
    return list(events[i:])


def _num(v: Any) -> float | None:
    """A finite number as a float, anything else (NaN, a string, a list) as null."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _name(v: Any) -> str:
    return str(v)[:MAX_NAME]


def _rows(v: Any, width: int, budget: list[int]) -> list[list[float | None]]:
    """Rows of ``width`` numbers out of an event's list (anything else dropped), at most
    ``budget[0]`` of them (what is taken is counted off)."""
    if not isinstance(v, (list, tuple)):
        return []
    rows = [
        [_num(x) for x in r[:width]] for r in v[: max(budget[0], 0)] if isinstance(r, (list, tuple))
    ]
    budget[0] -= len(rows)
    return rows


def _take(events: list, budget: int) -> tuple[list, bool]:
    """The oldest events whose rows fit ``budget`` (at least one), and whether some are left."""
    taken, rows = [], 0
    for ev in events:
        msg = ev[1]
        n = (
            sum(len(msg.get(k, ())) for k in ("steps", "epochs", "times", "reads"))
            if isinstance(msg, dict)
            else 0
        )
        if taken and rows + n > budget:
            return taken, True
        taken.append(ev)
        rows += n
    return taken, False


def _build(fit_events: list, worker_events: list, cursor: list[float], more: bool) -> str:
    """The ``data.json`` answer of these new events, every value coerced (the events come from
    any client of the cluster; the page draws them): numbers or null, names as strings.

    Runs off the scheduler's event loop; encoded in pieces, so that other threads (the loop)
    get the interpreter between them.
    """
    fits: dict[str, dict] = {}
    budget = [MAX_ROWS]

    def fit(msg: dict) -> dict:
        return fits.setdefault(
            _name(msg["fit"]), {"id": _name(msg["fit"]), "steps": [], "epochs": [], "workers": {}}
        )

    for _, msg in fit_events:
        if not isinstance(msg, dict) or "fit" not in msg:
            continue
        f = fit(msg)
        if "label" in msg:
            f["label"] = _name(msg["label"])
        if "start" in msg:
            f["start"] = _num(msg["start"])
        if msg.get("status"):
            f["status"] = _name(msg["status"])
        f["steps"] += _rows(msg.get("steps"), 6, budget)
        f["epochs"] += _rows(msg.get("epochs"), 5, budget)
    for _, msg in worker_events:
        if not isinstance(msg, dict) or "fit" not in msg or "worker" not in msg:
            continue
        f, name = fit(msg), _name(msg["worker"])
        f["workers"].setdefault(name, []).extend(_rows(msg.get("times"), 2, budget))
        if "reads" in msg:  # a streamed fit: [wall clock, seconds, bytes] of each partition read
            f.setdefault("reads", {}).setdefault(name, []).extend(_rows(msg["reads"], 3, budget))
    head = json.dumps({"now": time.time(), "cursor": cursor, "more": more})
    pieces = [json.dumps(f, allow_nan=False) for f in fits.values()]
    return head[:-1] + ', "fits": [' + ", ".join(pieces) + "]}"


try:  # the handlers need tornado and distributed's http helpers, as the dashboard does
    from distributed.http.utils import RequestHandler
except ImportError:  # pragma: no cover - distributed is a dependency
    RequestHandler = object  # type: ignore[misc, assignment]


class _Data(RequestHandler):
    """``data.json?since=T&wsince=T``: what fits (and workers) logged after those times (the
    ``cursor`` of the previous answer; 0, the default, from the start), at most ``MAX_ROWS``
    rows; ``more`` says to ask again at once."""

    async def get(self) -> None:
        import asyncio

        since = [_arg(self.get_argument("since", "0")), _arg(self.get_argument("wsince", "0"))]
        # On the loop: only picking the new events (cheap); building the answer, in a thread.
        fit_events, more = _take(_new_events(self.server, TOPIC, since[0]), MAX_ROWS // 2)
        worker_events, wmore = _take(
            _new_events(self.server, WORKER_TOPIC, since[1]), MAX_ROWS // 2
        )
        cursor = [
            fit_events[-1][0] if fit_events else since[0],
            worker_events[-1][0] if worker_events else since[1],
        ]
        body = await asyncio.get_running_loop().run_in_executor(
            None, _build, fit_events, worker_events, cursor, more or wmore
        )
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(body)


def _arg(text: str) -> float:
    """A cursor from the query string (anything that is not a finite number: the start)."""
    try:
        v = float(text)
    except ValueError:
        return 0.0
    return v if math.isfinite(v) else 0.0


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


def _serves(dask_scheduler: Any) -> bool:
    """On the scheduler: whether its web application has the page's routes."""
    return bool(getattr(dask_scheduler, "_dasksgd_routes", False))


def enable(client: Any) -> str | None:
    """Make sure ``client``'s scheduler serves the page; its address, or None when it cannot
    (no web server, or a scheduler that cannot import dasksgd: the fit goes on without it)."""
    try:
        client.register_plugin(DashboardPlugin())
        # The plugin adds the routes only where there is a web application to add them to.
        served = client.run_on_scheduler(_serves)
    except Exception as exc:  # noqa: BLE001 - the page is optional; the fit is not
        logger.debug("the dasksgd dashboard page is not available: %s", exc)
        return None
    if not served:
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
        self._running = False
        self._publish(status="loading")  # the shards load before the first step

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
        """Buffer a step; publish when ``interval`` has passed (at once for the first)."""
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
        if not self._running:
            self._running = True
            self._publish(status="running")
        elif time.perf_counter() - self._last >= self.interval:
            self._publish()

    def on_epoch(self, info: dict) -> None:
        """Publish an epoch's objective (with the steps before it)."""
        self._epochs.append(
            [
                int(info["epoch"]),
                float(info["objective"]),
                float(info["time"]),
                int(info.get("steps", 0)),
                float(info.get("validation_score", math.nan)),  # early_stopping's
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
h1{font-size:20px;margin:0 0 4px}
.about{font-size:12px;color:#555;margin:0 0 10px;max-width:1150px}
.fit,.compare{border:1px solid #ccc;border-radius:6px;padding:8px 12px;margin:0 0 16px}
.fit h2,.compare h2{font-size:15px;margin:4px 0 8px;font-weight:600}
.status{font-weight:400;color:#666}
.panels{display:flex;flex-wrap:wrap;gap:12px}
.panel{width:224px}
.panel h3{font-size:12px;margin:0 0 2px;font-weight:600}
.panel .note{font-size:11px;color:#555;min-height:28px}
svg{background:#fafafa;border:1px solid #e5e5e5}
.tick{font-size:9px;fill:#666}
.grid{stroke:#e3e3e3;stroke-width:1}
.legend{font-size:9px}
#empty{color:#666}
</style></head><body>
<h1>dasksgd: training on this cluster</h1>
<p class="about">Each fit on this cluster, newest first, from the moment it starts (loading its
shards) to its end. Every time axis counts seconds from the fit's start. The dashboard's menu has
no entry for this page: its address is /dasksgd. On /status a training cluster looks idle: the
steps are calls to actors that hold the shards, not tasks. Hover a line for its name and last
value; every step is in the estimator's <code>history_</code>.</p>
<div id="empty">No fit has reported yet. This page updates every second.</div>
<div id="compare"></div>
<div id="fits"></div>
<script>
const W = 224, H = 180, PAD = 46, COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
function fmt(v) { return typeof v !== "number" || !isFinite(v) ? "-" : v !== 0 && (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3) ? v.toExponential(2) : (+v.toPrecision(4)).toString(); }
const int = v => typeof v === "number" && isFinite(v) ? String(Math.round(v)) : "-";
const ok = (p, log) => typeof p[0] === "number" && typeof p[1] === "number" && (!log || p[1] > 0);
// Tick positions in axis units (log10 of the value on a log axis): decades, or 1-2-5 steps.
function ticks(lo, hi, log) {
  if (log) {
    const t = []; for (let k = Math.ceil(lo); k <= Math.floor(hi); k++) t.push(k);
    if (t.length > 6) { const step = Math.ceil(t.length / 6); return t.filter(k => k % step === 0); }
    return t.length >= 2 ? t : [lo, hi];
  }
  const raw = (hi - lo) / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(v => v >= raw);
  const t = []; for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12 * step; v += step) t.push(v);
  return t;
}
// One panel: series = [{name, pts: [[x, y], ...]}]; log: log10 y axis.
function panel(fitId, key, title, note, series, log, xlabel) {
  let xs = [], ys = [];
  for (const s of series) for (const p of s.pts) if (ok(p, log)) { xs.push(p[0]); ys.push(log ? Math.log10(p[1]) : p[1]); }
  let svg = `<svg width="${W}" height="${H}" data-fit="${esc(fitId)}" data-panel="${esc(key)}">`;
  if (xs.length) {
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
    const sx = x => PAD + (x - x0) / (x1 - x0) * (W - PAD - 8), sy = y => H - 26 - (y - y0) / (y1 - y0) * (H - 40);
    for (const t of ticks(y0, y1, log)) {
      svg += `<line class="grid" x1="${PAD}" x2="${W - 8}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"></line>`;
      const label = log ? (Number.isInteger(t) && Math.abs(t) > 3 ? `1e${t}` : fmt(Math.pow(10, t))) : fmt(t);
      svg += `<text class="tick" data-axis="y" x="${PAD - 3}" y="${(sy(t) + 3).toFixed(1)}" text-anchor="end">${esc(label)}</text>`;
    }
    for (const t of ticks(x0, x1, false)) {
      svg += `<line class="grid" y1="14" y2="${H - 26}" x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}"></line>`;
      svg += `<text class="tick" data-axis="x" x="${sx(t).toFixed(1)}" y="${H - 15}" text-anchor="middle">${esc(fmt(t))}</text>`;
    }
    svg += `<text class="tick" x="${(PAD + W) / 2}" y="${H - 3}" text-anchor="middle">${esc(xlabel)}</text>`;
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      const pts = s.pts.filter(p => ok(p, log));
      const d = pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(log ? Math.log10(y) : y).toFixed(1)}`).join(" ");
      const last = pts.length ? pts[pts.length - 1][1] : null;
      svg += `<polyline class="series" fill="none" stroke="${color}" stroke-width="1.5" points="${d}" ` +
             `data-fit="${esc(fitId)}" data-series="${esc(s.name)}" data-n="${pts.length}" data-last="${esc(last)}" ` +
             `data-y="${esc(pts.map(p => p[1]).join(","))}"><title>${esc(s.name)}: ${esc(fmt(last))}</title></polyline>`;
      // Inline style: a class's fill would override the attribute (every legend was grey).
      svg += `<text class="legend" data-series="${esc(s.name)}" x="${W - 10}" y="${11 + 10 * i}" text-anchor="end" style="fill:${color}">${esc(s.name)}</text>`;
    });
  } else {
    svg += `<text class="tick" x="${W / 2 - 30}" y="${H / 2}">no data yet</text>`;
  }
  return `<div class="panel"><h3>${esc(title)}</h3><div class="note">${esc(note)}</div>${svg}</svg></div>`;
}
// What the page has seen: data.json sends only what is new after the cursor.
const state = {cursor: [0, 0], fits: Object.create(null)}, CAP = 20000;
// A series past CAP points keeps every other one (the newest always): a long fit stays drawable.
function thin(a) { return a.length <= CAP ? a : a.filter((_, i) => i % 2 === 0 || i === a.length - 1); }
function merge(data) {
  state.cursor = data.cursor;
  for (const u of data.fits) {
    const f = state.fits[u.id] || (state.fits[u.id] = {id: u.id, label: u.id, status: "running", start: null, steps: [], epochs: [], workers: Object.create(null)});
    if ("label" in u) f.label = u.label;
    if ("start" in u) f.start = u.start;
    if ("status" in u) f.status = u.status;
    f.steps = thin(f.steps.concat(u.steps));
    f.epochs = thin(f.epochs.concat(u.epochs));
    for (const [w, t] of Object.entries(u.workers)) f.workers[w] = thin((f.workers[w] || []).concat(t));
    if (u.reads) { f.reads = f.reads || Object.create(null); for (const [w, t] of Object.entries(u.reads)) f.reads[w] = thin((f.reads[w] || []).concat(t)); }
  }
}
// The decrease of the objective: its distance to the best value seen (0 at the best, not drawn).
function decrease(ep) {
  const vals = ep.map(e => e[1]).filter(v => typeof v === "number");
  const best = vals.length ? Math.min(...vals) : null;
  return {best, pts: ep.map(e => [e[2], typeof e[1] === "number" ? e[1] - best : null])};
}
// Short names for fits labelled "Name(a=1, b=2)": the parameters that differ among them.
function distinct(labels) {
  const parse = l => { const m = /^[^(]*\((.*)\)$/.exec(l); return m ? m[1].split(/, (?=\w+=)/) : [l]; };
  const parts = labels.map(parse), seen = Object.create(null);
  for (const p of parts) for (const kv of p) seen[kv] = (seen[kv] || 0) + 1;
  // A parameter that another fit sets and this one leaves at its default is named "default".
  const keys = new Set(parts.flat().filter(kv => seen[kv] < labels.length).map(kv => kv.split("=")[0]));
  return parts.map((p, i) => {
    const own = new Set(p.map(kv => kv.split("=")[0]));
    const shown = [...p.filter(kv => seen[kv] < labels.length), ...[...keys].filter(k => !own.has(k)).map(k => `${k}=default`)];
    return (shown.join(", ") || labels[i]).slice(0, 40);
  });
}
function render() {
  const fits = Object.values(state.fits).sort((a, b) => (b.start || 0) - (a.start || 0));
  document.getElementById("empty").style.display = fits.length ? "none" : "block";
  // Several fits (a grid search's candidates) on one plot each: how fast each converged (its
  // decrease) and, with early stopping, its validation score; named by what sets them apart.
  const withEpochs = fits.filter(f => f.epochs.length).slice(0, COLORS.length);
  const names = distinct(withEpochs.map(f => f.label));
  const val = withEpochs.filter(f => f.epochs.some(e => typeof e[4] === "number"));
  document.getElementById("compare").innerHTML = withEpochs.length < 2 ? "" :
    `<div class="compare"><h2>all fits, compared</h2><div class="panels">` +
    panel("all", "compare", "objective minus each fit's best (log) against time", "", withEpochs.map((f, i) => ({name: names[i], pts: decrease(f.epochs).pts})), true, "seconds") +
    (val.length ? panel("all", "compare-validation", "validation score against time", "", val.map(f => ({name: names[withEpochs.indexOf(f)], pts: f.epochs.filter(e => typeof e[4] === "number").map(e => [e[2], e[4]])})), false, "seconds") : "") +
    `</div></div>`;
  document.getElementById("fits").innerHTML = fits.map(f => {
    const ep = f.epochs, st = f.steps, dec = decrease(ep);
    let gap = "";
    if (ep.length >= 2) {
      const a = ep[ep.length - 2][1], b = ep[ep.length - 1][1];
      if (typeof a === "number" && typeof b === "number" && b > 0) gap = a >= b ? `last epoch's relative decrease (a gap estimate): ${fmt((a - b) / b)}`
                                                           : `the last epoch raised the objective by ${fmt((b - a) / b)} (relative)`;
    }
    const objNote = ep.length ? `epoch ${int(ep[ep.length - 1][0])}: objective ${fmt(ep[ep.length - 1][1])}, best ${fmt(dec.best)}. ${gap}` : "";
    const workers = Object.entries(f.workers).map(([w, t]) => ({name: w.replace(/^tcp:\/\//, ""), pts: t.map(p => [p[0] - (f.start || 0), p[1] * 1000])}));
    const val = ep.filter(e => typeof e[4] === "number");
    // Seconds per epoch (an epoch is one pass over the rows) and, streaming, each read's MB/s.
    const passes = ep.slice(1).map((e, i) => [e[0], e[2] - ep[i][2]]);
    const passNote = passes.length ? `last ${fmt(passes[passes.length - 1][1])} s` : "";
    const reads = Object.entries(f.reads || {}).map(([w, t]) => ({name: w.replace(/^tcp:\/\//, ""), pts: t.filter(p => p[1] > 0).map(p => [p[0] - (f.start || 0), p[2] / p[1] / 1e6])}));
    const readMB = Object.values(f.reads || {}).flat().reduce((a, p) => a + (p[2] || 0), 0) / 1e6;
    const status = f.status === "loading" ? "loading the shards" : f.status;
    return `<div class="fit" data-fit="${esc(f.id)}"><h2>${esc(f.label)} <span class="status">${esc(status)}, ${st.length ? int(st[st.length - 1][0]) : 0} steps</span></h2><div class="panels">` +
      panel(f.id, "objective", "objective minus the best seen (log) against time", objNote, [{name: "objective - best", pts: dec.pts}], true, "seconds") +
      (val.length ? panel(f.id, "validation", "validation score against time", `last ${fmt(val[val.length - 1][4])}`, [{name: "validation score", pts: val.map(e => [e[2], e[4]])}], false, "seconds") : "") +
      panel(f.id, "batch", "batch size and diversity bound against step", st.length ? `B = ${int(st[st.length - 1][1])}` : "",
            [{name: "batch size", pts: st.map(s => [s[0], s[1]])}, {name: "delta n Delta + 1", pts: st.map(s => [s[0], s[2]])}], true, "step") +
      panel(f.id, "lr", "step size against step", st.length ? `${fmt(st[st.length - 1][3])}` : "", [{name: "step size", pts: st.map(s => [s[0], s[3]])}], true, "step") +
      panel(f.id, "workers", "step time per worker (ms) against time", "", workers, false, "seconds") +
      panel(f.id, "passes", "time per epoch (s) against epoch", passNote, [{name: "seconds per pass", pts: passes}], false, "epoch") +
      (reads.length ? panel(f.id, "reads", "read throughput per worker (MB/s) against time", `streamed from storage: ${fmt(readMB)} MB read`, reads, false, "seconds") : "") +
      `</div></div>`;
  }).join("");
}
async function poll() {
  let more = false;
  try {
    const url = location.pathname.replace(/\/?$/, "/data.json") + `?since=${state.cursor[0]}&wsince=${state.cursor[1]}`;
    const data = await (await fetch(url)).json();
    merge(data); render(); more = data.more;
  } catch (e) { document.getElementById("empty").textContent = "Cannot reach the scheduler: " + e; }
  setTimeout(poll, more ? 0 : 1000);
}
poll();
</script></body></html>
"""
