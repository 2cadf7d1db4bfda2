"""
Test accuracy against the batch size
====================================

For deep networks, very large batches can cost test accuracy (Keskar et al., 2017; Goyal et
al., 2017: flat up to about 8k images, then worse). For a convex linear model trained
to the same objective there is one optimum, so the question becomes: after a fixed budget of
passes over the data, how does the test accuracy depend on ``B``? Small batches make many noisy
steps; large ones few accurate steps. This redoes that experiment on a bundled data set.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from dasksgd import SGDClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
n = len(y_train)

sizes = [8, 32, 128, 512, n]
rows = []
for epochs in (2, 10, 50):
    for B in sizes + ["auto"]:
        clf = SGDClassifier(alpha=1e-3, batch_size=B, max_iter=epochs, tol=None, random_state=0)
        clf.fit(X_train, y_train)
        rows.append((epochs, B, clf.score(X_test, y_test)))

print("| passes | " + " | ".join(f"B={b}" for b in sizes) + " | auto |")
print("|---" * (len(sizes) + 2) + "|")
for epochs in (2, 10, 50):
    accs = [a for e, _, a in rows if e == epochs]
    print(f"| {epochs} | " + " | ".join(f"{a:.3f}" for a in accs) + " |")

fig, ax = plt.subplots(figsize=(6, 4))
for epochs in (2, 10, 50):
    ax.plot(
        sizes,
        [a for e, b, a in rows if e == epochs and b != "auto"],
        "o-",
        label=f"{epochs} passes",
    )
ax.set_xscale("log")
ax.set_xlabel("batch size B")
ax.set_ylabel("test accuracy")
ax.legend()
fig.tight_layout()
plt.show()
