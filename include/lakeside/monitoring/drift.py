"""Distribution drift between a baseline sample (the champion's training snapshot) and a recent
one (served requests, batch predictions), per column.

- **PSI** (population stability index): numeric columns in 10 bins cut at the baseline's
  deciles, categorical columns by category; ``sum((r - b) * ln(r / b))`` over bins, shares
  floored at ``EPSILON`` so an empty bin counts without dividing by zero.
- **KS**: the two-sample Kolmogorov-Smirnov statistic (numeric columns only).
- **JS**: the Jensen-Shannon distance (base 2, in [0, 1]) between the same binned shares as PSI.

Nulls are left out of the distributions; their shares are part of the profile
(:mod:`lakeside.monitoring.profile`).
"""

from __future__ import annotations

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
    kind: str  # numeric or categorical
    psi: float
    ks: float | None
    js: float
    baseline_rows: int
    recent_rows: int


def is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def shares(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> tuple[np.ndarray, np.ndarray]:
    """The two samples' shares per bin (numeric: baseline quantile bins; else per category)."""
    baseline, recent = baseline.dropna(), recent.dropna()
    if is_numeric(baseline) and is_numeric(recent):
        edges = np.unique(np.quantile(baseline.astype(float), np.linspace(0, 1, bins + 1)[1:-1]))
        base_counts = np.bincount(np.searchsorted(edges, baseline.astype(float), side="right"),
                                  minlength=len(edges) + 1)
        recent_counts = np.bincount(np.searchsorted(edges, recent.astype(float), side="right"),
                                    minlength=len(edges) + 1)
    else:
        categories = sorted(set(baseline.astype(str)) | set(recent.astype(str)))
        base_counts = baseline.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy()
        recent_counts = recent.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy()
    return _normalised(base_counts), _normalised(recent_counts)


def psi(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> float:
    base, new = (np.maximum(share, EPSILON) for share in shares(baseline, recent, bins))
    return float(np.sum((new - base) * np.log(new / base)))


def ks(baseline: pd.Series, recent: pd.Series) -> float | None:
    baseline, recent = baseline.dropna(), recent.dropna()
    if not (is_numeric(baseline) and is_numeric(recent)) or baseline.empty or recent.empty:
        return None
    return float(stats.ks_2samp(baseline.astype(float), recent.astype(float)).statistic)


def js(baseline: pd.Series, recent: pd.Series, bins: int = BINS) -> float:
    base, new = shares(baseline, recent, bins)
    if not base.any() or not new.any():
        return 1.0 if base.any() != new.any() else 0.0
    return float(distance.jensenshannon(base, new, base=2))


def drift(column: str, baseline: pd.Series, recent: pd.Series) -> Drift:
    return Drift(
        column=column,
        kind="numeric" if is_numeric(baseline.dropna()) else "categorical",
        psi=psi(baseline, recent), ks=ks(baseline, recent), js=js(baseline, recent),
        baseline_rows=int(baseline.notna().sum()), recent_rows=int(recent.notna().sum()),
    )


def drifts(baseline: pd.DataFrame, recent: pd.DataFrame, columns: list[str]) -> list[Drift]:
    """Drift of every column both samples have."""
    return [drift(c, baseline[c], recent[c]) for c in columns if c in baseline and c in recent]


def _normalised(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts.astype(float)
