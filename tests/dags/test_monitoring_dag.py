"""The monitoring DAG's wiring: daily and after batch inference, one monitor per tabular use
case, every check feeding the alert."""

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_monitoring_checks_tables_and_each_served_model_before_alerting():
    from airflow.dag_processing.dagbag import DagBag

    dagbag = DagBag(dag_folder=str(DAGS / "monitoring.py"))
    assert dagbag.import_errors == {}
    dag = dagbag.dags["monitoring"]
    assert "predictions.loans_int_rate" in str(dag.timetable.asset_condition)
    assert dag.timetable.timetable.expression == "0 6 * * *"
    alert = dag.get_task("alert")
    assert alert.upstream_task_ids >= {"table_health", "monitor_loans"}
    assert alert.on_failure_callback, "a crossing is posted to the webhook"
    assert "compact_inference" in dag.task_ids
