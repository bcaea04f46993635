"""Profiles and drift computed by Spark, for samples too large for one process: the same
numbers as :mod:`lakeside.monitoring.profile` and :mod:`lakeside.monitoring.drift` (tested
equal), each statistic for every column at once in a few passes over the data.

- Quantiles (the profile's, and the baseline's bin edges) are Spark's exact ``percentile``,
  which interpolates linearly between order statistics as pandas and NumPy do.
- KS is the largest gap between the two empirical CDFs over the distinct values, counted per
  value and summed in value order; PSI and JS come from the bin counts through the pandas
  module's own formulas.
- A column's kind comes from its Spark type: numbers (not booleans) are numeric, dates and
  timestamps temporal (compared as UTC instants in nanoseconds), the rest categorical.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from lakeside.monitoring import drift as d
from lakeside.monitoring import profile as p

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MICROS_PER_DAY = 86_400 * 10**6


def kind(frame: DataFrame, column: str) -> str:
    from pyspark.sql import types as T

    data_type = frame.schema[column].dataType
    if isinstance(data_type, T.NumericType):
        return "numeric"
    if isinstance(data_type, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return "temporal"
    return "categorical"


def missing(frame: DataFrame, column: str) -> Column:
    """Null, or NaN in a floating column (both are missing to pandas)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    value = F.col(column)
    if isinstance(frame.schema[column].dataType, (T.FloatType, T.DoubleType)):
        return value.isNull() | F.isnan(value)
    return value.isNull()


def profiles(frame: DataFrame, columns: list[str]) -> list[dict]:
    """:func:`lakeside.monitoring.profile.profiles` of a Spark DataFrame."""
    from pyspark.sql import functions as F

    present = [c for c in columns if c in frame.columns]
    numeric = [c for c in present if kind(frame, c) == "numeric"]
    aggregates = [F.count(F.lit(1)).alias("rows")]
    for i, column in enumerate(present):
        aggregates.append(F.sum(missing(frame, column).cast("long")).alias(f"nulls_{i}"))
    for i, column in enumerate(numeric):
        value = F.when(~missing(frame, column), F.col(column).cast("double"))
        aggregates += [F.avg(value).alias(f"mean_{i}"), F.stddev_pop(value).alias(f"std_{i}"),
                       F.min(value).alias(f"min_{i}"), F.max(value).alias(f"max_{i}"),
                       F.percentile(value, list(p.QUANTILES)).alias(f"quantiles_{i}")]
    totals = frame.agg(*aggregates).first()
    tops = _top_counts(frame, present)
    rows = []
    for i, column in enumerate(present):
        row = {"column": column, "count": int(totals["rows"]), "nulls": int(totals[f"nulls_{i}"] or 0),
               "mean": None, "std": None, "min": None, "max": None,
               **{p.quantile_name(q): None for q in p.QUANTILES},
               "top_values": p.top_values(tops[column])}
        if column in numeric and row["count"] > row["nulls"]:
            j = numeric.index(column)
            row.update({"mean": totals[f"mean_{j}"], "std": totals[f"std_{j}"], "min": totals[f"min_{j}"],
                        "max": totals[f"max_{j}"],
                        **{p.quantile_name(q): v for q, v in zip(p.QUANTILES, totals[f"quantiles_{j}"])}})
        rows.append(row)
    return rows


def drifts(baseline: DataFrame, recent: DataFrame, columns: list[str]) -> list[d.Drift]:
    """:func:`lakeside.monitoring.drift.drifts` of two Spark DataFrames."""
    both = [c for c in columns if c in baseline.columns and c in recent.columns]
    ordered = [c for c in both if _is_ordered(baseline, recent, c)]
    base_values = {c: _ordered_value(baseline, c) for c in ordered}
    recent_values = {c: _ordered_value(recent, c) for c in ordered}
    edges = _edges(baseline, base_values)
    base_bins, base_rows = _bin_counts(baseline, base_values, edges)
    recent_bins, recent_rows = _bin_counts(recent, recent_values, edges)
    comparable = [c for c in ordered if base_rows[c] and recent_rows[c]]
    gaps = _ks(baseline, recent, {c: base_values[c] for c in comparable}, {c: recent_values[c] for c in comparable})
    categories = _category_counts(baseline, recent, [c for c in both if c not in ordered])
    results = []
    for column in both:
        if column in ordered:
            counts, rows = (base_bins[column], recent_bins[column]), (base_rows[column], recent_rows[column])
            ks = gaps.get(column)
        else:
            counts, ks = categories[column], None
            rows = tuple(int(c.sum()) for c in counts)
        shares = tuple(d.normalised(c) for c in counts)
        results.append(d.Drift(column=column, kind=kind(baseline, column), psi=d.psi_of_shares(*shares), ks=ks,
                               js=d.js_of_shares(*shares), baseline_rows=rows[0], recent_rows=rows[1]))
    return results


def _top_counts(frame: DataFrame, columns: list[str]) -> dict[str, list[tuple[object, int]]]:
    """Every column's most frequent values (ties by value) with their counts, in one job: the
    values as (column, sort key, text) counted, ranked per column."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not columns:
        return {}
    pairs = F.array(*[F.struct(F.lit(i).alias("i"), _sort_key(frame, c).alias("k"),
                               F.when(~missing(frame, c), _text(frame, c)).alias("t"))
                      for i, c in enumerate(columns)])
    counted = frame.select(F.inline(pairs)).where(F.col("t").isNotNull()).groupBy("i", "k", "t").count()
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.desc("count"), "k", "t"))
    found: dict[str, list[tuple[object, int]]] = {c: [] for c in columns}
    for row in counted.withColumn("rank", rank).where(F.col("rank") <= p.TOP).orderBy("i", "rank").collect():
        column = columns[row["i"]]
        found[column].append((_decoded(frame, column, row["k"], row["t"]), row["count"]))
    return found


def _sort_key(frame: DataFrame, column: str) -> Column:
    """Numbers, instants (microseconds; dates at midnight UTC) and booleans as doubles; text as null
    (ranked by the text itself)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    data_type, value = frame.schema[column].dataType, F.col(column)
    if isinstance(data_type, T.DateType):
        return F.unix_date(value).cast("double") * float(MICROS_PER_DAY)
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return F.unix_micros(value.cast("timestamp")).cast("double")
    if isinstance(data_type, (T.NumericType, T.BooleanType)):
        return value.cast("double")
    return F.lit(None).cast("double")


def _decoded(frame: DataFrame, column: str, key: float | None, text: str) -> object:
    """The value pandas would hold for a ranked (key, text): numbers as floats, dates, UTC instants."""
    import datetime as dt

    import pandas as pd
    from pyspark.sql import types as T

    data_type = frame.schema[column].dataType
    if isinstance(data_type, T.DateType):
        return dt.date(1970, 1, 1) + dt.timedelta(days=round(key / MICROS_PER_DAY))
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return pd.Timestamp(int(key), unit="us", tz="UTC")
    if isinstance(data_type, T.NumericType):
        return key
    return text


def _is_ordered(baseline: DataFrame, recent: DataFrame, column: str) -> bool:
    kinds = kind(baseline, column), kind(recent, column)
    return kinds == ("numeric", "numeric") or kinds[0] == "temporal"


def _ordered_value(frame: DataFrame, column: str) -> Column:
    """The column as a double, null where pandas leaves a value out (missing, or no instant)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    data_type, value = frame.schema[column].dataType, F.col(column)
    if isinstance(data_type, T.DateType):
        return F.unix_date(value).cast("double") * float(MICROS_PER_DAY * 1000)
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return (F.unix_micros(value.cast("timestamp")) * 1000).cast("double")
    if isinstance(data_type, T.NumericType):
        return F.when(~missing(frame, column), value.cast("double"))
    return (F.unix_micros(F.try_to_timestamp(value)) * 1000).cast("double")


def _edges(baseline: DataFrame, values: dict[str, Column]) -> dict[str, np.ndarray]:
    from pyspark.sql import functions as F

    if not values:
        return {}
    quantiles = [float(q) for q in d.inner_quantiles()]
    found = baseline.agg(*[F.percentile(v, quantiles).alias(f"e{i}") for i, v in enumerate(values.values())]).first()
    return {c: np.unique(np.array(found[f"e{i}"] or [], dtype=float)) for i, c in enumerate(values)}


def _bin_counts(frame: DataFrame, values: dict[str, Column], edges: dict[str, np.ndarray]):
    """Per column, the rows in each bin (bin k: values with exactly k edges at or below them,
    as ``searchsorted(edges, v, side="right")``) and the rows with a value."""
    from pyspark.sql import functions as F

    if not values:
        return {}, {}
    aggregates = []
    for i, (column, value) in enumerate(values.items()):
        cuts = edges[column]
        bin_of = sum((F.when(value >= float(e), 1).otherwise(0) for e in cuts), F.lit(0)) if len(cuts) else F.lit(0)
        for k in range(len(cuts) + 1):
            aggregates.append(F.count(F.when(value.isNotNull() & (bin_of == k), 1)).alias(f"b{i}_{k}"))
    found = frame.agg(*aggregates).first()
    bins = {c: np.array([found[f"b{i}_{k}"] for k in range(len(edges[c]) + 1)], dtype=np.int64)
            for i, c in enumerate(values)}
    return bins, {c: int(counts.sum()) for c, counts in bins.items()}


def _ks(baseline: DataFrame, recent: DataFrame, base_values: dict[str, Column],
        recent_values: dict[str, Column]) -> dict[str, float | None]:
    """The two-sample KS statistic of every ordered column, in one job: the values of both samples
    counted per (column, value), summed in value order into the two CDFs, largest gap kept."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if not base_values:
        return {}

    counted = _counted_by_sample(baseline, recent, list(base_values.values()), list(recent_values.values()))
    totals = Window.partitionBy("i")
    running = totals.orderBy("v").rowsBetween(Window.unboundedPreceding, Window.currentRow)
    gaps = (counted
            .select("i", (F.sum("nb").over(running) / F.sum("nb").over(totals)
                          - F.sum("nr").over(running) / F.sum("nr").over(totals)).alias("gap"))
            .groupBy("i").agg(F.max(F.abs("gap")).alias("ks")).collect())
    by_index = {row["i"]: row["ks"] for row in gaps}
    return {c: (float(by_index[i]) if by_index.get(i) is not None else None) for i, c in enumerate(base_values)}


def _category_counts(baseline: DataFrame, recent: DataFrame, columns: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per categorical column, both samples' counts per category (as text, in sorted order)."""
    from pyspark.sql import functions as F

    if not columns:
        return {}

    as_text = [[F.when(~missing(frame, c), _text(frame, c)) for c in columns] for frame in (baseline, recent)]
    counted = _counted_by_sample(baseline, recent, *as_text).collect()
    found: dict[int, dict[str, tuple[int, int]]] = {}
    for row in counted:
        found.setdefault(row["i"], {})[row["v"]] = (int(row["nb"]), int(row["nr"]))
    result = {}
    for i, column in enumerate(columns):
        per_value = found.get(i, {})
        ordered = sorted(per_value)
        result[column] = (np.array([per_value[v][0] for v in ordered], dtype=np.int64),
                          np.array([per_value[v][1] for v in ordered], dtype=np.int64))
    return result


def _counted_by_sample(baseline: DataFrame, recent: DataFrame, base_values: list[Column],
                       recent_values: list[Column]) -> DataFrame:
    """``(i, v, nb, nr)``: how often the i-th column's value ``v`` (nulls left out) occurs in the
    baseline and in the recent sample, for every column in one pass over each."""
    from pyspark.sql import functions as F

    def long_form(frame: DataFrame, values: list[Column], is_base: int) -> DataFrame:
        pairs = F.array(*[F.struct(F.lit(i).alias("i"), v.alias("v")) for i, v in enumerate(values)])
        return frame.select(F.inline(pairs)).where(F.col("v").isNotNull()).select("i", "v", F.lit(is_base).alias("base"))

    return (long_form(baseline, base_values, 1).unionByName(long_form(recent, recent_values, 0))
            .groupBy("i", "v").agg(F.sum("base").alias("nb"), F.sum(1 - F.col("base")).alias("nr")))


def _text(frame: DataFrame, column: str) -> Column:
    """A categorical value as pandas' ``astype(str)`` writes it (booleans ``True``/``False``)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    value = F.col(column)
    if isinstance(frame.schema[column].dataType, T.BooleanType):
        return F.when(value, F.lit("True")).otherwise(F.lit("False"))
    return value.cast("string")
