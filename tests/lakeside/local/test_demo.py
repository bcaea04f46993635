"""What make demo ingests: each date once, with only the sources of the units that use it; which
runs each DAG run waits for."""

import pytest

from lakeside.local.dag_runs import DagRunStep, write_steps
from lakeside.local.demo import (backfill_steps, dag_run_steps, demo_pipelines, demo_use_cases, ingest_plan,
                                 retrain_day)
from lakeside.usecases import Backfill, Demo, Pipeline, UseCase


def test_each_demo_date_ingests_only_the_sources_of_the_units_that_use_it():
    trips = Pipeline("trips", "t", "trips_dag", ("taxi_trips",), demo=Demo(dates=("2024-01-01",)))
    loans = UseCase("l", "l", "regression", "l", "silver.loans", ("id",), target="y", sources=("loans",),
                    demo=Demo(dates=("2024-01-02", "2024-01-01")))
    reference_only = UseCase("r", "r", "regression", "r", "reference.r", ("id",), target="y", demo=Demo())
    assert ingest_plan([trips, loans, reference_only]) == {"2024-01-01": ["taxi_trips", "loans"],
                                                          "2024-01-02": ["loans"]}


def test_use_case_and_pipeline_names_are_both_accepted():
    assert [case.name for case in demo_use_cases(["loans", "geospatial"])] == ["loans"]
    assert [pipe.name for pipe in demo_pipelines(["loans", "geospatial"])] == ["geospatial"]


def test_a_use_case_without_demo_dates_retrains_on_the_last_ingested_date():
    iris = demo_use_cases(["iris"])[0]
    assert retrain_day(iris, ["2024-01-01", "2024-01-03"]) == "2024-01-03"
    assert retrain_day(iris, []) == "2024-01-01"
    assert retrain_day(demo_use_cases(["loans"])[0], ["2024-01-01"]) == "2024-01-03"


def test_a_backfilled_history_is_one_backfill_run_and_the_retrain_takes_its_last_day():
    demand = UseCase("d", "d", "forecasting", "d", "silver.store_item", ("date", "store", "item"), trainer="m:f",
                     metric="smape", demo=Demo(backfills=(Backfill("store_item", "2017-12-31", {"stores": 2}),)))
    [step] = backfill_steps([demand])
    assert (step.dag_id, step.logical_date) == ("backfill", "2017-12-31")
    assert step.conf == {"source": "store_item", "generator": {"stores": 2}}
    assert ingest_plan([demand]) == {}
    assert retrain_day(demand, ["2024-01-03"]) == "2017-12-31"


def test_each_run_waits_only_for_the_runs_it_needs():
    cases, pipelines = demo_use_cases(["loans", "iris", "demand_forecast"]), demo_pipelines(["geospatial"])
    steps = dag_run_steps(cases, pipelines, None, "http://mlflow")
    position = {step.title.split(" (")[0]: index for index, step in enumerate(steps)}
    needs = {title: {steps[p].title.split(" (")[0] for p in steps[index].after} for title, index in position.items()}
    assert needs["backfill store_item up to 2017-12-31"] == set()
    assert needs["daily_ingest 2024-01-02"] == {"gold_loans 2024-01-01"}
    assert needs["geospatial_enrichment 2024-01-01"] == {"daily_ingest 2024-01-01"}
    assert needs["weekly_retrain 2024-01-03"] == {"gold_loans 2024-01-03"}
    assert needs["retrain_iris 2024-01-03"] == set()
    assert needs["demand_forecast 2017-12-31"] == {"backfill store_item up to 2017-12-31"}
    first_ingest = steps[position["daily_ingest 2024-01-01"]]
    assert first_ingest.conf == {"sources": ["loans", "taxi_trips"]} and not first_ingest.env
    assert steps[-1].dag_id == "refresh_dashboards"


def test_a_run_can_only_need_an_earlier_one(tmp_path):
    with pytest.raises(ValueError, match="only earlier steps"):
        write_steps([DagRunStep("a", "d", "2024-01-01", after=(1,)), DagRunStep("b", "d", "2024-01-02")],
                    tmp_path / "steps.json")
