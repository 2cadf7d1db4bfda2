import dask.array as da
import numpy as np
import pytest

from dasksgd.inputs import label_counts, persist


def test_label_counts_of_dask_blocks_match_numpy():
    rng = np.random.default_rng(0)
    for y in (rng.integers(0, 5, 1000), np.array(["b", "a", "c"])[rng.integers(0, 3, 1000)]):
        classes, counts = label_counts(da.from_array(y, chunks=130))
        ref_classes, ref_counts = np.unique(y, return_counts=True)
        np.testing.assert_array_equal(classes, ref_classes)
        np.testing.assert_array_equal(counts, ref_counts)


def test_persist_without_a_client_passes_arrays_through():
    X = da.ones((10, 2), chunks=5)
    out = persist(X, None, np.ones(3))
    assert out[0] is X and out[1] is None and out[2].shape == (3,)


def test_columns_of_one_parquet_file_split_differently(tmp_path):
    # read_parquet merges row groups by the bytes it reads, so df["y"] and df[features] of the
    # same file can come in different partitions; fitting them must work (it failed with dask's
    # "number of items in 'lengths' does not match the number of partitions").
    import dask.dataframe as dd
    import pandas as pd

    from dasksgd import SGDClassifier

    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((3000, 2)), columns=["a", "b"])
    df["y"] = np.where(df["a"] > 0.5, "yes", "no")
    dd.from_pandas(df, npartitions=3).to_parquet(str(tmp_path / "d.parquet"), write_index=False)
    data = dd.read_parquet(str(tmp_path / "d.parquet"))
    est = SGDClassifier(max_iter=5, tol=None, random_state=0).fit(data[["a", "b"]], data["y"])
    ref = SGDClassifier(max_iter=5, tol=None, random_state=0).fit(df[["a", "b"]], df["y"])
    assert list(est.classes_) == ["no", "yes"]
    assert est.score(df[["a", "b"]], df["y"]) == pytest.approx(
        ref.score(df[["a", "b"]], df["y"]), abs=0.02
    )
