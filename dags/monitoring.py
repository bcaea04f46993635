"""
### Monitoring

Daily, and after each `batch_inference` run, checks the lake and the served models.

- `table_health`: freshness and completeness of every lake table from its Delta history alone
  (`monitoring.table_health`: age of the last commit, rows in the 24 h to the end of the day,
  the 14-day median, `stale` and `incomplete`). Tables named in `monitors/tables.json` alert.
- `monitor_<use case>`: profiles and drift (PSI, KS, Jensen-Shannon) of the model's inputs and
  predictions, the day's served requests (`inference.<model>`) and batch predictions against
  its champion's training snapshot (`monitoring.profile_metrics`, `monitoring.drift_metrics`);
  thresholds in `monitors/<model>.json`. Too few rows: "insufficient data", no alert.
- `alert`: fails, naming each crossing (`<model>: <column> PSI 0.31 > 0.2 (<date>)`),
  records it in `monitoring.alerts` and posts it to `LAKESIDE_ALERT_WEBHOOK_URL` when set.
- `compact_inference`: rewrites the day's small files of every `inference.<model>` table (the
  servers append every few seconds) into few large ones.
- Every table replaces the date's rows: a rerun gives the same tables.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from lakeside.airflow import DEFAULT_ARGS, WebhookNotifier
from lakeside.usecases import all_use_cases

MONITORED = [case for case in all_use_cases() if case.service == "tabular"]
PREDICTIONS = [Asset(name=f"predictions.{case.model_name}", uri=f"lakeside://predictions/{case.model_name}",
                     group="lakeside") for case in all_use_cases() if case.batch_inference]


def _schedule():
    daily = CronTriggerTimetable("0 6 * * *", timezone="UTC")
    if not PREDICTIONS:
        return daily
    condition = PREDICTIONS[0]
    for asset in PREDICTIONS[1:]:
        condition = condition | asset
    return AssetOrTimeSchedule(timetable=daily, assets=condition)


@dag(
    schedule=_schedule(),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "monitoring", "drift"],
    doc_md=__doc__,
)
def monitoring():
    @task
    def table_health(ds: str | None = None) -> list[str]:
        from lakeside.monitoring.tables import problems, table_health
        from lakeside.monitoring.thresholds import table_thresholds
        from lakeside.tables import open_lake

        thresholds = table_thresholds()
        frame = table_health(open_lake(), ds, thresholds)
        return problems(frame[frame["table"].isin([name for name in thresholds if name != "default"])])

    findings = {}
    for case in MONITORED:

        @task(task_id=f"monitor_{case.name}")
        def monitor(model: str, ds: str | None = None) -> list[str]:
            from lakeside.monitoring.models import monitor_served

            return monitor_served(model, ds)

        findings[case.model_name] = monitor(case.model_name)

    @task(on_failure_callback=WebhookNotifier())
    def alert(table_problems: list[str], drifts: dict[str, list[str]], ds: str | None = None) -> int:
        from airflow.sdk.exceptions import AirflowFailException

        from lakeside.monitoring.alerts import MonitorAlert, raise_alerts
        from lakeside.tables import open_lake

        try:
            return raise_alerts(open_lake(), ds, drifts, table_problems)
        except MonitorAlert as crossing:  # a verdict, not a hiccup: retrying gives the same one
            raise AirflowFailException(str(crossing)) from crossing

    @task
    def compact_inference(ds: str | None = None) -> dict[str, int]:
        from lakeside.config import settings
        from lakeside.landing import as_date
        from lakeside.serving.inference import compact

        return compact(settings().lake_root, as_date(ds))

    alert(table_health(), findings)
    compact_inference()


monitoring()
