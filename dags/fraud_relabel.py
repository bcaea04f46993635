"""
### Fraud relabel

Keeps the fraud labels, the review queue and the `fraud_tree` model in step with the data and
the analysts (`include/lakeside/usecases/fraud/`).

- Runs whenever `silver.paysim` is updated (the daily ingest's asset) and can be triggered by hand.
- `relabel` (Spark job `jobs/fraud_relabel.py`): ingests the analysts' pending review drops
  (`landing/fraud_reviewed_labels/<date>/*.csv` -> `silver.fraud_reviewed_labels`, bad rows to
  quarantine), labels the days that need it with the rule file (reviewed labels first; every day
  again after a rule-version change) into `silver.fraud_labels`, and refreshes
  `gold.fraud_review_queue` with the champion tree's low-confidence predictions.
- `rule_version_changed`: when the labels carry another rule version than the champion learned
  (or there is no champion yet), `retrain` triggers `retrain_fraud` (cross-validated tree, balanced
  retrain, gate, deploy after a promotion); that DAG also runs weekly on its own.
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, dag, task

from lakeside.airflow import DEFAULT_ARGS, SparkJobOperator, gold_asset, silver_asset
from lakeside.usecases import get
from lakeside.usecases.fraud import REVIEW_QUEUE_TABLE

FRAUD = get("fraud")
LABELS_ASSET = Asset(name="silver.fraud_labels", uri="lakeside://silver/fraud_labels", group="lakeside")


@dag(
    schedule=[silver_asset("paysim")],
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "fraud", "relabel", "review"],
    doc_md=__doc__,
)
def fraud_relabel():
    relabel = SparkJobOperator(
        task_id="relabel",
        job="fraud_relabel",
        application_args=["--run-id", "{{ run_id }}"],
        outlets=[LABELS_ASSET, gold_asset(REVIEW_QUEUE_TABLE.name)],
    )

    @task.short_circuit
    def rule_version_changed() -> bool:
        from lakeside.usecases.fraud.review import retrain_decision

        return retrain_decision()

    retrain = TriggerDagRunOperator(
        task_id="retrain",
        trigger_dag_id=FRAUD.retrain_dag_id,
        trigger_run_id="rules_{{ run_id }}",
        wait_for_completion=False,
    )
    relabel >> rule_version_changed() >> retrain


fraud_relabel()
