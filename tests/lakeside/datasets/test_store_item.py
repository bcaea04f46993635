import datetime as dt

import pandas as pd
import pytest

from lakeside.datasets import store_item

TRAIN_LINES = """\
date,store,item,sales
2013-01-01,1,1,13
2013-01-02,1,1,11
2013-01-03,1,1,14
2017-12-31,10,50,82
"""


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return store_item.generate()


@pytest.fixture(scope="module")
def by_day(full) -> pd.DataFrame:
    days = pd.to_datetime(full["date"])
    return full.assign(year=days.dt.year, month=days.dt.month, weekday=days.dt.dayofweek)


def test_full_size_columns_and_dtypes(full):
    assert list(full.columns) == store_item.SPEC.column_names
    assert full.dtypes.astype(str).tolist() == ["object", "int32", "int32", "int32"]
    assert isinstance(full.loc[0, "date"], dt.date)
    assert len(full) == 10 * 50 * 1826
    assert full["date"].min() == dt.date(2013, 1, 1) and full["date"].max() == dt.date(2017, 12, 31)
    assert not full.duplicated(list(store_item.SPEC.key)).any()


def test_rows_are_ordered_like_the_public_train_file(full):
    assert full.loc[:1, ["store", "item"]].values.tolist() == [[1, 1], [1, 1]]
    assert full.loc[1826, ["date", "store", "item"]].tolist() == [dt.date(2013, 1, 1), 2, 1]


def test_values_stay_in_the_spec_domain(full):
    assert full["store"].between(1, 10).all() and full["item"].between(1, 50).all()
    assert (full["sales"] >= 0).all()
    assert 30 < full["sales"].mean() < 80


def test_same_seed_same_frame_other_seed_other_frame():
    small = dict(stores=2, items=3, years=1)
    pd.testing.assert_frame_equal(store_item.generate(**small, seed=1), store_item.generate(**small, seed=1))
    assert not store_item.generate(**small, seed=1).equals(store_item.generate(**small, seed=2))


def test_sales_rise_year_after_year(by_day):
    yearly = by_day.groupby("year")["sales"].mean()
    assert yearly.is_monotonic_increasing
    assert yearly[2017] > 1.2 * yearly[2013]


def test_summer_sells_more_than_winter(by_day):
    monthly = by_day.groupby("month")["sales"].mean()
    assert monthly.idxmax() in (6, 7, 8)
    assert monthly[7] > 1.3 * monthly[1]


def test_weekends_sell_more_than_weekdays(by_day):
    weekend = by_day["weekday"] >= 5
    assert by_day.loc[weekend, "sales"].mean() > 1.1 * by_day.loc[~weekend, "sales"].mean()
    daily = by_day.groupby("weekday")["sales"].mean()
    assert daily.idxmin() == 0 and daily.idxmax() == 6


def test_stores_and_items_have_their_own_levels(full):
    item_means = full.groupby("item")["sales"].mean()
    store_means = full.groupby("store")["sales"].mean()
    assert item_means.max() > 1.8 * item_means.min()
    assert store_means.max() > 1.15 * store_means.min()


def test_start_and_years_set_the_calendar():
    frame = store_item.generate(stores=1, items=1, start="2020-03-01", years=1)
    assert frame["date"].tolist()[0] == dt.date(2020, 3, 1)
    assert frame["date"].tolist()[-1] == dt.date(2021, 2, 28) and len(frame) == 365


def test_load_reads_the_kaggle_train_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(TRAIN_LINES)
    loaded = store_item.load(str(path))
    assert loaded.dtypes.equals(store_item.generate(1, 1, years=1).dtypes)
    assert loaded.iloc[0].tolist() == [dt.date(2013, 1, 1), 1, 1, 13]
    assert loaded.iloc[-1].tolist() == [dt.date(2017, 12, 31), 10, 50, 82]


def test_generated_rows_survive_the_kaggle_text_format(tmp_path):
    frame = store_item.generate(stores=2, items=2, years=1, seed=4)
    path = tmp_path / "train.csv"
    store_item.to_raw(frame).to_csv(path, index=False)
    assert path.read_text().splitlines()[1].startswith("2013-01-01,1,1,")
    pd.testing.assert_frame_equal(store_item.load(str(path)), frame)


def test_load_of_the_test_file_names_the_missing_sales(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("id,date,store,item\n0,2018-01-01,1,1\n")
    with pytest.raises(ValueError, match="missing columns: sales"):
        store_item.load(str(path))
