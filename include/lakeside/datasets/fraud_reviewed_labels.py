"""Analysts' decisions on transactions the fraud model was unsure about: one CSV drop per review
session, one row per transaction (its PaySim key), the label the analyst gave, who and when.

    step,type,amount,nameOrig,nameDest,label,reviewer,reviewed_at
    212,TRANSFER,181.0,C1305486145,C553264065,1,ana.lyst,2024-01-09T10:15:00Z

Ingested like any source (bronze, silver merged on the transaction key, quarantine with the
reason: an unknown type, a label other than 0/1, a missing reviewer, an unreadable time, the same
transaction twice in a drop). A later review of the same transaction replaces the earlier one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lakeside.datasets import paysim
from lakeside.datasets._spec import Column, SourceSpec, read_text_csv

SPEC = SourceSpec(
    name="fraud_reviewed_labels",
    description="Analysts' reviewed fraud labels, one row per reviewed transaction.",
    key=("step", "type", "amount", "nameOrig", "nameDest"),
    columns=(
        Column("step", "int", min=1, max=paysim.STEPS),
        Column("type", "string", allowed=paysim.TYPES),
        Column("amount", "double", min=0),
        Column("nameOrig", "string", pattern=r"^C\d+$"),
        Column("nameDest", "string", pattern=r"^[CM]\d+$"),
        Column("label", "int", min=0, max=1),
        Column("reviewer", "string", pattern=r"^[\w.@-]+$"),
        Column("reviewed_at", "timestamp"),
    ),
)


def decisions(transactions: pd.DataFrame, labels, reviewer: str, reviewed_at: str) -> pd.DataFrame:
    """Typed review rows for ``transactions`` (PaySim rows) with the given labels."""
    return pd.DataFrame({
        **{c: transactions[c].to_numpy() for c in ("step", "type", "amount", "nameOrig", "nameDest")},
        "label": np.asarray(labels, dtype="int32"),
        "reviewer": reviewer,
        "reviewed_at": pd.Timestamp(reviewed_at).tz_localize(None) if pd.Timestamp(reviewed_at).tz is None
        else pd.Timestamp(reviewed_at).tz_convert(None),
    })[SPEC.column_names]


def generate(rows: int, seed: int = 0) -> pd.DataFrame:
    """Reviews of ``rows`` generated transactions: the analyst agrees with PaySim's ``isFraud``."""
    log = paysim.generate(rows, seed=seed)
    return decisions(log, log["isFraud"], "analyst", "2024-01-01T12:00:00")


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    raw = df.astype(str)
    raw["amount"] = df["amount"].map(repr)
    raw["reviewed_at"] = pd.to_datetime(df["reviewed_at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return raw[SPEC.column_names]


def load(path: str) -> pd.DataFrame:
    """A review drop (CSV) in :func:`generate`'s shape."""
    return SPEC.typed(read_text_csv(path, SPEC, "fraud review"))
