"""A column's profile: counts, nulls, moments, quantiles and its most frequent values."""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections.abc import Iterable
from typing import Any

import numpy as np
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
        **{quantile_name(q): None for q in QUANTILES},
        "top_values": top_values(present.value_counts().items()),
    }
    if numeric:
        as_float = present.astype(float)
        row.update({"mean": float(as_float.mean()), "std": float(as_float.std(ddof=0)),
                    "min": float(as_float.min()), "max": float(as_float.max()),
                    **{quantile_name(q): float(as_float.quantile(q)) for q in QUANTILES}})
    return row


def quantile_name(q: float) -> str:
    """The profile column of quantile ``q`` (``p05`` .. ``p95``)."""
    return f"p{round(q * 100):02d}"


def top_values(counts: Iterable[tuple[Any, int]]) -> str:
    """The ``TOP`` most frequent values as JSON ``{label: count}``: by count, ties by value (so
    every engine picks the same ones)."""
    entries = [(int(n), value) for value, n in counts]
    try:
        ranked = heapq.nsmallest(TOP, entries, key=lambda entry: (-entry[0], entry[1]))
    except TypeError:  # values of mixed types
        ranked = heapq.nsmallest(TOP, entries, key=lambda entry: (-entry[0], str(entry[1])))
    return json.dumps({label(value): n for n, value in ranked})


def label(value: Any) -> str:
    """A value as text the same way whichever engine read it: whole floats without ``.0`` (an
    integer column with nulls reaches pandas as floats), instants as UTC ISO 8601."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        instant = pd.Timestamp(value)
        return (instant.tz_localize("UTC") if instant.tz is None else instant.tz_convert("UTC")).isoformat()
    return str(value)


def profiles(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    return [profile(c, frame[c]) for c in columns if c in frame]
