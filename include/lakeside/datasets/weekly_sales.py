"""UCI "Sales Transactions Dataset Weekly": units sold per product and week, and the factory pattern.

One row per product: ``Product_Code`` (P1..P811), the unit counts ``W0``..``W51``, their
``MIN`` and ``MAX``, and ``Normalized 0``..``Normalized 51`` = (W - MIN) / (MAX - MIN) rounded
to two decimals as in the public file (0 for a product that sold the same every week).

Layout in tables: Delta refuses column names with spaces unless column mapping is on, which
older readers and the file-list read path do not follow. So the file's ``Normalized 0`` ..
``Normalized 51`` are stored as ``Normalized_0`` .. ``Normalized_51`` (``Column.header`` keeps
the file's name: ingest and :func:`load` read the public header, :func:`to_raw` writes it);
every other name is the file's. :func:`generate` and :func:`load` return the table layout.

The weekly landing (:func:`daily_raw`) is the whole catalogue's last 52 weeks as of a day: the
file the shop's system exports each week; silver keeps one row per product, merged on
``Product_Code``.

The generator gives each product a weekly shape that mixes the factory's capacity pattern
(:func:`capacity_pattern`) with the product's own trend and yearly wave, and:

- about a third of the products are made to capacity: the pattern dominates their shape, they
  sell around its level (about 10 units a week) and vary little (binomial: each unit made
  sells with probability 0.85);
- the others mostly follow their own shape, with a heavy-tailed level (log-normal, median 4
  units a week, capped at 30) and over-dispersed counts (Poisson with a gamma-distributed
  rate): small products show many zeros and weeks of 1-3 units, a few sell 30+.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lakeside.datasets._spec import Column, SourceSpec, read_text_csv

WEEKS = 52
PRODUCTS = 811
BASE_CAPACITY = 10.0  # units a week with the permanent staff
SUMMER_CAPACITY = 14.0  # June to August, with temporary staff
FILAMENT_DIP = 0.6  # share of capacity left in the week the filament supply is short
FOLLOWER_SHARE = 0.35
MADE_SOLD_SHARE = 0.85  # a product made to capacity sells about this share of what is made


def weekly_spec(weeks: int = WEEKS) -> SourceSpec:
    """The schema of a file with ``weeks`` weeks (the public file has 52)."""
    counts = tuple(Column(f"W{w}", "int", min=0) for w in range(weeks))
    normalized = tuple(Column(f"Normalized_{w}", "double", min=0, max=1, header=f"Normalized {w}")
                       for w in range(weeks))
    return SourceSpec(
        name="weekly_sales",
        description="Weekly units sold per product over a year, one row per product.",
        key=("Product_Code",),
        columns=(
            Column("Product_Code", "string", pattern=r"^P\d+$"),
            *counts,
            Column("MIN", "int", min=0),
            Column("MAX", "int", min=0),
            *normalized,
        ),
        landing_weekday=0,
    )


SPEC = weekly_spec()
DEMO_ROWS = PRODUCTS  # the demo's weekly file: the whole catalogue


@dataclass(frozen=True)
class CapacityPattern:
    """The factory's weekly capacity: ``base`` units a week, ``summer`` in ``summer_months``
    (temporary staff), and in each month's third week (the week starting on day 15-21) only
    ``dip`` of that (the filament supply runs short)."""

    base: float = BASE_CAPACITY
    summer: float = SUMMER_CAPACITY
    dip: float = FILAMENT_DIP
    summer_months: tuple[int, ...] = (6, 7, 8)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.summer <= 0 or not 0 < self.dip <= 1:
            raise ValueError(f"capacity must be positive and the dip a share in (0, 1]: {self}")
        if not set(self.summer_months) <= set(range(1, 13)):
            raise ValueError(f"summer_months must be months 1-12, got {self.summer_months}")

    def values(self, weeks: int = WEEKS) -> np.ndarray:
        """Week ``w`` starts on day ``7 * w`` of a non-leap year (continuing into the next year
        past week 52); a week whose middle day falls in a summer month has the summer capacity."""
        starts = [dt.date(2019, 1, 1) + dt.timedelta(days=7 * w) for w in range(weeks)]
        summer = np.array([(start + dt.timedelta(days=3)).month in self.summer_months for start in starts])
        third_week = np.array([15 <= start.day <= 21 for start in starts])
        capacity = np.where(summer, self.summer, self.base)
        return np.where(third_week, capacity * self.dip, capacity).astype("float64")


def capacity_pattern(weeks: int = WEEKS, **settings) -> np.ndarray:
    """The factory's weekly capacity in units, float64, one value per week from 1 January.

    ``settings`` override :class:`CapacityPattern`'s defaults (``base``, ``summer``, ``dip``,
    ``summer_months``): by default 10 units a week, 14 in June-August, and 60% of that in the
    third week of every month.
    """
    return CapacityPattern(**settings).values(weeks)


def generate(products: int = PRODUCTS, weeks: int = WEEKS, seed: int = 0) -> pd.DataFrame:
    """One row per product: counts, MIN and MAX int32, normalised values float64, codes object.

    The columns are those of ``weekly_spec(weeks)`` (:data:`SPEC` for 52 weeks).
    """
    if products < 1 or weeks < 1:
        raise ValueError("products and weeks must be at least 1")
    rng = np.random.default_rng(seed)
    follows = rng.random(products) < FOLLOWER_SHARE
    level = np.where(
        follows,
        rng.lognormal(np.log(BASE_CAPACITY), 0.35, products),
        np.minimum(rng.lognormal(np.log(4.0), 1.1, products), 30.0),
    )
    rate = level[:, None] * _weekly_shapes(rng, follows, weeks)
    made_to_capacity = rng.binomial(np.round(rate / MADE_SOLD_SHARE).astype(np.int64), MADE_SOLD_SHARE)
    over_dispersed = rng.poisson(rate * rng.gamma(6.0, 1 / 6.0, rate.shape))
    counts = np.where(follows[:, None], made_to_capacity, over_dispersed)
    codes = [f"P{p}" for p in range(1, products + 1)]
    return _frame(codes, counts)


def load(path: str) -> pd.DataFrame:
    """Read the UCI CSV ``Sales_Transactions_Dataset_Weekly.csv`` (local path or URL) into
    :func:`generate`'s shape (52 weeks, table names: ``Normalized_0``...)."""
    raw = read_text_csv(path, SPEC, "weekly sales")
    return SPEC.typed(raw)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file under its header: "11", "0.44", "0", "1" (no trailing ".0")."""
    spec = weekly_spec(sum(1 for name in df.columns if name.startswith("Normalized_")))
    return pd.DataFrame({column.file_name: df[column.name].map(_number_text) if column.kind == "double"
                         else df[column.name].astype(str) for column in spec.columns})


def daily_raw(day: dt.date, rows: int = PRODUCTS, seed: int = 0) -> pd.DataFrame:
    """The weekly export landing on ``day``: ``rows`` products' last 52 weeks, as text.

    Each week (Monday-based) has its own draw, so two days of one week land the same file."""
    week = (day - dt.date(2007, 1, 1)).days // 7
    return to_raw(generate(rows, seed=seed * 100_003 + week))


def _weekly_shapes(rng: np.random.Generator, follows: np.ndarray, weeks: int) -> np.ndarray:
    """Relative sales per week (mean about 1) mixing the capacity pattern and the product's own shape."""
    products = len(follows)
    t = np.arange(weeks) / max(weeks - 1, 1)
    pattern = capacity_pattern(weeks) / capacity_pattern(weeks).mean()
    trend = rng.normal(0.0, 0.5, products)[:, None] * (t - 0.5)
    wave = rng.uniform(0.0, 0.4, products)[:, None] * np.sin(
        2 * np.pi * np.arange(weeks) / WEEKS + rng.uniform(0, 2 * np.pi, products)[:, None])
    own = 1.0 + trend + wave
    weight = np.where(follows, rng.uniform(0.8, 1.0, products), rng.uniform(0.0, 0.3, products))[:, None]
    return np.maximum(weight * pattern + (1 - weight) * own, 0.05)


def _frame(codes: list[str], counts: np.ndarray) -> pd.DataFrame:
    weeks = counts.shape[1]
    low, high = counts.min(axis=1, keepdims=True), counts.max(axis=1, keepdims=True)
    span = np.where(high > low, high - low, 1)
    normalized = np.round((counts - low) / span, 2)
    columns = {"Product_Code": np.array(codes, dtype=object)}
    columns |= {f"W{w}": counts[:, w].astype("int32") for w in range(weeks)}
    columns |= {"MIN": low[:, 0].astype("int32"), "MAX": high[:, 0].astype("int32")}
    columns |= {f"Normalized_{w}": normalized[:, w].astype("float64") for w in range(weeks)}
    return pd.DataFrame(columns)


def _number_text(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
