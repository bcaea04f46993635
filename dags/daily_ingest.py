"""
### Daily ingest

Lands each day's raw files into **bronze** Delta tables (as they arrived, with the source file,
logical date and run id), validates and types them into **silver** (MERGE on the natural key),
and writes every refused row, with its reason, to **quarantine**.

- One task pair per source: `land_<source>` finds the day's files under
  `$LAKESIDE_HOME/landing/<source>/<date>/` (or generates demo data when
  `LAKESIDE_GENERATE_MISSING_LANDING=true`), then `ingest_<source>` submits the job
  `jobs/daily_ingest.py` through the `spark_default` connection. On the embedded backend the
  job judges the day with DuckDB (no Spark session); on `spark-delta`, with Spark
  (`LAKESIDE_INGEST_ENGINE`). Both engines write the same tables.
- The run fails, leaving silver unchanged, when the refused share passes
  `LAKESIDE_MAX_REJECTED_SHARE` (default 5%); look at `quarantine.<source>`.
- Re-running a logical date gives the same tables.
- A weekly export (`weekly_sales`, Mondays) is landed and ingested on its weekday; on the other
  days its two tasks are skipped and its asset is not updated.
- Sources: every daily source, or the subset `LAKESIDE_INGEST_SOURCES` names (`make demo` sets it
  to the sources of the use cases it runs). A run's `sources` param narrows it further: the other
  sources' tasks are skipped (`make demo` ingests the weekly and taxi files on one day only).
- Each silver table is published as the asset `silver.<source>`: DAGs that need fresh data
  schedule on it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, silver_asset
from lakeside.config import ingest_sources


@dag(
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "ingest", "bronze", "silver"],
    doc_md=__doc__,
    params={
        "sources": Param([], type="array", items={"type": "string", "enum": list(ingest_sources())},
                         description="The sources this run ingests. Empty: all of them."),
    },
)
def daily_ingest():
    for source in ingest_sources():

        @task(task_id=f"land_{source}")
        def land(source: str, ds: str | None = None, params: dict | None = None) -> list[str]:
            from airflow.sdk.exceptions import AirflowSkipException

            from lakeside.landing import ensure_landing, lands_on

            if params and params.get("sources") and source not in params["sources"]:
                raise AirflowSkipException(f"{source} is not among this run's sources {params['sources']}")
            if not lands_on(source, ds):
                raise AirflowSkipException(f"{source} is a weekly export: no file lands on {ds}")
            return ensure_landing(source, ds)

        ingest = SparkJobOperator(
            task_id=f"ingest_{source}",
            job="daily_ingest",
            application_args=["--source", source, "--logical-date", "{{ ds }}", "--run-id", "{{ run_id }}"],
            outlets=[silver_asset(source)],
        )
        land(source) >> ingest


daily_ingest()
