"""Alerts: what crossed a threshold on a logical date, recorded in ``monitoring.alerts`` (the
date's rows replaced, so a rerun gives the same table) and raised as :class:`MonitorAlert`,
whose message names each crossing (``<model>: <column> PSI 0.31 > 0.2 (<date>)``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.request

import pandas as pd

from lakeside.landing import as_date
from lakeside.tables import Lake

log = logging.getLogger(__name__)


class MonitorAlert(RuntimeError):
    """One or more monitors crossed their thresholds."""


def messages(day: dt.date, drifts: dict[str, list[str]], table_problems: list[str]) -> list[dict]:
    rows = [{"date": day, "source": "drift", "subject": model, "message": f"{model}: {crossing} ({day.isoformat()})"}
            for model, crossings in drifts.items() for crossing in crossings]
    rows += [{"date": day, "source": "table_health", "subject": problem.split(":", 1)[0],
              "message": f"{problem} ({day.isoformat()})"} for problem in table_problems]
    return rows


def raise_alerts(lake: Lake, day: dt.date | str, drifts: dict[str, list[str]], table_problems: list[str]) -> int:
    """Record the date's alerts (none: the date's rows removed) and raise when there are any."""
    day = as_date(day)
    rows = messages(day, drifts, table_problems)
    table = lake.table("monitoring.alerts")
    frame = pd.DataFrame(rows, columns=["date", "source", "subject", "message"])
    frame["date"] = pd.Series([day] * len(frame), dtype="object")
    if rows or table.exists():
        table.replace_where(f"date = '{day.isoformat()}'", pa_frame(frame),
                            metadata={"date": day.isoformat()})
    if rows:
        raise MonitorAlert("; ".join(row["message"] for row in rows))
    return 0


def pa_frame(frame: pd.DataFrame):
    import pyarrow as pa

    schema = pa.schema([("date", pa.date32()), ("source", pa.string()), ("subject", pa.string()),
                        ("message", pa.string())])
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def post_webhook(url: str, text: str, details: dict) -> None:
    """POST ``{"text", **details}`` as JSON; a webhook that fails is logged, never raised."""
    body = json.dumps({"text": text, **details}, default=str).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
    except OSError as error:
        log.warning("alert webhook %s failed: %s", url, error)
