"""Reading the windows job's output back: the facts of a pinned ``gold.energy_windows`` version,
its features as one array, its windows per split, and raw silver rows for the served model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lakeside.datasets.appliances_energy import FEATURES, TARGET
from lakeside.usecases.energy_lstm import FEATURES_TABLE, WINDOWS_TABLE

FACTS_KEY = "energy_windows"


@dataclass
class Windows:
    """A pinned windows version: ``features`` (rows x 28, scaled, row order), the windows table,
    the job's facts (versions, bounds, scaler, counts) and the raw target per row."""

    facts: dict[str, Any]
    features: np.ndarray
    dates: pd.Series
    table: pd.DataFrame
    raw_target: np.ndarray

    def anchors(self, split: str) -> np.ndarray:
        return self.table.loc[self.table["split"] == split, "anchor"].to_numpy(dtype=np.int64)

    @property
    def scaler(self) -> dict[str, dict[str, float]]:
        return self.facts["scaler"]

    @property
    def target_column(self) -> int:
        return FEATURES.index(TARGET)

    def check_reach(self, lookback_steps: int, horizon: int) -> None:
        """Windows were cut for one lookback and horizon: a model may use less of either, not more."""
        if lookback_steps > self.facts["lookback"] or horizon > self.facts["horizon"]:
            raise ValueError(
                f"the windows (version {self.facts.get('windows_version')}) span {self.facts['lookback']} steps back "
                f"and {self.facts['horizon']} ahead; lookback_steps={lookback_steps} and a target at {horizon} "
                "need windows cut for them (rerun jobs/energy_windows.py with --lookback and --horizon)")


def lake_of(snapshot, spark=None):
    from lakeside.tables import Lake

    return Lake(snapshot.uri.rsplit("/", 2)[0], backend="embedded", spark=spark)


def windows_facts(lake, version: int) -> dict[str, Any]:
    """What the windows job recorded with the commit of ``gold.energy_windows`` version ``version``."""
    for commit in lake.table(WINDOWS_TABLE).history():
        if commit.version == version:
            text = commit.metadata.get(FACTS_KEY)
            if not text:
                break
            return {**json.loads(text), "windows_version": version}
    raise ValueError(f"{WINDOWS_TABLE} version {version} was not written by jobs/energy_windows.py "
                     "(its commit has no windows facts)")


def load(snapshot) -> Windows:
    """The pinned windows version with the features version it was cut from."""
    lake = lake_of(snapshot)
    facts = windows_facts(lake, snapshot.version)
    table = lake.table(WINDOWS_TABLE).to_pandas(version=snapshot.version).sort_values("anchor", kind="stable")
    rows = lake.table(FEATURES_TABLE).to_pandas(version=facts["features_version"]).sort_values("row", kind="stable")
    if not np.array_equal(rows["row"].to_numpy(), np.arange(len(rows))):
        raise ValueError(f"{FEATURES_TABLE} version {facts['features_version']}: rows are not numbered 0..n-1")
    features = rows[list(FEATURES)].to_numpy(dtype=np.float32)
    scale = facts["scaler"][TARGET]
    raw_target = rows[TARGET].to_numpy(dtype=np.float64) * scale["std"] + scale["mean"]
    return Windows(facts, features, naive_times(rows["date"]).reset_index(drop=True), table.reset_index(drop=True),
                   raw_target)


def raw_rows(snapshot, facts: dict[str, Any]) -> pd.DataFrame:
    """The silver rows the windows were cut from (raw values, time order): what callers send."""
    frame = lake_of(snapshot).table(facts["source"]).to_pandas(version=int(facts["source_version"]))
    frame = frame[["date", *FEATURES]].sort_values("date", kind="stable").reset_index(drop=True)
    frame["date"] = naive_times(frame["date"])
    return frame


def naive_times(times: pd.Series) -> pd.Series:
    """Delta timestamps come back in UTC; the series' times are wall-clock times without a zone."""
    times = pd.to_datetime(times)
    return times.dt.tz_convert(None) if times.dt.tz is not None else times


def window_frame(raw: pd.DataFrame, anchors: np.ndarray, lookback: int) -> pd.DataFrame:
    """The raw rows of each window (oldest first) with its ``window_id`` (the anchor): a request."""
    index = np.asarray(anchors, dtype=np.int64)[:, None] + np.arange(-lookback + 1, 1)[None, :]
    frame = raw.iloc[index.ravel()].reset_index(drop=True)
    frame.insert(0, "window_id", np.repeat(np.asarray(anchors, dtype=np.int64), lookback))
    return frame
