"""A pinned table version and its fixed holdout: what a search trains on and a gate judges by.

The holdout follows the use case's split, pinned when the snapshot is taken:

- ``hash``: rows whose key hashes below the holdout fraction. Chosen by a hash of the key, not
  by a random draw, so a row stays in the holdout (or out of it) across table versions: a
  champion trained on an older version has never seen the rows a newer snapshot holds out.
- ``stratified``: within each class of the target, the fraction of its rows with the lowest key
  hashes, so every class keeps its share in both parts.
- ``time``: rows at or after the cutoff (the start of the last ``holdout_periods`` periods of the
  time column, computed from the pinned version) are the holdout; training sees none of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lakeside.tables import Lake, Table


@dataclass(frozen=True)
class Snapshot:
    table: str
    uri: str
    version: int
    key: tuple[str, ...]
    holdout_fraction: float = 0.2
    split: dict[str, Any] = field(default_factory=lambda: {"kind": "hash"})
    """``kind`` (hash, stratified, time) and what it needs: ``target``, ``time_column``, ``cutoff``."""

    def to_dict(self) -> dict:
        return {**asdict(self), "key": list(self.key)}

    @classmethod
    def from_dict(cls, data: dict) -> "Snapshot":
        return cls(**{**data, "key": tuple(data["key"])})

    @property
    def split_kind(self) -> str:
        return self.split.get("kind", "hash")


def take(table: Table, key: tuple[str, ...] | list[str], holdout_fraction: float = 0.2, *,
         split=None, target: str | None = None) -> Snapshot:
    """Pin the table's current version; ``split`` is a :class:`lakeside.usecases.Split` (default hash)."""
    version = table.version()
    kind = getattr(split, "kind", "hash")
    if split is not None and kind != "time":
        holdout_fraction = split.holdout_fraction
    pinned: dict[str, Any] = {"kind": kind}
    if kind == "stratified":
        if not target:
            raise ValueError("a stratified split needs the target column")
        pinned["target"] = target
    elif kind == "time":
        times = pd.to_datetime(table.to_arrow(version).column(split.time_column).to_pandas())
        if times.dropna().empty:
            raise ValueError(f"{table.name} version {version} has no value in {split.time_column!r} to split on")
        last = pd.Timestamp(times.max())
        last = last.tz_convert(None) if last.tz is not None else last
        offset = pd.tseries.frequencies.to_offset(split.period)
        cutoff = last.to_period(split.period).start_time - (split.holdout_periods - 1) * offset
        pinned.update(time_column=split.time_column, cutoff=cutoff.isoformat(), period=split.period,
                      holdout_periods=split.holdout_periods)
    return Snapshot(table.name, table.uri, version, tuple(key), holdout_fraction, pinned)


def load(snapshot: Snapshot, lake: Lake | None = None) -> pd.DataFrame:
    """The pinned version's rows (read with delta-rs: no Spark needed)."""
    table = (lake or Lake(snapshot.uri.rsplit("/", 2)[0], backend="embedded")).table(snapshot.table)
    return table.to_pandas(version=snapshot.version)


def key_hash(frame: pd.DataFrame, key: tuple[str, ...] | list[str]) -> np.ndarray:
    """A stable 64-bit hash of each row's key."""
    text = frame[list(key)].astype(str).agg("|".join, axis=1)
    return np.array([int.from_bytes(hashlib.blake2b(v.encode(), digest_size=8).digest(), "big") for v in text],
                    dtype=np.uint64)


def holdout_mask(frame: pd.DataFrame, key: tuple[str, ...] | list[str], fraction: float) -> pd.Series:
    """True for the rows of the hash holdout (a stable hash of the key below ``fraction``)."""
    buckets = key_hash(frame, key) % np.uint64(10_000)
    return pd.Series(buckets < int(round(fraction * 10_000)), index=frame.index)


def snapshot_mask(frame: pd.DataFrame, snapshot: Snapshot) -> pd.Series:
    """True for the snapshot's holdout rows of ``frame`` (the pinned version's rows)."""
    kind = snapshot.split_kind
    if kind == "hash":
        return holdout_mask(frame, snapshot.key, snapshot.holdout_fraction)
    if kind == "stratified":
        target = snapshot.split["target"]
        order = pd.Series(key_hash(frame, snapshot.key), index=frame.index)
        rank = order.groupby(frame[target].astype(str)).rank(method="first") - 1
        size = frame.groupby(frame[target].astype(str))[target].transform("size")
        return rank < (size * snapshot.holdout_fraction).round()
    if kind == "time":
        times = pd.to_datetime(frame[snapshot.split["time_column"]])
        if getattr(times.dt, "tz", None) is not None:
            times = times.dt.tz_convert(None)
        return times >= pd.Timestamp(snapshot.split["cutoff"])
    raise ValueError(f"unknown split kind {kind!r}")


def split(frame: pd.DataFrame, snapshot: Snapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout) of a snapshot's rows."""
    mask = snapshot_mask(frame, snapshot)
    return frame[~mask].reset_index(drop=True), frame[mask].reset_index(drop=True)
