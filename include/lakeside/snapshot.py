"""A pinned table version and its fixed holdout: what a search trains on and a gate judges by.

The holdout is chosen by a hash of the table's key, not by a random draw, so a row stays in
the holdout (or out of it) across table versions: a champion trained on an older version has
never seen the rows a newer snapshot holds out.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import pandas as pd

from lakeside.tables import Lake, Table


@dataclass(frozen=True)
class Snapshot:
    table: str
    uri: str
    version: int
    key: tuple[str, ...]
    holdout_fraction: float = 0.2

    def to_dict(self) -> dict:
        return {**asdict(self), "key": list(self.key)}

    @classmethod
    def from_dict(cls, data: dict) -> "Snapshot":
        return cls(**{**data, "key": tuple(data["key"])})


def take(table: Table, key: tuple[str, ...] | list[str], holdout_fraction: float = 0.2) -> Snapshot:
    """Pin the table's current version."""
    return Snapshot(table.name, table.uri, table.version(), tuple(key), holdout_fraction)


def load(snapshot: Snapshot, lake: Lake | None = None) -> pd.DataFrame:
    """The pinned version's rows (read with delta-rs: no Spark needed)."""
    table = (lake or Lake(snapshot.uri.rsplit("/", 2)[0], backend="embedded")).table(snapshot.table)
    return table.to_pandas(version=snapshot.version)


def holdout_mask(frame: pd.DataFrame, key: tuple[str, ...] | list[str], fraction: float) -> pd.Series:
    """True for the rows of the fixed holdout (a stable hash of the key below ``fraction``)."""
    text = frame[list(key)].astype(str).agg("|".join, axis=1)
    buckets = text.map(lambda value: int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big"))
    return (buckets % 10_000) < int(round(fraction * 10_000))


def split(frame: pd.DataFrame, snapshot: Snapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout) of a snapshot's rows."""
    mask = holdout_mask(frame, snapshot.key, snapshot.holdout_fraction)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
