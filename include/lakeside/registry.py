"""The model registry's promotion workflow: ``challenger`` -> gate -> ``champion``, and rollback.

    version = register_challenger("runs:/<id>/model", name="churn", tags={...}, service_kind="tabular")
    decision = gate("churn", version, snapshot, target="churned", task="binary",
                    thresholds=load_thresholds("churn"))
    rollback("churn")

Only MLflow aliases are used (``challenger``, ``champion``), never stages. A version without a
signature is refused, at registration and at the gate; before an alias moves to a version, the
request logged with it is replayed against its Bento and must be answered 200
(:mod:`lakeside.serving.replay`). Servers load
``models:/<name>@champion``. The gate scores the challenger and the current champion on the
same pinned holdout, so the comparison is fair even when the champion was trained on an older
table version. Every promotion is appended to the registered model's tag
``lakeside.champion_history`` (versions, oldest first), which is what :func:`rollback` pops.

Thresholds are data, one JSON file per gate in ``lakeside/gates/`` (or in the folder
``LAKESIDE_GATES_DIR``); metrics are those of the model's task (:mod:`lakeside.metrics`)::

    {"metric": "rmse", "lower_is_better": true, "min_relative_improvement": 0.01,
     "max": {"rmse": 2.0}, "min": {"r2": 0.7}}
    {"metric": "pr_auc", "min_relative_improvement": 0.0, "min": {"pr_auc": 0.5, "recall": 0.6}}

``lower_is_better`` defaults to the metric's own direction. An optional ``shadow`` section makes
the gate require evidence from shadow traffic (:mod:`lakeside.shadow_evidence`) before a
challenger replaces a champion: ``{"min_requests": 200, "min_agreement": 0.95,
"max_latency_ratio": 1.5, "tolerance": 1e-6}`` (all optional; ``tolerance`` defaults to 1e-6).
A first champion needs none (there was nothing to shadow).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from lakeside import metrics as task_metrics
from lakeside import snapshot as snapshots
from lakeside.config import settings
from lakeside.snapshot import Snapshot

CHALLENGER = "challenger"
CHAMPION = "champion"
HISTORY_TAG = "lakeside.champion_history"
SERVICE_KIND_TAG = "lakeside.service_kind"
METRICS = tuple(sorted(task_metrics.DIRECTIONS))
GATES_DIR_ENV = "LAKESIDE_GATES_DIR"
_THRESHOLD_KEYS = {"metric", "lower_is_better", "min_relative_improvement", "max", "min", "description", "shadow"}


class ThresholdsNotFoundError(FileNotFoundError):
    """No thresholds file for a registered model."""


class InvalidThresholdsError(ValueError):
    """A thresholds file that is not valid JSON or not of the expected shape."""


class MissingSignatureError(ValueError):
    """A model without an input signature: its requests could not be checked, so it is not registered."""


class NoPreviousChampionError(LookupError):
    """A rollback with no earlier champion to go back to."""


@dataclass(frozen=True)
class GateDecision:
    name: str
    challenger_version: str
    champion_version: str | None
    promoted: bool
    reason: str
    challenger_metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    snapshot_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def register_challenger(model_uri: str, name: str, tags: dict[str, Any] | None = None,
                        service_kind: str | None = None, prepare=None) -> str:
    """Register ``model_uri`` as a new version of ``name`` and point ``challenger`` at it.

    ``service_kind`` (``tabular``, ``pyfunc``, ``image``) becomes the registered model's tag
    ``lakeside.service_kind``, which deploy reads to pick the service class.

    Refused (:class:`MissingSignatureError`) when the model has no signature. The version's
    logged request is replayed against its Bento before the alias moves; a failure
    (:class:`~lakeside.serving.replay.ReplayFailed`) leaves the version registered, tagged with
    the reason, and the alias where it was.

    ``prepare(name, version)``, when given, runs once the version is registered and before the
    replay (e.g. :func:`lakeside.retrain.compile_registered`, so the replayed Bento holds the
    version's compiled form).
    """
    import mlflow

    from lakeside.serving.replay import ensure_replayed

    if mlflow.models.get_model_info(model_uri).signature is None:
        raise MissingSignatureError(f"{model_uri} has no signature, so {name} would take requests unchecked: log "
                                    "it with one (mlflow.models.infer_signature) and an input example")
    registered = mlflow.register_model(model_uri, name, tags={k: str(v) for k, v in (tags or {}).items()})
    version = str(registered.version)
    client = _client()
    if service_kind:
        client.set_registered_model_tag(name, SERVICE_KIND_TAG, service_kind)
    if prepare is not None:
        prepare(name, version)
    ensure_replayed(name, version)
    client.set_registered_model_alias(name, CHALLENGER, version)
    return version


def champion_version(name: str) -> str | None:
    """The version the ``champion`` alias points at; None without a champion (or model)."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, ErrorCode

    try:
        model = _client().get_registered_model(name)
    except MlflowException as error:
        if error.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
            return None
        raise
    version = model.aliases.get(CHAMPION)
    return None if version is None else str(version)


def gate(name: str, version: str, snapshot: Snapshot, target: str | None = None,
         thresholds: dict | None = None, *, task: str = "regression", positive: Any = None,
         threshold: float = 0.5, evaluator=None, drift: dict | None = None) -> GateDecision:
    """Promote ``version`` to champion if it passes ``thresholds`` and beats the champion.

    Both models are scored on the snapshot's holdout rows, each on the input columns of its
    own signature, with the metrics of ``task``; or, for tasks without built-in metrics, by
    ``evaluator(model_uri, snapshot) -> metrics``. The decision and both models' metrics become
    tags of ``version``. ``drift`` (``{"drifted": [...], "approved", "answer", "responder"}``):
    a snapshot that drifted from the champion's is refused ("drift not approved: ...") unless a
    human approved it; the answer and the responder become tags (``gate.drift_*``).
    """
    thresholds = validate_thresholds(thresholds if thresholds is not None else load_thresholds(name), name)
    version = str(version)
    champion = champion_version(name)
    if not _has_signature(name, version):
        decision = GateDecision(name, version, champion, False, "no signature: the version would take requests "
                                "unchecked; register a model logged with one", {}, None, snapshot.version)
        _record_decision(decision, snapshot, target or "", thresholds, -1, drift)
        return decision
    if evaluator is None:
        if not target:
            raise ValueError(f"the gate of {name} needs the target column to score the holdout (or an evaluator)")
        holdout = _holdout(snapshot, target)

        def evaluator(model_uri: str, _snapshot: Snapshot) -> dict[str, float]:
            return evaluate_uri(model_uri, holdout, target, task, positive=positive, threshold=threshold)
        holdout_rows = len(holdout)
    else:
        holdout_rows = -1
    challenger_metrics = evaluator(f"models:/{name}/{version}", snapshot)
    champion_metrics = None
    if champion is not None and champion != version:
        champion_metrics = evaluator(f"models:/{name}/{champion}", snapshot)
    _check_gate_metrics(challenger_metrics, thresholds, name)
    promoted, reason = _judge(version, challenger_metrics, champion, champion_metrics, thresholds)
    shadow = None
    if "shadow" in thresholds and champion is not None and champion != version:
        shadow, shortfalls = _shadow_evidence(name, version, champion, thresholds["shadow"])
        if promoted and shortfalls:
            promoted, reason = False, "; ".join(shortfalls)
    if drift and drift.get("drifted") and not drift.get("approved"):
        promoted, reason = False, "drift not approved: " + "; ".join(drift["drifted"])
    if promoted:
        promoted, reason = _replayed(name, version, reason)
    decision = GateDecision(name, version, champion, promoted, reason, challenger_metrics,
                            champion_metrics, snapshot.version)
    _record_decision(decision, snapshot, target or "", thresholds, holdout_rows, drift, shadow)
    if promoted:
        _promote(name, version, champion)
    return decision


def promote(name: str, version: str) -> None:
    """Make ``version`` champion without a gate (for models no gate is defined for, such as
    the iris example); recorded in the history like a gated promotion, so rollback works.
    The version's logged request is replayed first (see :func:`register_challenger`)."""
    from lakeside.serving.replay import ensure_replayed

    ensure_replayed(name, str(version))
    _promote(name, str(version), champion_version(name))


def rollback(name: str) -> str:
    """Point ``champion`` back at the version promoted before the current one; returns it.

    The current champion is dropped from the promotion history, so a second rollback goes
    one promotion further back. The version returned to is replayed first, as in :func:`promote`.
    """
    from lakeside.serving.replay import ensure_replayed

    client = _client()
    current = champion_version(name)
    if current is None:
        raise NoPreviousChampionError(f"{name} has no champion to roll back")
    history = _history(name)
    while history and history[-1] == current:
        history.pop()
    if not history:
        raise NoPreviousChampionError(f"{name}: version {current} is the only champion it ever had; "
                                      "there is nothing to roll back to")
    previous = history[-1]
    ensure_replayed(name, previous)
    client.set_registered_model_alias(name, CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    at = _now()
    client.set_model_version_tag(name, current, "champion.rolled_back_at", at)
    client.set_model_version_tag(name, current, "champion.rolled_back_to", previous)
    client.set_model_version_tag(name, previous, "champion.restored_at", at)
    client.set_registered_model_tag(name, "lakeside.last_rollback", f"{current}->{previous} at {at}")
    return previous


def load_thresholds(name: str) -> dict:
    """The gate's thresholds for registered model ``name`` (``<gates dir>/<name>.json``)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise InvalidThresholdsError(f"{name!r} cannot name a thresholds file")
    path = _thresholds_path(name)
    if not path.is_file():
        raise ThresholdsNotFoundError(
            f"no gate thresholds for model {name!r}: {path} does not exist "
            f"(add it, or point {GATES_DIR_ENV} at a folder holding {name}.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidThresholdsError(f"{path}: not valid JSON ({error})") from None
    return validate_thresholds(data, str(path))


def validate_thresholds(data: Any, source: str = "thresholds") -> dict:
    """``data`` with defaults filled in, or :class:`InvalidThresholdsError` saying what is wrong."""
    if not isinstance(data, dict):
        raise InvalidThresholdsError(f"{source}: expected a JSON object, got {type(data).__name__}")
    unknown = set(data) - _THRESHOLD_KEYS
    if unknown:
        raise InvalidThresholdsError(f"{source}: unknown keys {sorted(unknown)}; allowed: {sorted(_THRESHOLD_KEYS)}")
    metric = data.get("metric", "rmse")
    if metric not in METRICS:
        raise InvalidThresholdsError(f"{source}: metric must be one of {METRICS}, got {metric!r}")
    lower_is_better = data.get("lower_is_better", task_metrics.lower_is_better(metric))
    if not isinstance(lower_is_better, bool):
        raise InvalidThresholdsError(f"{source}: lower_is_better must be true or false")
    margin = data.get("min_relative_improvement", 0.0)
    if not _is_number(margin) or margin < 0:
        raise InvalidThresholdsError(f"{source}: min_relative_improvement must be a number >= 0")
    bounds = {side: _bounds(data.get(side, {}), side, source) for side in ("max", "min")}
    shadow = {"shadow": _shadow_requirement(data["shadow"], source)} if "shadow" in data else {}
    return {"metric": metric, "lower_is_better": lower_is_better, "min_relative_improvement": float(margin),
            **bounds, **shadow, **({"description": data["description"]} if "description" in data else {})}


def _shadow_requirement(section: Any, source: str) -> dict[str, float]:
    from lakeside.shadow_evidence import DEFAULT_TOLERANCE, REQUIREMENT_KEYS

    if not isinstance(section, dict):
        raise InvalidThresholdsError(f"{source}: shadow must be an object with keys {sorted(REQUIREMENT_KEYS)}")
    unknown = set(section) - REQUIREMENT_KEYS
    if unknown:
        raise InvalidThresholdsError(f"{source}: unknown keys in shadow {sorted(unknown)}; "
                                     f"allowed: {sorted(REQUIREMENT_KEYS)}")
    checks = {"min_requests": lambda v: v >= 0 and float(v).is_integer(), "min_agreement": lambda v: 0 <= v <= 1,
              "max_latency_ratio": lambda v: v > 0, "tolerance": lambda v: v >= 0}
    meaning = {"min_requests": "a whole number >= 0", "min_agreement": "a share between 0 and 1",
               "max_latency_ratio": "a number > 0", "tolerance": "a number >= 0"}
    for key, value in section.items():
        if not _is_number(value) or not checks[key](value):
            raise InvalidThresholdsError(f"{source}: shadow.{key} = {value!r}; it must be {meaning[key]}")
    requirement = {key: float(value) for key, value in section.items()}
    if "min_requests" in requirement:
        requirement["min_requests"] = int(requirement["min_requests"])
    requirement.setdefault("tolerance", DEFAULT_TOLERANCE)
    return requirement


def evaluate(name: str, version: str, holdout: pd.DataFrame, target: str, task: str = "regression",
             **options: Any) -> dict[str, float]:
    """The task's metrics of a registered version on ``holdout``, fed its signature's columns."""
    return evaluate_uri(f"models:/{name}/{version}", holdout, target, task, **options)


def evaluate_uri(model_uri: str, holdout: pd.DataFrame, target: str, task: str = "regression", *,
                 positive: Any = None, threshold: float = 0.5) -> dict[str, float]:
    from lakeside import scoring

    missing = [column for column in scoring.input_columns(model_uri) if column not in holdout.columns]
    if missing:
        raise ValueError(f"{model_uri} needs columns the snapshot lacks: {missing}")
    scored = scoring.score(model_uri, holdout, task)
    actual = holdout[target].to_numpy() if task in task_metrics.CLASSIFICATION else holdout[target].to_numpy(float)
    return task_metrics.compute(task, actual, predicted=scored.predictions, probabilities=scored.probabilities,
                                classes=scored.classes, positive=positive, threshold=threshold)


def _check_gate_metrics(measured: dict[str, float], thresholds: dict, name: str) -> None:
    named = {thresholds["metric"], *thresholds["max"], *thresholds["min"]}
    unknown = sorted(named - set(measured))
    if unknown:
        raise InvalidThresholdsError(f"gate of {name}: thresholds name metrics {unknown} that this model's "
                                     f"evaluation does not give (it gives {sorted(measured)})")


def _judge(version: str, challenger: dict, champion_version: str | None, champion: dict | None,
           thresholds: dict) -> tuple[bool, str]:
    failures = _threshold_failures(challenger, thresholds)
    if failures:
        return False, "fails the thresholds: " + "; ".join(failures)
    if champion_version is None:
        return True, "first champion: passes the thresholds"
    if champion is None:
        return False, f"version {version} is already the champion"
    metric, margin = thresholds["metric"], thresholds["min_relative_improvement"]
    gain = _relative_improvement(challenger[metric], champion[metric], thresholds["lower_is_better"])
    comparison = (f"{metric} {challenger[metric]:.4g} vs champion version {champion_version}'s "
                  f"{champion[metric]:.4g}: {gain:+.2%} (required {margin:+.2%})")
    return (True, "beats the champion, " + comparison) if gain >= margin else \
        (False, "does not beat the champion by the margin, " + comparison)


def _threshold_failures(metrics: dict, thresholds: dict) -> list[str]:
    """Written as ``not value <= limit`` so that a NaN metric fails every bound it meets."""
    failures = [f"{m} {metrics[m]:.4g} above the maximum {limit:g}"
                for m, limit in thresholds["max"].items() if not metrics[m] <= limit]
    failures += [f"{m} {metrics[m]:.4g} below the minimum {limit:g}"
                 for m, limit in thresholds["min"].items() if not metrics[m] >= limit]
    if not math.isfinite(metrics[thresholds["metric"]]):
        failures.append(f"{thresholds['metric']} is not a finite number")
    return failures


def _relative_improvement(challenger: float, champion: float, lower_is_better: bool) -> float:
    gain = (champion - challenger) if lower_is_better else (challenger - champion)
    if champion == 0:
        return math.inf if gain > 0 else 0.0
    return gain / abs(champion)


def _shadow_evidence(name: str, version: str, champion: str, requirement: dict) -> tuple[Any, list[str]]:
    """The shadow figures of ``version`` beside ``champion`` and what they lack against ``requirement``."""
    from lakeside import shadow_evidence

    frame = shadow_evidence.read(settings().lake_root, name, version)
    figures = shadow_evidence.evidence(frame, version, champion, requirement["tolerance"])
    return figures, shadow_evidence.shortfalls(figures, requirement)


def _record_decision(decision: GateDecision, snapshot: Snapshot, target: str, thresholds: dict,
                     holdout_rows: int, drift: dict | None = None, shadow: Any = None) -> None:
    tags = {
        "gate.decision": "promoted" if decision.promoted else "rejected",
        "gate.reason": decision.reason,
        "gate.at": _now(),
        "gate.target": target,
        "gate.snapshot_table": snapshot.table,
        "gate.snapshot_version": str(snapshot.version),
        "gate.holdout_rows": str(holdout_rows),
        "gate.thresholds": json.dumps({k: v for k, v in thresholds.items() if k != "description"},
                                      sort_keys=True),
        **{f"gate.{m}": repr(v) for m, v in decision.challenger_metrics.items()},
    }
    if decision.champion_version is not None:
        tags["gate.champion_version"] = decision.champion_version
    if drift and drift.get("drifted"):
        tags.update({"gate.drift_features": "; ".join(drift["drifted"]),
                     "gate.drift_answer": str(drift.get("answer") or "none"),
                     "gate.drift_responder": str(drift.get("responder") or "")})
    for m, v in (decision.champion_metrics or {}).items():
        tags[f"gate.champion_{m}"] = repr(v)
    if shadow is not None:
        tags.update({f"gate.shadow_{key}": "" if value is None else repr(value)
                     for key, value in shadow.to_dict().items()})
    client = _client()
    for key, value in tags.items():
        client.set_model_version_tag(decision.name, decision.challenger_version, key, value)


def _promote(name: str, version: str, previous: str | None) -> None:
    """Move ``champion`` to ``version`` and append it to the history.

    ``previous`` is added first when the history does not end with it (a champion set by hand),
    so that :func:`rollback` always returns to the champion this promotion replaced.
    """
    history = _history(name)
    if previous is not None and history[-1:] != [previous]:
        history.append(previous)
    client = _client()
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join([*history, version]))
    client.set_model_version_tag(name, version, "champion.promoted_at", _now())


def _has_signature(name: str, version: str) -> bool:
    import mlflow

    return mlflow.models.get_model_info(f"models:/{name}/{version}").signature is not None


def _replayed(name: str, version: str, reason: str) -> tuple[bool, str]:
    """``(promoted, reason)`` after replaying the version's logged request against its Bento."""
    from lakeside.serving.replay import ReplayFailed, ensure_replayed

    try:
        ensure_replayed(name, version)
    except ReplayFailed as error:
        return False, f"replay failed: {error}"
    return True, reason


def _history(name: str) -> list[str]:
    """Versions promoted to champion, oldest first (rollbacks remove the versions they undo)."""
    text = _client().get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [version for version in text.split(",") if version]


def _holdout(snapshot: Snapshot, target: str) -> pd.DataFrame:
    _, holdout = snapshots.split(snapshots.load(snapshot), snapshot)
    if target not in holdout.columns:
        raise ValueError(f"target {target!r} is not a column of {snapshot.table}")
    holdout = holdout[holdout[target].notna()].reset_index(drop=True)
    if holdout.empty:
        raise ValueError(f"{snapshot.table} version {snapshot.version} has no holdout rows with a {target}")
    return holdout


def _thresholds_path(name: str) -> Path:
    folder = settings().gates_dir
    if folder:
        return Path(folder).expanduser() / f"{name}.json"
    return Path(str(resources.files("lakeside.gates") / f"{name}.json"))


def _bounds(bounds: Any, side: str, source: str) -> dict[str, float]:
    if not isinstance(bounds, dict):
        raise InvalidThresholdsError(f"{source}: {side!r} must map metric names to numbers")
    for metric, limit in bounds.items():
        if metric not in METRICS or not _is_number(limit):
            raise InvalidThresholdsError(
                f"{source}: {side}.{metric} = {limit!r}; metrics are {METRICS} and limits numbers")
    return {metric: float(limit) for metric, limit in bounds.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _client():
    from mlflow import MlflowClient

    return MlflowClient()


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
