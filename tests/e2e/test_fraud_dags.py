"""The fraud DAGs through Airflow on the embedded default, over several days: `daily_ingest`
ingests two generated PaySim days, `fraud_relabel` labels each with the rule file and asks for a
retrain (no champion yet), `retrain_fraud` (a tiny grid) trains, gates and deploys the tree behind
a real `bentoml serve`, which answers with decision paths; an analyst's review drop then changes
the next relabel's label, and the unchanged rules ask for no retrain."""

import datetime as dt
import json
import os
import urllib.request

import mlflow
import pytest

from lakeside import tracking
from lakeside.processes import free_port
from lakeside.tables import Lake

pytestmark = pytest.mark.slow(expected_s=135)

DAYS = [dt.datetime(2024, 1, day, tzinfo=dt.timezone.utc) for day in (1, 2, 3)]
TINY_GRID = {"max_depth": [3, 5], "max_bins": [10, 20], "folds": 3}
MODEL = "e2e_dags_fraud_tree"


@pytest.fixture(scope="module")
def fraud_home(tmp_path_factory, mlflow_server, airflow_db):
    from lakeside.serving.deploy import stop_local

    home = tmp_path_factory.mktemp("fraud-dags")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "LAKESIDE_HOME": str(home),
            "LAKESIDE_TABLE_BACKEND": "embedded",
            "LAKESIDE_INGEST_SOURCES": "paysim",
            "LAKESIDE_MODEL_PREFIX": "e2e_dags_",
            "LAKESIDE_SERVE_PORT": str(free_port()),
            "AIRFLOW_CONN_SPARK_DEFAULT": '{"conn_type": "spark", "host": "local[2]"}',
        }.items():
            patch.setenv(name, value)
        try:
            yield home
        finally:
            stop_local(MODEL)


@pytest.fixture(scope="module")
def dags(fraud_home):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert bag.import_errors == {}
    return bag.dags


def lake(home) -> Lake:
    return Lake(home / "lake", backend="embedded")


def run(dag, day, **conf):
    done = dag.test(logical_date=day, run_conf=conf or None)
    assert done.state == "success", f"{dag.dag_id} {day:%Y-%m-%d} ended {done.state}"
    return done


def test_days_are_labelled_trained_on_served_and_reviewed(dags, fraud_home):
    from lakeside import landing
    from lakeside.datasets import fraud_reviewed_labels
    from lakeside.usecases.fraud import INPUTS, KEY, LABELS

    for day in DAYS[:2]:
        landing.land_demo_file("paysim", day.date(), rows=3000, bad_share=0.01)
        run(dags["daily_ingest"], day)
        relabelled = run(dags["fraud_relabel"], day)
        assert relabelled.get_task_instance("retrain").state == "success"  # no champion yet: retrain asked for

    labels = lake(fraud_home).table(LABELS).to_pandas()
    assert sorted(labels["_ingest_date"].astype(str).unique()) == ["2024-01-01", "2024-01-02"]
    assert len(labels) > 5800 and (labels["rule_version"] == "seed-2017.1").all()
    assert (labels["label"] == labels["rule_label"]).all() and labels["label"].sum() > 0

    retrained = run(dags["retrain_fraud"], DAYS[1] + dt.timedelta(days=6), trainer_params=TINY_GRID)
    decision = retrained.get_task_instance("gate").xcom_pull(task_ids="gate")
    elsewhere = mlflow.MlflowClient().create_run(tracking.experiment_id("e2e_dags_elsewhere")).info.run_id
    with mlflow.start_run(run_id=elsewhere):  # the trainer, run in this process, set no active experiment
        pass
    assert decision["promoted"] is True, decision
    served = retrained.get_task_instance("deploy").xcom_pull(task_ids="deploy")
    rows = labels.sort_values(list(KEY)).head(5)
    body = {"dataframe_records": json.loads(rows[list(INPUTS)].to_json(orient="records")),
            "params": {"decision_path": True}}
    answers = post(served["endpoint"] + "/invocations", body)["predictions"]
    assert len(answers) == 5
    local = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion").predict(rows[list(INPUTS)],
                                                                         params={"decision_path": True})
    assert [a["prediction"] for a in answers] == local["prediction"].tolist()
    assert [a["decision_path"] for a in answers] == [list(path) for path in local["decision_path"]]
    assert all(a["decision_path"][-1].startswith(f"predict {a['prediction']}") for a in answers)

    target = rows.iloc[[0]]
    flipped = 1 - int(target["label"].iloc[0])
    drop = landing.landing_dir("fraud_reviewed_labels", DAYS[2].date())
    drop.mkdir(parents=True)
    reviewed = fraud_reviewed_labels.decisions(target, [flipped], "ana.lyst", "2024-01-03T09:00:00Z")
    fraud_reviewed_labels.to_raw(reviewed).to_csv(drop / "reviews.csv", index=False)
    third = run(dags["fraud_relabel"], DAYS[2])
    assert third.get_task_instance("retrain").state == "skipped"  # the champion learnt these rules

    after = lake(fraud_home).table(LABELS).to_pandas().merge(target[list(KEY)], on=list(KEY))
    assert after[["label", "rule_label", "label_source", "reviewer"]].values.tolist() == [
        [flipped, int(target["label"].iloc[0]), "review", "ana.lyst"]]
    assert len(lake(fraud_home).table("silver.fraud_reviewed_labels").to_pandas()) == 1
    every_label = lake(fraud_home).table(LABELS).to_pandas()
    assert len(every_label) == len(labels) and (every_label["label_source"] == "review").sum() == 1


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)
