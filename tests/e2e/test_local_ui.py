"""Local UI mode: one command brings up the Airflow UI, the MLflow UI and the champion's endpoint
on loopback; a run triggered through Airflow's REST API (what the UI's Trigger button calls)
is executed by the standalone scheduler and switches the endpoint; a drifted retrain waits until a
person approves it over the same API, then promotes; --stop takes all of it down."""

import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import mlflow
import pytest

from lakeside import processes, retrain
from lakeside.datasets.iris import MEASUREMENTS
from lakeside.local import ui
from lakeside.serving.deploy import post, served

pytestmark = pytest.mark.slow(expected_s=120)

MODEL = "ui_iris"
PETAL = "petal length (cm)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def ui_env(tmp_path, monkeypatch, mlflow_server):
    monkeypatch.setenv("LAKESIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "airflow"))
    monkeypatch.setenv("LAKESIDE_MODEL_PREFIX", "ui_")
    monkeypatch.setenv("LAKESIDE_UI_AIRFLOW_PORT", str(_free_port()))
    monkeypatch.setenv("LAKESIDE_SERVE_PORT", str(_free_port()))
    # only the runs this test triggers: unpausing a DAG would also start its latest scheduled run
    monkeypatch.setenv("AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE", "False")
    mlflow.set_tracking_uri(mlflow_server)
    yield
    ui.stop()


def _api(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def _trigger(airflow: str, dag_id: str, conf: dict) -> str:
    """Unpause ``dag_id`` and trigger a run with ``conf`` (what the UI's Trigger button does); its URL."""
    api = f"{airflow}/api/v2/dags/{dag_id}"
    _api(api, "PATCH", {"is_paused": False})
    run_id = _api(f"{api}/dagRuns", "POST", {"logical_date": None, "conf": conf})["dag_run_id"]
    return f"{api}/dagRuns/{urllib.parse.quote(run_id)}"


def _wait(url: str, states: tuple[str, ...], timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while (state := _api(url)["state"]) not in states and time.monotonic() < deadline:
        time.sleep(2)
    return state


def _task_states(run_url: str) -> list[str]:
    """Each task of a run as ``task_id: state (start .. end)``, for a failure's message."""
    return [f"{t['task_id']}: {t['state']} ({t['start_date']} .. {t['end_date']})"
            for t in _api(f"{run_url}/taskInstances")["task_instances"]]


def _trigger_and_wait(airflow: str, dag_id: str, conf: dict, timeout: float = 300) -> tuple[str, dict]:
    run_url = _trigger(airflow, dag_id, conf)
    state = _wait(run_url, ("success", "failed"), timeout)
    result = _api(f"{run_url}/taskInstances/deploy/xcomEntries/return_value")["value"] if state == "success" else {}
    return state, result


def _train_iris(seed: int, petal_shift: float = 0.0) -> str:
    """A new registered version of the iris use case's model (the generic path, no gate);
    ``petal_shift`` cm added to every petal length of the table it is trained on first."""
    from lakeside.tables import open_lake

    retrain.refresh_reference("iris")
    if petal_shift:
        table = open_lake(backend="embedded").table("reference.iris")
        table.overwrite(table.to_pandas().assign(**{PETAL: lambda rows: rows[PETAL] + petal_shift}))
    pinned = retrain.take_snapshot("iris")
    found = retrain.train("iris", pinned, {"time_budget_s": 4, "families": ["logistic"]}, seed=seed)
    return retrain.register("iris", found, pinned)


def test_one_command_brings_up_the_uis_and_a_run_triggered_there_switches_the_endpoint(ui_env, mlflow_server, capsys):
    first = _train_iris(seed=0)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", first)

    assert ui.main([]) == 0
    printed = capsys.readouterr().out
    airflow = f"http://127.0.0.1:{ui.airflow_port()}"
    endpoint = served(f"http://127.0.0.1:{os.environ['LAKESIDE_SERVE_PORT']}")
    assert f"Airflow UI:     {airflow}" in printed
    assert f"MLflow UI:      {mlflow_server}" in printed
    assert endpoint is not None and endpoint["version"] == first
    endpoint_url = next(line.split()[2] for line in printed.splitlines()
                        if line.startswith("Bento endpoint: http") and MODEL in line)
    assert "no champion of ui_loans_int_rate yet" in printed

    assert processes.answers(f"{airflow}/") and ui.airflow_healthy(airflow)
    assert processes.answers(f"{mlflow_server}/")
    dags = {d["dag_id"] for d in _api(f"{airflow}/api/v2/dags")["dags"]}
    assert {"daily_ingest", "weekly_retrain", "retrain_iris", "deploy_model"} <= dags
    rows = {"columns": MEASUREMENTS, "data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    assert post(endpoint_url, rows) == ["setosa", "virginica"]

    second = _train_iris(seed=1)
    mlflow.MlflowClient().set_registered_model_alias(MODEL, "champion", second)
    state, deployed = _trigger_and_wait(airflow, "deploy_model", {"model": MODEL})
    assert state == "success"
    assert deployed["action"] == f"switched to version {second}"
    assert served(endpoint_url)["version"] == second
    assert post(endpoint_url, rows) == ["setosa", "virginica"]

    assert_a_drifted_retrain_waits_for_approval_then_promotes(airflow, endpoint_url, rows)

    assert ui.main(["--stop"]) == 0
    assert not processes.answers(f"{airflow}/api/v2/monitor/health")
    assert served(endpoint_url) is None


def assert_a_drifted_retrain_waits_for_approval_then_promotes(airflow: str, endpoint_url: str, rows: dict) -> None:
    """The champion was trained on petals 3 cm too long; the retrain on the real table drifted,
    so its gate waits on `approve_drift` until a person approves over the REST API (what the
    UI's Approve button calls), then promotes and deploys the retrained model."""
    client = mlflow.MlflowClient()
    shifted = _train_iris(seed=2, petal_shift=3.0)
    client.set_registered_model_alias(MODEL, "champion", shifted)
    _trigger(airflow, "retrain_iris", {"time_budget_s": 10, "families": ["logistic"]})
    waiting = _waiting_for_approval(airflow, "retrain_iris")
    assert client.get_model_version_by_alias(MODEL, "champion").version == shifted, "promoted before approval"

    answer = _api(f"{waiting}/taskInstances/approve_drift/-1/hitlDetails", "PATCH", {"chosen_options": ["Approve"]})
    assert answer["chosen_options"] == ["Approve"]
    assert _wait(waiting, ("success", "failed")) == "success", _task_states(waiting)
    approved = [v for v in client.search_model_versions(f"name = '{MODEL}'")
                if v.tags.get("gate.drift_answer") == "Approve"]
    assert len(approved) == 1 and approved[0].tags["gate.decision"] == "promoted", [v.tags for v in approved]
    assert PETAL in approved[0].tags["gate.drift_features"]
    assert approved[0].tags["gate.drift_responder"], "the gate did not record who approved"
    runs = f"{airflow}/api/v2/dags/retrain_iris/dagRuns"
    for run in _api(runs)["dag_runs"]:
        assert _wait(f"{runs}/{urllib.parse.quote(run['dag_run_id'])}", ("success", "failed"), timeout=600) == "success"
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) >= int(approved[0].version) > int(shifted)
    assert served(endpoint_url)["version"] == champion.version
    assert post(endpoint_url, rows) == ["setosa", "virginica"]


def _waiting_for_approval(airflow: str, dag_id: str, timeout: float = 300, settle_s: float = 10) -> str:
    """The URL of the first run of ``dag_id`` whose ``approve_drift`` has awaited a person's answer
    for ``settle_s``. (An answer within a second of the task pausing races Airflow 3.3.2's
    scheduler: the resumed task is queued before the executor reports the paused process done,
    the scheduler takes that report for a lost task and retries it, and the retry waits again
    for an answer already given. Nobody clicks that fast; the test waits like a person.)"""
    runs = f"{airflow}/api/v2/dags/{dag_id}/dagRuns"
    deadline, seen = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        for run in _api(runs)["dag_runs"]:
            url = f"{runs}/{urllib.parse.quote(run['dag_run_id'])}"
            try:
                waits = _api(f"{url}/taskInstances/approve_drift")["state"] == "awaiting_input"
            except urllib.error.HTTPError:
                waits = False
            if waits and time.monotonic() - seen.setdefault(url, time.monotonic()) >= settle_s:
                return url
        time.sleep(1)
    raise AssertionError(f"no run of {dag_id} waited for approval: {_api(runs)}")
