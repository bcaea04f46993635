"""One short search over every family on a small silver table, against a real MLflow server.

The table has three versions; the search is pinned to the middle one, so its lineage, its
row counts and the notebook all have to stick to that version.
"""

import json
import subprocess
import sys
import uuid

import mlflow
import nbformat
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient

from lakeside import snapshot
from lakeside.automl import FAMILIES, families_for, search
from lakeside.automl.notebook import RESULT_TAG
from lakeside.datasets import loans
from lakeside.tables import Lake

SEARCHED = [name for name in families_for("regression") if FAMILIES[name].engine == "sklearn"] + ["spark_random_forest"]
MAX_TRIALS = 2
LEAKAGE = {"id", "int_rate", "loan_status", "total_pymnt", "_ingest_date"}
METRICS = ("cv_rmse", "cv_mae", "cv_r2", "holdout_rmse", "holdout_mae", "holdout_r2", "duration_s")


def _silver(rows: int, seed: int, first_id: int = 1) -> pd.DataFrame:
    return loans.generate(rows, seed=seed, first_id=first_id).assign(_ingest_date="2024-01-01")


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    table = Lake(tmp_path_factory.mktemp("automl") / "lake", backend="embedded").table("silver.loans")
    table.overwrite(_silver(300, seed=1))
    table.overwrite(_silver(1500, seed=2))
    pinned = snapshot.take(table, ["id"])
    table.append(_silver(200, seed=3, first_id=100_000))
    return pinned


@pytest.fixture(scope="module")
def result(pinned, mlflow_server, spark):
    return search(pinned, "int_rate", time_budget_s=600, families=SEARCHED, experiment=f"automl-{uuid.uuid4().hex[:8]}",
                  exclude=("loan_status", "total_pymnt"), ordinals={"grade": tuple("ABCDEFG")},
                  seed=0, max_trials_per_family=MAX_TRIALS, spark=spark, cv_folds=3)


@pytest.fixture(scope="module")
def holdout(pinned):
    return snapshot.split(snapshot.load(pinned), pinned)[1]


@pytest.fixture(scope="module")
def client(mlflow_server):
    return MlflowClient(mlflow_server)


def test_every_trial_is_a_nested_run_with_params_metrics_and_lineage(result, pinned, client):
    board = result.leaderboard
    trials = client.search_runs([result.experiment_id], f"tags.mlflow.parentRunId = '{result.parent_run_id}'")
    assert sorted(run.info.run_id for run in trials) == sorted(board["run_id"])
    assert all(run.info.status == "FINISHED" for run in trials)
    assert set(board["family"]) == set(SEARCHED) and board.groupby("family").size().max() <= MAX_TRIALS
    assert list(board["cv_rmse"]) == sorted(board["cv_rmse"]) and board["run_id"].iloc[0] == result.best_run_id

    for run in trials:
        assert run.data.params["family"] in SEARCHED
        assert set(METRICS) <= set(run.data.metrics)
        assert run.data.tags["table"] == "silver.loans" and run.data.tags["table_version"] == "1"
        contexts = {}
        for entry in run.inputs.dataset_inputs:
            source = json.loads(entry.dataset.source)
            assert source == {"path": pinned.uri, "delta_table_version": 1}
            contexts[next(t.value for t in entry.tags if t.key == "mlflow.data.context")] = entry.dataset
        assert set(contexts) == {"training", "holdout"} and contexts["training"].name == "silver.loans"

    params = client.get_run(result.parent_run_id).data.params
    assert int(params["n_train"]) + int(params["n_holdout"]) == 1500
    assert set(result.feature_columns).isdisjoint(LEAKAGE) and "grade" in result.feature_columns


def test_the_parent_run_holds_leaderboard_and_notebooks(result, client):
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags["best_run_id"] == result.best_run_id
    artifacts = {a.path for a in client.list_artifacts(result.parent_run_id)}
    assert {"leaderboard.csv", "leaderboard.html", "notebooks", "features.json"} <= artifacts
    assert set(result.notebooks) == set(SEARCHED)
    notebooks = {a.path for a in client.list_artifacts(result.parent_run_id, "notebooks")}
    assert notebooks == set(result.notebooks.values())
    logged = pd.read_csv(client.download_artifacts(result.parent_run_id, "leaderboard.csv"), dtype={"run_id": str})
    assert list(logged["run_id"]) == list(result.leaderboard["run_id"])


def test_each_family_best_has_its_model_and_plots(result, client):
    best_of_family = result.leaderboard[result.leaderboard["model_uri"] != ""]
    assert sorted(best_of_family["family"]) == sorted(SEARCHED)
    for row in best_of_family.itertuples():
        assert row.cv_rmse == result.leaderboard.loc[result.leaderboard["family"] == row.family, "cv_rmse"].min()
        plots = {a.path for a in client.list_artifacts(row.run_id, "plots")}
        assert plots == {f"plots/{name}.png" for name in ("residuals", "predicted_vs_actual", "feature_importance")}
        signature = mlflow.models.get_model_info(row.model_uri).signature
        assert signature.inputs.input_names() == result.feature_columns


def test_the_best_model_loads_and_beats_the_grade_baseline(result, pinned, holdout):
    model = mlflow.pyfunc.load_model(result.best_model_uri)
    predicted = np.asarray(model.predict(holdout[result.feature_columns]), dtype=float)
    rmse = float(np.sqrt(np.mean((predicted - holdout["int_rate"].to_numpy()) ** 2)))
    assert rmse == pytest.approx(result.best_holdout["rmse"], rel=1e-9)

    train = snapshot.split(snapshot.load(pinned), pinned)[0]
    grade_mean = holdout["grade"].map(train.groupby("grade")["int_rate"].mean()).fillna(train["int_rate"].mean())
    baseline = float(np.sqrt(np.mean((grade_mean - holdout["int_rate"]) ** 2)))
    assert rmse < 0.7 * baseline, (rmse, baseline)


def test_the_spark_family_trains_and_its_model_scores_raw_rows(result, holdout):
    spark_rows = result.leaderboard[result.leaderboard["family"] == "spark_random_forest"]
    assert np.isfinite(spark_rows["cv_rmse"]).all()
    model = mlflow.pyfunc.load_model(spark_rows.loc[spark_rows["model_uri"] != "", "model_uri"].iloc[0])
    rows = holdout.head(20)
    predicted = np.asarray(model.predict(rows[result.feature_columns]), dtype=float)
    assert predicted.shape == (20,) and np.sqrt(np.mean((predicted - rows["int_rate"].to_numpy()) ** 2)) < 2.0


def test_the_best_family_notebook_reproduces_the_logged_holdout_rmse(result, client, python3_kernel, tmp_path):
    path = client.download_artifacts(result.parent_run_id, result.notebooks[result.best_family], str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name=python3_kernel, timeout=300, startup_timeout=240,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    cell = next(c for c in notebook.cells if RESULT_TAG in c.metadata.get("tags", []))
    printed = json.loads("".join(output["text"] for output in cell.outputs if output.get("name") == "stdout"))
    logged = client.get_run(result.best_run_id).data.metrics["holdout_rmse"]
    assert printed["holdout_rmse"] == pytest.approx(logged, rel=1e-6)
