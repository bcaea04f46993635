"""Distribution drift between a baseline sample (the champion's training snapshot) and a recent
one (served requests, batch predictions), per column.

- **PSI** (population stability index): numeric and temporal columns in 10 bins cut at the
  baseline's deciles, categorical columns by category; ``sum((r - b) * ln(r / b))`` over bins, shares
  floored at ``EPSILON`` so an empty bin counts without dividing by zero.
- **KS**: the two-sample Kolmogorov-Smirnov statistic (numeric and temporal columns).

Dates and timestamps are ordered values, compared as instants (naive ones read as UTC), not as
categories: a month-of-first-credit column has hundreds of distinct days, and per-category shares
of two samples of a few thousand rows differ by sampling noise alone.
- **JS**: the Jensen-Shannon distance (base 2, in [0, 1]) between the same binned shares as PSI.

Nulls are left out of the distributions; their shares are part of the profile
(:mod:`lakeside.monitoring.profile`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

EPSILON = 1e-4
BINS = 10


@dataclass(frozen=True)
class Drift:
    column: str
    kind: str  # numeric, temporal or categorical
    psi: float
    ks: float | None
    js: float
    baseline_rows: int
    recent_rows: int


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def is_temporal(values: pd.Series) -> bool:
    """Datetime dtype, or Python dates and datetimes (how Arrow's ``date32`` reaches pandas)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return True
    sample = values.dropna().head(100)
    return values.dtype == object and not sample.empty and all(isinstance(v, dt.date) for v in sample)


def kind(values: pd.Series) -> str:
    values = values.dropna()
    return "numeric" if is_numeric(values) else "temporal" if is_temporal(values) else "categorical"


def _ordered(baseline: pd.Series, recent: pd.Series) -> tuple[pd.Series, pd.Series] | None:
    """Both samples as floats when the baseline's values are ordered (numbers, or instants in
    nanoseconds; recent values that are no instant are left out), else None."""
    baseline, recent = baseline.dropna(), recent.dropna()
    if is_numeric(baseline) and is_numeric(recent):
        return baseline.astype(float), recent.astype(float)
    if is_temporal(baseline):
        return tuple(_nanoseconds(values) for values in (baseline, recent))
    return None


def _nanoseconds(values: pd.Series) -> pd.Series:
    instants = pd.to_datetime(values, utc=True, errors="coerce").dropna()
    return instants.astype("int64").astype(float)


def shares(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """The two samples' shares per bin (ordered values: baseline quantile bins; else per category)."""
    ordered = _ordered(baseline, recent)
    if ordered is not None:
        baseline, recent = ordered
        edges = edges_of(baseline.to_numpy(dtype=float), bins)
        base_counts = np.bincount(np.searchsorted(edges, baseline.astype(float), side="right"),
                                  minlength=len(edges) + 1)
        recent_counts = np.bincount(np.searchsorted(edges, recent.astype(float), side="right"),
                                    minlength=len(edges) + 1)
    else:
        baseline, recent = baseline.dropna(), recent.dropna()
        categories = sorted(set(baseline.astype(str)) | set(recent.astype(str)))
        base_counts = baseline.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy()
        recent_counts = recent.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy()
    return normalised(base_counts), normalised(recent_counts)


def psi(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> float:
    return psi_of_shares(*shares(baseline, recent, bins))


def psi_of_shares(base: np.ndarray, new: np.ndarray) -> float:
    base, new = np.maximum(base, EPSILON), np.maximum(new, EPSILON)
    return float(np.sum((new - base) * np.log(new / base)))


def ks(baseline: pd.Series, recent: pd.Series) -> float | None:
    ordered = _ordered(baseline, recent)
    if ordered is None or ordered[0].empty or ordered[1].empty:
        return None
    return float(stats.ks_2samp(*ordered).statistic)


def js(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> float:
    return js_of_shares(*shares(baseline, recent, bins))


def js_of_shares(base: np.ndarray, new: np.ndarray) -> float:
    if not base.any() or not new.any():
        return 1.0 if base.any() != new.any() else 0.0
    return float(distance.jensenshannon(base, new, base=2))


def drift(column: str, baseline: pd.Series, recent: pd.Series) -> Drift:
    return Drift(
        column=column,
        kind=kind(baseline),
        psi=psi(baseline, recent), ks=ks(baseline, recent), js=js(baseline, recent),
        baseline_rows=int(baseline.notna().sum()), recent_rows=int(recent.notna().sum()),
    )


def drifts(baseline: pd.DataFrame, recent: pd.DataFrame, columns: list[str]) -> list[Drift]:
    """Drift of every column both samples have."""
    return [drift(c, baseline[c], recent[c]) for c in columns if c in baseline and c in recent]


def edges_of(baseline: np.ndarray, bins: int = BINS) -> np.ndarray:
    """The distinct values cutting ``baseline`` into ``bins`` quantile bins, interpolated between
    order statistics with exactly the arithmetic of Spark's ``percentile``, so that the pandas
    and the Spark engine put a value equal to an edge into the same bin."""
    if not len(baseline):
        return np.array([], dtype=float)
    ordered = np.sort(baseline)
    position = (len(ordered) - 1) * inner_quantiles(bins)
    lower, higher = np.floor(position).astype(np.int64), np.ceil(position).astype(np.int64)
    low, high = ordered[lower], ordered[higher]
    between = (higher - position) * low + (position - lower) * high
    return np.unique(np.where((lower == higher) | (low == high), low, between))


def inner_quantiles(bins: int = BINS) -> np.ndarray:
    """The quantiles whose values cut a baseline into ``bins`` bins (0.1 .. 0.9 for ten)."""
    return np.linspace(0, 1, bins + 1)[1:-1]


def normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)
