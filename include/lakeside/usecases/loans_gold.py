"""The loans use case's gold table ``gold.loans_portfolio``: per issue month, grade and state,
the loans, the amount lent, the mean interest rate, the charged-off share and the share of the
amount paid back. An ingest day replaces the months its loans were issued in, recomputed from
every silver loan of those months (a month's loans arrive over many days)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from lakeside.usecases import GoldTable

GROUP = ["issue_month", "grade", "addr_state"]
CHARGED_OFF = "Charged Off"


def portfolio(silver: pd.DataFrame) -> pd.DataFrame:
    """Loans (columns of ``silver.loans``) -> one row per issue month x grade x ``addr_state``.

    ``charged_off_share``: loans whose status ends in "Charged Off" (the old exports' "Does not
    meet the credit policy. Status:Charged Off" included) over all loans of the group;
    ``payment_ratio``: total paid over total lent.
    """
    loans = pd.DataFrame({
        "issue_month": pd.to_datetime(silver["issue_d"]).dt.to_period("M").dt.to_timestamp().dt.date,
        "grade": silver["grade"].astype(str),
        "addr_state": silver["addr_state"].astype(str),
        "loan_amnt": silver["loan_amnt"].astype("float64"),
        "int_rate": silver["int_rate"].astype("float64"),
        "charged_off": silver["loan_status"].astype(str).str.endswith(CHARGED_OFF).astype("float64"),
        "total_pymnt": silver["total_pymnt"].astype("float64"),
    })
    grouped = loans.groupby(GROUP, sort=True).agg(
        loans=("loan_amnt", "size"), amount=("loan_amnt", "sum"), mean_int_rate=("int_rate", "mean"),
        charged_off_share=("charged_off", "mean"), paid=("total_pymnt", "sum"),
    ).reset_index()
    grouped["loans"] = grouped["loans"].astype("int64")
    grouped["payment_ratio"] = grouped["paid"] / grouped["amount"]
    return grouped.drop(columns="paid")


def months_touched(silver: pd.DataFrame, day: str | dt.date) -> list[dt.date]:
    """The issue months of the loans that the ingest of ``day`` wrote."""
    written = silver[pd.to_datetime(silver["_ingest_date"]).dt.date == pd.Timestamp(day).date()]
    months = pd.to_datetime(written["issue_d"]).dt.to_period("M").dt.to_timestamp().dt.date
    return sorted(set(months))


def build_portfolio(lake, table: GoldTable, day: str) -> dict[str, Any]:
    """Replace the months ``day``'s ingest touched in ``table`` with their recomputed rows."""
    import pyarrow.compute as pc

    from lakeside.gold import conform

    silver = lake.table("silver.loans").to_arrow()
    columns = ["issue_d", "grade", "addr_state", "loan_amnt", "int_rate", "loan_status", "total_pymnt", "_ingest_date"]
    silver = silver.select(columns)
    day_rows = silver.filter(pc.equal(silver["_ingest_date"], _dates([pd.Timestamp(day).date()], silver["_ingest_date"].type)[0]))
    months = months_touched(day_rows.to_pandas(), day)
    if not months:
        return {"months": [], "rows": 0}
    month_starts = pc.floor_temporal(silver["issue_d"], unit="month")
    in_months = pc.is_in(month_starts, value_set=_dates(months, month_starts.type))
    rows = conform(portfolio(silver.filter(in_months).to_pandas()), table)
    target = lake.table(table.name)
    predicate = "issue_month IN (" + ", ".join(f"'{m.isoformat()}'" for m in months) + ")"
    commit = {"logical_date": str(day)[:10], "source": "silver.loans"}
    if target.exists():
        target.replace_where(predicate, rows, partition_by=list(table.partition_by) or None, metadata=commit)
    else:
        target.overwrite(rows, partition_by=list(table.partition_by) or None, metadata=commit)
    return {"months": [m.isoformat() for m in months], "rows": rows.num_rows, "version": target.version()}


def _dates(days: list[dt.date], kind):
    import pyarrow as pa

    return pa.array(days, type=pa.date32()).cast(kind)
