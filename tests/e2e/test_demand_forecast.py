"""Demand forecasting end to end on the embedded default: a snapshot of ``silver.store_item``
(four good series and three bad ones), the trainer on real Spark (Prophet, AutoETS compared on
the same backtest), both gold tables, the MLflow run, registration and gate of
``demand_forecast``, the family over a real ``bentoml serve`` (the table's forecasts; 4xx naming
field and row), and a rerun of one store that replaces only that store's rows."""

import json
import urllib.error
import urllib.request

import mlflow
import numpy as np
import pandas as pd
import pytest

from lakeside.processes import free_port
from mlflow import MlflowClient

pytestmark = pytest.mark.slow

HORIZON = 30


def post(url, body):
    request = urllib.request.Request(f"{url}/invocations", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def sales() -> pd.DataFrame:
    """Stores 1-2 x items 1-2 over two years, and three bad series: too short, all zeros, a gap."""
    from lakeside.datasets import store_item

    good = store_item.generate(stores=2, items=2, start="2016-01-01", years=2, seed=8)
    days = pd.date_range("2016-01-01", "2017-12-31").date
    short = pd.DataFrame({"date": days[-100:], "store": 3, "item": 1, "sales": 9})
    zeros = pd.DataFrame({"date": days, "store": 3, "item": 2, "sales": 0})
    gap = good[(good["store"] == 1) & (good["item"] == 1)].assign(store=4)
    gap = gap[gap["date"] != pd.Timestamp("2016-06-01").date()]
    return pd.concat([good, short, zeros, gap], ignore_index=True).astype(
        {"store": "int32", "item": "int32", "sales": "int32"})


@pytest.fixture(scope="module")
def trained(mlflow_server, spark, tmp_path_factory):
    from lakeside import retrain, usecases
    from lakeside.serving import deploy
    from lakeside.tables import Lake
    from lakeside.usecases.demand_forecast import USE_CASE

    home = tmp_path_factory.mktemp("demand-forecast")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKESIDE_HOME", str(home))
        patch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
        patch.setenv("LAKESIDE_SERVE_PORT", str(free_port()))
        mlflow.set_tracking_uri(mlflow_server)
        usecases.declare(USE_CASE)
        lake = Lake(home / "lake", backend="embedded", spark=spark)
        source = sales()
        lake.table("silver.store_item").overwrite(source)
        pinned = retrain.take_snapshot("demand_forecast")
        found = retrain.train("demand_forecast", pinned, {"horizon": HORIZON, "plot_series": 2})
        version = retrain.register("demand_forecast", found, pinned)
        decision = retrain.decide("demand_forecast", version, pinned)
        try:
            deployment = retrain.deploy_champion("demand_forecast") if decision["promoted"] else None
            yield {"found": found, "version": version, "decision": decision, "deployment": deployment,
                   "lake": lake, "sales": source, "pinned": pinned}
        finally:
            deploy.stop_local("demand_forecast")


def forecasts(trained) -> pd.DataFrame:
    return trained["lake"].table("gold.demand_forecasts").to_pandas()


def test_both_gold_tables_have_the_declared_columns(trained):
    from lakeside import gold
    from lakeside.usecases.demand_forecast import BACKTEST, FORECASTS

    assert {t.name: gold.problems(trained["lake"], t) for t in (FORECASTS, BACKTEST)} == \
        {FORECASTS.name: [], BACKTEST.name: []}


def test_the_forecast_table_holds_history_and_horizon_of_every_good_series(trained):
    table = forecasts(trained)
    run_id = trained["found"]["run_id"]
    assert set(table["run_id"]) == {run_id} and set(table["engine"]) == {"prophet"}
    assert set(table["training_date"].astype(str)) == {"2017-12-31"}
    assert sorted(set(zip(table["store"], table["item"]))) == [(1, 1), (1, 2), (2, 1), (2, 2)]
    per_series = table.groupby(["store", "item"])
    assert (per_series.size() == 731 + HORIZON).all()
    assert (per_series["ds"].max().astype(str) == "2018-01-30").all()
    future = table[table["ds"] > pd.Timestamp("2017-12-31").date()]
    assert future["y"].isna().all() and len(future) == 4 * HORIZON
    source = trained["sales"].rename(columns={"date": "ds", "sales": "actual"})
    joined = table.merge(source, on=["ds", "store", "item"])
    assert len(joined) == 4 * 731 and (joined["y"] == joined["actual"]).all()
    assert (table["yhat_lower"] <= table["yhat"]).all() and (table["yhat"] <= table["yhat_upper"]).all()


def test_the_backtest_scores_both_engines_and_records_why_bad_series_were_skipped(trained):
    backtest = trained["lake"].table("gold.demand_backtest").to_pandas()
    assert set(backtest["engine"]) == {"prophet", "auto_ets"}
    assert set(backtest["cutoff"].astype(str)) == {"2017-10-03"}
    for engine, rows in backtest.groupby("engine"):
        ok = rows[rows["status"] == "ok"]
        assert len(ok) == 4 and (ok["holdout_days"] == 90).all()
        assert ok["smape"].between(5, 35).all() and ok["coverage"].between(0.7, 1.0).all(), ok
        reasons = rows[rows["status"] == "skipped"].set_index(["store", "item"])["reason"]
        assert reasons[(3, 1)].startswith("too short: 10 days") and reasons[(3, 2)].startswith("all zeros")
        assert reasons[(4, 1)].startswith("gaps: 1 days missing") and "2016-06-01" in reasons[(4, 1)]

    run = MlflowClient().get_run(trained["found"]["run_id"])
    metrics = run.data.metrics
    prophet = backtest[(backtest["engine"] == "prophet") & (backtest["status"] == "ok")]
    assert metrics["prophet_smape"] == pytest.approx(prophet["smape"].mean())
    assert metrics["smape"] == metrics["prophet_smape"] and "auto_ets_smape" in metrics
    assert run.data.params["engine"] == "prophet" and run.data.params["compare_engines"] == "auto_ets"
    files = {f.path for f in MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/smape_heat_map_prophet.png" in files and len([f for f in files if "backtest_store" in f]) == 2


def test_the_family_is_gated_on_the_backtest(trained):
    decision = trained["decision"]
    assert decision["promoted"] is True, decision
    backtest = trained["lake"].table("gold.demand_backtest").to_pandas()
    prophet = backtest[(backtest["engine"] == "prophet") & (backtest["status"] == "ok")]
    assert decision["challenger_metrics"]["smape"] == pytest.approx(prophet["smape"].mean())
    assert MlflowClient().get_model_version("demand_forecast", trained["version"]).tags["gate.decision"] == "promoted"


def test_the_served_family_answers_the_tables_forecasts_and_refuses_bad_requests(trained):
    url = trained["deployment"]["endpoint"]
    status, answer = post(url, {"inputs": [{"store": 1, "item": 2, "horizon": HORIZON},
                                           {"store": 2, "item": 1, "horizon": 3}]})
    assert status == 200, answer
    served = pd.DataFrame(answer["predictions"])
    assert len(served) == HORIZON + 3
    table = forecasts(trained)
    table = table[table["y"].isna()].assign(ds=lambda t: t["ds"].astype(str))
    expected = served[["store", "item", "ds"]].merge(table, on=["store", "item", "ds"], how="left")
    for column in ("yhat", "yhat_lower", "yhat_upper"):
        np.testing.assert_allclose(served[column], expected[column], rtol=1e-9)

    cases = [
        (post(url, {"inputs": [{"store": 1, "item": 1, "horizon": 2}, {"store": 1, "item": 50, "horizon": 2}]}),
         404, "item", 1, "no model for store 1, item 50"),
        (post(url, {"inputs": [{"store": 3, "item": 1, "horizon": 2}]}), 404, "store", 0, "no model for store 3"),
        (post(url, {"inputs": [{"store": 1, "item": 1, "horizon": HORIZON + 1}]}), 422, "horizon", 0,
         f"1 to {HORIZON} days"),
        (post(url, {"inputs": [{"store": 1, "item": 1}]}), 422, "horizon", 0, "missing column"),
        (post(url, {"inputs": [{"store": "one", "item": 1, "horizon": 2}]}), 422, "store", 0, "an integer"),
    ]
    for (status, body), code, field, row, words in cases:
        assert (status, body.get("field"), body.get("row")) == (code, field, row), body
        assert words in body["error"]


def test_a_rerun_of_one_store_replaces_only_that_stores_rows(trained):
    """What a rerun of the training date on store 2 writes: its rows replace store 2's, nothing else."""
    from pyspark.sql import functions as F

    from lakeside.usecases.demand_forecast import train

    lake = trained["lake"]
    before = forecasts(trained)
    rerun = lake.table("gold.demand_forecasts").read().filter(F.col("store") == 2) \
        .withColumn("yhat", F.col("yhat") + 1.0)
    scored = lake.table("gold.demand_backtest").to_pandas().query("store == 2")
    settings = train.settings_of({"horizon": HORIZON, "engine": "auto_ets", "stores": [2]})
    train.write_tables(lake, rerun, scored.drop(columns=["training_date", "cutoff", "run_id"]),
                       pd.Timestamp("2017-12-31"), pd.Timestamp(trained["pinned"]["split"]["cutoff"]), settings, "rerun")
    after = forecasts(trained)
    assert len(after) == len(before)
    mine = after[after["store"] == 2]
    assert set(mine["run_id"]) == {"rerun"} and set(mine["engine"]) == {"auto_ets"}
    kept = ["ds", "store", "item", "yhat", "run_id"]
    pd.testing.assert_frame_equal(
        after[after["store"] == 1][kept].sort_values(kept[:3]).reset_index(drop=True),
        before[before["store"] == 1][kept].sort_values(kept[:3]).reset_index(drop=True))
    backtest = lake.table("gold.demand_backtest").to_pandas()
    assert set(backtest[backtest["store"] == 2]["run_id"]) == {"rerun"} and len(backtest) == 14
    assert set(backtest[backtest["store"] != 2]["run_id"]) == {trained["found"]["run_id"]}
