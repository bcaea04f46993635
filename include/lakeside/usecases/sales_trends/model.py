"""The served DTW model: a custom MLflow pyfunc holding the pattern (an artifact) and the
stretch factor and selection thresholds (its model config).

Input: rows of 52 weekly unit counts (a float64 tensor ``(-1, 52)``). Output, one row per
input row: ``distance`` (DTW distance to the pattern) and ``follower`` (the product is close
to the pattern and sells at a level close to the pattern's, see :func:`followers`).

A negative or non-finite count is refused before any distance is computed, naming the week
and the row (:class:`~lakeside.serving.payloads.PayloadError`, which a served model answers as
a 422).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

from lakeside.usecases.sales_trends.dtw import distances

PATTERN_ARTIFACT = "pattern"


def followers(distance: np.ndarray, series: np.ndarray, pattern: np.ndarray, max_distance: float,
              level_tolerance: float) -> np.ndarray:
    """Close to the pattern (``distance <= max_distance``) and at a similar absolute level:
    the mean weekly units within ``level_tolerance`` (a share) of the pattern's mean."""
    level = np.asarray(series, dtype=np.float64).mean(axis=1)
    target = float(np.mean(pattern))
    return (np.asarray(distance) <= max_distance) & (np.abs(level - target) <= level_tolerance * target)


def check_counts(series: np.ndarray) -> None:
    """Refuse NaN, infinite and negative counts, naming the first such week and row."""
    from lakeside.serving.payloads import PayloadError

    bad = ~np.isfinite(series) | (series < 0)
    if bad.any():
        row, week = (int(v) for v in np.argwhere(bad)[0])
        value = series[row, week]
        what = "a negative count" if np.isfinite(value) and value < 0 else "not a finite number"
        raise PayloadError(f"week W{week} of row {row} is {what} ({value!r}): weekly units sold are counts >= 0",
                           field=f"W{week}", row=row)


class DtwToPattern(mlflow.pyfunc.PythonModel):
    """DTW distance of weekly sales to the factory's pattern, and whether a product follows it."""

    def load_context(self, context) -> None:
        self.pattern = np.asarray(json.loads(Path(context.artifacts[PATTERN_ARTIFACT]).read_text()), dtype=np.float64)
        config = context.model_config or {}
        self.stretch_factor = float(config["stretch_factor"])
        self.max_distance = float(config["max_distance"])
        self.level_tolerance = float(config["level_tolerance"])

    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        import pandas as pd

        series = np.asarray(model_input.to_numpy() if hasattr(model_input, "to_numpy") else model_input,
                            dtype=np.float64)
        if series.ndim == 1:
            series = series[None, :]
        check_counts(series)
        distance = distances(series, self.pattern, self.stretch_factor)
        flags = followers(distance, series, self.pattern, self.max_distance, self.level_tolerance)
        return pd.DataFrame({"distance": distance, "follower": flags})


def signature(weeks: int):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float64"), (-1, weeks))]),
        outputs=Schema([ColSpec("double", "distance"), ColSpec("boolean", "follower")]),
    )


def log_model(pattern: np.ndarray, stretch_factor: float, max_distance: float, level_tolerance: float,
              folder: Path, name: str = "model"):
    """Log the model in the active run; returns MLflow's ``ModelInfo``."""
    from importlib.metadata import version

    import mlflow

    folder.mkdir(parents=True, exist_ok=True)
    pattern_file = folder / "pattern.json"
    pattern_file.write_text(json.dumps([float(v) for v in pattern]))
    example = np.round(np.asarray(pattern, dtype=np.float64)[None, :], 2)
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=DtwToPattern(),
        artifacts={PATTERN_ARTIFACT: str(pattern_file)},
        model_config={"stretch_factor": float(stretch_factor), "max_distance": float(max_distance),
                      "level_tolerance": float(level_tolerance)},
        signature=signature(len(pattern)),
        input_example=example,
        # Given, not inferred: inference loads the model in a subprocess (~20 s a model).
        pip_requirements=[f"{name}=={version(name)}" for name in ("mlflow", "dtaidistance", "numpy", "pandas")],
    )
