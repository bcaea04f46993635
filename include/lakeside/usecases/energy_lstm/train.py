"""The energy LSTM's trainer and gate evaluator (``UseCase.trainer`` / ``evaluator``).

:func:`train` reads a pinned ``gold.energy_windows`` version and the features it was cut from
(:mod:`.data`), fits :mod:`lakeside.forecast.lstm` on the training windows (validation windows
for early stopping), scores the test windows in Wh, and tracks the child run ``lstm`` under
the pipeline's parent run (experiment ``energy_lstm``) with:

- params: every knob of the configuration, the table versions, split bounds and skip counts;
- per epoch ``train_loss``, ``val_loss``, ``val_mae`` (scaled units), ``epoch_s``; ``best_epoch``,
  ``epochs``, ``fit_s``; test ``mae`` and ``rmse`` in Wh;
- ``plots/loss_curve.png``, ``plots/forecast.png`` (a week of test targets, LSTM against the
  naive forecasts), ``scaler.json``, ``windows.json`` (the windows job's facts);
- ``model``: the pyfunc of :mod:`.model` (weights, scaler, configuration; raw rows in).

:func:`evaluate` is the gate's measure: the model served the test windows' raw silver rows
(through its pyfunc, as callers send them), ``mae``/``rmse`` in Wh, and ``skill`` = 1 - its MAE
over the seasonal-naive MAE on the same rows and targets (> 0: better than seasonal naive).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EVALUATION_BATCH_WINDOWS = 128


def run_params(config, facts: dict[str, Any]) -> dict[str, Any]:
    bounds = facts["bounds"]
    return {
        **{key: (",".join(map(str, value)) if isinstance(value, (list, tuple)) else value)
           for key, value in config.to_dict().items()},
        "source_table": facts["source"], "source_version": facts["source_version"],
        "features_version": facts["features_version"], "windows_version": facts.get("windows_version"),
        "windows_lookback": facts["lookback"], "windows_horizon": facts["horizon"], "rows": facts["rows"],
        **{f"split_{name}": f"{bounds[name][0]}-{bounds[name][1]}" for name in ("train", "val", "test")},
        "split_gap": bounds["gap"],
    }


def parent_run(experiment: str, snapshot, facts: dict[str, Any]) -> str:
    """Open (and close) the parent run the pipeline's runs hang under; returns its id."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment, run_name=f"energy_lstm windows v{snapshot.version}") as run:
        mlflow.log_params({"windows_table": snapshot.table, "windows_version": snapshot.version,
                           "source_version": facts["source_version"], "features_version": facts["features_version"],
                           "lookback": facts["lookback"], "horizon": facts["horizon"]})
        mlflow.log_metrics({key: float(value) for key, value in facts["counts"].items()})
        mlflow.log_dict(facts["scaler"], "scaler.json")
        mlflow.log_dict({k: v for k, v in facts.items() if k != "scaler"}, "windows.json")
    return run.info.run_id


def train(use_case, snapshot, params: dict[str, Any], spark=None) -> dict[str, Any]:
    import mlflow

    from lakeside import tracking
    from lakeside.forecast import lstm
    from lakeside.retrain import model_name
    from lakeside.usecases.energy_lstm import baselines, data, model, plots

    config = lstm.config_of(params)
    windows = data.load(snapshot)
    windows.check_reach(config.lookback_steps, config.horizon)
    train_anchors, val_anchors, test = (windows.anchors(split) for split in ("train", "val", "test"))
    if len(train_anchors) == 0 or len(test) == 0:
        raise ValueError(f"no training or test windows in {snapshot.table} version {snapshot.version}")
    experiment = tracking.experiment_id(model_name(use_case))
    parent_run_id = params.get("parent_run_id") or parent_run(experiment, snapshot, windows.facts)
    target = windows.features[:, windows.target_column]
    scale = windows.scaler["Appliances"]

    with tempfile.TemporaryDirectory(prefix="energy-lstm-") as scratch, \
            mlflow.start_run(experiment_id=experiment, run_name="lstm", parent_run_id=parent_run_id) as run:
        mlflow.log_params({**run_params(config, windows.facts), "model": "lstm"})
        mlflow.log_metrics({key: float(value) for key, value in windows.facts["counts"].items()})
        mlflow.set_tags({"lakeside.use_case": use_case.name})
        fitted = lstm.fit(windows.features, target, train_anchors, val_anchors, config,
                          on_epoch=lambda epoch, metrics: mlflow.log_metrics(metrics, step=epoch))
        predicted = lstm.predict(fitted.model, windows.features, test, config) * scale["std"] + scale["mean"]
        truth = baselines.actual(windows.raw_target, test, config.targets)
        scores = baselines.errors(truth, predicted)
        mlflow.log_metrics({**scores, "best_epoch": fitted.best_epoch, "epochs": len(fitted.history),
                            "fit_s": fitted.fit_seconds, "test_windows": len(test)})
        folder = Path(scratch)
        mlflow.log_artifact(str(plots.loss_curve(fitted.history, fitted.best_epoch, folder / "loss_curve.png")),
                            "plots")
        last = len(config.targets) - 1
        times = windows.dates.iloc[test + config.targets[last]].reset_index(drop=True)
        lines = {"lstm": predicted[:, last], "naive": baselines.naive(windows.raw_target, test, config.targets)[:, last]}
        mlflow.log_artifact(str(plots.forecast(times, truth[:, last], lines, folder / "forecast.png")), "plots")
        mlflow.log_dict(windows.scaler, "scaler.json")
        mlflow.log_dict({k: v for k, v in windows.facts.items() if k != "scaler"}, "windows.json")
        raw = data.raw_rows(snapshot, windows.facts)
        example = raw.iloc[int(test[0]) - config.lookback_steps + 1:int(test[0]) + 1]
        info = model.log_model(fitted.model.state_dict(), windows.scaler, config, example, folder / "model")
    log.info("energy_lstm: best epoch %d of %d, test MAE %.2f Wh, RMSE %.2f Wh", fitted.best_epoch,
             len(fitted.history), scores["mae"], scores["rmse"])
    return {"model_uri": info.model_uri, "run_id": run.info.run_id, "parent_run_id": parent_run_id, "family": "lstm",
            "metrics": {**scores, "best_epoch": fitted.best_epoch}}


def evaluate(use_case, model_uri: str, snapshot) -> dict[str, float]:
    """The gate's metrics of ``model_uri`` on the pinned test windows (see the module's docstring)."""
    import mlflow

    from lakeside.usecases.energy_lstm import baselines, data

    facts = data.windows_facts(data.lake_of(snapshot), snapshot.version)
    table = data.lake_of(snapshot).table(snapshot.table).to_pandas(version=snapshot.version)
    test = np.sort(table.loc[table["split"] == "test", "anchor"].to_numpy(dtype=np.int64))
    raw = data.raw_rows(snapshot, facts)
    served = mlflow.pyfunc.load_model(model_uri)
    config = served.model_config or {}
    lookback, targets = int(config["lookback_steps"]), [int(t) for t in config["targets"]]
    if lookback > facts["lookback"] or max(targets) > facts["horizon"]:
        raise ValueError(f"{model_uri} needs windows of {lookback} + {max(targets)} steps; the pinned windows "
                         f"have {facts['lookback']} + {facts['horizon']}")
    predicted = []
    for start in range(0, len(test), EVALUATION_BATCH_WINDOWS):
        batch = test[start:start + EVALUATION_BATCH_WINDOWS]
        answer = served.predict(data.window_frame(raw, batch, lookback))
        predicted.append(answer["Appliances"].to_numpy(dtype=np.float64).reshape(len(batch), len(targets)))
    series = raw["Appliances"].to_numpy(dtype=np.float64)
    truth = baselines.actual(series, test, targets)
    scores = baselines.errors(truth, np.concatenate(predicted))
    seasonal = baselines.errors(truth, baselines.seasonal_naive(series, test, targets, lookback))["mae"]
    return {**scores, "skill": 1.0 - scores["mae"] / seasonal if seasonal > 0 else float("nan"),
            "seasonal_naive_mae": seasonal, "test_windows": float(len(test))}

