"""
### Batch inference

Scores each day's new rows of a use case's silver table with its `champion` into
`predictions.<model>` (key, `prediction`, `model_version`, `source_version`, `date`,
`scored_at`), for every use case declared with `batch_inference=True`.

- Runs when one of those silver tables is updated by `daily_ingest` (the asset event names the
  day), or by hand with the param `day`.
- One Spark job per model, `jobs/batch_inference.py` (`mlflow.pyfunc.spark_udf`, Arrow batches on
  the executors); the day's partition is replaced, so a rerun gives the same table.
- A silver table lacking an input column of the model's signature fails its task before any
  scoring, naming the column. A model without a champion fails its task, naming the model.
- Each predictions table is published as the asset `predictions.<model>`: the `monitoring` DAG
  runs after it.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Asset, Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, silver_asset
from lakeside.usecases import all_use_cases

SCORED = [case for case in all_use_cases() if case.batch_inference]
SOURCES = [silver_asset(case.silver_source) for case in SCORED]


def predictions_asset(model: str) -> Asset:
    return Asset(name=f"predictions.{model}", uri=f"lakeside://predictions/{model}", group="lakeside")


@dag(
    schedule=SOURCES or None,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "inference", "predictions"],
    doc_md=__doc__,
    params={"day": Param("", type="string", description="Logical date to score (YYYY-MM-DD); default: the asset event's.")},
)
def batch_inference():
    @task
    def day(params: dict | None = None, **context) -> str:
        from lakeside.airflow import event_logical_date

        announced = [event_logical_date(context, asset) for asset in SOURCES]
        chosen = (params or {}).get("day") or max(filter(None, announced), default=None) or context.get("ds")
        if not chosen:
            raise ValueError("no day to score: trigger with the param `day` (YYYY-MM-DD)")
        return str(chosen)[:10]

    chosen = day()
    for case in SCORED:
        score = SparkJobOperator(
            task_id=f"score_{case.name}",
            job="batch_inference",
            application_args=["--model", case.model_name, "--alias", "champion", "--source", case.table,
                              "--key", ",".join(case.key), "--logical-date", "{{ ti.xcom_pull(task_ids='day') }}"],
            outlets=[predictions_asset(case.model_name)],
        )
        chosen >> score


batch_inference()
