"""A search keeps its budget: slow-growing families fit on a capped, seeded sample (logged as
``train_rows`` and repeated by the notebook), and a Spark family that cannot finish a trial in
its share is stopped and recorded as skipped, with the reason."""

import dataclasses
import time
import uuid

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from lakeside import snapshot
from lakeside.automl import FAMILIES, search
from lakeside.automl.data import capped_rows
from lakeside.datasets import loans
from lakeside.tables import Lake


@pytest.fixture(scope="module")
def pinned(tmp_path_factory):
    table = Lake(tmp_path_factory.mktemp("budget") / "lake", backend="embedded").table("silver.loans")
    table.overwrite(loans.generate(1200, seed=8))
    return snapshot.take(table, ["id"])


def test_capped_rows_are_a_seeded_ordered_sample():
    rows = np.arange(1000)
    capped = capped_rows(rows, 100, seed=4)
    assert len(capped) == 100 and list(capped) == sorted(capped) and list(capped_rows(rows, 100, 4)) == list(capped)
    assert capped_rows(rows, None, 4) is rows and capped_rows(rows, 5000, 4) is rows


def test_a_capped_family_fits_on_its_cap_and_its_notebook_says_so(pinned, mlflow_server, monkeypatch):
    monkeypatch.setitem(FAMILIES, "knn", dataclasses.replace(FAMILIES["knn"], max_train_rows=300))
    mlflow.set_tracking_uri(mlflow_server)
    result = search(pinned, "int_rate", experiment=f"budget-{uuid.uuid4().hex[:8]}", families=["knn"],
                    exclude=("loan_status", "total_pymnt"), max_trials_per_family=1, cv_folds=3)
    run = MlflowClient().get_run(result.best_run_id)
    assert run.data.metrics["train_rows"] == 300
    notebook = MlflowClient().download_artifacts(result.parent_run_id, result.notebooks["knn"])
    assert "fit_rows = capped_rows(fit_rows, 300, seed=0)" in open(notebook).read()


def test_a_spark_family_past_its_share_is_stopped_and_recorded(pinned, mlflow_server, spark, monkeypatch):
    """The trial's first prediction job hangs for two minutes; the deadline cancels it, or, when
    the deadline falls before or between the trial's jobs, the next job is refused."""
    from lakeside.automl import spark_ml

    predict = spark_ml._predict

    def hang(frames):
        time.sleep(120)
        yield from frames

    def hanging_predict(model, frame):
        frame.sparkSession.range(1).mapInPandas(hang, "id long").collect()
        return predict(model, frame)

    monkeypatch.setattr(spark_ml, "_predict", hanging_predict)
    quick = {"maxIter": 2, "maxDepth": 2, "stepSize": 0.1, "minInstancesPerNode": 1}
    monkeypatch.setitem(FAMILIES, "spark_gbt", dataclasses.replace(FAMILIES["spark_gbt"], suggest=lambda trial: quick))
    mlflow.set_tracking_uri(mlflow_server)
    began = time.monotonic()
    result = search(pinned, "int_rate", experiment=f"budget-{uuid.uuid4().hex[:8]}",
                    families=["linear", "spark_gbt"], exclude=("loan_status", "total_pymnt"), time_budget_s=12,
                    cv_folds=3, max_trials_per_family=1, spark=spark)
    assert time.monotonic() - began < 100, "the hanging job was waited for instead of cancelled"
    assert "spark_gbt" in result.skipped and "stopped at the deadline" in result.skipped["spark_gbt"]
    assert set(result.leaderboard["family"]) == {"linear"}
    assert spark.range(10).count() == 10, "the session still runs jobs after the stop"


def test_a_scikit_learn_trial_past_its_share_is_killed_and_recorded(pinned, mlflow_server, monkeypatch):
    """A fit scikit-learn cannot interrupt runs in its own process, which the deadline kills."""
    from lakeside.automl.training import SklearnTrainer

    evaluate_here = SklearnTrainer.evaluate_here

    def stuck_for_knn(self, family, params, seed):
        if family.name == "knn":
            time.sleep(120)
        return evaluate_here(self, family, params, seed)

    monkeypatch.setattr(SklearnTrainer, "evaluate_here", stuck_for_knn)
    mlflow.set_tracking_uri(mlflow_server)
    began = time.monotonic()
    result = search(pinned, "int_rate", experiment=f"budget-{uuid.uuid4().hex[:8]}", families=["knn", "linear"],
                    exclude=("loan_status", "total_pymnt"), time_budget_s=10, cv_folds=3, max_trials_per_family=1)
    assert time.monotonic() - began < 60, "the stuck trial was waited for instead of stopped"
    assert "stopped at the deadline" in result.skipped["knn"]
    assert set(result.leaderboard["family"]) == {"linear"}
    failed = MlflowClient().search_runs([result.experiment_id], "tags.family = 'knn'")
    assert [run.info.status for run in failed] == ["KILLED"], "a budget stop is recorded as KILLED, not as a failed trial"
    assert "TrialStopped" in failed[0].data.tags["error"]
