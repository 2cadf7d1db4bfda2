"""What the ``/dasksgd`` page's polls cost the scheduler on a long fit's history.

Logs the events of a fit at ``--rate`` steps a second for ``--minutes`` minutes (as the fit's
reporter does: one event per half second), then reads ``data.json`` from the start as the page
does (each answer, then at once the next while ``more``), while another thread times a round
trip to the scheduler every 10 ms (``run_on_scheduler``): what a poll makes every other
scheduler call wait.

    python benchmarks/dashboard_poll.py [--rate 300] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import threading
import time
import urllib.request

from distributed import Client, LocalCluster

from dasksgd.dashboard import INTERVAL, TOPIC, enable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=300, help="steps a second")
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    per_event = max(int(args.rate * INTERVAL), 1)
    n_events = int(args.minutes * 60 / INTERVAL)
    with (
        LocalCluster(
            n_workers=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        enable(client)
        for e in range(n_events):
            steps = [[e * per_event + i, 64, 1.0, 0.1, 0.5, e * INTERVAL] for i in range(per_event)]
            client.log_event(TOPIC, {"fit": "f", "label": "bench", "start": 0.0, "steps": steps})
        client.run_on_scheduler(lambda: None)  # the events are in
        base = client.dashboard_link.rsplit("/", 1)[0]
        waits: list[float] = []
        stop = threading.Event()

        def ping() -> None:
            while not stop.is_set():
                began = time.perf_counter()
                client.run_on_scheduler(lambda: None)
                waits.append(time.perf_counter() - began)
                time.sleep(0.01)

        pinger = threading.Thread(target=ping)
        pinger.start()
        answers, cursor, began = [], [0, 0], time.perf_counter()
        try:
            while True:
                t0 = time.perf_counter()
                url = f"{base}/dasksgd/data.json?since={cursor[0]!r}&wsince={cursor[1]!r}"
                with urllib.request.urlopen(url, timeout=60) as r:
                    body = r.read()
                data = json.loads(body)
                answers.append((len(body), time.perf_counter() - t0))
                cursor = data.get("cursor", cursor)  # none: an older page, all at once
                if not data.get("more"):
                    break
        finally:
            stop.set()
            pinger.join()
        total = time.perf_counter() - began
    waits.sort()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    print(f"history: {n_events * per_event} steps in {n_events} events")
    print(
        f"whole history read in {len(answers)} answers, {total:.3f} s; largest answer "
        f"{max(b for b, _ in answers) / 1e6:.2f} MB, slowest {max(t for _, t in answers):.3f} s"
    )
    print(
        f"scheduler round trip meanwhile: median {waits[len(waits) // 2] * 1e3:.1f} ms, "
        f"max {waits[-1] * 1e3:.1f} ms ({len(waits)} calls)"
    )


if __name__ == "__main__":
    main()
