"""The fraud DAGs' wiring: relabel on fresh transactions, retrain when the rules change (and weekly)."""

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_fraud_relabel_runs_on_fresh_transactions_and_triggers_the_retrain_on_new_rules(dagbag):
    assert dagbag.import_errors == {}
    dag = dagbag.dags["fraud_relabel"]
    assert "silver.paysim" in str(dag.timetable.asset_condition)
    relabel = dag.get_task("relabel")
    assert relabel.job == "fraud_relabel" and "{{ run_id }}" in relabel.application_args
    assert [o.name for o in relabel.outlets] == ["silver.fraud_labels", "gold.fraud_review_queue"]
    assert dag.get_task("rule_version_changed").upstream_task_ids == {"relabel"}
    retrain = dag.get_task("retrain")
    assert retrain.upstream_task_ids == {"rule_version_changed"} and retrain.trigger_dag_id == "retrain_fraud"


def test_retrain_fraud_is_weekly_and_deploys_after_a_promotion(dagbag):
    dag = dagbag.dags["retrain_fraud"]
    assert dag.timetable.expression == "0 5 * * 1"
    assert set(dag.params.keys()) == {"trainer_params"}
    assert dag.params["trainer_params"]["max_depth"] == [5, 10, 15]
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}
