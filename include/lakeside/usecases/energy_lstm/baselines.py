"""What the LSTM must beat, on the same test windows and targets:

- ``naive``: the last value seen (the anchor's) for every target;
- ``seasonal_naive``: for a target, the mean of the values at the same time of day on each day
  the lookback covers (6 days for 864 steps; at least the day before when the lookback is
  shorter than a day);
- ``lightgbm``: gradient-boosted trees, one per target, on the anchor's readings, lags and
  rolling means of the energy over the lookback, and the target's time of day and weekday.

:func:`run` tracks one MLflow run each (``naive``, ``seasonal_naive``, ``lightgbm``: params, test
``mae`` and ``rmse`` in Wh) under the parent and logs ``baselines.csv`` to the parent.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lakeside.datasets.appliances_energy import FEATURES, STEPS_PER_DAY

log = logging.getLogger(__name__)

NAMES = ("naive", "seasonal_naive", "lightgbm")
_LAGS = (1, 2, 3, 6, 12, 36, 72, 144, 288, 432, 576, 720, 863)
_ROLLING = (6, 36, 144, 864)


def errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Test ``mae`` and ``rmse`` over every window and target (the units of the values: Wh)."""
    difference = np.asarray(predicted, dtype=np.float64) - np.asarray(actual, dtype=np.float64)
    return {"mae": float(np.mean(np.abs(difference))), "rmse": float(np.sqrt(np.mean(difference**2)))}


def actual(series: np.ndarray, anchors: np.ndarray, targets) -> np.ndarray:
    return series[np.asarray(anchors)[:, None] + np.asarray(targets)[None, :]]


def naive(series: np.ndarray, anchors: np.ndarray, targets) -> np.ndarray:
    return np.repeat(series[np.asarray(anchors)][:, None], len(targets), axis=1)


def seasonal_naive(series: np.ndarray, anchors: np.ndarray, targets, lookback: int) -> np.ndarray:
    """(windows, targets): per target, the mean of the values a whole number of days before it
    that lie in the window's lookback; when none does (a lookback shorter than a day), the
    latest such value before the window (the anchor's value at the very start of the series)."""
    anchors = np.asarray(anchors, dtype=np.int64)
    out = np.empty((len(anchors), len(targets)))
    for column, steps in enumerate(targets):
        target = anchors + steps
        days = np.arange(1, (lookback + steps) // STEPS_PER_DAY + 2)
        position = target[:, None] - days[None, :] * STEPS_PER_DAY
        inside = (position <= anchors[:, None]) & (position > anchors[:, None] - lookback)
        values = series[np.clip(position, 0, len(series) - 1)]
        count = inside.sum(axis=1)
        latest = target - -(-steps // STEPS_PER_DAY) * STEPS_PER_DAY
        fallback = np.where(latest >= 0, series[np.clip(latest, 0, len(series) - 1)], series[anchors])
        out[:, column] = np.where(count > 0, (values * inside).sum(axis=1) / np.maximum(count, 1), fallback)
    return out


def lag_features(raw: np.ndarray, dates: pd.Series, anchors: np.ndarray, steps: int, lookback: int,
                 target_column: int) -> np.ndarray:
    """LightGBM's inputs of each window for a target ``steps`` ahead."""
    anchors = np.asarray(anchors, dtype=np.int64)
    energy = raw[:, target_column]
    cumulative = np.concatenate([[0.0], np.cumsum(energy)])
    lags = [lag for lag in _LAGS if lag < lookback]
    columns = [raw[anchors]]
    columns.append(np.stack([energy[anchors - lag] for lag in lags], axis=1) if lags else np.zeros((len(anchors), 0)))
    means = [(cumulative[anchors + 1] - cumulative[anchors + 1 - n]) / n for n in _ROLLING if n <= lookback]
    columns.append(np.stack(means, axis=1) if means else np.zeros((len(anchors), 0)))
    when = pd.to_datetime(dates.iloc[np.minimum(anchors, len(dates) - 1)].to_numpy()) + pd.Timedelta(minutes=10 * steps)
    minutes = when.hour * 60 + when.minute
    columns.append(np.stack([np.sin(2 * np.pi * minutes / 1440), np.cos(2 * np.pi * minutes / 1440),
                             when.dayofweek.to_numpy()], axis=1))
    return np.concatenate(columns, axis=1)


def lightgbm(windows, train_anchors, val_anchors, test_anchors, targets, lookback: int, seed: int = 0,
             rounds: int = 400) -> np.ndarray:
    """(test windows, targets) forecasts of one booster per target (early stopping on validation)."""
    import lightgbm as lgb

    raw = windows.features.astype(np.float64) * _stds(windows) + _means(windows)
    out = np.empty((len(test_anchors), len(targets)))
    for column, steps in enumerate(targets):
        def inputs(anchors):
            return lag_features(raw, windows.dates, anchors, steps, lookback, windows.target_column)

        model = lgb.LGBMRegressor(n_estimators=rounds, learning_rate=0.05, num_leaves=31, min_child_samples=10,
                                  subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed,
                                  n_jobs=1, verbose=-1)
        validation = {}
        if len(val_anchors):
            validation = {"eval_X": (inputs(val_anchors),),
                          "eval_y": (windows.raw_target[np.asarray(val_anchors) + steps],),
                          "callbacks": [lgb.early_stopping(30, verbose=False)]}
        model.fit(inputs(train_anchors), windows.raw_target[np.asarray(train_anchors) + steps], **validation)
        out[:, column] = model.predict(inputs(test_anchors))
    return out


def forecasts(windows, config) -> dict[str, np.ndarray]:
    """Each baseline's (test windows, targets) forecasts in Wh."""
    train, val, test = (windows.anchors(split) for split in ("train", "val", "test"))
    series = windows.raw_target
    return {
        "naive": naive(series, test, config.targets),
        "seasonal_naive": seasonal_naive(series, test, config.targets, config.lookback_steps),
        "lightgbm": lightgbm(windows, train, val, test, config.targets, config.lookback_steps, config.seed),
    }


def run(use_case, snapshot, params: dict[str, Any], parent_run_id: str | None = None) -> dict[str, dict]:
    """Fit and score the baselines on the pinned windows, one MLflow run each under the parent."""
    import mlflow

    from lakeside import tracking
    from lakeside.forecast import lstm
    from lakeside.retrain import model_name
    from lakeside.usecases.energy_lstm import data
    from lakeside.usecases.energy_lstm.train import parent_run, run_params

    config = lstm.config_of(params)
    windows = data.load(snapshot)
    windows.check_reach(config.lookback_steps, config.horizon)
    test = windows.anchors("test")
    truth = actual(windows.raw_target, test, config.targets)
    experiment = tracking.experiment_id(model_name(use_case))
    parent_run_id = parent_run_id or parent_run(experiment, snapshot, windows.facts)
    results: dict[str, dict] = {}
    for name, predicted in forecasts(windows, config).items():
        scores = errors(truth, predicted)
        with mlflow.start_run(experiment_id=experiment, run_name=name, parent_run_id=parent_run_id):
            mlflow.log_params({**run_params(config, windows.facts), "model": name})
            mlflow.log_metrics({**scores, "test_windows": len(test)})
            mlflow.set_tags({"lakeside.use_case": use_case.name, "lakeside.baseline": name})
        results[name] = scores
    table = pd.DataFrame([{"model": name, **scores} for name, scores in results.items()])
    with tempfile.TemporaryDirectory(prefix="energy-baselines-") as scratch, \
            mlflow.start_run(run_id=parent_run_id):
        path = Path(scratch) / "baselines.csv"
        table.to_csv(path, index=False)
        mlflow.log_artifact(str(path))
        mlflow.log_metrics({f"{name}_mae": scores["mae"] for name, scores in results.items()})
    log.info("energy baselines on %d test windows: %s", len(test), results)
    return {"parent_run_id": parent_run_id, "baselines": results}


def _means(windows) -> np.ndarray:
    return np.array([windows.scaler[name]["mean"] for name in FEATURES])


def _stds(windows) -> np.ndarray:
    return np.array([windows.scaler[name]["std"] for name in FEATURES])
