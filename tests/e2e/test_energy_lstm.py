"""Energy LSTM end to end on the embedded default with a tiny configuration (lookback 12,
horizon 6, 8 units, 2 epochs): generated readings in silver, the windows job (real Spark), the
DAG's steps (parent run, LSTM and the three baselines on a real MLflow server), registration,
the gate, and the model over a real ``bentoml serve``: a forecast for a window, several windows
in one request, and 422s naming field and row for each bad-input class."""

import importlib.util
import json
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from lakeside.processes import free_port
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

JOB = Path(__file__).resolve().parents[2] / "jobs" / "energy_windows.py"
LOOKBACK, HORIZON = 12, 6
PARAMS = {"config": "cpu", "lookback_steps": LOOKBACK, "sample_every": 1, "targets": [HORIZON], "units": 8,
          "max_epochs": 2, "patience": 2, "batch_size": 32, "seed": 0}


def post(url, body=None, raw=None):
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/invocations", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def pipeline(mlflow_server, spark, tmp_path_factory):
    from lakeside import retrain, usecases
    from lakeside.datasets import appliances_energy
    from lakeside.serving import deploy
    from lakeside.tables import Lake
    from lakeside.usecases.energy_lstm import USE_CASE
    from lakeside.usecases.energy_lstm import pipeline as steps

    home = tmp_path_factory.mktemp("energy-lstm")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        patch.setenv("LAKESIDE_SERVE_PORT", str(free_port()))
        mlflow.set_tracking_uri(mlflow_server)
        usecases.declare(USE_CASE)
        lake = Lake(home / "lake", backend="embedded", spark=spark)
        readings = appliances_energy.generate(700, seed=1)
        lake.table("silver.appliances_energy").overwrite(readings)
        spec = importlib.util.spec_from_file_location("energy_windows_job", JOB)
        job = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(job)
        facts = job.run(lake, LOOKBACK, HORIZON, run_id="e2e")

        pinned = steps.pin()
        found = steps.fit(pinned, PARAMS)
        baselines = steps.baselines(pinned, PARAMS)
        version = retrain.register("energy_lstm", found, pinned["pinned"])
        decision = retrain.decide("energy_lstm", version, pinned["pinned"])
        alias = "champion" if decision["promoted"] else "challenger"
        try:
            deployment = deploy.deploy("energy_lstm", alias)
            yield {"facts": facts, "pinned": pinned, "found": found, "baselines": baselines, "version": version,
                   "decision": decision, "url": deployment.endpoint, "readings": readings, "alias": alias}
        finally:
            deploy.stop_local("energy_lstm")


def test_four_models_are_tracked_under_one_parent_with_their_artifacts(pipeline):
    client = MlflowClient()
    parent = pipeline["pinned"]["parent_run_id"]
    assert pipeline["found"]["parent_run_id"] == parent == pipeline["baselines"]["parent_run_id"]
    children = client.search_runs([client.get_run(parent).info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    by_name = {run.info.run_name: run for run in children}
    assert set(by_name) == {"lstm", "naive", "seasonal_naive", "lightgbm"}
    lstm = by_name["lstm"]
    assert lstm.data.params["units"] == "8" and lstm.data.params["lookback_steps"] == str(LOOKBACK)
    assert lstm.data.params["source_version"] == str(pipeline["facts"]["source_version"])
    history = client.get_metric_history(lstm.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2]
    assert {"train_loss", "val_mae", "epoch_s", "best_epoch", "mae", "rmse", "skipped_gap"} <= set(lstm.data.metrics)
    files = {f.path for f in client.list_artifacts(lstm.info.run_id)}
    plots = {f.path for f in client.list_artifacts(lstm.info.run_id, "plots")}
    assert {"scaler.json", "windows.json"} <= files and {"plots/loss_curve.png", "plots/forecast.png"} <= plots
    for name in ("naive", "seasonal_naive", "lightgbm"):
        assert by_name[name].data.metrics["mae"] == pytest.approx(pipeline["baselines"]["baselines"][name]["mae"])
    assert "baselines.csv" in {f.path for f in client.list_artifacts(parent)}


def test_the_gate_judges_the_served_model_against_seasonal_naive_on_the_test_windows(pipeline):
    decision = pipeline["decision"]
    metrics = decision["challenger_metrics"]
    assert metrics["mae"] == pytest.approx(pipeline["found"]["metrics"]["mae"], rel=1e-4)
    seasonal = pipeline["baselines"]["baselines"]["seasonal_naive"]["mae"]
    assert metrics["seasonal_naive_mae"] == pytest.approx(seasonal)
    assert metrics["skill"] == pytest.approx(1 - metrics["mae"] / seasonal)
    assert decision["promoted"] == (metrics["skill"] > 1e-6)
    tags = MlflowClient().get_model_version("energy_lstm", pipeline["version"]).tags
    assert tags["gate.decision"] == ("promoted" if decision["promoted"] else "rejected")


def test_the_endpoint_forecasts_a_day_ahead_of_a_window_and_batches_windows(pipeline):
    readings, url = pipeline["readings"], pipeline["url"]
    last = readings.iloc[-LOOKBACK:].assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    status, answer = post(url, {"dataframe_split": {"columns": list(last.columns), "data": last.values.tolist()}})
    assert status == 200, answer
    expected_time = str(readings["date"].iloc[-1] + pd.Timedelta(minutes=10 * HORIZON))
    assert [row["date"] for row in answer["predictions"]] == [expected_time]
    local = mlflow.pyfunc.load_model(f"models:/energy_lstm@{pipeline['alias']}").predict(
        readings.iloc[-LOOKBACK:].reset_index(drop=True))
    assert answer["predictions"][0]["Appliances"] == pytest.approx(local["Appliances"].iloc[0], rel=1e-5)

    two = pd.concat([readings.iloc[100:100 + LOOKBACK].assign(window_id=7), last.assign(window_id=9)])
    two["date"] = pd.to_datetime(two["date"]).dt.strftime("%Y-%m-%d %H:%M:%S")
    status, answer = post(url, {"dataframe_records": two.to_dict(orient="records")})
    assert status == 200 and [row["window_id"] for row in answer["predictions"]] == [7, 9]


def test_bad_windows_are_refused_with_the_field_and_the_row(pipeline):
    url = pipeline["url"]
    window = pipeline["readings"].iloc[-LOOKBACK:].reset_index(drop=True)
    window["date"] = window["date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    records = window.to_dict(orient="records")

    def changed(row, **cells):
        copy = [dict(r) for r in records]
        copy[row].update(cells)
        return copy

    skipped = [dict(r) for r in records]
    skipped[5]["date"] = skipped[4]["date"]
    missing = [dict(r) for r in records]
    del missing[2]["RH_5"]
    cases = [
        ({"dataframe_records": records[1:]}, "date", 0, "expected 12 rows a window, received 11"),
        ({"dataframe_records": skipped}, "date", 5, "10 minutes"),
        ({"dataframe_records": missing}, "RH_5", 2, "missing column"),
        ({"dataframe_records": changed(3, Humidity=40.0)}, "Humidity", 3, "unknown column"),
        ({"dataframe_records": changed(4, T_out=None)}, "T_out", 4, "missing value"),
        ({"dataframe_records": changed(6, Appliances="sixty")}, "Appliances", 6, "a number"),
    ]
    for body, field, row, words in cases:
        status, answer = post(url, body)
        assert status == 422 and answer["field"] == field and answer["row"] == row, (field, answer)
        assert words in answer["error"], answer
    nan_body = json.dumps({"dataframe_records": changed(7, RH_1=float("nan"))}).encode()
    status, answer = post(url, raw=nan_body)
    assert status == 422 and answer["field"] == "RH_1" and answer["row"] == 7, answer
    np.testing.assert_equal(len(records), LOOKBACK)
