"""TabularEncoder against pandas' get_dummies and scikit-learn's FeatureHasher, and the
estimators trained on frames with categorical, string, bool and missing values."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction import FeatureHasher

from dasksgd import SGDClassifier, SGDRegressor
from dasksgd.encoding import SPARSE_WIDTH, TabularEncoder

RNG = np.random.default_rng(0)


def _frame(n=600, seed=0):
    rng = np.random.default_rng(seed)
    cat = pd.Categorical(rng.choice(["lo", "mid", "hi"], n), categories=["lo", "mid", "hi"])
    city = pd.Series(rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], n), dtype="string")
    city[rng.random(n) < 0.05] = pd.NA  # missing strings: no category
    return pd.DataFrame(
        {
            "x": rng.standard_normal(n),
            "level": cat,
            "city": city,
            "member": rng.random(n) < 0.4,
            "count": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "code": rng.choice([10, 20, 30], n),
        }
    )


def _dummies(df, categorical):
    """The reference design matrix: pandas' get_dummies, columns in the frame's order."""
    parts = []
    for c in df.columns:
        if c in categorical:
            parts.append(pd.get_dummies(df[c], prefix=c, dtype=float))
        else:
            parts.append(df[c].astype(float).to_frame())
    return pd.concat(parts, axis=1)


def _target(df, seed=1):
    rng = np.random.default_rng(seed)
    z = (
        1.5 * df["x"]
        + df["level"].map({"lo": -1.0, "mid": 0.0, "hi": 1.0}).astype(float)
        + df["city"].map({"Oslo": 1.0, "Lima": -1.0}).astype(float).fillna(0.0)
        + 0.8 * df["member"]
    )
    return (z + 0.5 * rng.standard_normal(len(df)) > 0).astype(int).to_numpy()


def test_one_hot_is_get_dummies_and_names_follow_one_hot_encoder():
    df = _frame()
    enc = TabularEncoder.fit(df, ["code"])
    ref = _dummies(df, ["level", "city", "code"])
    np.testing.assert_array_equal(enc.transform(df), ref.to_numpy())
    # scikit-learn's OneHotEncoder names; a category dtype keeps its own order of categories.
    assert list(enc.get_feature_names_out()) == [
        "x",
        "level_lo",
        "level_mid",
        "level_hi",
        "city_Kyiv",
        "city_Lima",
        "city_Oslo",
        "city_Pune",
        "member",
        "count",
        "code_10",
        "code_20",
        "code_30",
    ]
    assert not enc.sparse and enc.n_features_in == 6


def test_dask_partitions_encode_as_the_whole_frame():
    df = _frame()
    ddf = dd.from_pandas(df, npartitions=4)
    enc = TabularEncoder.fit(ddf)  # the strings' categories in one pass
    assert (
        enc.get_feature_names_out().tolist()
        == TabularEncoder.fit(df).get_feature_names_out().tolist()
    )
    out = enc.transform(ddf)
    assert out.numblocks[0] == 4
    np.testing.assert_array_equal(out.compute(), TabularEncoder.fit(df).transform(df))


def test_unseen_category_is_named_or_ignored():
    df = _frame()
    new = df.head(10).copy()
    new["city"] = pd.Series(["Oslo"] * 9 + ["Quito"], dtype="string")
    with pytest.raises(
        ValueError,
        match=r"Column 'city' has categories that were not seen in training: \['Quito'\]",
    ):
        TabularEncoder.fit(df).transform(new)
    out = TabularEncoder.fit(df, handle_unknown="ignore").transform(new)
    city = [
        j
        for j, n in enumerate(TabularEncoder.fit(df).get_feature_names_out())
        if n.startswith("city_")
    ]
    assert out[9, city].sum() == 0.0 and out[0, city].sum() == 1.0


def test_wide_one_hot_is_sparse_and_hashing_is_feature_hasher():
    n = 3000
    ids = pd.Series([f"u{i}" for i in RNG.integers(0, SPARSE_WIDTH + 500, n)], dtype="string")
    df = pd.DataFrame({"x": RNG.standard_normal(n), "user": ids})
    enc = TabularEncoder.fit(df)
    out = enc.transform(df)
    assert enc.sparse and sp.issparse(out) and out.format == "csr"
    np.testing.assert_array_equal(out.toarray(), _dummies(df, ["user"]).to_numpy())
    hashed = TabularEncoder.fit(df, string_encoding="hash")
    got = hashed.transform(df)
    want = FeatureHasher(2**18, input_type="string", alternate_sign=False).transform(
        [[f"user={u}"] for u in ids]
    )
    assert (got[:, 1:] != want).nnz == 0
    np.testing.assert_array_equal(got[:, 0].toarray().ravel(), df["x"])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda df: TabularEncoder.fit(df, ["nope"]),
            "categorical_features names columns that X does not have: \\['nope'\\]",
        ),
        (
            lambda df: TabularEncoder.fit(df.assign(when=pd.Timestamp("2020-01-01"))),
            "Column 'when' of X has dtype datetime64",
        ),
        (
            lambda df: TabularEncoder.fit(
                df.assign(city=pd.Series([pd.NA] * len(df), dtype="string"))
            ),
            "Categorical columns \\['city'\\] of X have no value in any row",
        ),
    ],
)
def test_bad_frames_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make(_frame(50))


@pytest.mark.parametrize("kind", ["pandas", "dask"])
def test_the_model_of_a_frame_is_the_model_of_its_dummies(kind):
    df = _frame()
    y = _target(df)
    kw = dict(alpha=1e-3, tol=1e-10, max_iter=300, random_state=0)
    X = df if kind == "pandas" else dd.from_pandas(df, npartitions=3)
    Y = y if kind == "pandas" else dd.from_pandas(pd.Series(y), npartitions=3)
    est = SGDClassifier(**kw).fit(X, Y)
    ref = SGDClassifier(**kw).fit(_dummies(df, ["level", "city"]).to_numpy(), y)
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    assert est.n_features_in_ == 6
    assert est.feature_names_in_.tolist() == list(df.columns)
    assert est.coef_.shape[1] == len(est.encoder_.get_feature_names_out()) == 11
    pred = est.predict(X)
    pred = pred if kind == "pandas" else pred.compute()
    np.testing.assert_array_equal(pred, ref.predict(_dummies(df, ["level", "city"]).to_numpy()))
    assert est.score(X, Y) > 0.8


def test_regression_on_a_frame_and_predict_needs_a_frame():
    df = _frame()
    y = 2.0 * df["x"].to_numpy() + (df["level"] == "hi").to_numpy()
    est = SGDRegressor(alpha=1e-6, tol=1e-10, max_iter=200, random_state=0).fit(df, y)
    names = est.encoder_.get_feature_names_out().tolist()
    assert est.coef_[names.index("x")] == pytest.approx(2.0, abs=1e-2)
    hi, lo = est.coef_[names.index("level_hi")], est.coef_[names.index("level_lo")]
    assert hi - lo == pytest.approx(1.0, abs=1e-2)
    with pytest.raises(ValueError, match="fitted on a DataFrame with categorical columns"):
        est.predict(np.zeros((2, 6)))
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(df[["level", "x", "city", "member", "count", "code"]])


def test_missing_numbers_in_an_encoded_frame_are_refused():
    df = _frame()
    df.loc[3, "count"] = pd.NA
    with pytest.raises(ValueError, match="NaN"):
        SGDClassifier().fit(df, _target(df))


def test_categorical_features_none_encodes_nothing():
    df = _frame()
    with pytest.raises(ValueError):
        SGDClassifier(categorical_features=None).fit(df, _target(df))
    numeric = df[["x", "member", "code"]]
    est = SGDClassifier(categorical_features=None, max_iter=5, tol=None).fit(numeric, _target(df))
    assert not hasattr(est, "encoder_") and est.coef_.shape == (1, 3)


def test_a_failed_fit_keeps_the_previous_model_and_its_encoder():
    df = _frame()
    est = SGDClassifier(max_iter=5, tol=None).fit(df, _target(df))
    coef, enc = est.coef_.copy(), est.encoder_
    bad = df.assign(x=np.inf)
    with pytest.raises(ValueError):
        est.fit(bad, _target(df))
    np.testing.assert_array_equal(est.coef_, coef)
    assert est.encoder_ is enc
    est.predict(df)


def test_partial_fit_with_known_categories():
    df = _frame(900)
    y = _target(df)
    df["city"] = df["city"].astype(pd.CategoricalDtype(["Kyiv", "Lima", "Oslo", "Pune"]))
    est = SGDClassifier(random_state=0)
    for part in np.array_split(np.arange(len(df)), 3):
        est.partial_fit(df.iloc[part], y[part], classes=[0, 1])
    assert est.coef_.shape == (1, 11)
    assert est.score(df, y) > 0.75


@pytest.mark.cluster
def test_on_a_cluster_a_dask_frame_is_encoded_on_the_workers(client):
    df = _frame(2000)
    y = _target(df)
    ddf = dd.from_pandas(df, npartitions=4)
    est = SGDClassifier(alpha=1e-3, tol=1e-10, max_iter=300, random_state=0)
    est.fit(ddf, dd.from_pandas(pd.Series(y), npartitions=4))
    assert est.n_workers_ == 2
    ref = SGDClassifier(alpha=1e-3, tol=1e-10, max_iter=300, random_state=0).fit(
        _dummies(df, ["level", "city"]).to_numpy(), y
    )
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-5, atol=1e-6)
    proba = est.predict_proba(ddf).compute()
    np.testing.assert_allclose(
        proba, ref.predict_proba(_dummies(df, ["level", "city"]).to_numpy()), atol=1e-6
    )
