"""The backfill job: a store-item history file ingested in one run with the daily ingest's
validation (bad rows to quarantine with their reason); a day's generated file for the daily
ingest."""

import datetime as dt
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from lakeside.datasets import store_item
from lakeside.tables import open_lake

JOBS = Path(__file__).resolve().parents[2] / "jobs"


def load_job(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_job", JOBS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_history_is_backfilled_in_one_run_with_the_daily_validation(spark, lakeside_home, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKESIDE_TABLE_BACKEND", "embedded")
    history = store_item.generate(stores=2, items=2, start="2017-01-01", years=1, seed=1)
    raw = store_item.to_raw(history)
    raw.loc[3, "sales"] = "-2"
    raw.loc[7, "store"] = "11"
    path = tmp_path / "train.csv"
    raw.to_csv(path, index=False)

    assert load_job("backfill").main(["--source", "store_item", "--logical-date", "2017-12-31",
                                      "--run-id", "backfill__2017-12-31", "--file", str(path)]) == 0
    lake = open_lake(spark)
    silver = lake.table("silver.store_item").to_pandas()
    assert len(silver) == len(history) - 2 and silver["date"].min() == dt.date(2017, 1, 1)
    quarantine = lake.table("quarantine.store_item").to_pandas()
    assert len(quarantine) == 2 and set(quarantine["_ingest_date"]) == {dt.date(2017, 12, 31)}
    reasons = " ".join(quarantine["_reason"].astype(str))
    assert "sales" in reasons and "store" in reasons


def test_a_source_without_a_generated_history_needs_its_files(lakeside_home):
    with pytest.raises(ValueError, match="generates no history: give its files with --file"):
        load_job("backfill").generated_history("iris", dt.date(2024, 1, 1), 0)


def test_a_generated_history_can_be_a_subset_of_stores_items_and_years(lakeside_home):
    [path] = load_job("backfill").generated_history("store_item", dt.date(2017, 12, 31), 3,
                                                    {"stores": 2, "items": 3, "start": "2016-01-01", "years": 2})
    history = store_item.SPEC.typed(pd.read_csv(path, dtype=str))
    assert len(history) == 2 * 3 * 731
    assert sorted(history["store"].unique()) == [1, 2] and sorted(history["item"].unique()) == [1, 2, 3]
    assert history["date"].max() == dt.date(2017, 12, 31)
    with pytest.raises(TypeError, match="colour"):
        load_job("backfill").generated_history("store_item", dt.date(2017, 12, 31), 3, {"colour": "red"})


def test_a_days_file_holds_every_store_item_around_the_generators_levels():
    raw = store_item.daily_raw(dt.date(2018, 7, 15))
    day = store_item.SPEC.typed(raw)
    assert len(day) == 500 and not day.duplicated(["store", "item"]).any()
    assert day["store"].between(1, 10).all() and day["item"].between(1, 50).all() and (day["sales"] >= 0).all()
    assert set(day["date"]) == {dt.date(2018, 7, 15)}
    expected = store_item.expected(years=6)
    mean = expected[expected["date"] == dt.date(2018, 7, 15)]["expected"].mean()
    assert abs(day["sales"].mean() - mean) < 0.05 * mean
    assert raw.equals(store_item.daily_raw(dt.date(2018, 7, 15)))
