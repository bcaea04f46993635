"""A column's profile: counts, nulls, moments, quantiles and its most frequent values."""

from __future__ import annotations

import json

import pandas as pd

from lakeside.monitoring.drift import is_numeric

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP = 5


def profile(column: str, values: pd.Series) -> dict:
    present = values.dropna()
    numeric = is_numeric(present) and not present.empty
    row = {
        "column": column, "count": int(len(values)), "nulls": int(values.isna().sum()),
        "mean": None, "std": None, "min": None, "max": None,
        **{f"p{round(q * 100):02d}": None for q in QUANTILES},
        "top_values": json.dumps({str(k): int(v) for k, v in present.astype(str).value_counts().head(TOP).items()}),
    }
    if numeric:
        as_float = present.astype(float)
        row.update({"mean": float(as_float.mean()), "std": float(as_float.std(ddof=0)),
                    "min": float(as_float.min()), "max": float(as_float.max()),
                    **{f"p{round(q * 100):02d}": float(as_float.quantile(q)) for q in QUANTILES}})
    return row


def profiles(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    return [profile(c, frame[c]) for c in columns if c in frame]
