"""
Training on a Dask cluster
==========================

The same estimator, on data that live on the workers of a :class:`distributed.LocalCluster`
(two workers in this process here, so that the example runs as it is in a notebook or a gallery;
a cluster of worker processes, or of machines, works the same way). The data are generated
block by block on the workers and never gathered: every step, each worker computes the
statistics of its share of the batch and the sums go up a reduction tree.

While a fit runs, the cluster's dashboard shows it at ``/dasksgd`` (the address is logged by the
``"dasksgd"`` logger). Afterwards ``history_`` has the same information: the batch size chosen
from the gradient diversity at each step and the objective at each epoch's end.
"""

import matplotlib.pyplot as plt
from distributed import Client, LocalCluster

from dasksgd import SGDClassifier
from dasksgd.datasets import make_classification

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
)
client = Client(cluster)
print(f"training page: http://127.0.0.1:{cluster.scheduler.http_server.port}/dasksgd")

X, y = make_classification(400_000, 20, chunks=50_000, scale_spread=1.0, random_state=0)
clf = SGDClassifier(alpha=1e-5, max_iter=30, random_state=0).fit(X, y)
print(
    f"{clf.n_iter_} epochs, {len(clf.history_)} steps on {clf.n_workers_} workers; "
    f"accuracy {clf.score(X, y):.4f}"
)

h = clf.history_
ends = h.dropna(subset=["objective"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(h["step"], h["batch_size"], label="batch size B")
ax1.plot(h["step"], h["batch_bound"], alpha=0.5, label="bound delta n Delta + 1")
ax1.set(xlabel="step", yscale="log", title="batch size from the gradient diversity")
ax1.legend()
ax2.plot(ends["time"], ends["objective"] - ends["objective"].min() + 1e-9, marker="o")
ax2.set(
    xlabel="seconds (loading included)", yscale="log", title="objective - best objective, per epoch"
)
fig.tight_layout()

client.close()
cluster.close()
