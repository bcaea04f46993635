"""The batch inference DAG's wiring: one scoring job per use case declared for it, run on its
silver asset, publishing its predictions asset."""

from pathlib import Path

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_loans_is_scored_when_its_silver_table_changes():
    from airflow.dag_processing.dagbag import DagBag

    from lakeside.usecases import all_use_cases

    dagbag = DagBag(dag_folder=str(DAGS / "batch_inference.py"))
    assert dagbag.import_errors == {}
    dag = dagbag.dags["batch_inference"]
    declared = [case for case in all_use_cases() if case.batch_inference]
    assert "loans" in [case.name for case in declared]
    assert {task.task_id for task in dag.tasks} == {"day", *(f"score_{case.name}" for case in declared)}
    assert "silver.loans" in str(dag.timetable.asset_condition)
    score = dag.get_task("score_loans")
    args = score.application_args
    assert score.job == "batch_inference" and score.upstream_task_ids == {"day"}
    assert args[args.index("--model") + 1] == "loans_int_rate" and args[args.index("--source") + 1] == "silver.loans"
    assert args[args.index("--key") + 1] == "id"
    assert [outlet.name for outlet in score.outlets] == ["predictions.loans_int_rate"]
