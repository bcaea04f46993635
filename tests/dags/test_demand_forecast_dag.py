"""The ``demand_forecast`` DAG as the retrain factory builds it from the use case's declaration:
weekly (Mondays 06:00 UTC, after the night's ingest; not on every daily ingest), horizon,
engine and stores in the trigger form, snapshot >> train >> register >> gate >> deploy."""


def test_demand_forecast_runs_weekly_with_its_settings_in_the_form_and_chains_the_gate():
    from airflow.sdk import CronTriggerTimetable

    from lakeside.airflow import retrain_dag, retrain_schedule
    from lakeside.usecases.demand_forecast import USE_CASE

    dag = retrain_dag(USE_CASE, schedule=retrain_schedule(USE_CASE))
    assert dag.dag_id == "demand_forecast"
    assert isinstance(dag.timetable, CronTriggerTimetable) and dag.timetable.expression == "0 6 * * 1"
    form = dag.params["trainer_params"]
    assert (form["horizon"], form["engine"], form["compare_engines"], form["stores"]) == (90, "prophet",
                                                                                         ["auto_ets"], None)
    assert dag.get_task("train").upstream_task_ids == {"snapshot"}
    assert dag.get_task("gate").upstream_task_ids == {"register", "snapshot", "drift_check", "approve_drift"}
    assert dag.get_task("deploy").upstream_task_ids == {"promoted"}
    assert "demand_forecast" in dag.doc_md and dag.default_args["retries"] >= 1 and dag.max_active_runs == 1


def test_the_declaration_is_light_its_settings_valid_and_its_gate_on_smape():
    import subprocess
    import sys

    probe = ("import sys, lakeside.usecases.demand_forecast as d; "
             "print(sorted({'pyspark','pandas','mlflow','numpy','prophet','statsforecast'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr[-2000:]

    from lakeside.registry import load_thresholds
    from lakeside.usecases.demand_forecast import USE_CASE, train

    settings = train.settings_of(dict(USE_CASE.params))
    assert settings.engines == ("prophet", "auto_ets") and settings.holdout_days == USE_CASE.split.holdout_periods
    gate = load_thresholds("demand_forecast")
    assert gate["metric"] == "smape" and gate["lower_is_better"] is True
    assert gate["max"] == {"smape": 25.0} and gate["min"] == {"coverage": 0.8}
