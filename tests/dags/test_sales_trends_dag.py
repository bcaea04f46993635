"""The ``sales_trends`` DAG as the retrain factory builds it from the use case's declaration:
weekly (Mondays 05:00 UTC) or when ``silver.weekly_sales`` changes, the trainer's settings in
the trigger form, snapshot >> train >> register >> gate >> deploy."""


def test_sales_trends_runs_weekly_or_on_fresh_sales_and_chains_the_gate():
    from airflow.sdk import AssetOrTimeSchedule

    from lakeside.airflow import retrain_dag, retrain_schedule
    from lakeside.usecases.sales_trends import USE_CASE

    dag = retrain_dag(USE_CASE, schedule=retrain_schedule(USE_CASE))
    assert dag.dag_id == "sales_trends"
    assert isinstance(dag.timetable, AssetOrTimeSchedule)
    assert dag.timetable.timetable.expression == "0 5 * * 1"
    assert "silver.weekly_sales" in str(dag.timetable.asset_condition)
    assert dag.params["trainer_params"]["stretch_factors"] == [0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5]
    assert dag.get_task("train").upstream_task_ids == {"snapshot"}
    assert dag.get_task("gate").upstream_task_ids == {"register", "snapshot", "drift_check", "approve_drift"}
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}
    assert "sales_dtw" in dag.doc_md and dag.default_args["retries"] >= 1 and dag.max_active_runs == 1


def test_the_declaration_is_light_and_names_its_gate():
    import subprocess
    import sys

    probe = ("import sys, lakeside.usecases.sales_trends as s; "
             "print(sorted({'pyspark','pandas','mlflow','numpy','dtaidistance'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]

    from lakeside.registry import load_thresholds

    gate = load_thresholds("sales_dtw")
    assert gate["metric"] == "coverage" and gate["min"] == {"coverage": 0.999, "f1": 0.5}
