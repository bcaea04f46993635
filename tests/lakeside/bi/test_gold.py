"""Gold builders against an independent computation (DuckDB SQL) over small generated silver."""

from __future__ import annotations

import datetime as dt

import duckdb
import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from lakeside import gold
from lakeside.datasets import loans
from lakeside.tables import Lake
from lakeside.usecases import get
from lakeside.usecases.loans import MODEL_PERFORMANCE, PORTFOLIO
from lakeside.usecases.loans_gold import portfolio

PORTFOLIO_SQL = """
SELECT date_trunc('month', issue_d)::DATE AS issue_month, grade, addr_state, count(*) AS loans,
       sum(loan_amnt) AS amount, avg(int_rate) AS mean_int_rate,
       avg(CASE WHEN loan_status LIKE '%Charged Off' THEN 1.0 ELSE 0.0 END) AS charged_off_share,
       sum(total_pymnt) / sum(loan_amnt) AS payment_ratio
FROM silver GROUP BY ALL ORDER BY ALL
"""


def silver_day(day: str, rows: int, seed: int = 0, months_back: int = 0) -> pd.DataFrame:
    """A day's silver rows; ``months_back`` moves some loans to earlier issue months (late reports)."""
    batch = loans.daily_batch(dt.date.fromisoformat(day), rows, seed=seed)
    if months_back:
        late = batch.index % 3 == 0
        batch.loc[late, "issue_d"] = [d.replace(year=d.year - 1) for d in batch.loc[late, "issue_d"]]
    batch.loc[batch.index % 7 == 0, "loan_status"] = "Does not meet the credit policy. Status:Charged Off"
    batch["_ingest_date"] = dt.date.fromisoformat(day)
    return batch


def expected(silver: pd.DataFrame) -> pd.DataFrame:
    frame = duckdb.sql(PORTFOLIO_SQL.replace("FROM silver", "FROM silver_frame"),
                       connection=_connection(silver)).df()
    frame["issue_month"] = pd.to_datetime(frame["issue_month"]).dt.date
    return frame


def _connection(silver: pd.DataFrame):
    connection = duckdb.connect()
    connection.register("silver_frame", silver)
    return connection


def sort(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["issue_month", "grade", "addr_state"], ignore_index=True)


def test_portfolio_equals_an_independent_aggregation():
    silver = pd.concat([silver_day("2024-01-02", 400, months_back=1), silver_day("2024-02-05", 300, seed=1)])
    built = sort(portfolio(silver))
    pd.testing.assert_frame_equal(built[list(expected(silver).columns)], sort(expected(silver)),
                                  check_dtype=False, rtol=1e-9)
    assert built["loans"].sum() == len(silver)


def test_an_ingest_replaces_only_the_months_it_touched(tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded")
    silver = lake.table("silver.loans")
    first = silver_day("2024-01-02", 300)
    silver.merge(first, keys=["id"])
    gold.refresh("loans", after="ingest", day="2024-01-02", lake=lake)

    second = silver_day("2024-03-04", 200, seed=2, months_back=1)  # March 2024 and March 2023
    silver.merge(second, keys=["id"])
    january_before = lake.table(PORTFOLIO.name).to_pandas().query("issue_month == @dt.date(2024, 1, 1)")
    result = gold.refresh("loans", after="ingest", day="2024-03-04", lake=lake)

    assert result[PORTFOLIO.name]["months"] == ["2023-03-01", "2024-03-01"]
    table = lake.table(PORTFOLIO.name)
    stored = sort(table.to_pandas())
    everything = pd.concat([first, second])
    pd.testing.assert_frame_equal(stored[list(expected(everything).columns)], sort(expected(everything)),
                                  check_dtype=False, rtol=1e-9)
    assert table.history(1)[0].operation != "CREATE TABLE"
    unchanged = stored.query("issue_month == @dt.date(2024, 1, 1)").reset_index(drop=True)
    pd.testing.assert_frame_equal(unchanged, sort(january_before))
    assert gold.problems(lake, PORTFOLIO) == []

    again = gold.refresh("loans", after="ingest", day="2024-03-04", lake=lake)
    assert again[PORTFOLIO.name]["rows"] == result[PORTFOLIO.name]["rows"]
    pd.testing.assert_frame_equal(sort(lake.table(PORTFOLIO.name).to_pandas()), stored)


def test_a_loan_moved_to_another_month_leaves_its_old_month(tmp_path):
    """A later export corrects the issue date of some January loans to March: January loses them."""
    lake = Lake(tmp_path / "lake", backend="embedded")
    silver = lake.table("silver.loans")
    first = silver_day("2024-01-02", 300)
    silver.merge(first, keys=["id"], metadata={"logical_date": "2024-01-02"})
    gold.refresh("loans", after="ingest", day="2024-01-02", lake=lake)

    moved = first.iloc[:12].copy()
    moved["issue_d"] = dt.date(2024, 3, 1)
    moved["_ingest_date"] = dt.date(2024, 3, 4)
    silver.merge(moved, keys=["id"], newer_by="_ingest_date", metadata={"logical_date": "2024-03-04"})
    result = gold.refresh("loans", after="ingest", day="2024-03-04", lake=lake)

    assert "2024-03-01" in result[PORTFOLIO.name]["months"]
    assert {d.replace(day=1).isoformat() for d in first["issue_d"].iloc[:12]} <= set(
        result[PORTFOLIO.name]["months"]), "the months the moved loans left were not rebuilt"
    stored = sort(lake.table(PORTFOLIO.name).to_pandas())
    current = silver.to_pandas()
    pd.testing.assert_frame_equal(stored[list(expected(current).columns)], sort(expected(current)),
                                  check_dtype=False, rtol=1e-9)
    assert stored["loans"].sum() == len(first)

    gold.refresh("loans", after="ingest", day="2024-03-04", lake=lake)
    pd.testing.assert_frame_equal(sort(lake.table(PORTFOLIO.name).to_pandas()), stored)


def test_without_the_version_before_the_ingest_every_month_is_rebuilt(tmp_path, monkeypatch):
    from lakeside.tables import Table

    lake = Lake(tmp_path / "lake", backend="embedded")
    silver = lake.table("silver.loans")
    first = silver_day("2024-01-02", 200, months_back=1)
    silver.merge(first, keys=["id"], metadata={"logical_date": "2024-01-02"})
    gold.refresh("loans", after="ingest", day="2024-01-02", lake=lake)
    moved = first.iloc[:5].assign(issue_d=dt.date(2024, 3, 1), _ingest_date=dt.date(2024, 3, 4))
    silver.merge(moved, keys=["id"], newer_by="_ingest_date", metadata={"logical_date": "2024-03-04"})
    to_arrow = Table.to_arrow

    def vacuumed(self, version=None, columns=None):
        if version is not None:
            raise FileNotFoundError(f"version {version}: its files were vacuumed")
        return to_arrow(self, columns=columns)

    monkeypatch.setattr(Table, "to_arrow", vacuumed)
    result = gold.refresh("loans", after="ingest", day="2024-03-04", lake=lake)
    every_month = {d.replace(day=1).isoformat() for d in first["issue_d"]} | {"2024-03-01"}
    assert set(result[PORTFOLIO.name]["months"]) == every_month
    current = silver.to_pandas()
    stored = sort(lake.table(PORTFOLIO.name).to_pandas())
    pd.testing.assert_frame_equal(stored[list(expected(current).columns)], sort(expected(current)),
                                  check_dtype=False, rtol=1e-9)


def test_problems_name_a_missing_table_and_a_changed_column(tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded")
    assert gold.problems(lake, PORTFOLIO) == ["gold.loans_portfolio does not exist yet"]
    rows = portfolio(silver_day("2024-01-02", 50)).rename(columns={"amount": "amount_usd"})
    lake.table(PORTFOLIO.name).overwrite(rows)
    assert gold.problems(lake, PORTFOLIO) == ["gold.loans_portfolio: column amount is missing",
                                              "gold.loans_portfolio: column amount_usd is not declared"]


@pytest.fixture()
def gated_versions(mlflow_server):
    """Two versions of a model with the tags the gate writes (registry._record_decision)."""
    mlflow.set_tracking_uri(mlflow_server)
    client = MlflowClient()
    name = f"bi_gold_{dt.datetime.now():%H%M%S%f}"
    client.create_registered_model(name)
    decisions = [("promoted", 1.25, 0.81), ("rejected", 1.5, 0.7)]
    with mlflow.start_run() as run:
        mlflow.log_text("placeholder", "model/MLmodel")
    source = {"source": f"{run.info.artifact_uri}/model", "run_id": run.info.run_id}
    for number, (decision, rmse, r2) in enumerate(decisions, start=1):
        version = client.create_model_version(name, **source)
        for key, value in {"gate.decision": decision, "gate.reason": "x", "gate.at": f"2024-01-0{number}T03:00:00+00:00",
                           "gate.snapshot_version": str(number + 4), "gate.holdout_rows": "40",
                           "gate.rmse": repr(rmse), "gate.r2": repr(r2), "gate.champion_rmse": "9.0"}.items():
            client.set_model_version_tag(name, version.version, key, value)
    client.create_model_version(name, **source)  # never gated: no rows
    client.set_registered_model_alias(name, "champion", "1")
    return name


def test_model_performance_holds_every_gated_version_and_metric(tmp_path, gated_versions, monkeypatch):
    monkeypatch.setenv("LAKESIDE_MODEL_PREFIX", "")
    case = get("loans")
    monkeypatch.setattr("lakeside.retrain.model_name", lambda _case: gated_versions)
    lake = Lake(tmp_path / "lake", backend="embedded")
    lake.table(MODEL_PERFORMANCE.name).overwrite(gold.conform(pd.DataFrame([{
        "model": "other", "version": 3, "alias": "", "snapshot_version": 1,
        "evaluated_at": pd.Timestamp("2024-01-01", tz="UTC"), "metric": "rmse", "value": 2.0, "promoted": False}]),
        MODEL_PERFORMANCE))

    result = gold.model_performance(lake, MODEL_PERFORMANCE, case)

    stored = lake.table(MODEL_PERFORMANCE.name).to_pandas().sort_values(["model", "version", "metric"], ignore_index=True)
    mine = stored[stored["model"] == gated_versions]
    assert result["rows"] == 4
    assert mine[["version", "metric", "value", "promoted", "alias", "snapshot_version"]].values.tolist() == [
        [1, "r2", 0.81, True, "champion", 5], [1, "rmse", 1.25, True, "champion", 5],
        [2, "r2", 0.7, False, "", 6], [2, "rmse", 1.5, False, "", 6]]
    assert stored["model"].tolist().count("other") == 1
    assert gold.problems(lake, MODEL_PERFORMANCE) == []
