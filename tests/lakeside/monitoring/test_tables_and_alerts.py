"""Table health from Delta history, and alerts: an old last commit fails naming the table, a
rerun gives the same tables."""

import datetime as dt

import pandas as pd
import pytest

from lakeside.monitoring import alerts, tables
from lakeside.tables import Lake

THRESHOLDS = {"default": {"max_age_hours": 36.0, "min_rows": 1}}


@pytest.fixture()
def lake(tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded")
    lake.table("silver.things").overwrite(pd.DataFrame({"id": [1, 2, 3]}))
    lake.table("silver.things").append(pd.DataFrame({"id": [4]}))
    return lake


def test_a_table_written_today_is_fresh_and_counted(lake):
    today = dt.datetime.now(dt.timezone.utc).date()

    frame = tables.table_health(lake, today, THRESHOLDS)

    [row] = frame.to_dict("records")
    assert row["table"] == "silver.things" and row["rows_24h"] == 4
    assert not row["stale"] and not row["incomplete"] and row["age_hours"] <= 24
    assert tables.problems(frame) == []


def test_an_old_last_commit_is_stale_and_its_alert_names_the_table(lake):
    later = dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=5)

    frame = tables.table_health(lake, later, THRESHOLDS)
    found = tables.problems(frame)

    assert any(p.startswith("silver.things: last commit") for p in found)
    assert any("silver.things: 0 rows in the 24 h" in p for p in found)
    with pytest.raises(alerts.MonitorAlert, match=rf"silver.things: last commit .* \({later.isoformat()}\)"):
        alerts.raise_alerts(lake, later, {}, found)
    recorded = lake.table("monitoring.alerts").to_arrow().to_pandas()
    assert set(recorded["source"]) == {"table_health"} and set(recorded["subject"]) == {"silver.things"}


def test_a_rerun_gives_the_same_tables_and_a_quiet_day_clears_its_alerts(lake):
    day = dt.date(2024, 1, 3)
    drifts = {"m": ["dti PSI 0.31 > 0.2"]}
    for _ in range(2):
        with pytest.raises(alerts.MonitorAlert, match=r"m: dti PSI 0.31 > 0.2 \(2024-01-03\)"):
            alerts.raise_alerts(lake, day, drifts, [])
        tables.table_health(lake, day, THRESHOLDS)
    assert len(lake.table("monitoring.alerts").to_arrow()) == 1
    assert len(lake.table("monitoring.table_health").to_arrow()) == 1

    assert alerts.raise_alerts(lake, day, {"m": []}, []) == 0
    assert len(lake.table("monitoring.alerts").to_arrow()) == 0


def test_a_backfilled_day_is_judged_by_the_logical_date_its_commits_name(tmp_path):
    lake = Lake(tmp_path / "lake", backend="embedded")
    for day, rows in (("2024-01-01", 3), ("2024-01-02", 2)):
        lake.table("silver.filled").append(pd.DataFrame({"id": range(rows)}), metadata={"logical_date": day})

    on_time = tables.table_health(lake, dt.date(2024, 1, 2), THRESHOLDS).iloc[0]
    late = tables.table_health(lake, dt.date(2024, 1, 5), THRESHOLDS).iloc[0]

    assert on_time["age_hours"] == 0 and on_time["rows_24h"] == 2 and not on_time["stale"]
    assert late["age_hours"] == 72 and late["stale"] and late["rows_24h"] == 0
