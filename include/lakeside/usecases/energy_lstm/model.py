"""The served energy forecaster: an MLflow pyfunc holding the LSTM's weights, the scaler and the
configuration, so callers send raw rows.

Input: the last window's rows, oldest first, in any accepted shape: ``date`` and the 28
readings (29 columns), ``lookback_steps`` rows (864) a window, 10 minutes apart. An optional
``window_id`` column carries several windows in one request (predicted as one batch). Output,
one row per window and target: ``date`` (the window's last time + the target's steps),
``Appliances`` (Wh), and ``window_id`` when given.

What the signature cannot say is refused with a :class:`~lakeside.serving.payloads.PayloadError`
(a 422 naming the field and the row, 0-based in the request): a window with another row count
(expected and received), steps that are not exactly 10 minutes apart (the first such row). A
window is never trimmed or padded. Missing or extra columns, NaN and non-numbers are refused by
the service's signature check before the model sees them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from lakeside.datasets.appliances_energy import FEATURES, TARGET

WEIGHTS_ARTIFACT = "weights"
SCALER_ARTIFACT = "scaler"
WINDOW_ID = "window_id"
STEP = pd.Timedelta(minutes=10)


def _refuse(message: str, field: str, row: int | None):
    from lakeside.serving.payloads import PayloadError

    return PayloadError(message, field=field, row=row)


def windows_of(frame: pd.DataFrame, lookback: int) -> tuple[np.ndarray, list[Any], pd.Series]:
    """(windows x lookback x 28 raw values, window ids, each window's last time), checked."""
    if WINDOW_ID in frame.columns and frame[WINDOW_ID].notna().any():
        ids = frame[WINDOW_ID]
        if ids.isna().any():
            row = int(np.flatnonzero(ids.isna().to_numpy())[0])
            raise _refuse("window_id is missing on this row while other rows carry one", WINDOW_ID, row)
        groups = list(pd.Series(np.arange(len(frame))).groupby(ids.to_numpy(), sort=False))
    else:
        groups = [(None, pd.Series(np.arange(len(frame))))]
    dates = pd.to_datetime(frame["date"])
    values = frame[list(FEATURES)].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row, column = (int(v) for v in np.argwhere(~np.isfinite(values))[0])
        raise _refuse(f"{FEATURES[column]!r} is not a finite number on row {row}", FEATURES[column], row)
    windows, ids, last = [], [], []
    for window_id, positions in groups:
        rows = positions.to_numpy()
        which = "" if window_id is None else f" of window {window_id!r}"
        if len(rows) != lookback:
            raise _refuse(f"expected {lookback} rows a window{which}, received {len(rows)} "
                          "(a window is never trimmed or padded)", "date" if window_id is None else WINDOW_ID,
                          int(rows[0]))
        steps = dates.iloc[rows].diff().iloc[1:].to_numpy()
        bad = np.flatnonzero(steps != STEP.to_timedelta64())
        if len(bad):
            row = int(rows[bad[0] + 1])
            gap = pd.Timedelta(steps[bad[0]])
            raise _refuse(f"rows{which} must be exactly 10 minutes apart, oldest first: row {row} is {gap} after "
                          "the row before it", "date", row)
        windows.append(values[rows])
        ids.append(window_id)
        last.append(dates.iloc[rows[-1]])
    return np.stack(windows), ids, pd.Series(last)


class EnergyForecaster(mlflow.pyfunc.PythonModel):
    """Appliance energy at each target step after the last row of a window."""

    def load_context(self, context) -> None:
        import torch

        from lakeside.forecast import lstm

        config = dict(context.model_config or {})
        self.config = lstm.config_of({**config, "config": config.get("config", "cpu")})
        scaler = json.loads(Path(context.artifacts[SCALER_ARTIFACT]).read_text())
        self.mean = np.array([scaler[name]["mean"] for name in FEATURES])
        self.std = np.array([scaler[name]["std"] for name in FEATURES])
        self.model = lstm.build(len(FEATURES), self.config)
        self.model.load_state_dict(torch.load(context.artifacts[WEIGHTS_ARTIFACT], weights_only=True))
        self.model.eval()

    def predict(self, context, model_input, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from lakeside.forecast import lstm

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        raw, ids, last = windows_of(frame, self.config.lookback_steps)
        scaled = ((raw - self.mean) / self.std).astype(np.float32)
        lookback = self.config.lookback_steps
        features = scaled.reshape(-1, len(FEATURES))
        anchors = np.arange(1, len(raw) + 1) * lookback - 1
        predicted = lstm.predict(self.model, features, anchors, self.config)
        watts = predicted * self.std[FEATURES.index(TARGET)] + self.mean[FEATURES.index(TARGET)]
        return forecast_frame(watts, ids, last, self.config.targets)


def forecast_frame(values: np.ndarray, ids: list[Any], last: pd.Series, targets) -> pd.DataFrame:
    rows = []
    for window, (window_id, end) in enumerate(zip(ids, last)):
        for column, steps in enumerate(targets):
            row = {"date": (end + steps * STEP).isoformat(sep=" "), TARGET: float(values[window, column])}
            rows.append(row if window_id is None else {WINDOW_ID: window_id, **row})
    return pd.DataFrame(rows)


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = [ColSpec("datetime", "date"), *(ColSpec("double", name) for name in FEATURES),
              ColSpec("long", WINDOW_ID, required=False)]
    return ModelSignature(inputs=Schema(inputs),
                          outputs=Schema([ColSpec("string", "date"), ColSpec("double", TARGET)]))


def model_arguments(state_dict, scaler: dict, config, example: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """What ``mlflow.pyfunc.log_model`` / ``save_model`` take for this model; ``example`` is one
    window of raw rows (the input example)."""
    from importlib.metadata import version

    import torch

    folder.mkdir(parents=True, exist_ok=True)
    weights, scaler_file = folder / "weights.pt", folder / "scaler.json"
    torch.save(state_dict, weights)
    scaler_file.write_text(json.dumps(scaler, indent=1, sort_keys=True))
    return {
        "python_model": EnergyForecaster(),
        "artifacts": {WEIGHTS_ARTIFACT: str(weights), SCALER_ARTIFACT: str(scaler_file)},
        "model_config": config.to_dict(),
        "signature": signature(),
        "input_example": example[["date", *FEATURES]],
        # Given, not inferred: inference loads the model in a subprocess.
        "pip_requirements": [f"{package}=={version(package)}" for package in ("mlflow", "torch", "numpy", "pandas")],
    }


def log_model(state_dict, scaler: dict, config, example: pd.DataFrame, folder: Path, name: str = "model"):
    """Log the model in the active run; returns MLflow's ``ModelInfo``."""
    import mlflow

    return mlflow.pyfunc.log_model(name=name, **model_arguments(state_dict, scaler, config, example, folder))
