import subprocess
import sys

import dasksgd


def test_public_names():
    from dasksgd import SGDClassifier, SGDRegressor, gradient_diversity

    assert set(dasksgd.__all__) == {
        "SGDClassifier",
        "SGDRegressor",
        "gradient_diversity",
        "__version__",
    }
    assert (
        callable(gradient_diversity)
        and SGDClassifier.__module__ == SGDRegressor.__module__ == "dasksgd.linear_model"
    )
    assert "SGDClassifier" in dir(dasksgd)


def test_workers_import_only_the_engine():
    # What a worker imports to run the shard actor or generate data: no scikit-learn, pandas or
    # dask.array (together ~200 MB of a worker's resident memory).
    code = (
        "import sys, pickle; import dasksgd.engine.cluster, dasksgd.datasets;"
        "from dasksgd.engine.cluster import ShardHolder; pickle.loads(pickle.dumps(ShardHolder));"
        "print(sorted(m for m in ('sklearn', 'pandas', 'dask.array', 'dasksgd.linear_model')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
