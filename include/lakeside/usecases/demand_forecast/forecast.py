"""The Spark transforms of demand forecasting: one model per (store, item), fitted in parallel
with ``groupBy('store', 'item').applyInPandas``, forecasts and backtest metrics from the fitted
models' JSON.

- :func:`daily_series`: the source rows as ``store``, ``item``, ``ds``, ``y``.
- :func:`fit_models`: one row per series: ``status`` (``ok``, ``skipped``, ``failed``), the
  ``reason`` of a skip or failure (too short, all zeros, gaps, the engine's error), the fitted
  parameters as JSON and the fit time. A bad series never fails the job.
- :func:`forecasts`: forecast rows of the fitted series (history and/or horizon), computed from
  the JSON by :func:`.engines.forecast`, the path the served model takes too.
- :func:`backtest`: per-series sMAPE, MAE and interval coverage of forecasts against the
  held-out actual sales.

All are pure DataFrame -> DataFrame functions; nothing is collected.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakeside.usecases.demand_forecast import engines

SERIES = ("store", "item")
OK, SKIPPED, FAILED = "ok", "skipped", "failed"
MODELS_SCHEMA = ("store int, item int, engine string, status string, reason string, params string, "
                 "train_rows int, first_day date, last_day date, fit_seconds double")
FORECAST_SCHEMA = "store int, item int, ds date, yhat double, yhat_lower double, yhat_upper double"


@dataclass(frozen=True)
class SeriesRules:
    """When a series is not fitted (skipped with its reason)."""

    min_days: int = 180
    """Fewer days of history than this: too short."""
    max_missing_days: int = 0
    """More days missing between a series' first and last day than this: gaps."""


def daily_series(frame: DataFrame, stores: list[int] | None = None) -> DataFrame:
    """``store``, ``item``, ``ds`` (date), ``y`` (double) of the source's ``date``/``sales`` rows."""
    series = frame.select(F.col("store").cast("int"), F.col("item").cast("int"),
                          F.col("date").cast("date").alias("ds"), F.col("sales").cast("double").alias("y"))
    return series.filter(F.col("store").isin([int(s) for s in stores])) if stores else series


def fit_models(series: DataFrame, engine: str, rules: SeriesRules = SeriesRules(),
               partitions: int | None = None) -> DataFrame:
    """One row per series of ``series`` (:data:`MODELS_SCHEMA`)."""
    engines.check_engine(engine)
    grouped = series.repartition(partitions, *SERIES) if partitions else series
    def fit_group(group: pd.DataFrame) -> pd.DataFrame:
        return _fit_group(group, engine, rules)

    return grouped.groupBy(*SERIES).applyInPandas(fit_group, MODELS_SCHEMA)


def forecasts(models: DataFrame, horizon: int, *, history: bool, partitions: int | None = None) -> DataFrame:
    """Forecast rows (:data:`FORECAST_SCHEMA`) of the ``ok`` models: their history's days when
    ``history``, then ``horizon`` days."""
    fitted = models.filter(F.col("status") == OK).select(*SERIES, "engine", "params")
    if partitions:
        fitted = fitted.repartition(partitions, *SERIES)
    def forecast_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _forecast_batches(batches, horizon, history)

    return fitted.mapInPandas(forecast_batches, FORECAST_SCHEMA)


def with_actuals(forecast: DataFrame, series: DataFrame) -> DataFrame:
    """The forecast rows with the actual sales ``y`` of their day (null for future days)."""
    return forecast.join(series, [*SERIES, "ds"], "left")


def backtest(models: DataFrame, holdout: DataFrame, horizon: int, partitions: int | None = None) -> DataFrame:
    """Per series: ``status``, ``reason``, ``smape`` (0-200, in %), ``mae``, ``coverage`` (share
    of held-out days inside the interval), ``holdout_days``, ``train_rows`` and ``fit_seconds``.

    ``models`` were fitted on the days before the holdout; every fitted series is forecast
    ``horizon`` days ahead and compared with ``holdout`` (``store``, ``item``, ``ds``, ``y``) on
    the days both have."""
    predicted = forecasts(models, horizon, history=False, partitions=partitions)
    scored = predicted.join(holdout, [*SERIES, "ds"], "inner")
    error = F.abs(F.col("yhat") - F.col("y"))
    scale = F.abs(F.col("yhat")) + F.abs(F.col("y"))
    metrics = scored.groupBy(*SERIES).agg(
        F.avg(F.when(scale > 0, 200.0 * error / scale).otherwise(0.0)).alias("smape"),
        F.avg(error).alias("mae"),
        F.avg(F.when((F.col("y") >= F.col("yhat_lower")) & (F.col("y") <= F.col("yhat_upper")), 1.0)
              .otherwise(0.0)).alias("coverage"),
        F.count(F.lit(1)).cast("int").alias("holdout_days"),
    )
    judged = models.select(*SERIES, "engine", "status", "reason", "train_rows", "fit_seconds") \
        .join(metrics, list(SERIES), "left")
    no_holdout = (F.col("status") == OK) & F.col("holdout_days").isNull()
    return judged.select(
        *SERIES, "engine",
        F.when(no_holdout, F.lit(SKIPPED)).otherwise(F.col("status")).alias("status"),
        F.when(no_holdout, F.lit("no held-out day to compare with")).otherwise(F.col("reason")).alias("reason"),
        "smape", "mae", "coverage", F.coalesce("holdout_days", F.lit(0)).alias("holdout_days"),
        "train_rows", "fit_seconds",
    )


def split_at(series: DataFrame, cutoff) -> tuple[DataFrame, DataFrame]:
    """(days before ``cutoff``, days from ``cutoff`` on): the backtest's time split."""
    day = F.lit(pd.Timestamp(cutoff).date())
    return series.filter(F.col("ds") < day), series.filter(F.col("ds") >= day)


def problem(history: pd.DataFrame, rules: SeriesRules) -> str | None:
    """Why a series (``ds``, ``y`` sorted by day) is not fitted, or None."""
    if len(history) < rules.min_days:
        return f"too short: {len(history)} days of history, at least {rules.min_days} needed"
    values = history["y"].to_numpy(dtype="float64")
    if not np.isfinite(values).all():
        return f"{int((~np.isfinite(values)).sum())} days without a sales figure"
    if not np.any(values != 0):
        return f"all zeros: no sale in {len(history)} days"
    days = pd.DatetimeIndex(history["ds"])
    if days.has_duplicates:
        return f"{int(days.duplicated().sum())} days appear twice"
    expected = pd.date_range(days[0], days[-1], freq="D")
    missing = expected.difference(days)
    if len(missing) > rules.max_missing_days:
        return (f"gaps: {len(missing)} days missing between {days[0].date()} and {days[-1].date()}, "
                f"e.g. {missing[0].date()} (at most {rules.max_missing_days} allowed)")
    return None


def _fit_group(group: pd.DataFrame, engine: str, rules: SeriesRules) -> pd.DataFrame:
    history = pd.DataFrame({"ds": pd.to_datetime(group["ds"]), "y": group["y"].astype("float64")}) \
        .sort_values("ds").reset_index(drop=True)
    row = {"store": int(group["store"].iloc[0]), "item": int(group["item"].iloc[0]), "engine": engine,
           "status": OK, "reason": None, "params": None, "train_rows": len(history),
           "first_day": history["ds"].iloc[0].date() if len(history) else None,
           "last_day": history["ds"].iloc[-1].date() if len(history) else None, "fit_seconds": 0.0}
    reason = problem(history, rules)
    if reason:
        return pd.DataFrame([{**row, "status": SKIPPED, "reason": reason}])
    started = time.perf_counter()
    try:
        row["params"] = engines.fit(engine, history)
    except Exception as error:  # noqa: BLE001 - one bad series is recorded, the others go on
        row.update(status=FAILED, reason=f"{type(error).__name__}: {error}"[:1000])
    row["fit_seconds"] = time.perf_counter() - started
    return pd.DataFrame([row])


def _forecast_batches(batches, horizon: int, history: bool):
    for batch in batches:
        frames = []
        for store, item, engine, params in batch[["store", "item", "engine", "params"]].itertuples(index=False):
            fitted = engines.load(engine, params)
            rows = engines.forecast(engine, fitted, horizon, history=history, seed=engines.series_seed(store, item))
            frames.append(rows.assign(store=int(store), item=int(item)))
        if frames:
            out = pd.concat(frames, ignore_index=True)
            out["ds"] = pd.to_datetime(out["ds"]).dt.date
            yield out[["store", "item", "ds", "yhat", "yhat_lower", "yhat_upper"]]
