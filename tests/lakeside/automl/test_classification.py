"""A binary search (charged-off loans) on a stratified snapshot, the classification gate, and
balancing by undersampling."""

import json
import uuid

import mlflow
import nbformat
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient

from lakeside import metrics, registry, snapshot
from lakeside.automl import search
from lakeside.automl.data import undersample
from lakeside.automl.notebook import RESULT_TAG
from lakeside.datasets import loans
from lakeside.tables import Lake
from lakeside.usecases import Split

FAMILIES = ["logistic", "lightgbm", "spark_decision_tree"]
POSITIVE = "Charged Off"


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    frame = loans.generate(1500, seed=21)
    frame = frame[frame["loan_status"].isin(["Fully Paid", POSITIVE])].reset_index(drop=True)
    table = Lake(tmp_path_factory.mktemp("classification") / "lake", backend="embedded").table("silver.loans")
    table.overwrite(frame)
    return snapshot.take(table, ["id"], split=Split("stratified", holdout_fraction=0.25), target="loan_status")


@pytest.fixture(scope="module")
def result(pinned, mlflow_server, spark):
    mlflow.set_tracking_uri(mlflow_server)
    return search(pinned, "loan_status", experiment=f"classification-{uuid.uuid4().hex[:8]}", task="binary",
                  metric="pr_auc", positive=POSITIVE, balance="class_weight", exclude=("total_pymnt",),
                  families=FAMILIES, time_budget_s=600, max_trials_per_family=2, cv_folds=3, spark=spark)


@pytest.fixture(scope="module")
def holdout(pinned):
    return snapshot.split(snapshot.load(pinned), pinned)[1]


def test_trials_are_ranked_by_area_under_pr_with_classification_metrics_and_plots(result, holdout):
    board = result.leaderboard
    assert set(board["family"]) == set(FAMILIES) and result.metric == "pr_auc"
    assert list(board["cv_pr_auc"]) == sorted(board["cv_pr_auc"], reverse=True)
    for name in ("pr_auc", "roc_auc", "f1", "log_loss", "accuracy", "precision", "recall"):
        assert np.isfinite(board[f"holdout_{name}"]).all(), name
    prevalence = float((holdout["loan_status"] == POSITIVE).mean())
    assert result.best_holdout["pr_auc"] > prevalence + 0.05, (result.best_holdout, prevalence)
    client = MlflowClient()
    plots = {a.path for a in client.list_artifacts(result.best_run_id, "plots")}
    assert {"plots/confusion_matrix.png", "plots/roc_pr_curves.png", "plots/feature_importance.png"} <= plots
    matrix = pd.read_csv(client.download_artifacts(result.best_run_id, "confusion_matrix.csv"), index_col=0)
    assert int(matrix.to_numpy().sum()) == len(holdout)


def test_every_family_s_model_answers_labels_and_the_spark_tree_maps_its_classes_back(result, holdout):
    for row in result.leaderboard[result.leaderboard["model_uri"] != ""].itertuples():
        model = mlflow.pyfunc.load_model(row.model_uri)
        answered = set(np.asarray(model.predict(holdout[result.feature_columns].head(50))).tolist())
        assert answered <= {"Fully Paid", POSITIVE}, (row.family, answered)


def test_the_gate_scores_probabilities_and_refuses_a_worse_area_under_pr(result, pinned, holdout):
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    name = f"toy_default_{uuid.uuid4().hex[:8]}"
    thresholds = {"metric": "pr_auc", "min_relative_improvement": 0.0, "min": {"roc_auc": 0.5}}
    first = registry.register_challenger(result.best_model_uri, name, service_kind="tabular")
    decision = registry.gate(name, first, pinned, target="loan_status", thresholds=thresholds, task="binary",
                             positive=POSITIVE)
    assert decision.promoted, decision.reason
    assert decision.challenger_metrics["pr_auc"] == pytest.approx(result.best_holdout["pr_auc"], rel=1e-6)
    assert MlflowClient().get_registered_model(name).tags["lakeside.service_kind"] == "tabular"

    train = snapshot.split(snapshot.load(pinned), pinned)[0]
    prior = make_pipeline(OrdinalEncoder(), DummyClassifier(strategy="prior")).fit(train[["grade"]], train["loan_status"])
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(prior, name="model", input_example=train[["grade"]].head(3),
                                 metadata={"lakeside.task": "binary", "lakeside.classes": ["Charged Off", "Fully Paid"]})
    worse = registry.register_challenger(f"runs:/{run.info.run_id}/model", name)
    refused = registry.gate(name, worse, pinned, target="loan_status", thresholds=thresholds, task="binary",
                            positive=POSITIVE)
    assert not refused.promoted and "does not beat the champion" in refused.reason
    assert refused.challenger_metrics["pr_auc"] < refused.champion_metrics["pr_auc"]
    assert registry.champion_version(name) == first
    tags = MlflowClient().get_model_version(name, worse).tags
    assert float(tags["gate.pr_auc"]) == pytest.approx(refused.challenger_metrics["pr_auc"])

    with pytest.raises(registry.InvalidThresholdsError, match="does not give"):
        registry.gate(name, worse, pinned, target="loan_status", thresholds={"metric": "rmse"}, task="binary")


def test_the_classification_notebook_reproduces_the_logged_area_under_pr(result, python3_kernel, tmp_path):
    client = MlflowClient()
    family = next(f for f in result.leaderboard["family"] if not f.startswith("spark"))
    path = client.download_artifacts(result.parent_run_id, result.notebooks[family], str(tmp_path))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, kernel_name=python3_kernel, timeout=300, startup_timeout=240,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    cell = next(c for c in notebook.cells if RESULT_TAG in c.metadata.get("tags", []))
    printed = json.loads("".join(output["text"] for output in cell.outputs if output.get("name") == "stdout"))
    best = result.leaderboard[(result.leaderboard["family"] == family) & (result.leaderboard["model_uri"] != "")]
    assert printed["holdout_pr_auc"] == pytest.approx(best["holdout_pr_auc"].iloc[0], rel=1e-6)
    assert printed["logged_holdout_pr_auc"] == pytest.approx(best["holdout_pr_auc"].iloc[0], rel=1e-12)


def test_undersampling_keeps_the_rare_class_and_draws_as_many_of_the_others():
    labels = np.array(["a"] * 90 + ["b"] * 10)
    rows = undersample(np.arange(100), labels, seed=92285)
    assert sorted(labels[rows].tolist()) == ["a"] * 10 + ["b"] * 10
    assert list(rows) == sorted(rows) and list(undersample(np.arange(100), labels, seed=92285)) == list(rows)


def test_binary_metrics_match_their_definitions():
    found = metrics.classification(["n", "p", "p", "n"], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], ["n", "p"])
    assert found["recall"] == 0.5 and found["precision"] == 0.5 and found["accuracy"] == 0.5
    assert found["roc_auc"] == 0.75
