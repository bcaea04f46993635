"""Demand forecasting without Spark: each engine's JSON round trip and intervals, the rules that
skip a series with its reason, the trainer's settings, and the model family as MLflow loads it
(forecast rows, 4xx for unknown store-items and horizons out of range)."""

import json

import mlflow
import numpy as np
import pandas as pd
import pytest

from lakeside.datasets import store_item
from lakeside.serving.payloads import PayloadError
from lakeside.usecases.demand_forecast import engines, model, train
from lakeside.usecases.demand_forecast.forecast import SeriesRules, problem


def history(store=1, item=1, years=2, seed=5) -> pd.DataFrame:
    rows = store_item.generate(stores=store, items=item, start="2016-01-01", years=years, seed=seed)
    rows = rows[(rows["store"] == store) & (rows["item"] == item)]
    return pd.DataFrame({"ds": pd.to_datetime(rows["date"]), "y": rows["sales"].astype(float)}).reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted():
    series = history()
    return series, {engine: engines.fit(engine, series) for engine in engines.ENGINES}


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_an_engine_forecasts_from_its_json_with_sane_intervals(fitted, engine):
    series, params = fitted
    json.loads(params[engine])  # plain JSON, no pickle
    rows = engines.forecast(engine, engines.load(engine, params[engine]), 30, history=True, seed=7)
    assert len(rows) == len(series) + 30
    assert (rows["ds"].iloc[:len(series)].to_numpy() == series["ds"].to_numpy()).all()
    future = rows.iloc[len(series):]
    assert list(future["ds"]) == list(pd.date_range(series["ds"].iloc[-1] + pd.Timedelta(days=1), periods=30))
    assert (rows["yhat_lower"] <= rows["yhat"]).all() and (rows["yhat"] <= rows["yhat_upper"]).all()
    inside = (series["y"] >= rows["yhat_lower"].iloc[:len(series)]) & (series["y"] <= rows["yhat_upper"].iloc[:len(series)])
    assert 0.85 <= inside.mean() <= 1.0, "a 95% interval covers most of the history"
    assert abs(future["yhat"].mean() - series["y"].tail(60).mean()) < 0.35 * series["y"].tail(60).mean()


@pytest.mark.parametrize("engine", engines.ENGINES)
def test_a_forecast_from_the_json_is_the_same_after_every_load(fitted, engine):
    _, params = fitted
    loaded = engines.load(engine, params[engine])
    first = engines.forecast(engine, loaded, 20, history=False, seed=3)
    again = engines.forecast(engine, engines.load(engine, params[engine]), 20, history=False, seed=3)
    pd.testing.assert_frame_equal(first, again)


def test_bad_series_are_named_with_their_reason():
    rules = SeriesRules(min_days=100, max_missing_days=0)
    good = history(years=1)
    assert problem(good, rules) is None
    assert "too short: 50 days" in problem(good.head(50), rules)
    assert "all zeros" in problem(good.assign(y=0.0), rules)
    gaps = good.drop(index=[10, 11, 40]).reset_index(drop=True)
    reason = problem(gaps, rules)
    assert reason.startswith("gaps: 3 days missing") and str(good["ds"][10].date()) in reason
    assert problem(gaps, SeriesRules(min_days=100, max_missing_days=3)) is None
    assert "without a sales figure" in problem(good.assign(y=good["y"].where(good.index != 5)), rules)


def test_settings_are_checked():
    settings = train.settings_of({"horizon": 30, "engine": "auto_ets", "compare_engines": ["prophet", "auto_ets"],
                                  "stores": [3, 1], "spark": True})
    assert settings.engines == ("auto_ets", "prophet") and settings.stores == (1, 3)
    with pytest.raises(ValueError, match="unknown engine 'arima'"):
        train.settings_of({"engine": "arima"})
    with pytest.raises(ValueError, match="horizon must be 1 to 365"):
        train.settings_of({"horizon": 400})
    with pytest.raises(ValueError, match="unknown demand_forecast settings"):
        train.settings_of({"horizn": 3})


@pytest.fixture(scope="module")
def family(fitted, tmp_path_factory):
    series, params = fitted
    models = pd.DataFrame({"store": [1, 2], "item": [1, 7], "params": [params["prophet"], params["prophet"]]})
    folder = tmp_path_factory.mktemp("family")
    path = model.write_models(models, folder / "models.jsonl.gz")
    mlflow.pyfunc.save_model(
        str(folder / "model"), python_model=model.DemandForecastFamily(), artifacts={model.MODELS_ARTIFACT: str(path)},
        model_config={"engine": "prophet", "max_horizon": 30, "training_date": "2017-12-31", "stores": [1, 2]},
        signature=model.signature())
    return mlflow.pyfunc.load_model(str(folder / "model")), params["prophet"]


def test_the_family_answers_each_store_item_with_the_tables_rows(family):
    loaded, params = family
    asked = pd.DataFrame({"store": [1, 2], "item": [1, 7], "horizon": [5, 30]})
    answer = loaded.predict(asked)
    assert list(answer.columns) == list(model.OUTPUT_COLUMNS)
    assert len(answer) == 35 and answer["ds"].iloc[0] == "2018-01-01"
    table = engines.forecast("prophet", engines.load("prophet", params), 30, history=True,
                             seed=engines.series_seed(1, 1)).tail(30)
    np.testing.assert_allclose(answer["yhat_upper"].iloc[:5], table["yhat_upper"].iloc[:5])
    np.testing.assert_allclose(answer["yhat"].iloc[:5], table["yhat"].iloc[:5])


@pytest.mark.parametrize("row, field, status, words", [
    ({"store": 1, "item": 2, "horizon": 5}, "item", 404, "no model for store 1, item 2"),
    ({"store": 9, "item": 1, "horizon": 5}, "store", 404, "no model for store 9"),
    ({"store": 1, "item": 1, "horizon": 31}, "horizon", 422, "1 to 30 days"),
    ({"store": 1, "item": 1, "horizon": 0}, "horizon", 422, "out of range"),
])
def test_the_family_refuses_unknown_series_and_horizons_naming_field_and_row(family, row, field, status, words):
    loaded, _ = family
    asked = pd.DataFrame([{"store": 1, "item": 1, "horizon": 3}, row])
    with pytest.raises(PayloadError) as refused:
        loaded.predict(asked)
    assert (refused.value.field, refused.value.row, refused.value.status) == (field, 1, status)
    assert words in str(refused.value)


def test_a_series_the_engine_fails_on_is_recorded_not_raised(monkeypatch):
    from lakeside.usecases.demand_forecast import forecast

    def broken(engine, series):
        raise RuntimeError("optimisation did not converge")

    monkeypatch.setattr(engines, "fit", broken)
    series = history(years=1)
    group = pd.DataFrame({"store": 4, "item": 9, "ds": series["ds"].dt.date, "y": series["y"]})
    row = forecast._fit_group(group, "prophet", SeriesRules()).iloc[0]
    assert (row["store"], row["item"], row["status"], row["params"]) == (4, 9, "failed", None)
    assert row["reason"] == "RuntimeError: optimisation did not converge" and row["train_rows"] == len(series)
