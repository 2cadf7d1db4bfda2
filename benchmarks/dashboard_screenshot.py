"""The screenshot of the ``/dasksgd`` page in the docs (``docs/_static/dashboard.png``).

Two fits of a small grid (two values of ``alpha``, the default ``batch_size="auto"``, one with
``early_stopping``) on a 2-worker ``LocalCluster``, then a headless Chromium screenshot of the
page once both have ended.

    python benchmarks/dashboard_screenshot.py [--out docs/_static/dashboard.png]
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import time

from distributed import Client, LocalCluster

from dasksgd import SGDClassifier
from dasksgd.datasets import make_classification

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "_static" / "dashboard.png"))
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium (apt-get install chromium)")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        X, y = make_classification(1_000_000, 30, chunks=100_000, random_state=0)
        X, y = client.persist([X, y])
        for alpha, early in ((1e-4, False), (1e-3, True)):
            SGDClassifier(alpha=alpha, early_stopping=early, max_iter=30, random_state=0).fit(X, y)
        time.sleep(1.5)  # the last events reach the scheduler
        url = client.dashboard_link.rsplit("/", 1)[0] + "/dasksgd"
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--virtual-time-budget=4000", "--window-size=1280,1000", f"--screenshot={args.out}",
             url],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"screenshot: {args.out}")


if __name__ == "__main__":
    main()
