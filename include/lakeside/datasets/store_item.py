"""Store x item daily sales (Kaggle "Store Item Demand Forecasting"): schema, generator, loader.

Expected sales of an item in a store on a day multiply, as in the public set (and as Prophet's
``seasonality_mode='multiplicative'`` assumes):

- a level per item (log-normal, some items sell three times more than others) and per store;
- a linear yearly trend, +8% of the first year's level per year;
- a yearly wave peaking in mid-July (+25%) with its trough in mid-January (-25%);
- a weekly pattern, lowest on Monday and rising to Sunday (weekends about 20% above weekdays);

and the day's sales are a Poisson draw around that. Rows are ordered by item, store and date,
as in the public ``train.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lakeside.datasets._spec import Column, SourceSpec, read_text_csv

STORES = 10
ITEMS = 50
BASE_SALES = 40.0  # expected units of an average item in an average store on the first day
YEARLY_GROWTH = 0.08
SUMMER_AMPLITUDE = 0.25
PEAK_DAY_OF_YEAR = 196  # mid-July
WEEKDAY_FACTOR = np.array([0.80, 0.93, 0.94, 0.99, 1.06, 1.12, 1.16])  # Monday .. Sunday

SPEC = SourceSpec(
    name="store_item",
    description="Daily unit sales per store and item.",
    key=("date", "store", "item"),
    columns=(
        Column("date", "date"),
        Column("store", "int", min=1, max=STORES),
        Column("item", "int", min=1, max=ITEMS),
        Column("sales", "int", min=0),
    ),
)


def generate(
    stores: int = STORES,
    items: int = ITEMS,
    start: str = "2013-01-01",
    years: int = 5,
    seed: int = 0,
) -> pd.DataFrame:
    """Daily sales from ``start`` for ``years`` years: ``date`` as ``datetime.date`` (object),
    ``store``/``item``/``sales`` int32. Defaults give the public set's 913,000 rows.
    """
    if stores < 1 or items < 1 or years < 1:
        raise ValueError("stores, items and years must be at least 1")
    rng = np.random.default_rng(seed)
    first = pd.Timestamp(start)
    days = pd.date_range(first, first + pd.DateOffset(years=years) - pd.Timedelta(days=1), freq="D")
    item_level = rng.lognormal(0.0, 0.35, items)
    store_level = rng.lognormal(0.0, 0.2, stores)
    expected = (
        BASE_SALES
        * item_level[:, None, None]
        * store_level[None, :, None]
        * _day_factor(days)[None, None, :]
    )
    sales = rng.poisson(expected).astype("int32")
    item, store, day = np.meshgrid(np.arange(1, items + 1), np.arange(1, stores + 1), np.arange(len(days)),
                                   indexing="ij")
    return pd.DataFrame({
        "date": np.array(days.date, dtype=object)[day.ravel()],
        "store": store.ravel().astype("int32"),
        "item": item.ravel().astype("int32"),
        "sales": sales.ravel(),
    })


def load(path: str) -> pd.DataFrame:
    """Read the Kaggle ``train.csv`` (local path or URL) into :func:`generate`'s shape."""
    raw = read_text_csv(path, SPEC, "store-item sales")
    return SPEC.typed(raw)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file: "2013-01-01", "1", "1", "13"."""
    return pd.DataFrame({name: df[name].astype(str) for name in SPEC.column_names})


def _day_factor(days: pd.DatetimeIndex) -> np.ndarray:
    """Trend x yearly wave x weekday, one factor per day."""
    years_in = (days - days[0]).days.to_numpy() / 365.25
    trend = 1.0 + YEARLY_GROWTH * years_in
    season = 1.0 + SUMMER_AMPLITUDE * np.cos(2 * np.pi * (days.dayofyear.to_numpy() - PEAK_DAY_OF_YEAR) / 365.25)
    weekday = WEEKDAY_FACTOR[days.dayofweek.to_numpy()]
    return trend * season * weekday
