"""The DAG ``energy_lstm``'s steps after the windows job, one function per task, plain dicts in
and out (Airflow passes them as XCom). Register, gate and deploy are :mod:`lakeside.retrain`'s."""

from __future__ import annotations

from typing import Any

NAME = "energy_lstm"


def trainer_params(params: dict[str, Any] | None) -> dict[str, Any]:
    """The use case's settings with the run's over them (the DAG's form sends every field)."""
    from lakeside import usecases

    known = usecases.get(NAME).params
    return {**known, **{k: v for k, v in (params or {}).items() if k in known}}


def pin() -> dict[str, Any]:
    """Pin the windows table's version the run's job wrote, and open the run's parent MLflow run."""
    from lakeside import retrain, tracking
    from lakeside.snapshot import Snapshot
    from lakeside.usecases.energy_lstm import data, train

    _use_tracking_server()
    pinned = retrain.take_snapshot(NAME)
    snapshot = Snapshot.from_dict(pinned)
    facts = data.windows_facts(data.lake_of(snapshot), snapshot.version)
    parent = train.parent_run(tracking.experiment_id(retrain.model_name(NAME)), snapshot, facts)
    return {"pinned": pinned, "parent_run_id": parent}


def fit(pinned: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    from lakeside import retrain

    return retrain.train(NAME, pinned["pinned"], {**trainer_params(params), "parent_run_id": pinned["parent_run_id"]})


def baselines(pinned: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    from lakeside import retrain, usecases
    from lakeside.snapshot import Snapshot
    from lakeside.usecases.energy_lstm import baselines as models

    _use_tracking_server()
    return models.run(usecases.get(NAME), Snapshot.from_dict(pinned["pinned"]), trainer_params(params),
                      pinned["parent_run_id"])


def _use_tracking_server() -> None:
    import mlflow

    from lakeside import tracking

    mlflow.set_tracking_uri(tracking.ensure_server())
