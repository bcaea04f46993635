"""Realistic bad input for raw files: what upstream systems really send.

Used by the demo (a landing file with a small share of bad rows, so quarantine has something
to show) and by the bad-input tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lakeside.datasets._spec import SourceSpec

FAULTS = ("not_a_number", "out_of_range", "not_allowed", "missing_required", "duplicate_key")


def inject(raw: pd.DataFrame, spec: SourceSpec, share: float, seed: int = 0) -> pd.DataFrame:
    """A copy of ``raw`` (text) where about ``share`` of the rows carry one fault each.

    Duplicate keys are added as extra rows (copies of earlier rows with another value), so the
    file grows by those rows; the other faults change a cell in place.
    """
    rng = np.random.default_rng(seed)
    out = raw.copy()
    chosen = np.flatnonzero(rng.random(len(out)) < share)
    duplicates = []
    for position in chosen:
        fault = FAULTS[rng.integers(len(FAULTS))]
        if fault == "duplicate_key":
            duplicates.append(position)
            continue
        column = _column_for(fault, spec, rng)
        if column is not None:
            out.iat[position, out.columns.get_loc(column.file_name)] = _bad_value(fault, column)
    extra = out.iloc[duplicates].copy()
    return pd.concat([out, extra], ignore_index=True) if len(extra) else out


def _column_for(fault: str, spec: SourceSpec, rng: np.random.Generator):
    numeric = [c for c in spec.columns if c.kind in {"int", "long", "double", "percent"} and c.name not in spec.key]
    candidates = {
        "not_a_number": numeric,
        "out_of_range": [c for c in numeric if c.max is not None],
        "not_allowed": [c for c in spec.columns if c.allowed],
        "missing_required": [c for c in spec.columns if c.required and c.name not in spec.key],
    }[fault]
    return candidates[rng.integers(len(candidates))] if candidates else None


def _bad_value(fault: str, column) -> str:
    if fault == "not_a_number":
        return "n/a#"
    if fault == "out_of_range":
        return str(column.max * 10 + 1)
    if fault == "not_allowed":
        return "UNKNOWN"
    return ""
