"""The energy_lstm DAG's wiring: weekly or on fresh readings, windows before training, the
baselines beside the LSTM, register >> gate >> deploy after a promotion."""

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "energy_lstm.py"))
    assert bag.import_errors == {}
    return bag.dags["energy_lstm"]


def test_it_runs_weekly_on_monday_and_when_the_readings_change(dag):
    assert "silver.appliances_energy" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 4 * * 1"


def test_windows_then_train_and_baselines_then_register_gate_deploy(dag):
    windows = dag.get_task("windows")
    assert windows.job == "energy_windows"
    assert windows.application_args == ["--lookback", "{{ params.lookback_steps }}", "--horizon",
                                        "{{ params.targets | max }}", "--run-id", "{{ run_id }}"]
    assert dag.get_task("pin").upstream_task_ids == {"windows"}
    assert dag.get_task("train").upstream_task_ids == {"pin"}
    assert dag.get_task("baselines").upstream_task_ids == {"pin"}
    assert dag.get_task("register").upstream_task_ids == {"train", "baselines", "pin"}
    assert dag.get_task("gate").upstream_task_ids == {"register", "pin"}
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}


def test_the_form_offers_the_issue_s_knobs_with_the_reference_defaults(dag):
    params = {key: dag.params[key] for key in dag.params.keys()}
    assert params == {"config": "cpu", "lookback_steps": 864, "sample_every": None, "targets": [144],
                      "max_epochs": None, "patience": None, "seed": 0, "threads": None}


def test_no_generated_retrain_dag_duplicates_it():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS / "retrain.py"))
    assert bag.import_errors == {} and "energy_lstm" not in bag.dag_ids and "retrain_energy_lstm" not in bag.dag_ids
    assert "retrain_iris" in bag.dag_ids
