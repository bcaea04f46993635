"""Monitor thresholds as validated data: ``include/lakeside/monitors/<model>.json`` (drift) and
``tables.json`` (table health). ``LAKESIDE_MONITORS_DIR`` points elsewhere.

A model file: ``{"psi": 0.2, "ks": 0.1, "js": 0.1, "min_rows": 100, "window_days": 1,
"columns": {"dti": {"psi": 0.3}}}`` (every key optional; ``columns`` overrides per column).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

DRIFT_DEFAULTS = {"psi": 0.2, "ks": 0.1, "js": 0.1, "min_rows": 100, "window_days": 1}
METRICS = ("psi", "ks", "js")
TABLE_DEFAULTS = {"max_age_hours": 36.0, "min_rows": 1}


class InvalidMonitorError(ValueError):
    """A thresholds file that is not what the monitor expects; the message names the key."""


def monitors_dir() -> Path:
    configured = os.environ.get("LAKESIDE_MONITORS_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "monitors"


def drift_thresholds(model: str) -> dict:
    """The model's file validated and filled with defaults (the defaults alone without a file)."""
    path = monitors_dir() / f"{model}.json"
    return validate_drift(_read(path) if path.is_file() else {}, str(path))


def table_thresholds() -> dict[str, dict]:
    """``tables.json``: table name -> thresholds (``"default"`` applies to tables not named)."""
    path = monitors_dir() / "tables.json"
    data = _read(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise InvalidMonitorError(f"{path}: expected a JSON object of table names")
    default = _validated(data.get("default", {}), TABLE_DEFAULTS, f"{path}: default")
    return {"default": default, **{name: _validated(value, default, f"{path}: {name}")
                                   for name, value in data.items() if name != "default"}}


def validate_drift(data: Any, source: str) -> dict:
    if not isinstance(data, dict):
        raise InvalidMonitorError(f"{source}: expected a JSON object")
    columns = data.get("columns", {})
    if not isinstance(columns, dict):
        raise InvalidMonitorError(f"{source}: columns must map column names to thresholds")
    top = _validated({k: v for k, v in data.items() if k != "columns"}, DRIFT_DEFAULTS, source)
    per_column = {}
    for name, value in columns.items():
        if not isinstance(value, dict) or set(value) - set(METRICS):
            raise InvalidMonitorError(f"{source}: columns.{name} may set only {list(METRICS)}")
        per_column[name] = _validated(value, {m: top[m] for m in METRICS}, f"{source}: columns.{name}")
    return {**top, "columns": per_column}


def for_column(thresholds: dict, column: str) -> dict[str, float]:
    return thresholds["columns"].get(column, {m: thresholds[m] for m in METRICS})


def _validated(data: Any, defaults: dict, source: str) -> dict:
    if not isinstance(data, dict):
        raise InvalidMonitorError(f"{source}: expected a JSON object")
    unknown = sorted(set(data) - set(defaults))
    if unknown:
        raise InvalidMonitorError(f"{source}: unknown key {unknown[0]!r}; allowed: {sorted(defaults)}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InvalidMonitorError(f"{source}: {key} must be a number >= 0, got {value!r}")
    return {**defaults, **{k: type(defaults[k])(v) for k, v in data.items()}}


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidMonitorError(f"{path}: not valid JSON ({error})") from None
