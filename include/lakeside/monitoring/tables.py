"""Freshness and completeness of every lake table from its Delta history alone.

For a logical date, the end of that day (UTC) is the moment of reference (never the wall clock:
a rerun gives the same rows). A commit that names its logical date in its metadata (ingest
does) counts as made at the end of that date, so a backfill reads like the days it fills; other
commits count at their commit time. Per table: the age of its last commit before that moment, the rows
its commits added in the 24 hours before it, the median of the same daily figure over the 14
days before, and two flags: ``stale`` (age over ``max_age_hours``) and ``incomplete`` (fewer rows
than ``min_rows``, or under half the 14-day median when there is one).
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

import pandas as pd

from lakeside.landing import as_date
from lakeside.tables import Commit, Lake

HISTORY_DAYS = 14
SKIPPED_LAYERS = ("monitoring",)
# Rows a commit added, by backend and operation (delta-rs and Spark name them differently).
ADDED_ROWS = (("num_added_rows",), ("numOutputRows",), ("num_target_rows_inserted", "num_target_rows_updated"),
              ("numTargetRowsInserted", "numTargetRowsUpdated"))


def lake_tables(lake: Lake) -> list[str]:
    """``layer.name`` of every Delta table under the lake's root."""
    root = Path(lake.root)
    if not root.is_dir():
        return []
    return sorted(f"{log.parent.parent.name}.{log.parent.name}" for log in root.glob("*/*/_delta_log")
                  if log.parent.parent.name not in SKIPPED_LAYERS)


def added_rows(commit: Commit) -> int:
    for names in ADDED_ROWS:
        if any(name in commit.metrics for name in names):
            return sum(int(commit.metrics.get(name) or 0) for name in names)
    return 0


def effective_time(commit: Commit) -> dt.datetime:
    """The end of the commit's logical date when its metadata names one, else its commit time."""
    named = commit.metadata.get("logical_date")
    try:
        return _end_of(as_date(named)) if named else commit.timestamp
    except ValueError:
        return commit.timestamp


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc)


def health(name: str, commits: list[Commit], day: dt.date, thresholds: dict) -> dict:
    end = _end_of(day)
    timed = [(effective_time(c), c) for c in commits]
    before = [(at, c) for at, c in timed if at <= end]
    last = max((at for at, _ in before), default=None)
    age_hours = (end - last).total_seconds() / 3600 if last else None

    def rows_in(until: dt.datetime) -> int:
        return sum(added_rows(c) for at, c in before if until - dt.timedelta(days=1) < at <= until)

    recent = rows_in(end)
    history = [rows_in(end - dt.timedelta(days=n)) for n in range(1, HISTORY_DAYS + 1)]
    typical = statistics.median(history) if any(history) else None
    stale = age_hours is None or age_hours > thresholds["max_age_hours"]
    incomplete = recent < thresholds["min_rows"] or (typical is not None and recent < typical / 2)
    return {"table": name, "date": day, "last_commit": last, "age_hours": age_hours, "rows_24h": recent,
            "median_rows_14d": float(typical) if typical is not None else None,
            "expected_min_rows": int(thresholds["min_rows"]), "max_age_hours": float(thresholds["max_age_hours"]),
            "stale": bool(stale), "incomplete": bool(incomplete)}


def table_health(lake: Lake, day: dt.date | str, thresholds: dict[str, dict],
                 tables: list[str] | None = None) -> pd.DataFrame:
    """One row per table; replaces the date's rows of ``monitoring.table_health``."""
    day = as_date(day)
    names = lake_tables(lake) if tables is None else tables
    rows = [health(name, lake.table(name).history() if lake.table(name).exists() else [], day,
                   thresholds.get(name, thresholds["default"])) for name in names]
    frame = pd.DataFrame(rows, columns=["table", "date", "last_commit", "age_hours", "rows_24h", "median_rows_14d",
                                        "expected_min_rows", "max_age_hours", "stale", "incomplete"])
    frame = frame.astype({"age_hours": "float64", "median_rows_14d": "float64", "rows_24h": "int64"})
    frame["last_commit"] = pd.to_datetime(frame["last_commit"], utc=True)
    if len(frame):
        lake.table("monitoring.table_health").replace_where(f"date = '{day.isoformat()}'", frame,
                                                            metadata={"date": day.isoformat()})
    return frame


def problems(frame: pd.DataFrame) -> list[str]:
    """``silver.loans: last commit 52.0 h before the end of 2024-01-03 (max 36)`` and the like."""
    found = []
    for row in frame.itertuples():
        if row.stale:
            found.append(f"{row.table}: " + (f"last commit {row.age_hours:.1f} h before the end of {row.date} "
                                             f"(max {row.max_age_hours:g})" if pd.notna(row.age_hours)
                                             else f"no commit by the end of {row.date}"))
        if row.incomplete:
            expected = f"{row.expected_min_rows}" + (f", half the 14-day median {row.median_rows_14d:g}"
                                                       if pd.notna(row.median_rows_14d) else "")
            found.append(f"{row.table}: {row.rows_24h} rows in the 24 h to the end of {row.date} (expected >= {expected})")
    return found
