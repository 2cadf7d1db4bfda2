import dask.array as da
import numpy as np

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
