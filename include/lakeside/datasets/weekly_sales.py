"""UCI "Sales Transactions Dataset Weekly": units sold per product and week, and the factory pattern.

One row per product: ``Product_Code`` (P1..P811), the unit counts ``W0``..``W51``, their
``MIN`` and ``MAX``, and ``Normalized 0``..``Normalized 51`` = (W - MIN) / (MAX - MIN) rounded
to two decimals as in the public file (0 for a product that sold the same every week).

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
    normalized = tuple(Column(f"Normalized {w}", "double", min=0, max=1) for w in range(weeks))
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
    )


SPEC = weekly_spec()


def capacity_pattern(weeks: int = WEEKS) -> np.ndarray:
    """The factory's weekly capacity in units, float64, one value per week from 1 January.

    Week ``w`` starts on day ``7 * w`` of a non-leap year (continuing into the next year past
    week 52). A week whose middle day falls in June, July or August has the summer capacity
    (temporary staff), any other the base capacity. The week starting on the 15th-21st of a
    month is that month's third week: the filament supply runs short and capacity drops to
    :data:`FILAMENT_DIP` of its level, one dip per month.
    """
    starts = [dt.date(2019, 1, 1) + dt.timedelta(days=7 * w) for w in range(weeks)]
    middles = [start + dt.timedelta(days=3) for start in starts]
    summer = np.array([day.month in (6, 7, 8) for day in middles])
    third_week = np.array([15 <= start.day <= 21 for start in starts])
    capacity = np.where(summer, SUMMER_CAPACITY, BASE_CAPACITY)
    return np.where(third_week, capacity * FILAMENT_DIP, capacity).astype("float64")


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
    """Read the UCI CSV (local path or URL) into :func:`generate`'s shape (52 weeks)."""
    raw = read_text_csv(path, SPEC, "weekly sales")
    return SPEC.typed(raw)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file: "11", "0.44", "0", "1" (no trailing ".0")."""
    return pd.DataFrame({name: df[name].map(_number_text) if name.startswith("Normalized") else df[name].astype(str)
                         for name in df.columns})


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
    columns |= {f"Normalized {w}": normalized[:, w].astype("float64") for w in range(weeks)}
    return pd.DataFrame(columns)


def _number_text(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
