"""Store x item daily sales (Kaggle "Store Item Demand Forecasting"): schema, generator, loader.

Expected sales of an item in a store on a day multiply, as in the public set (and as Prophet's
``seasonality_mode='multiplicative'`` assumes):

- a level per item (log-normal, some items sell three times more than others) and per store;
- a linear yearly trend, +8% of the first year's level per year;
- a yearly wave peaking in mid-July (+25%) with its trough in mid-January (-25%);
- a weekly pattern, lowest on Monday and rising to Sunday (weekends about 20% above weekdays);

and the day's sales are a Poisson draw around that. Rows are ordered by item, store and date,
as in the public ``train.csv``.

Landing: :func:`daily_raw` is one day's file (every store-item's sales of that day) for the daily
ingest; :func:`history_raw` the whole generated history, which ``jobs/backfill.py`` ingests in
one run. :func:`expected` gives the means the sales are drawn around (a forecast's noise floor).
"""

from __future__ import annotations

import datetime as dt

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
    rng = np.random.default_rng(seed)
    days, mean = _expected(rng, stores, items, start, years)
    sales = rng.poisson(mean).astype("int32")
    item, store, day = np.meshgrid(np.arange(1, items + 1), np.arange(1, stores + 1), np.arange(len(days)),
                                   indexing="ij")
    return pd.DataFrame({
        "date": np.array(days.date, dtype=object)[day.ravel()],
        "store": store.ravel().astype("int32"),
        "item": item.ravel().astype("int32"),
        "sales": sales.ravel(),
    })


def expected(stores: int = STORES, items: int = ITEMS, start: str = "2013-01-01", years: int = 5,
             seed: int = 0) -> pd.DataFrame:
    """The expected sales :func:`generate` draws around (same arguments, same row order), as
    ``expected`` (float64) beside ``date``, ``store``, ``item``: the noise floor of a forecast."""
    days, mean = _expected(np.random.default_rng(seed), stores, items, start, years)
    item, store, day = np.meshgrid(np.arange(1, items + 1), np.arange(1, stores + 1), np.arange(len(days)),
                                   indexing="ij")
    return pd.DataFrame({"date": np.array(days.date, dtype=object)[day.ravel()], "store": store.ravel().astype("int32"),
                         "item": item.ravel().astype("int32"), "expected": mean.ravel()})


def daily_raw(day: dt.date, rows: int = STORES * ITEMS, seed: int = 0, start: str = "2013-01-01") -> pd.DataFrame:
    """The text of one day's file: every store-item's sales of ``day`` (the first ``rows``
    store-items, item by item), around the same levels, trend and seasons as :func:`generate`
    from ``start`` with ``seed``; each day has its own draw."""
    rng = np.random.default_rng(seed)
    days, mean = _expected(rng, STORES, ITEMS, start, 1, days=pd.DatetimeIndex([pd.Timestamp(day)]))
    draw = np.random.default_rng([seed, pd.Timestamp(day).toordinal()])
    sales = draw.poisson(mean[:, :, 0]).astype("int32")
    item, store = np.meshgrid(np.arange(1, ITEMS + 1), np.arange(1, STORES + 1), indexing="ij")
    frame = pd.DataFrame({"date": [days[0].date()] * sales.size, "store": store.ravel().astype("int32"),
                          "item": item.ravel().astype("int32"), "sales": sales.ravel()})
    return to_raw(frame.head(max(1, int(rows))))


def history_raw(seed: int = 0, **options) -> pd.DataFrame:
    """The text of the whole generated history (the public file's 913,000 rows): a backfill's
    input; ``options`` of :func:`generate` (``stores``, ``items``, ``start``, ``years``) make a smaller one."""
    return to_raw(generate(seed=seed, **options))


def load(path: str) -> pd.DataFrame:
    """Read the Kaggle ``train.csv`` (local path or URL) into :func:`generate`'s shape."""
    raw = read_text_csv(path, SPEC, "store-item sales")
    return SPEC.typed(raw)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file: "2013-01-01", "1", "1", "13"."""
    return pd.DataFrame({name: df[name].astype(str) for name in SPEC.column_names})


def _expected(rng: np.random.Generator, stores: int, items: int, start: str, years: int,
              days: pd.DatetimeIndex | None = None) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """(days, expected sales items x stores x days); draws the item and store levels from ``rng``."""
    if stores < 1 or items < 1 or years < 1:
        raise ValueError("stores, items and years must be at least 1")
    first = pd.Timestamp(start)
    if days is None:
        days = pd.date_range(first, first + pd.DateOffset(years=years) - pd.Timedelta(days=1), freq="D")
    item_level = rng.lognormal(0.0, 0.35, items)
    store_level = rng.lognormal(0.0, 0.2, stores)
    mean = BASE_SALES * item_level[:, None, None] * store_level[None, :, None] * _day_factor(days, first)[None, None, :]
    return days, mean


def _day_factor(days: pd.DatetimeIndex, first: pd.Timestamp) -> np.ndarray:
    """Trend x yearly wave x weekday, one factor per day."""
    years_in = (days - first).days.to_numpy() / 365.25
    trend = 1.0 + YEARLY_GROWTH * years_in
    season = 1.0 + SUMMER_AMPLITUDE * np.cos(2 * np.pi * (days.dayofyear.to_numpy() - PEAK_DAY_OF_YEAR) / 365.25)
    weekday = WEEKDAY_FACTOR[days.dayofweek.to_numpy()]
    return trend * season * weekday
