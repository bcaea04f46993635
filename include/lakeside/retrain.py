"""The retrain of any use case, one function per Airflow task: refresh its reference tables, pin
a snapshot, train (the model search or the use case's own trainer), register the result as
``challenger``, let the gate decide on ``champion``, and deploy the champion.

Each step takes the use case's name (or its declaration) and plain dicts, and returns plain
dicts (Airflow passes them between tasks as XCom).

A custom trainer is ``"package.module:function"`` with the signature
``train(use_case, snapshot, params, spark) -> dict`` returning at least ``model_uri`` and
``run_id`` (and optionally ``family``, ``parent_run_id``, ``metrics``).
"""

from __future__ import annotations

import logging
from typing import Any

from lakeside import usecases
from lakeside.config import settings
from lakeside.usecases import UseCase

log = logging.getLogger(__name__)


def model_name(use_case: str | UseCase) -> str:
    """The registered model of a use case (with ``LAKESIDE_MODEL_PREFIX`` in front, if set)."""
    return settings().model_prefix + usecases.get(use_case).model_name


def refresh_reference(use_case: str | UseCase) -> dict[str, int]:
    """Rewrite each reference table of the use case from its loader when its rows changed;
    returns table -> version (unchanged rows: no new version)."""
    from lakeside.tables import open_lake

    lake = open_lake(backend="embedded")
    versions = {}
    for name, loader in usecases.get(use_case).reference_tables.items():
        rows = usecases.resolve_function(loader)()
        table = lake.table(name)
        if not table.exists() or not _same_rows(table, rows):
            table.overwrite(rows, metadata={"loader": loader})
            log.info("reference table %s rewritten from %s", name, loader)
        versions[name] = table.version()
    return versions


def take_snapshot(use_case: str | UseCase) -> dict:
    """Pin the current version of the use case's table for the whole run."""
    from lakeside import snapshot
    from lakeside.tables import open_lake

    case = usecases.get(use_case)
    table = open_lake(backend="embedded").table(case.table)
    pinned = snapshot.take(table, case.key, split=case.split, target=case.target)
    log.info("snapshot of %s: version %s (%s split)", pinned.table, pinned.version, pinned.split_kind)
    return pinned.to_dict()


def train(use_case: str | UseCase, pinned: dict, params: dict | None = None, seed: int = 0) -> dict:
    """Train on the snapshot: the model search (``params``: ``time_budget_s``, ``families``) or
    the use case's own trainer; returns the chosen model's facts."""
    from lakeside.snapshot import Snapshot

    case = usecases.get(use_case)
    params = dict(params or {})
    _use_tracking_server()
    snapshot = Snapshot.from_dict(pinned)
    if not case.uses_search:
        spark = _spark() if params.pop("spark", False) else None
        return usecases.resolve_function(case.trainer)(case, snapshot, {**case.params, **params}, spark)
    from lakeside.automl import search
    from lakeside.automl.families import FAMILIES, families_for

    families = params.get("families") or list(case.search.families or families_for(case.task))
    spark = _spark() if any(FAMILIES[f].engine == "spark" for f in families if f in FAMILIES) else None
    result = search(
        snapshot, case.target, experiment=model_name(case), task=case.task, metric=case.metric,
        time_budget_s=float(params.get("time_budget_s") or case.search.time_budget_s), families=families,
        exclude=case.exclude, ordinals=dict(case.ordinals), positive=case.positive_label, threshold=case.threshold,
        balance=case.search.balance, seed=seed, max_trials_per_family=case.search.max_trials_per_family,
        spark=spark, cv_folds=case.search.cv_folds,
    )
    return {
        "parent_run_id": result.parent_run_id,
        "run_id": result.best_run_id,
        "family": result.best_family,
        "model_uri": result.best_model_uri,
        "holdout": result.best_holdout,
        "trials": len(result.leaderboard),
        "skipped": result.skipped,
    }


def register(use_case: str | UseCase, found: dict, pinned: dict) -> str:
    """Register the trained model as a new version with alias ``challenger``; returns the version.
    A tabular version gets its compiled form first (:func:`compile_registered`), so the Bento its
    registration replays against (and deploy serves) holds it."""
    from lakeside.registry import register_challenger

    case = usecases.get(use_case)
    _use_tracking_server()
    tags = {"use_case": case.name, "snapshot_table": pinned["table"], "snapshot_version": str(pinned["version"]),
            "run_id": found.get("run_id", ""), "search_run_id": found.get("parent_run_id", ""),
            "family": found.get("family", ""), **{f"snapshot_{k}": v for k, v in pinned.get("split", {}).items()}}

    def compile_it(name: str, version: str) -> None:
        compile_registered(name, version, pinned, case.target)

    return register_challenger(found["model_uri"], name=model_name(case), tags=tags, service_kind=case.service,
                               prepare=compile_it if case.service == "tabular" else None)


def compile_registered(name: str, version: str, pinned: dict, target: str | None) -> dict:
    """Build and verify the compiled form of a tabular version on the snapshot's holdout rows
    (:mod:`lakeside.serving.compiled`); any failure leaves the version served by its pyfunc
    (tagged ``lakeside.compiled=none`` with the reason) and the registration as it was."""
    from lakeside import snapshot as snapshots
    from lakeside.serving import compiled
    from lakeside.snapshot import Snapshot

    try:
        pinned_snapshot = Snapshot.from_dict(pinned)
        _, holdout = snapshots.split(snapshots.load(pinned_snapshot), pinned_snapshot)
        if target and target in holdout.columns:
            holdout = holdout[holdout[target].notna()]
        result = compiled.compile_version(name, version, holdout.reset_index(drop=True))
    except Exception as error:  # noqa: BLE001 - compiling is an optimisation; the version stays registered
        log.warning("compiling %s version %s failed: %s", name, version, error)
        from mlflow import MlflowClient

        reason = f"compiling failed: {type(error).__name__}: {error}"[:5000]
        try:
            client = MlflowClient()
            client.set_model_version_tag(name, version, compiled.RUNTIME_TAG, "none")
            client.set_model_version_tag(name, version, compiled.REASON_TAG, reason)
        except Exception:  # noqa: BLE001 - the registry itself is failing: the retrain's next step will say so
            log.warning("could not tag %s version %s as not compiled", name, version)
        return {"runtime": "none", "reason": reason}
    log.info("%s version %s compiled form: %s (%s)", name, version, result.runtime, result.reason)
    return result.verification()


def drift_check(use_case: str | UseCase, pinned: dict) -> dict:
    """The new snapshot against the champion's training snapshot: ``{"drifted": [...]}`` names
    each column over the model's drift thresholds (``monitors/<model>.json``)."""
    from lakeside.monitoring.models import snapshot_drift

    _use_tracking_server()
    found = snapshot_drift(model_name(use_case), pinned["table"], pinned["version"])
    log.info("drift check for %s: %s", model_name(use_case), found["drifted"] or "no drift")
    return found


def review(drift: dict | None, approval: dict | None) -> dict | None:
    """What the gate needs from the drift check and the human answer (the approval task's
    result, None when it did not run)."""
    if not drift or not drift.get("drifted"):
        return None
    chosen = (approval or {}).get("chosen_options") or []
    return {"drifted": list(drift["drifted"]), "approved": chosen == ["Approve"],
            "answer": chosen[0] if chosen else "none", "responder": str((approval or {}).get("responded_by_user") or "")}


def decide(use_case: str | UseCase, version: str, pinned: dict, drift: dict | None = None,
           approval: dict | None = None) -> dict:
    """Run the promotion gate for ``version`` on the snapshot's holdout (a drifted snapshot
    promotes only with a human's approval)."""
    from lakeside.registry import gate, load_thresholds
    from lakeside.snapshot import Snapshot

    case = usecases.get(use_case)
    _use_tracking_server()
    name = model_name(case)
    evaluator = None
    if case.evaluator:
        custom = usecases.resolve_function(case.evaluator)

        def evaluator(model_uri: str, snapshot: Snapshot) -> dict[str, float]:
            return custom(case, model_uri, snapshot)
    decision = gate(name, version, Snapshot.from_dict(pinned), target=case.target,
                    thresholds=load_thresholds(case.gate_name), task=case.task, positive=case.positive_label,
                    threshold=case.threshold, evaluator=evaluator, drift=review(drift, approval))
    log.info("gate for %s v%s: %s (%s)", name, version, "promoted" if decision.promoted else "refused",
             decision.reason)
    return decision.to_dict()


def deploy_champion(use_case: str | UseCase) -> dict:
    """Build the champion's Bento and (embedded default) make its local endpoint serve it."""
    from lakeside.serving.deploy import deploy

    _use_tracking_server()
    deployment = deploy(model_name(use_case))
    log.info("deployed %s version %s as %s (%s)", deployment.model, deployment.version, deployment.bento,
             deployment.action)
    return deployment.to_dict()


def retrain(use_case: str | UseCase, params: dict | None = None, deploy: bool = True) -> dict[str, Any]:
    """Every step in one process (notebooks, tests): the same calls the DAG's tasks make."""
    refresh_reference(use_case)
    pinned = take_snapshot(use_case)
    found = train(use_case, pinned, params)
    version = register(use_case, found, pinned)
    decision = decide(use_case, version, pinned)
    deployment = deploy_champion(use_case) if deploy and decision["promoted"] else None
    return {"snapshot": pinned, "trained": found, "version": version, "decision": decision,
            "deployment": deployment}


def _same_rows(table, rows) -> bool:
    """Whether ``rows`` hold exactly the table's current rows (in any order)."""
    from lakeside.tables._data import to_arrow

    current, new = table.to_arrow(), to_arrow(rows)
    if sorted(current.column_names) != sorted(new.column_names) or current.num_rows != new.num_rows:
        return False
    try:
        new = new.select(current.column_names).cast(current.schema)
    except Exception:  # noqa: BLE001 - types that do not cast are a change
        return False
    order = [(column, "ascending") for column in current.column_names]
    return current.sort_by(order).equals(new.sort_by(order))


def _use_tracking_server() -> None:
    import mlflow

    from lakeside import tracking

    mlflow.set_tracking_uri(tracking.ensure_server())


def _spark():
    from lakeside.spark import get_spark

    return get_spark("lakeside-retrain")
