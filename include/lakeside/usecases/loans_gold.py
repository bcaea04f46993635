"""The loans use case's gold table ``gold.loans_portfolio``: per issue month, grade and state,
the loans, the amount lent, the mean interest rate, the charged-off share and the share of the
amount paid back. An ingest day replaces the months its loans were issued in, recomputed from
every silver loan of those months (a month's loans arrive over many days), and the months those
same loans were in before that ingest (a corrected issue date moves a loan out of its old
month, which must lose it)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pandas as pd

from lakeside.datasets.loans import SPEC
from lakeside.usecases import GoldTable

GROUP = ["issue_month", "grade", "addr_state"]
INPUTS = ("issue_d", "grade", "addr_state", "loan_amnt", "int_rate", "loan_status", "total_pymnt")
(KEY,) = SPEC.key
log = logging.getLogger(__name__)
CHARGED_OFF = "Charged Off"


def portfolio(silver) -> pd.DataFrame:
    """Loans (columns of ``silver.loans``, an Arrow table or pandas) -> one row per issue month x
    grade x ``addr_state``, sorted by them.

    ``charged_off_share``: loans whose status ends in "Charged Off" (the old exports' "Does not
    meet the credit policy. Status:Charged Off" included) over all loans of the group;
    ``payment_ratio``: total paid over total lent. Grouped in Arrow: at 10M loans, pandas'
    per-row month conversion and copies took most of the build's time and memory.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(silver, pa.Table):
        silver = pa.Table.from_pandas(silver[list(INPUTS)], preserve_index=False)
    loans = pa.table({
        "issue_month": pc.cast(pc.floor_temporal(silver["issue_d"], unit="month"), pa.date32()),
        "grade": pc.cast(silver["grade"], pa.string()),
        "addr_state": pc.cast(silver["addr_state"], pa.string()),
        "loan_amnt": pc.cast(silver["loan_amnt"], pa.float64()),
        "int_rate": pc.cast(silver["int_rate"], pa.float64()),
        "charged_off": pc.cast(pc.ends_with(pc.cast(silver["loan_status"], pa.string()), CHARGED_OFF), pa.float64()),
        "total_pymnt": pc.cast(silver["total_pymnt"], pa.float64()),
    })
    grouped = loans.group_by(GROUP, use_threads=False).aggregate([
        ("loan_amnt", "count", pc.CountOptions(mode="all")), ("loan_amnt", "sum"), ("int_rate", "mean"),
        ("charged_off", "mean"), ("total_pymnt", "sum"),
    ]).sort_by([(column, "ascending") for column in GROUP])
    frame = grouped.rename_columns({"loan_amnt_count": "loans", "loan_amnt_sum": "amount", "int_rate_mean": "mean_int_rate",
                                    "charged_off_mean": "charged_off_share", "total_pymnt_sum": "paid"}).to_pandas()
    frame["loans"] = frame["loans"].astype("int64")
    frame["payment_ratio"] = frame["paid"] / frame["amount"]
    return frame[[*GROUP, "loans", "amount", "mean_int_rate", "charged_off_share", "payment_ratio"]]


def months_touched(silver: pd.DataFrame, day: str | dt.date) -> list[dt.date]:
    """The issue months of the loans that the ingest of ``day`` wrote."""
    written = silver[pd.to_datetime(silver["_ingest_date"]).dt.date == pd.Timestamp(day).date()]
    return issue_months(written["issue_d"])


def issue_months(issue_dates: pd.Series) -> list[dt.date]:
    """The first days of the months of ``issue_dates``, sorted, once each."""
    return sorted(set(pd.to_datetime(issue_dates).dt.to_period("M").dt.to_timestamp().dt.date))


def months_before(silver, day_rows, day: str) -> list[dt.date] | None:
    """The issue months the loans of ``day_rows`` had in ``silver`` just before the ingest of
    ``day`` first merged them (its commit names the logical date; without one, the last commit);
    None when that version is gone (vacuumed): then no month can be ruled out."""
    import pyarrow.compute as pc

    commits = silver.history()
    ingests = [c.version for c in commits if c.metadata.get("logical_date") == str(day)[:10]]
    before = (min(ingests) if ingests else commits[0].version) - 1
    if before < 0 or day_rows.num_rows == 0:
        return []
    try:
        earlier = silver.to_arrow(version=before, columns=[KEY, "issue_d"])
    except Exception as error:  # noqa: BLE001 - delta-rs and Spark name a vacuumed version differently
        log.warning("silver.loans version %s cannot be read (%s): every month is rebuilt", before, error)
        return None
    earlier = earlier.filter(pc.is_in(earlier[KEY], value_set=day_rows[KEY]))
    return issue_months(earlier["issue_d"].to_pandas())


def build_portfolio(lake, table: GoldTable, day: str) -> dict[str, Any]:
    """Replace the months ``day``'s ingest touched in ``table`` with their recomputed rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lakeside.gold import conform

    source = lake.table("silver.loans")
    columns = [*INPUTS, "_ingest_date"]
    silver = source.to_arrow(columns=[KEY, *columns])
    day_rows = silver.filter(pc.equal(silver["_ingest_date"], _dates([pd.Timestamp(day).date()], silver["_ingest_date"].type)[0]))
    previous = months_before(source, day_rows, day)
    month_starts = pc.floor_temporal(silver["issue_d"], unit="month")
    target = lake.table(table.name)
    if previous is None:
        stored = target.to_arrow(columns=["issue_month"]).column("issue_month") if target.exists() else pa.array([], pa.date32())
        previous = [_as_date(m) for m in [*month_starts.unique().to_pylist(), *stored.unique().to_pylist()]]
    months = sorted(set(months_touched(day_rows.to_pandas(), day)) | set(previous))
    silver = silver.select(columns)
    if not months:
        return {"months": [], "rows": 0}
    in_months = pc.is_in(month_starts, value_set=_dates(months, month_starts.type))
    rows = conform(portfolio(silver.filter(in_months)), table)
    predicate = "issue_month IN (" + ", ".join(f"'{m.isoformat()}'" for m in months) + ")"
    commit = {"logical_date": str(day)[:10], "source": "silver.loans"}
    if target.exists():
        target.replace_where(predicate, rows, partition_by=list(table.partition_by) or None, metadata=commit)
    else:
        target.overwrite(rows, partition_by=list(table.partition_by) or None, metadata=commit)
    return {"months": [m.isoformat() for m in months], "rows": rows.num_rows, "version": target.version()}


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _dates(days: list[dt.date], kind):
    import pyarrow as pa

    return pa.array(days, type=pa.date32()).cast(kind)
