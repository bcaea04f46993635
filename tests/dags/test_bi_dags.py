"""The gold and dashboard DAGs: what triggers them and what they publish."""

from pathlib import Path

import pytest

from lakeside.usecases import all_gold_tables


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(Path(__file__).resolve().parents[2] / "dags"))


def outlets(task):
    return sorted(asset.name for asset in task.outlets)


def test_gold_loans_runs_on_fresh_loans_and_publishes_the_portfolio(dagbag):
    dag = dagbag.dags["gold_loans"]
    assert "silver.loans" in str(dag.timetable.asset_condition)
    assert outlets(dag.get_task("build_gold")) == ["gold.loans_portfolio"]
    assert "day" in dag.params


def test_weekly_retrain_publishes_model_performance_after_every_gate_decision(dagbag):
    dag = dagbag.dags["weekly_retrain"]
    publish = dag.get_task("publish_gold")
    assert publish.upstream_task_ids == {"gate"}
    assert outlets(publish) == ["gold.model_performance"]


def test_refresh_dashboards_follows_every_gold_table(dagbag):
    dag = dagbag.dags["refresh_dashboards"]
    condition = str(dag.timetable.asset_condition)
    for _, table in all_gold_tables():
        assert table.name in condition
    assert "AssetAny" in type(dag.timetable.asset_condition).__name__
    assert dag.task_ids == ["refresh"]


@pytest.mark.parametrize(("dag_id", "task_id", "tables"), [
    ("demand_forecast", "train", ["gold.demand_backtest", "gold.demand_forecasts"]),
    ("sales_trends", "train", ["gold.sales_selection"]),
    ("geospatial_enrichment", "enrich", ["gold.borough_flows", "gold.trips_per_zone_hour", "gold.zone_pair_averages"]),
    ("fraud_relabel", "relabel", ["gold.fraud_review_queue"]),
])
def test_the_task_that_writes_a_jobs_gold_tables_publishes_them(dagbag, dag_id, task_id, tables):
    from lakeside.bi import built_by

    assert [name for name in outlets(dagbag.dags[dag_id].get_task(task_id)) if name.startswith("gold.")] == tables
    written_by_the_dag = sorted(t.name for owner, t in all_gold_tables() if t.after == "job" and built_by(owner, t) == dag_id)
    assert written_by_the_dag == tables
