"""The command line: a Parquet (or CSV) file to a model and metrics, then to predictions; clear
one-line errors for bad input."""

import json
import re

import joblib
import numpy as np
import pandas as pd
import pytest

from dasksgd.cli import main


def _frame(n=3000, seed=0, regression=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    if regression:
        df["y"] = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(n)
    else:
        df["y"] = np.where(X[:, 0] - X[:, 1] + 0.3 * rng.standard_normal(n) > 0, "yes", "no")
    return df


def _write(df, path, parts=3):
    import dask.dataframe as dd

    ddf = dd.from_pandas(df, npartitions=parts)
    if str(path).endswith(".csv"):
        ddf.to_csv(str(path), single_file=True, index=False)
    else:
        ddf.to_parquet(str(path), write_index=False)
    return str(path)


@pytest.mark.cluster
def test_parquet_round_trip_on_a_local_cluster(tmp_path, capsys):
    df = _frame()
    data = _write(df, tmp_path / "train.parquet")
    model, metrics = tmp_path / "model.joblib", tmp_path / "metrics.json"
    assert (
        main(
            [
                "train",
                data,
                "--target",
                "y",
                "--output",
                str(model),
                "--metrics",
                str(metrics),
                "--max-iter",
                "20",
                "--workers",
                "2",  # small data would train in this process
                "--test-size",
                "0",
            ]
        )
        == 0
    )
    m = json.loads(metrics.read_text())
    assert m["estimator"] == "SGDClassifier" and m["classes"] == ["no", "yes"]
    assert m["features"] == ["a", "b", "c", "d"] and m["n_samples"] == 3000 and m["n_workers"] == 2
    assert m["score_name"] == "accuracy" and m["score"] > 0.85

    est = joblib.load(model)
    assert m["score"] == pytest.approx(est.score(df[["a", "b", "c", "d"]], df["y"]), abs=1e-12)
    new = _frame(n=500, seed=1).drop(columns="y")
    new = new[["d", "c", "b", "a"]]  # columns found by name, in any order
    out = tmp_path / "pred.parquet"
    assert (
        main(["predict", str(model), _write(new, tmp_path / "new.parquet"), "--output", str(out)])
        == 0
    )
    pred = pd.read_parquet(out)["prediction"].to_numpy()
    np.testing.assert_array_equal(pred, est.predict(new[["a", "b", "c", "d"]]))
    assert "predictions:" in capsys.readouterr().out


def test_csv_regression_in_process(tmp_path):
    df = _frame(regression=True)
    data = _write(df, tmp_path / "train.csv")
    model, metrics = tmp_path / "m.joblib", tmp_path / "m.json"
    assert (
        main(
            [
                "train",
                data,
                "--target",
                "y",
                "--workers",
                "0",
                "--features",
                "a,b,c",
                "--output",
                str(model),
                "--metrics",
                str(metrics),
            ]
        )
        == 0
    )
    m = json.loads(metrics.read_text())
    assert (
        m["estimator"] == "SGDRegressor" and m["params"]["loss"] == "squared_error"
    )  # a float target
    assert m["features"] == ["a", "b", "c"] and m["score"] > 0.95
    out = tmp_path / "pred.csv"
    assert main(["predict", str(model), data, "--output", str(out), "--workers", "0"]) == 0
    pred = pd.read_csv(out)["prediction"].to_numpy()
    np.testing.assert_allclose(pred, joblib.load(model).predict(df[["a", "b", "c"]]), rtol=1e-12)


def test_metrics_hold_a_held_out_score(tmp_path, capsys):
    # metrics.json told only the training accuracy.
    import dask.dataframe as dd

    df = _frame(n=4000)
    data = _write(df, tmp_path / "d.parquet", parts=4)
    model, metrics = tmp_path / "m.joblib", tmp_path / "m.json"
    argv = ["train", data, "--target", "y", "--output", str(model), "--metrics", str(metrics)]
    assert main([*argv, "--test-size", "0.25", "--seed", "3", "--workers", "0"]) == 0
    m, est = json.loads(metrics.read_text()), joblib.load(model)
    # The held-out rows, drawn again here as dask draws them for the same seed and partitions.
    train, test = dd.read_parquet(data).random_split([0.75, 0.25], random_state=3)
    test = test.compute()
    assert m["n_test"] == len(test) and m["n_samples"] + m["n_test"] == 4000
    assert 800 < m["n_test"] < 1200 and m["test_size"] == 0.25
    features = ["a", "b", "c", "d"]
    assert m["test_score"] == pytest.approx(est.score(test[features], test["y"]), abs=1e-12)
    assert f"held-out {m['test_score']:.4f} on {m['n_test']} rows" in capsys.readouterr().out
    assert main([*argv, "--test-size", "1.5"]) == 2


def test_predict_writes_probabilities_and_id_columns(tmp_path):
    df = _frame(n=1000)
    df["row_id"] = np.arange(len(df)) * 7
    data = _write(df, tmp_path / "d.parquet", parts=2)
    model = tmp_path / "m.joblib"
    train = ["train", data, "--target", "y", "--features", "a,b,c,d", "--output", str(model)]
    assert main([*train, "--metrics", str(tmp_path / "m.json")]) == 0
    out = tmp_path / "p.csv"
    argv = ["predict", str(model), data, "--output", str(out), "--proba", "--id", "row_id"]
    assert main(argv) == 0
    pred, est = pd.read_csv(out), joblib.load(model)
    assert list(pred.columns) == ["row_id", "prediction", "proba_no", "proba_yes"]
    np.testing.assert_array_equal(pred["row_id"], df["row_id"])
    X = df[["a", "b", "c", "d"]]
    np.testing.assert_array_equal(pred["prediction"], est.predict(X))
    np.testing.assert_allclose(pred[["proba_no", "proba_yes"]], est.predict_proba(X), rtol=1e-9)
    hinge = tmp_path / "h.joblib"
    assert (
        main([*train[:-1], str(hinge), "--loss", "hinge", "--metrics", str(tmp_path / "h.json")])
        == 0
    )
    assert main(["predict", str(hinge), data, "--proba"]) == 2  # no probabilities: said at once


@pytest.mark.cluster
def test_small_data_in_process_and_one_file_spread_over_the_workers(tmp_path, capsys):
    # Every command started a LocalCluster, even for 1,000 rows; a single file is one
    # partition, which one of two workers trained alone without a word.
    data = _write(_frame(n=1000), tmp_path / "one.parquet", parts=1)
    metrics = tmp_path / "m.json"
    argv = ["train", data, "--target", "y", "--output", str(tmp_path / "m.joblib")]
    assert main([*argv, "--metrics", str(metrics)]) == 0
    assert "working in this process" in capsys.readouterr().out
    assert json.loads(metrics.read_text())["n_workers"] == 1
    assert main([*argv, "--metrics", str(metrics), "--workers", "2"]) == 0
    assert "DATA is 1 partition(s): split into 2, one per worker" in capsys.readouterr().out
    assert json.loads(metrics.read_text())["n_workers"] == 2


@pytest.mark.cluster
def test_an_error_on_a_local_cluster_is_one_line_without_the_workers_logs(tmp_path, capfd):
    # The workers' "Compute Failed" tracebacks followed the command's one-line error.
    df = _frame(n=2000)
    model = str(tmp_path / "m.joblib")
    data = _write(df, tmp_path / "d.parquet", parts=2)
    assert main(["train", data, "--target", "y", "--output", model, "--workers", "0"]) == 0
    nan = _write(df.assign(a=df["a"].where(df.index != 5)), tmp_path / "nan.parquet", parts=2)
    capfd.readouterr()
    assert main(["predict", model, nan, "--workers", "2", "--output", str(tmp_path / "p.csv")]) == 2
    err = capfd.readouterr().err
    assert "dasksgd predict: error: Input X contains NaN" in err
    assert "Compute Failed" not in err and "Traceback" not in err, err


def test_help_names_every_option_and_its_default(capsys):
    for command in ("train", "predict", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        options = re.findall(r"^  (--[a-z-]+)", text, re.M)
        assert "--output" in options or command == "demo"
        for line in re.split(r"\n(?=  -)", text.split("options:")[1])[1:]:
            assert len(line.split()) > 2, f"{command}: no help for {line.split()[0]}"
        assert "``" not in text and "(default: None)" not in text
    assert "(default: 0.0001)" in main_help("train") and "(default: auto)" in main_help("train")
    with pytest.raises(SystemExit):
        main(["--version"])
    import dasksgd

    assert capsys.readouterr().out.strip() == f"dasksgd {dasksgd.__version__}"


def main_help(command):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main([command, "--help"])
    return " ".join(buf.getvalue().split())


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bool_and_nullable_integer_columns_are_numbers(tmp_path, suffix):
    # They passed the CLI's numeric check and failed inside fit ("X must be numeric; got dtype
    # object": bool beside float columns; numpy cannot read Int64's dtype).
    df = _frame(n=600)
    df["flag"] = df["c"] > 0
    df["n"] = pd.Series(np.arange(len(df)) % 4, dtype="Int64")
    df["y"] = pd.Series((df["a"] + df["flag"] > 0.5).astype(int), dtype="Int64")
    data = _write(df, tmp_path / f"train{suffix}")
    model = tmp_path / "m.joblib"
    argv = ["train", data, "--target", "y", "--workers", "0", "--output", str(model)]
    assert main([*argv, "--metrics", str(tmp_path / "m.json")]) == 0
    est = joblib.load(model)
    assert (
        est.classes_.tolist() == [0, 1]
        and est.score(df.drop(columns="y").astype(float), df["y"]) > 0.9
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "{tmp}/missing.parquet", "--target", "y"], "no such file"),
        (["train", "{data}", "--target", "nope"], "--target 'nope' is not a column"),
        (
            ["train", "{data}", "--target", "y", "--features", "a,zz"],
            r"feature column\(s\) \['zz'\] are not in DATA",
        ),
        (
            ["train", "{dates}", "--target", "y"],
            r"feature column\(s\) \['when'\] are neither numeric, bool, categorical nor strings",
        ),
        (
            ["train", "{data}", "--target", "y", "--categorical", "a,zz"],
            r"--categorical column\(s\) \['zz'\] are not feature columns",
        ),
        (
            ["train", "{data}", "--target", "y", "--multi-class", "multinomial", "--loss", "hinge"],
            "--multi-class multinomial needs --loss log_loss",
        ),
        (
            ["train", "{data}", "--target", "y", "--loss", "made_up"],
            "--loss 'made_up' is not one of",
        ),
        (["train", "{tmp}/notes.txt", "--target", "y"], "cannot tell CSV from Parquet"),
        (["predict", "{tmp}/none.joblib", "{data}"], "MODEL .* no such file"),
        (["predict", "{tmp}/notes.txt", "{data}"], "cannot be loaded"),
        # What the estimator refuses: its message, on one line.
        (["train", "{nan}", "--target", "y"], "Input X contains NaN"),
        (["train", "{single}", "--target", "y"], "has to be greater than one"),
        (["train", "{na_x}", "--target", "y"], "Input X contains NaN"),  # Int64 with pd.NA
        (["train", "{huge}", "--target", "y"], "too large for float64 arithmetic"),
        (["train", "{data}", "--target", "y", "--alpha", "-1"], "alpha"),
        (["train", "{na_y}", "--target", "k"], r"Input y contains missing values \(pd.NA\)"),
        # Before any work: an output that cannot be written.
        (
            ["train", "{data}", "--target", "y", "--output", "{tmp}/no/dir/m.joblib"],
            "--output .* the directory .* does not exist",
        ),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    import re

    df = _frame(n=200)
    data = _write(df, tmp_path / "d.parquet", parts=1)
    dates = _write(df.assign(when=pd.Timestamp("2020-01-01")), tmp_path / "t.parquet", parts=1)
    (tmp_path / "notes.txt").write_text("not data\n")
    nan = _write(df.assign(a=df["a"].where(df.index != 5)), tmp_path / "nan.parquet", parts=1)
    single = _write(df.assign(y="yes"), tmp_path / "single.parquet", parts=1)
    ints = pd.Series(np.arange(len(df)) % 3, dtype="Int64").where(df.index != 5, pd.NA)
    na_x = _write(df.assign(n=ints), tmp_path / "na_x.parquet", parts=1)
    na_y = _write(df.drop(columns="y").assign(k=ints), tmp_path / "na_y.parquet", parts=1)
    huge = _write(df.assign(a=df["a"].where(df.index != 5, 1e300)), tmp_path / "h.parquet", parts=1)
    files = dict(data=data, dates=dates, nan=nan, single=single, na_x=na_x, na_y=na_y, huge=huge)
    argv = [a.format(tmp=tmp_path, **files) for a in args]
    argv += ["--workers", "0"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"dasksgd {args[0]}: error:")
    assert re.search(message, err), err


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--workers", "-1"], "--workers -1: give 0"),
        (["--scheduler", "tcp://127.0.0.1:9"], "--scheduler 'tcp://127.0.0.1:9' cannot be reached"),
    ],
)
def test_a_cluster_that_cannot_train_is_one_clear_line(tmp_path, capsys, extra, message):
    import dask

    data = _write(_frame(n=200), tmp_path / "d.parquet", parts=1)
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main(["train", data, "--target", "y", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err


def test_predict_needs_the_model_columns(tmp_path, capsys):
    df = _frame(n=500)
    data = _write(df, tmp_path / "d.parquet", parts=1)
    model = tmp_path / "m.joblib"
    assert (
        main(
            [
                "train",
                data,
                "--target",
                "y",
                "--workers",
                "0",
                "--output",
                str(model),
                "--metrics",
                str(tmp_path / "m.json"),
            ]
        )
        == 0
    )
    fewer = _write(df.drop(columns=["c"]), tmp_path / "fewer.parquet", parts=1)
    assert main(["predict", str(model), fewer, "--workers", "0"]) == 2
    assert "feature column(s) ['c'] are not in DATA" in capsys.readouterr().err


@pytest.mark.cluster
def test_everything_the_cli_starts_listens_on_loopback():
    from dasksgd.cli import _cluster

    with _cluster(None, 2) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"]] + [
            w["nanny"] for w in info["workers"].values()
        ]
        assert all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        sockets = client.cluster.scheduler.http_server._sockets.values()
        assert sockets and all(s.getsockname()[0] == "127.0.0.1" for s in sockets)


@pytest.mark.cluster
def test_demo_reaches_the_optimum(capsys):
    assert (
        main(["demo", "--n-samples", "40000", "--n-features", "10", "--chunk-rows", "10000"]) == 0
    )
    out = capsys.readouterr().out
    gap = float(re.search(r"relative gap ([0-9.e+-]+)", out).group(1))
    assert gap < 1e-4 and re.search(r"Training page: http://127\.0\.0\.1:\d+/dasksgd\n", out)
    # Dask's /status needs bokeh: its link only where it works, else how to get it.
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        assert not re.search(r"http://\S+/status", out) and 'pip install -e ".[dashboard]"' in out
    else:
        assert re.search(r"Dask dashboard: http://127\.0\.0\.1:\d+/status", out)


def _shop_frame(n=1500, seed=0):
    """A table as users have it: strings, a category coded as integers, a 3-class target."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], n)
    plan = rng.choice([1, 2, 3], n)
    spend = rng.standard_normal(n)
    z = np.stack(
        [
            spend + (city == "Oslo"),
            -spend + 2.0 * (plan == 2),
            0.5 * (city == "Lima") + 1.5 * (plan == 3),
        ],
        axis=1,
    )
    label = np.array(["basic", "plus", "pro"])[
        np.argmax(z + 0.3 * rng.gumbel(size=z.shape), axis=1)
    ]
    return pd.DataFrame({"city": city, "plan": plan, "spend": spend, "tier": label})


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_string_columns_are_encoded_and_the_encoding_is_in_the_model(tmp_path, capsys, suffix):
    df = _shop_frame()
    data = _write(df, tmp_path / f"shop{suffix}")
    model, metrics = tmp_path / "m.joblib", tmp_path / "m.json"
    argv = ["train", data, "--target", "tier", "--categorical", "plan", "--workers", "0"]
    assert (
        main([*argv, "--output", str(model), "--metrics", str(metrics), "--max-iter", "200"]) == 0
    )
    out = capsys.readouterr().out
    assert "categorical columns (one-hot): plan" in out
    assert "string / category columns, one-hot: city" in out and "--string-encoding hash" in out
    est = joblib.load(model)
    names = est.encoder_.get_feature_names_out().tolist()
    assert names == [
        "city_Kyiv",
        "city_Lima",
        "city_Oslo",
        "city_Pune",
        "plan_1",
        "plan_2",
        "plan_3",
        "spend",
    ]
    assert est._multinomial and est.coef_.shape == (3, 8)
    m = json.loads(metrics.read_text())
    assert m["categorical"] == ["plan", "city"] and m["n_encoded_features"] == 8
    assert m["test_score"] > 0.7
    # A file of new rows is encoded by the model's encoding; an unseen city is one clear line.
    new = _write(df.drop(columns="tier").head(40), tmp_path / f"new{suffix}", parts=1)
    pred = tmp_path / "p.csv"
    assert main(["predict", str(model), new, "--workers", "0", "--output", str(pred)]) == 0
    np.testing.assert_array_equal(
        pd.read_csv(pred)["prediction"], est.predict(df.drop(columns="tier").head(40))
    )
    odd = df.drop(columns="tier").head(5).assign(city="Quito")
    odd_file = _write(odd, tmp_path / f"odd{suffix}", parts=1)
    capsys.readouterr()
    assert main(["predict", str(model), odd_file, "--workers", "0", "--output", str(pred)]) == 2
    err = capsys.readouterr().err
    assert "Column 'city' has categories that were not seen in training: ['Quito']" in err


def test_hashed_strings_and_ignored_unknowns(tmp_path):
    df = _shop_frame()
    data = _write(df, tmp_path / "shop.parquet")
    model = tmp_path / "m.joblib"
    argv = ["train", data, "--target", "tier", "--workers", "0", "--string-encoding", "hash"]
    assert main([*argv, "--output", str(model), "--metrics", str(tmp_path / "m.json")]) == 0
    est = joblib.load(model)
    assert est.encoder_.sparse and est.coef_.shape[1] == 2 + 2**18
    assert est.score(df.drop(columns="tier").assign(city="Quito"), df["tier"]) > 0.3
