"""The weekly retrain's steps, one function per Airflow task: pin a snapshot, search, register
the best as ``challenger``, and let the gate decide on ``champion``.

Each step takes and returns plain dicts (Airflow passes them between tasks as XCom).
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

DEFAULT_TARGET = "int_rate"
LEAKAGE = {"int_rate": ("loan_status", "total_pymnt")}


def model_name(target: str = DEFAULT_TARGET) -> str:
    """The registered model: ``LAKESIDE_LOANS_MODEL`` or ``loans_<target>``."""
    return os.environ.get("LAKESIDE_LOANS_MODEL") or f"loans_{target}"


def take_snapshot(source: str = "loans") -> dict:
    """Pin the current version of ``silver.<source>`` for the whole run."""
    from lakeside import snapshot
    from lakeside.datasets import source as dataset_source
    from lakeside.tables import open_lake

    table = open_lake(backend="embedded").table(f"silver.{source}")
    pinned = snapshot.take(table, dataset_source(source).SPEC.key)
    log.info("snapshot of %s: version %s", pinned.table, pinned.version)
    return pinned.to_dict()


def run_search(pinned: dict, target: str = DEFAULT_TARGET, time_budget_s: float = 300.0,
               families: list[str] | None = None, seed: int = 0) -> dict:
    """Search the model families on the snapshot; returns the best trial's facts."""
    from lakeside.automl import search
    from lakeside.snapshot import Snapshot

    _use_tracking_server()
    spark = _spark_if_needed(families)
    result = search(
        Snapshot.from_dict(pinned), target, time_budget_s=time_budget_s, families=families or None,
        experiment=model_name(target), exclude=LEAKAGE.get(target, ()), seed=seed, spark=spark,
    )
    return {
        "parent_run_id": result.parent_run_id,
        "best_run_id": result.best_run_id,
        "best_family": result.best_family,
        "model_uri": result.best_model_uri,
        "holdout": result.best_holdout,
        "trials": len(result.leaderboard),
    }


def register(found: dict, pinned: dict, target: str = DEFAULT_TARGET) -> str:
    """Register the search's best as a new version with alias ``challenger``; returns the version."""
    from lakeside.registry import register_challenger

    _use_tracking_server()
    return register_challenger(found["model_uri"], name=model_name(target), tags={
        "snapshot_table": pinned["table"], "snapshot_version": str(pinned["version"]),
        "search_run_id": found["parent_run_id"], "family": found["best_family"],
    })


def decide(version: str, pinned: dict, target: str = DEFAULT_TARGET) -> dict:
    """Run the promotion gate for ``version`` on the snapshot's holdout."""
    from lakeside.registry import gate, load_thresholds
    from lakeside.snapshot import Snapshot

    _use_tracking_server()
    name = model_name(target)
    decision = gate(name, version, Snapshot.from_dict(pinned), target=target, thresholds=load_thresholds(name))
    log.info("gate for %s v%s: %s (%s)", name, version, "promoted" if decision.promoted else "refused", decision.reason)
    return decision.to_dict()


def deploy_champion(target: str = DEFAULT_TARGET) -> dict:
    """Build the champion's Bento and (embedded default) make the local server serve it."""
    from lakeside.serving.deploy import deploy

    _use_tracking_server()
    deployment = deploy(model_name(target))
    log.info("deployed %s version %s as %s (%s)", deployment.model, deployment.version, deployment.bento,
             deployment.action)
    return deployment.to_dict()


def _use_tracking_server() -> None:
    import mlflow

    from lakeside import tracking

    mlflow.set_tracking_uri(tracking.ensure_server())


def _spark_if_needed(families: list[str] | None):
    from lakeside.automl import FAMILIES

    wanted = families or list(FAMILIES)
    if not any(f.startswith("spark") for f in wanted):
        return None
    from lakeside.spark import get_spark

    return get_spark("weekly_retrain-search")
