"""
### Weekly retrain (loans)

Searches many regression models on a pinned snapshot of `silver.loans`, tracks every trial in
MLflow (parameters, CV and holdout metrics, plots, the table version it trained on), hands back
a glass-box notebook per model family, registers the best as `challenger`, and lets the gate
move `champion` only when the challenger really is better.

- Runs every Monday 03:00 UTC **and** whenever `silver.loans` is updated.
- Manual runs take a time budget, the model families and the target in the trigger form.
- Thresholds and the required margin are data: `include/lakeside/gates/<model>.json`.
- The gate's decision and both models' holdout metrics are tags of the challenger's version.
- After a promotion, `deploy` builds the champion's Bento (`lakeside-<model>:v<version>`); on
  the embedded default it also switches (or starts) the local prediction server on
  `LAKESIDE_SERVE_PORT` (3000). With `LAKESIDE_DEPLOY_TARGET=bento` it only builds. Without a
  promotion `deploy` is skipped.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from lakeside.airflow import DEFAULT_ARGS, silver_asset

FAMILIES = [
    "linear", "knn", "random_forest", "hist_gradient_boosting", "lightgbm", "svr", "spark_gbt", "spark_random_forest",
]


@dag(
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 3 * * 1", timezone="UTC"), assets=silver_asset("loans")
    ),
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["lakeside", "loans", "automl", "mlflow"],
    doc_md=__doc__,
    params={
        "time_budget_s": Param(300, type="integer", minimum=10, maximum=6 * 3600,
                               description="Seconds for the whole search, shared by the families."),
        "families": Param(FAMILIES, type="array", items={"type": "string", "enum": FAMILIES},
                          description="Model families to search."),
        "target": Param("int_rate", type="string", description="The column to predict."),
    },
)
def weekly_retrain():
    @task
    def snapshot() -> dict:
        from lakeside.retrain import take_snapshot

        return take_snapshot("loans")

    @task(retries=1)
    def search(pinned: dict, params: dict | None = None) -> dict:
        from lakeside.retrain import run_search

        return run_search(pinned, params["target"], params["time_budget_s"], params["families"])

    @task
    def register(found: dict, pinned: dict, params: dict | None = None) -> str:
        from lakeside.retrain import register

        return register(found, pinned, params["target"])

    @task
    def gate(version: str, pinned: dict, params: dict | None = None) -> dict:
        from lakeside.retrain import decide

        return decide(version, pinned, params["target"])

    @task.short_circuit
    def promoted(decision: dict) -> bool:
        return bool(decision["promoted"])

    @task
    def deploy(params: dict | None = None) -> dict:
        from lakeside.retrain import deploy_champion

        return deploy_champion(params["target"])

    pinned = snapshot()
    found = search(pinned)
    promoted(gate(register(found, pinned), pinned)) >> deploy()


weekly_retrain()
