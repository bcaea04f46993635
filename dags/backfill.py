"""
### Backfill a source's history

Ingests years of a source in **one run** instead of one `daily_ingest` run per day: the raw
files go to bronze, silver (MERGE on the key) and quarantine (refused rows with their reason)
with the daily ingest's validation, all under this run's logical date. Take the history's last
day as the logical date (the day before the first daily run), so a daily run never replaces the
backfill's bronze partition.

Params:
- `source`: the source (`silver.<source>` is announced as an asset when the run succeeds);
- `files`: raw files (e.g. the public `train.csv` of store-item sales) on the workers' disk;
  empty means the source's generated history, written under `landing/<source>/backfill-<date>/`;
- `seed` and `generator`: the generated history's seed and options (a subset of it:
  `{"stores": 2, "items": 5, "years": 2}` for store-item sales);
- `max_rejected_share`: the run fails, silver untouched, past this share of refused rows
  (empty: `LAKESIDE_MAX_REJECTED_SHARE`).

The Spark job is `jobs/backfill.py`; rerunning a logical date gives the same tables.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, silver_asset
from lakeside.datasets import INGEST_SOURCES


@dag(
    schedule=None,
    start_date=datetime(2000, 1, 1),  # a history's last day comes before any daily run
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "ingest", "backfill", "bronze", "silver"],
    doc_md=__doc__,
    params={
        "source": Param("store_item", type="string", enum=list(INGEST_SOURCES), description="The source to backfill."),
        "files": Param([], type="array", items={"type": "string"},
                       description="Raw files on the workers' disk. Empty: the source's generated history."),
        "seed": Param(0, type="integer", description="The generated history's seed."),
        "generator": Param({}, type="object", description="Options of the generated history (a subset of it)."),
        "max_rejected_share": Param(None, type=["null", "number"], minimum=0, maximum=1,
                                    description="Refused share that fails the run. Empty: LAKESIDE_MAX_REJECTED_SHARE."),
    },
)
def backfill():
    @task.branch
    def choose_source(params: dict | None = None) -> str:
        return f"backfill_{params['source']}"

    chosen = choose_source()
    for source in INGEST_SOURCES:
        chosen >> SparkJobOperator(
            task_id=f"backfill_{source}",
            job="backfill",
            application_args=[
                "--source", source, "--logical-date", "{{ ds }}", "--run-id", "{{ run_id }}",
                "--seed", "{{ params.seed }}", "--generator", "{{ params.generator | tojson }}",
                "--file", "{{ params.files | join(',') }}",
                "--max-rejected-share", "{{ '' if params.max_rejected_share is none else params.max_rejected_share }}",
            ],
            outlets=[silver_asset(source)],
        )


backfill()
