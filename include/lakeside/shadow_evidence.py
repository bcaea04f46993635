"""What shadow traffic says about a challenger, for the gate.

A served model with shadow scoring on (:mod:`lakeside.serving.shadow`) records, for each
shadowed request, the primary's answer and latency beside the shadow's in
``inference.<model>_shadow``. From those rows, for the version being gated against the current
champion:

- **requests**: shadowed requests of that pair (errors and timeouts included);
- **agreement**: the share of them where the shadow's answer agrees with the primary's: the same
  structure, equal values, numbers within ``tolerance`` absolutely *or* relatively
  (``math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)``), so classes must be equal and
  regression values may differ by float noise. An error, a timeout or an answer too large to
  record (null) does not agree;
- **latency ratio**: the shadow's p50 latency over the primary's p50, on the requests the shadow
  answered. The primary's latency is its model step as served (adaptive batching included), the
  shadow's its prediction of the same rows alone, off the request path.

The gate file's optional section (checked by :func:`lakeside.registry.validate_thresholds`)::

    "shadow": {"min_requests": 200, "min_agreement": 0.95, "max_latency_ratio": 1.5, "tolerance": 1e-6}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

REQUIREMENT_KEYS = {"min_requests", "min_agreement", "max_latency_ratio", "tolerance"}
DEFAULT_TOLERANCE = 1e-6


def table_name(model: str) -> str:
    """``inference.<model>_shadow``, beside the model's inference table."""
    return f"inference.{re.sub(r'[^0-9A-Za-z_]', '_', model)}_shadow"


@dataclass(frozen=True)
class ShadowEvidence:
    requests: int
    agreeing: int
    agreement: float | None
    primary_p50_ms: float | None
    shadow_p50_ms: float | None
    latency_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence(frame: pd.DataFrame, version: str, primary_version: str | None = None,
             tolerance: float = DEFAULT_TOLERANCE) -> ShadowEvidence:
    """The figures of shadow ``version`` (against ``primary_version`` when given) from the rows of
    a shadow table."""
    rows = frame[frame["shadow_version"].astype(str) == str(version)] if len(frame) else frame
    if primary_version is not None and len(rows):
        rows = rows[rows["primary_version"].astype(str) == str(primary_version)]
    if not len(rows):
        return ShadowEvidence(0, 0, None, None, None, None)
    answered = rows[rows["shadow_error"].isna()]
    agreeing = sum(_agree_json(primary, shadow, tolerance)
                   for primary, shadow in zip(answered["primary_predictions"], answered["shadow_predictions"]))
    primary_p50 = _median(answered["primary_latency_ms"])
    shadow_p50 = _median(answered["shadow_latency_ms"])
    ratio = shadow_p50 / primary_p50 if primary_p50 and shadow_p50 is not None else None
    return ShadowEvidence(len(rows), int(agreeing), agreeing / len(rows), primary_p50, shadow_p50, ratio)


def shortfalls(figures: ShadowEvidence, requirement: dict[str, float]) -> list[str]:
    """What ``figures`` lack against the gate file's ``shadow`` section; empty when it passes."""
    failures = []
    needed = requirement.get("min_requests", 0)
    if figures.requests < needed:
        failures.append(f"shadow: {figures.requests} requests < {needed:g} required")
    if "min_agreement" in requirement and figures.requests:
        if not figures.agreement >= requirement["min_agreement"]:
            failures.append(f"shadow agreement {figures.agreement:.4g} < {requirement['min_agreement']:g}")
    if "max_latency_ratio" in requirement and figures.requests:
        if figures.latency_ratio is None:
            failures.append("shadow latency ratio unknown: the shadow answered no request")
        elif not figures.latency_ratio <= requirement["max_latency_ratio"]:
            failures.append(f"shadow latency ratio {figures.latency_ratio:.3g} > {requirement['max_latency_ratio']:g}")
    return failures


def read(lake_root: str | Path, model: str, version: str) -> pd.DataFrame:
    """The shadow table's rows of shadow ``version`` (an empty frame when there is no table)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    layer, name = table_name(model).split(".")
    try:
        table = DeltaTable(str(Path(lake_root, layer, name)))
    except TableNotFoundError:
        return pd.DataFrame(columns=["shadow_version", "primary_version"])
    return table.to_pandas(filters=[("shadow_version", "=", str(version))])


def answers_agree(primary: Any, shadow: Any, tolerance: float = DEFAULT_TOLERANCE) -> bool:
    """The same structure and values; numbers within ``tolerance`` (absolute or relative)."""
    if _is_number(primary) and _is_number(shadow):
        return math.isclose(primary, shadow, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(primary, list) and isinstance(shadow, list):
        return len(primary) == len(shadow) and all(answers_agree(a, b, tolerance) for a, b in zip(primary, shadow))
    if isinstance(primary, dict) and isinstance(shadow, dict):
        return primary.keys() == shadow.keys() and all(answers_agree(primary[k], shadow[k], tolerance)
                                                       for k in primary)
    return type(primary) is type(shadow) and primary == shadow


def _agree_json(primary: str | None, shadow: str | None, tolerance: float) -> bool:
    if not isinstance(primary, str) or not isinstance(shadow, str):  # not recorded (too large)
        return False
    return answers_agree(json.loads(primary), json.loads(shadow), tolerance)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _median(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.median()) if len(values) else None
