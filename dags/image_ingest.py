"""
### Image ingest

Takes the day's pictures into Delta, like `daily_ingest` does for rows: the files that landed in
class folders under `$LAKESIDE_HOME/landing/<source>/<date>/<label>/` become rows of
`silver.<source>` (binary content, sha256 `image_id`, label, format, size; MERGE on `image_id`),
and every unreadable, oversized or twice-labelled picture goes to `quarantine.<source>` with its
reason.

- One task pair per class-folder source (`car_images`): `land_<source>` lists the day's
  pictures (or generates the demo's when `LAKESIDE_GENERATE_MISSING_LANDING=true`); a day
  without pictures is skipped, and the asset is not updated. `ingest_<source>` runs the Spark
  job `jobs/image_ingest.py` through the `spark_default` connection.
- Re-running a logical date gives the same tables.
- `silver.<source>` is published as an asset: the `car_classifier` retrain schedules on it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, silver_asset
from lakeside.datasets import CLASS_FOLDER_SOURCES


@dag(
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "ingest", "silver", "vision"],
    doc_md=__doc__,
)
def image_ingest():
    for source in CLASS_FOLDER_SOURCES:

        @task(task_id=f"land_{source}")
        def land(source: str, ds: str | None = None) -> int:
            from airflow.sdk.exceptions import AirflowSkipException

            from lakeside.landing import ensure_image_landing, landing_dir

            images = ensure_image_landing(source, ds)
            if not images:
                raise AirflowSkipException(f"no {source} pictures landed for {ds} in {landing_dir(source, ds)}")
            return len(images)

        ingest = SparkJobOperator(
            task_id=f"ingest_{source}",
            job="image_ingest",
            application_args=["--source", source, "--date", "{{ ds }}"],
            outlets=[silver_asset(source)],
        )
        land(source) >> ingest


image_ingest()
