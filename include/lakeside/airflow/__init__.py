"""The only library code that imports Airflow: default arguments, assets and the Spark job
operator that DAG files share.

Importing this module is cheap (no pyspark, pandas or mlflow) and touches no connection: DAG
files import it at their top.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Asset, BaseNotifier

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "lakeside",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
}

PASSED_TO_JOBS = ("LAKESIDE_", "AIRFLOW_CONN_", "PYSPARK_", "JAVA_HOME", "PATH", "MLFLOW_")


def silver_asset(source: str) -> Asset:
    """The asset a DAG schedules on when it needs a source's silver table."""
    return Asset(name=f"silver.{source}", uri=f"lakeside://silver/{source}", group="lakeside")


def gold_asset(name: str) -> Asset:
    """The asset of a gold table (``gold.<table>``): ``refresh_dashboards`` schedules on all of them."""
    layer, _, table = name.partition(".")
    return Asset(name=name, uri=f"lakeside://{layer}/{table}", group="lakeside")


def jobs_dir() -> Path:
    """``LAKESIDE_JOBS_DIR``, or the ``jobs/`` folder beside the library's checkout."""
    configured = os.environ.get("LAKESIDE_JOBS_DIR")
    if configured:
        return Path(configured)
    import lakeside

    return Path(lakeside.__file__).resolve().parents[2] / "jobs"


class SparkJobOperator(SparkSubmitOperator):
    """``spark-submit jobs/<job>.py`` through the ``spark_default`` connection.

    The Spark configuration and the job's environment (``LAKESIDE_*`` and friends) are read
    from the worker's environment when the task runs, never when the DAG is parsed.
    """

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        kwargs.setdefault("conn_id", os.environ.get("LAKESIDE_SPARK_CONN_ID", "spark_default"))
        kwargs.setdefault("name", f"lakeside-{job}")
        super().__init__(application=f"{job}.py", **kwargs)
        self.job = job

    def execute(self, context: Any) -> None:
        from lakeside.spark import session_conf

        self.application = str(jobs_dir() / f"{self.job}.py")
        submitted = {k: v for k, v in session_conf(self.name).items() if k != "spark.app.name"}
        self.conf = {**submitted, **(self.conf or {})}
        self.env_vars = {**job_environment(), **(self.env_vars or {})}
        self.py_files = self.py_files or os.environ.get("LAKESIDE_PY_FILES") or None
        result = super().execute(context)
        stamp_outlet_events(self.outlets, context)
        return result


def stamp_outlet_events(outlets, context: Any) -> None:
    """Asset events name the logical date whose data they announce (``extra["logical_date"]``):
    an asset-triggered run has no logical date of its own and reads it there."""
    day = context.get("ds")
    events = context.get("outlet_events")
    if not day or events is None:
        return
    for outlet in outlets or []:
        if isinstance(outlet, Asset):
            events[outlet].extra["logical_date"] = day


def event_logical_date(context: Any, asset: Asset) -> str | None:
    """The newest logical date announced by the asset events that triggered this run."""
    events = (context.get("triggering_asset_events") or {}).get(asset) or []
    days = [e.extra.get("logical_date") for e in events if (e.extra or {}).get("logical_date")]
    return max(days) if days else None


def job_environment() -> dict[str, str]:
    """What a spark-submitted job inherits: Lakeside's settings and the Python that has the library."""
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_TO_JOBS)}
    python_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", os.defpath)])
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    return env


def retrain_schedule(use_case):
    """When a use case retrains: its cron (UTC) and/or whenever one of its sources' silver table changes."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    assets = [silver_asset(source) for source in use_case.sources]
    if use_case.schedule and assets:
        return AssetOrTimeSchedule(timetable=CronTriggerTimetable(use_case.schedule, timezone="UTC"), assets=assets)
    if use_case.schedule:
        return CronTriggerTimetable(use_case.schedule, timezone="UTC")
    return assets or None


APPROVAL_TIMEOUT = timedelta(days=3)


def retrain_dag(use_case, *, schedule):
    """The retrain DAG of a use case: [refresh_reference >>] snapshot >> train >> register >> gate
    >> deploy (after a promotion); ``drift_check`` (the new snapshot against the champion's)
    before the gate, and when it drifted, ``approve_drift`` waits for a human (Reject or no
    answer within 3 days keeps the champion). Every task is one call into :mod:`lakeside.retrain`."""
    from datetime import datetime

    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk import Param, dag, task

    from lakeside.automl.families import families_for

    name = use_case.name
    params: dict[str, Param] = {}
    if use_case.uses_search:
        allowed = list(use_case.search.families or families_for(use_case.task))
        params = {
            "time_budget_s": Param(int(use_case.search.time_budget_s), type="integer", minimum=10, maximum=6 * 3600,
                                   description="Seconds for the whole search, shared by the families."),
            "families": Param(allowed, type="array", items={"type": "string", "enum": allowed},
                              description="Model families to search."),
        }
    else:
        params = {"trainer_params": Param(dict(use_case.params), type="object",
                                          description="Settings of the use case's trainer (override its declaration).")}

    # an early start: a run for a backfilled history's last day (before 2024) must not be empty
    @dag(dag_id=use_case.retrain_dag_id, schedule=schedule, start_date=datetime(2000, 1, 1), catchup=False,
         max_active_runs=1, default_args=DEFAULT_ARGS, tags=["lakeside", "retrain", name, use_case.task],
         doc_md=_retrain_doc(use_case), params=params)
    def retrain():
        @task
        def refresh_reference() -> dict:
            from lakeside.retrain import refresh_reference as refresh

            return refresh(name)

        @task
        def snapshot() -> dict:
            from lakeside.retrain import take_snapshot

            return take_snapshot(name)

        @task(retries=1, outlets=[gold_asset(table.name) for table in use_case.gold if table.after == "job"])
        def train(pinned: dict, params: dict | None = None) -> dict:
            from lakeside.retrain import train as train_model

            given = dict(params or {})
            return train_model(name, pinned, given.pop("trainer_params", None) or given)

        @task
        def register(found: dict, pinned: dict) -> str:
            from lakeside.retrain import register as register_model

            return register_model(name, found, pinned)

        @task
        def drift_check(pinned: dict) -> dict:
            from lakeside.retrain import drift_check as check

            return check(name, pinned)

        @task.short_circuit(ignore_downstream_trigger_rules=False)
        def drifted(drift: dict) -> bool:
            return bool(drift["drifted"])

        approve_drift = ApprovalOperator(
            task_id="approve_drift",
            subject=f"{use_case.model_name}: the new training snapshot drifted from the champion's",
            body="{{ ti.xcom_pull(task_ids='drift_check') }}\n\nApprove to let the gate judge the challenger; "
                 "Reject (or no answer within 3 days) keeps the champion.",
            defaults=["Reject"],
            response_timeout=APPROVAL_TIMEOUT,
        )

        @task(trigger_rule="none_failed_min_one_success")
        def gate(version: str, pinned: dict, drift: dict, ti=None) -> dict:
            from lakeside.retrain import decide

            return decide(name, version, pinned, drift, ti.xcom_pull(task_ids="approve_drift") if ti else None)

        @task.short_circuit
        def promoted(decision: dict) -> bool:
            return bool(decision["promoted"])

        @task
        def deploy() -> dict:
            from lakeside.retrain import deploy_champion

            return deploy_champion(name)

        gated_gold = [gold_asset(table.name) for table in use_case.gold if table.after == "gate"]

        @task(outlets=gated_gold)
        def publish_gold(decision: dict) -> dict:
            from lakeside.gold import refresh

            return refresh(name, after="gate")

        pinned = snapshot()
        if use_case.reference_tables:
            refresh_reference() >> pinned
        found = train(pinned)
        drift = drift_check(pinned)
        judged = gate(register(found, pinned), pinned, drift)
        drifted(drift) >> approve_drift >> judged
        promoted(judged) >> deploy()
        if gated_gold:
            publish_gold(judged)

    return retrain()


def _retrain_doc(use_case) -> str:
    trainer = ("a model search (" + ", ".join(use_case.search.families or ("every family of the task",)) + ")"
               if use_case.uses_search else f"`{use_case.trainer}`")
    when = " and ".join(filter(None, [
        f"on the cron `{use_case.schedule}` (UTC)" if use_case.schedule else "",
        "whenever " + ", ".join(f"`silver.{s}`" for s in use_case.sources) + " is updated" if use_case.sources else "",
    ])) or "when triggered"
    return f"""### Retrain `{use_case.name}` ({use_case.task})

{use_case.description}

- Pins a snapshot of `{use_case.table}` ({use_case.split.kind} holdout), trains with {trainer}, tracks
  every run in MLflow (experiment `{use_case.model_name}`), registers the result as `challenger` of
  `{use_case.model_name}`, and the gate (`include/lakeside/gates/{use_case.gate_name}.json`, metric
  `{use_case.metric}`) moves `champion` only when it is really better.
- Runs {when}.
- After a promotion `deploy` builds the champion's Bento and, on the embedded default, switches (or
  starts) its endpoint on loopback; without a promotion `deploy` is skipped.
- Declared in `include/lakeside/usecases/{use_case.name}.py`.
"""


class WebhookNotifier(BaseNotifier):
    """Posts a failed task's error to ``LAKESIDE_ALERT_WEBHOOK_URL`` (JSON ``{"text", "dag_id",
    "task_id", "run_id"}``); does nothing when it is unset."""

    def notify(self, context: Any) -> None:
        from lakeside.config import alert_webhook_url
        from lakeside.monitoring.alerts import post_webhook

        url = alert_webhook_url()
        if not url:
            return
        ti = context.get("ti")
        post_webhook(url, str(context.get("exception") or "task failed"),
                     {"dag_id": getattr(ti, "dag_id", None), "task_id": getattr(ti, "task_id", None),
                      "run_id": context.get("run_id")})
