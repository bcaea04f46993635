"""weekly_retrain end to end: Airflow runs the real tasks against a real MLflow server, and the
registry ends with a champion whose lineage leads back to the table version."""

import datetime as dt
import json
import os
import socket
import urllib.request

import pytest
from mlflow import MlflowClient

from lakeside.datasets import loans
from lakeside.tables import Lake

pytestmark = pytest.mark.slow

FAMILIES = ["linear", "hist_gradient_boosting"]


@pytest.fixture()
def retrain_env(tmp_path, monkeypatch, mlflow_server, airflow_db):
    monkeypatch.setenv("LAKESIDE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKESIDE_MODEL_PREFIX", "e2e_")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LAKESIDE_SERVE_PORT", str(probe.getsockname()[1]))
    silver = Lake(tmp_path / "lake", backend="embedded").table("silver.loans")
    silver.overwrite(loans.generate(1200, seed=11))
    yield silver
    from lakeside.serving.deploy import stop_local

    stop_local("e2e_loans_int_rate")


def test_a_retrain_leaves_a_champion_with_lineage_answering_on_loopback(retrain_env, mlflow_server):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["weekly_retrain"]
    run = dag.test(logical_date=dt.datetime(2024, 1, 8, tzinfo=dt.timezone.utc),
                   run_conf={"time_budget_s": 40, "families": FAMILIES})
    assert run.state == "success"

    client = MlflowClient(mlflow_server)
    champion = client.get_model_version_by_alias("e2e_loans_int_rate", "champion")
    challenger = client.get_model_version_by_alias("e2e_loans_int_rate", "challenger")
    assert champion.version == challenger.version == "1"
    assert champion.tags["gate.decision"] == "promoted"
    assert float(champion.tags["gate.rmse"]) < 1.5
    assert champion.tags["snapshot_table"] == "silver.loans" and champion.tags["snapshot_version"] == "0"
    assert champion.tags["use_case"] == "loans" and champion.tags["snapshot_kind"] == "hash"
    performance = Lake(os.path.join(os.environ["LAKESIDE_HOME"], "lake"), backend="embedded").table("gold.model_performance")
    rows = performance.to_pandas().set_index("metric")
    assert set(rows["version"]) == {1} and bool(rows.loc["rmse", "promoted"])
    assert rows.loc["rmse", "alias"] == "challenger,champion"
    assert rows.loc["rmse", "value"] == pytest.approx(float(champion.tags["gate.rmse"]))

    trial = client.get_run(champion.run_id)
    assert trial.data.params["family"] in FAMILIES
    inputs = trial.inputs.dataset_inputs
    source = json.loads(inputs[0].dataset.source)
    assert source["delta_table_version"] == 0 and source["path"] == retrain_env.uri

    deploy = run.get_task_instance("deploy")
    assert deploy.state == "success"
    served = deploy.xcom_pull(task_ids="deploy")
    assert (served["version"], served["bento"], served["action"]) == ("1", "lakeside-e2e_loans_int_rate:v1", "started")
    with urllib.request.urlopen(served["endpoint"] + "/model", timeout=30) as answer:
        inputs = [c["name"] for c in json.load(answer)["inputs"]]
    holdout = retrain_env.to_pandas().dropna().tail(20)
    request = {"dataframe_records": [
        {c: (v.isoformat() if hasattr(v, "isoformat") else v) for c, v in row.items()}
        for row in holdout[inputs].to_dict(orient="records")
    ]}
    answer = _post(served["endpoint"] + "/invocations", request)
    predictions = answer["predictions"]
    assert len(predictions) == 20
    errors = [p - a for p, a in zip(predictions, holdout["int_rate"])]
    assert (sum(e * e for e in errors) / len(errors)) ** 0.5 < 2.0


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.headers["X-Model-Version"] == "1"
        return json.load(answer)
